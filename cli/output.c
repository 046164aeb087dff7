/* SPDX-License-Identifier: MIT */
/* output.c: results on stdout, as human-readable lines or one JSON object per line. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *cli_error_code(int rc)
{
    switch (rc) {
    case STREAMY_EINVAL:
        return "invalid";
    case STREAMY_EBUSY:
        return "busy";
    case STREAMY_ESTORE:
        return "store";
    case STREAMY_ENOMEM:
        return "nomem";
    case STREAMY_EUNSUPPORTED:
        return "unsupported";
    default:
        return "internal";
    }
}

/* ISO-8601 UTC with milliseconds; "never" for 0, the library's "no expiry". */
void cli_format_time(char *buf, size_t size, int64_t ms)
{
    time_t secs;
    struct tm tm;
    size_t n;

    if (ms == 0) {
        snprintf(buf, size, "never");
        return;
    }
    secs = (time_t)(ms / 1000);
    if (gmtime_r(&secs, &tm) == NULL ||
        (n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
        snprintf(buf, size, "@%lld ms", (long long)ms);
        return;
    }
    snprintf(buf + n, size - n, ".%03dZ", (int)(ms % 1000));
}

int cli_emit_json(json_t *obj)
{
    char *text;
    int rc = CLI_EXIT_OK;

    if (obj == NULL)
        return cli_error("cannot build the JSON result (out of memory)");
    text = json_dumps(obj, JSON_COMPACT);
    if (text == NULL) {
        rc = cli_error("cannot encode the JSON result");
        goto out;
    }
    puts(text);
    free(text);
out:
    json_decref(obj);
    return rc;
}

/* A time in milliseconds, or null where the library says "none" with 0. */
static json_t *ms_or_null(int64_t ms)
{
    return ms != 0 ? json_integer((json_int_t)ms) : json_null();
}

static const char *result_name(int result)
{
    switch (result) {
    case STREAMY_OK:
        return "ok";
    case STREAMY_LIMIT_REACHED:
        return "limit_reached";
    case STREAMY_NOT_FOUND:
        return "not_found";
    default:
        return "error";
    }
}

/* A string, or null where the library says "none" with "". */
static json_t *str_or_null(const char *s)
{
    return s[0] != '\0' ? json_string(s) : json_null();
}

/* An unsubscribe answers no lease: the one it removed is the one its call named. */
static json_t *removed_lease(const cli_outcome *o, const streamy_decision *d)
{
    return d->removed && o->lease_id != NULL ? json_string(o->lease_id) : json_null();
}

static json_t *outcome_json(const cli_outcome *o)
{
    const streamy_answer *a = o->a;
    const streamy_decision *d = &a->decision;
    const char *result = result_name(o->result);
    int ok = o->result == STREAMY_OK;

    switch (o->kind) {
    case STREAMY_OP_SUBSCRIBE:
        return json_pack(
            "{s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:o, s:o, s:o, s:s?, s:b, s:I, s:b, "
            "s:o, "
            "s:o, s:o, s:o}",
            "command", "subscribe", "result", result, "user", o->user, "stream",
            o->stream, "created", d->created, "active", (json_int_t)d->active, "limit",
            (json_int_t)d->limit, "since_ms", ok ? ms_or_null(d->since_ms) : json_null(),
            "expires_ms", ok ? ms_or_null(d->expires_ms) : json_null(), "retry_ms",
            ms_or_null(d->retry_ms), "evicted", d->evicted[0] != '\0' ? d->evicted : NULL,
            "shadow_refused", d->shadow_refused, "expired", (json_int_t)d->expired,
            "degraded", d->degraded, "lease_id", str_or_null(a->lease_id), "device",
            str_or_null(a->device), "evicted_lease_id", str_or_null(a->evicted_lease_id),
            "evicted_device", str_or_null(a->evicted_device));
    case STREAMY_OP_UNSUBSCRIBE:
        return json_pack("{s:s, s:s, s:s, s:s, s:b, s:I, s:o, s:o, s:b}", "command",
                         "unsubscribe", "result", result, "user", o->user, "stream",
                         o->stream, "removed", d->removed, "expired",
                         (json_int_t)d->expired, "lease_id", removed_lease(o, d),
                         "device", json_null(), "stale", a->stale);
    case STREAMY_OP_RENEW:
        return json_pack(
            "{s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:I, s:b, s:o, s:o, s:b}",
            "command", "renew", "result", result, "user", o->user, "stream", o->stream,
            "active", (json_int_t)d->active, "limit", (json_int_t)d->limit, "since_ms",
            ok ? ms_or_null(d->since_ms) : json_null(), "expires_ms",
            ok ? ms_or_null(d->expires_ms) : json_null(), "expired",
            (json_int_t)d->expired, "degraded", d->degraded, "lease_id",
            str_or_null(a->lease_id), "device", str_or_null(a->device), "stale",
            a->stale);
    }
    return NULL;
}

/* Put "line" first, so a reader of a batch's output sees it at a glance. */
static json_t *with_line(long line, json_t *obj)
{
    json_t *out;

    if (obj == NULL || line <= 0)
        return obj;
    out = json_pack("{s:I}", "line", (json_int_t)line);
    if (out == NULL || json_object_update(out, obj) != 0) {
        json_decref(out);
        out = NULL;
    }
    json_decref(obj);
    return out;
}

static void print_expired(unsigned int expired)
{
    if (expired > 0)
        printf("; %u expired lease%s dropped", expired, expired == 1 ? "" : "s");
}

/* The lease an answer concerns: its id and device label, when the store keeps them. */
static void print_lease(const char *lease_id, const char *device)
{
    if (lease_id[0] != '\0')
        printf("; lease %s", lease_id);
    if (device[0] != '\0')
        printf("; device \"%s\"", device);
}

static void outcome_human(const cli_outcome *o)
{
    const streamy_answer *a = o->a;
    const streamy_decision *d = &a->decision;
    char when[40];

    if (o->line > 0)
        printf("line %ld: ", o->line);
    if (o->result == STREAMY_OK && d->degraded) {
        printf("%s, degraded: user %s stream %s (the store failed and nothing was "
               "recorded; --on-store-error allow)\n",
               o->kind == STREAMY_OP_RENEW ? "renewed" : "allowed", o->user, o->stream);
        return;
    }
    switch (o->kind) {
    case STREAMY_OP_SUBSCRIBE:
        if (o->result == STREAMY_OK) {
            cli_format_time(when, sizeof(when), d->expires_ms);
            printf("allowed: user %s stream %s (%s lease, %u of %u active, expires %s)",
                   o->user, o->stream, d->created ? "new" : "existing", d->active,
                   d->limit, when);
            print_lease(a->lease_id, a->device);
            if (d->evicted[0] != '\0') {
                printf("; evicted stream %s", d->evicted);
                if (a->evicted_lease_id[0] != '\0')
                    printf(" (lease %s%s%s%s)", a->evicted_lease_id,
                           a->evicted_device[0] != '\0' ? ", device \"" : "",
                           a->evicted_device, a->evicted_device[0] != '\0' ? "\"" : "");
            }
            if (d->shadow_refused)
                printf("; shadow mode: would have been refused");
        } else {
            printf("refused: limit reached for user %s stream %s (%u of %u active",
                   o->user, o->stream, d->active, d->limit);
            if (d->retry_ms != 0) {
                cli_format_time(when, sizeof(when), d->retry_ms);
                printf(", next slot frees %s", when);
            }
            printf(")");
            if (o->line == 0)
                printf("; 'streamyctl list %s' shows the active leases", o->user);
        }
        break;
    case STREAMY_OP_UNSUBSCRIBE:
        if (d->removed) {
            printf("removed: user %s stream %s", o->user, o->stream);
            if (o->lease_id != NULL)
                printf("; lease %s", o->lease_id);
        } else if (a->stale) {
            printf(
                "not removed: user %s stream %s is held by another lease, not lease %s "
                "(nothing was removed)",
                o->user, o->stream, o->lease_id ? o->lease_id : "given");
        } else {
            printf("not active: user %s stream %s (nothing to remove)", o->user,
                   o->stream);
        }
        break;
    case STREAMY_OP_RENEW:
        if (o->result == STREAMY_OK) {
            cli_format_time(when, sizeof(when), d->expires_ms);
            printf("renewed: user %s stream %s (%u of %u active, expires %s)", o->user,
                   o->stream, d->active, d->limit, when);
            print_lease(a->lease_id, a->device);
        } else if (a->stale) {
            printf("not found: lease %s of user %s on stream %s is no longer active; "
                   "another lease holds the stream now (subscribe again)",
                   o->lease_id ? o->lease_id : "given", o->user, o->stream);
        } else {
            printf(
                "not found: user %s has no active lease on stream %s (subscribe again)",
                o->user, o->stream);
        }
        break;
    }
    print_expired(d->expired);
    putchar('\n');
}

int cli_print_outcome(const cli_outcome *o)
{
    if (cli_flag.json)
        return cli_emit_json(with_line(o->line, outcome_json(o)));
    outcome_human(o);
    return CLI_EXIT_OK;
}

int cli_print_line_error(long line, int rc, const char *msg)
{
    if (cli_flag.json)
        return cli_emit_json(json_pack("{s:I, s:s, s:s, s:s}", "line", (json_int_t)line,
                                       "result", "error", "code", cli_error_code(rc),
                                       "error", msg));
    printf("line %ld: error: %s\n", line, msg);
    return CLI_EXIT_OK;
}
