/* SPDX-License-Identifier: MIT */
/* decide.c: subscribe, renew and unsubscribe: their session inputs (flags or batch
 * fields), checked before the store is asked, and one decision through the _ex calls. */
#include "cli.h"
#include "util.h"

#include <string.h>

void cli_printable(char out[40], const char *in)
{
    size_t i;

    for (i = 0; i < 32 && in[i] != '\0'; i++)
        out[i] = in[i] >= 0x20 && in[i] < 0x7F ? in[i] : '?';
    if (in[i] != '\0') {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
}

/* The library checks these again; checking them here names the flag or the batch
 * field in the message, and a batch line gets its own message (streamy_apply_ex
 * keeps only the last invalid operation's). */
const char *cli_check_lease_id(const char *text)
{
    static const char why[] = "not a lease id (a UUID, as subscribe prints it)";

    if (strlen(text) != STREAMY_LEASE_ID_LEN)
        return why;
    for (size_t i = 0; i < STREAMY_LEASE_ID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                return why;
        } else if (streamy__hexval((unsigned char)text[i]) < 0) {
            return why;
        }
    }
    return NULL;
}

const char *cli_check_device(char why[64], const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t len = strlen(text), n;

    if (len == 0)
        return "empty";
    if (len > STREAMY_DEVICE_MAX) {
        snprintf(why, 64, "longer than %d bytes", STREAMY_DEVICE_MAX);
        return why;
    }
    for (size_t i = 0; i < len; i += n) {
        if (s[i] < 0x20 || s[i] == 0x7F) {
            snprintf(why, 64, "contains a control character (byte %zu)", i + 1);
            return why;
        }
        if ((n = streamy__utf8_seq(s + i, len - i)) == 0) {
            snprintf(why, 64, "not valid UTF-8 (byte %zu)", i + 1);
            return why;
        }
    }
    return NULL;
}

const char *cli_check_max_streams(int *out, const char *text)
{
    unsigned long long n;

    if (streamy__parse_uint(&n, text, STREAMY_LIMIT_MAX) != STREAMY_OK)
        return "expected a whole number from 0 to 100000";
    *out = (int)n;
    return NULL;
}

/* The session options as given: NULL (or NONE) when absent. */
typedef struct session_flags {
    const char *lease_id, *device, *max_streams;
} session_flags;

static int on_option(int val, const char *arg, void *payload)
{
    session_flags *f = payload;

    switch (val) {
    case CLI_OPT_LEASE:
        f->lease_id = arg;
        break;
    case CLI_OPT_DEVICE:
        f->device = arg;
        break;
    case CLI_OPT_MAX_STREAMS:
        f->max_streams = arg;
        break;
    default:
        return cli_error("internal error: option %d is not handled", val);
    }
    return CLI_CONTINUE;
}

/* Check the options into `call`; the command's option table admits only its own. */
static int check_flags(streamy_call *call, const session_flags *f)
{
    char shown[40], why_buf[64];
    const char *why;

    if (f->lease_id != NULL) {
        if ((why = cli_check_lease_id(f->lease_id)) != NULL) {
            cli_printable(shown, f->lease_id);
            return cli_invalid("invalid --lease \"%s\": %s", shown, why);
        }
        call->lease_id = f->lease_id;
    }
    if (f->device != NULL) {
        if ((why = cli_check_device(why_buf, f->device)) != NULL) {
            cli_printable(shown, f->device);
            return cli_invalid("invalid --device \"%s\": %s", shown, why);
        }
        call->device = f->device;
    }
    if (f->max_streams != NULL &&
        (why = cli_check_max_streams(&call->max_streams, f->max_streams)) != NULL) {
        cli_printable(shown, f->max_streams);
        return cli_invalid("invalid --max-streams \"%s\": %s", shown, why);
    }
    return CLI_CONTINUE;
}

/* subscribe, unsubscribe and renew: one decision, printed, and its exit code. */
int cli_decide(streamy_op_kind kind, int argc, char **argv, const cli_command_spec *spec)
{
    static const char *const verbs[] = {"", "subscribe", "unsubscribe", "renew"};
    char user[STREAMY_ID_MAX + 1], stream[STREAMY_ID_MAX + 1];
    streamy_call call = STREAMY_CALL_INIT;
    streamy_answer a = STREAMY_ANSWER_INIT;
    session_flags flags = {NULL, NULL, NULL};
    cli_outcome o;
    streamy *h = NULL;
    cli_args args;
    int rc;

    if ((rc = cli_parse(&args, spec, argc, argv, on_option, &flags)) != CLI_CONTINUE)
        goto out;
    if ((rc = check_flags(&call, &flags)) != CLI_CONTINUE)
        goto out;
    if ((rc = cli_open(&h)) != CLI_CONTINUE)
        goto out;
    /* The canonical ids are what the store keys on, so they are what we print. */
    if ((rc = streamy_normalize_id(user, sizeof(user), h, "user", args.operand[0])) !=
            STREAMY_OK ||
        (rc = streamy_normalize_id(stream, sizeof(stream), h, "stream",
                                   args.operand[1])) != STREAMY_OK) {
        rc = cli_lib_error(rc, h, "cannot %s", verbs[kind]);
        goto out;
    }
    call.user = user;
    call.stream = stream;
    switch (kind) {
    case STREAMY_OP_SUBSCRIBE:
        rc = streamy_subscribe_ex(&a, h, &call);
        break;
    case STREAMY_OP_UNSUBSCRIBE:
        rc = streamy_unsubscribe_ex(&a, h, &call);
        break;
    case STREAMY_OP_RENEW:
        rc = streamy_renew_ex(&a, h, &call);
        break;
    }
    if (rc < 0) {
        rc = cli_lib_error(rc, h, "cannot %s", verbs[kind]);
        goto out;
    }
    if (a.decision.degraded)
        cli_degraded_warning("answered degraded", streamy_errmsg(h));
    o.line = 0;
    o.kind = kind;
    o.result = rc;
    o.user = user;
    o.stream = stream;
    o.lease_id = call.lease_id;
    o.a = &a;
    rc = cli_print_outcome(&o);
    if (rc == CLI_EXIT_OK)
        rc = cli_exit_code(o.result);
out:
    streamy_close(h);
    return rc;
}
