/* SPDX-License-Identifier: MIT */
/* cmd_batch.c: `streamyctl batch`: stdin lines decided in one transaction per chunk. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Most lines decided in one streamy_apply() call. */
#define BATCH_CHUNK 1000
#define BATCH_LINE_MAX CLI_BATCH_LINE_MAX
/* The read buffer holds several lines, and always a whole line of BATCH_LINE_MAX. */
#define BATCH_BUF_SIZE (64 * 1024)

static const cli_command_spec spec = {
    .name = "batch",
    .args = "",
    .description =
        "Read commands from standard input, one per line, and print exactly one result\n"
        "line for each, in order:\n"
        "\n"
        "    subscribe USER STREAM [device=LABEL] [max-streams=N]\n"
        "    unsubscribe USER STREAM [lease=ID]\n"
        "    renew USER STREAM [lease=ID]\n"
        "\n"
        "Fields are separated by tabs when the line holds a tab (so identifiers and\n"
        "device labels may contain spaces), otherwise by runs of spaces. The optional\n"
        "fields come after STREAM, in any order, each at most once, and mean what the\n"
        "single command's --device, --max-streams and --lease mean. Blank lines and\n"
        "lines starting with # are skipped and print nothing. Lines are decided in\n"
        "chunks, each in one store transaction; a chunk ends when no complete line is\n"
        "waiting on standard input or after 1000 lines, and its results are written\n"
        "before more is read, so a program may send one line and wait for its answer.\n"
        "\n"
        "With --json each result is the object the single command prints, plus \"line\"\n"
        "(the 1-based input line number). An invalid line (unknown command, wrong\n"
        "number of fields, invalid identifier, lease id, device label or max-streams, a\n"
        "field the command does not take, longer than 4096 bytes) prints\n"
        "{\"line\":N,\"result\":\"error\",\"code\":\"invalid\",\"error\":MESSAGE} "
        "(without\n"
        "--json: \"line N: error: MESSAGE\") and the batch goes on. If the store fails,\n"
        "every line of the chunk gets an error result (code busy, store, ...) and the\n"
        "batch stops. With --on-store-error allow, subscribe and renew lines are "
        "answered\n"
        "ok instead, marked degraded (\"degraded\":true) with nothing recorded, and the\n"
        "batch goes on; it stops when an unsubscribe line failed. A line the store\n"
        "cannot honour (a lease id or device label for a store that keeps none: code\n"
        "unsupported) prints an error result and the batch goes on.\n"
        "\n"
        "Exits 1 after a store failure or an unsupported line, else 2 if any line was\n"
        "invalid, else 0: refusals and \"not found\" are answers, not failures.\n",
    .min_args = 0,
    .max_args = 0,
};

/* One input line waiting for its answer: an operation or an in-band error. */
typedef struct entry {
    long line;
    int op; /* index into ops, or -1 when the line was invalid */
    cli_batch_line parsed;
} entry;

typedef struct batch {
    streamy *h;
    entry *entries;
    streamy_batch_op *ops;
    streamy_call *calls;
    streamy_answer *answers;
    size_t nentries, nops;
    int invalid;     /* some line was invalid */
    int unsupported; /* the store could not honour some line */
    int failed;      /* exit code of a store or output failure, or 0 */
} batch;

static int line_error(cli_batch_line *out, const char *fmt, ...) CLI_PRINTF(2, 3);

static int line_error(cli_batch_line *out, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(out->error, sizeof(out->error), fmt, ap);
    va_end(ap);
    return -1;
}

/* Split `line` in place; returns the number of fields (at most `max` stored). */
static int split(char *line, char **field, int max)
{
    int n = 0;
    char *p = line;

    if (strchr(line, '\t') != NULL) {
        for (;;) {
            char *tab = strchr(p, '\t');
            if (n < max)
                field[n] = p;
            n++;
            if (tab == NULL)
                break;
            *tab = '\0';
            p = tab + 1;
        }
        return n;
    }
    for (;;) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        if (n < max)
            field[n] = p;
        n++;
        while (*p != ' ' && *p != '\0')
            p++;
        if (*p == '\0')
            break;
        *p++ = '\0';
    }
    return n;
}

/* The optional fields after STREAM: "key=value", each at most once. */
static int parse_field(cli_batch_line *out, char *field, int index, int *seen)
{
    static const struct {
        const char *key;
        int subscribe; /* subscribe takes it; renew and unsubscribe take the others */
    } keys[] = {{"device", 1}, {"max-streams", 1}, {"lease", 0}};
    const char *kind = out->kind == STREAMY_OP_SUBSCRIBE ? "subscribe"
                       : out->kind == STREAMY_OP_RENEW   ? "renew"
                                                         : "unsubscribe";
    char shown[40], why_buf[64];
    const char *why, *value;
    char *eq = strchr(field, '=');
    size_t i, len = eq != NULL ? (size_t)(eq - field) : 0;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (eq != NULL && strlen(keys[i].key) == len &&
            strncmp(field, keys[i].key, len) == 0)
            break;
    }
    if (i == sizeof(keys) / sizeof(keys[0])) {
        cli_printable(shown, field);
        return line_error(out, "field %d \"%s\" is not one of %s", index, shown,
                          out->kind == STREAMY_OP_SUBSCRIBE
                              ? "device=LABEL, max-streams=N"
                              : "lease=ID");
    }
    if (keys[i].subscribe != (out->kind == STREAMY_OP_SUBSCRIBE))
        return line_error(out, "%s takes no %s= field (%s)", kind, keys[i].key,
                          keys[i].subscribe ? "subscribe does"
                                            : "renew and unsubscribe do");
    if (seen[i])
        return line_error(out, "%s= is given twice", keys[i].key);
    seen[i] = 1;
    value = eq + 1;
    switch (i) {
    case 0:
        if ((why = cli_check_device(why_buf, value)) != NULL)
            break;
        memcpy(out->device, value, strlen(value) + 1);
        return 0;
    case 1:
        why = cli_check_max_streams(&out->max_streams, value);
        break;
    default:
        if ((why = cli_check_lease_id(value)) != NULL)
            break;
        memcpy(out->lease_id, value, STREAMY_LEASE_ID_LEN + 1);
        return 0;
    }
    if (why == NULL)
        return 0;
    cli_printable(shown, value);
    return line_error(out, "invalid %s= \"%s\": %s", keys[i].key, shown, why);
}

/* COMMAND USER STREAM and the optional fields; more than this is surely a mistake. */
#define FIELDS_MAX 8

int cli_batch_parse_line(cli_batch_line *out, const streamy *h, char *line, size_t len)
{
    static const struct {
        const char *name;
        streamy_op_kind kind;
    } kinds[] = {{"subscribe", STREAMY_OP_SUBSCRIBE},
                 {"unsubscribe", STREAMY_OP_UNSUBSCRIBE},
                 {"renew", STREAMY_OP_RENEW}};
    char *field[FIELDS_MAX], shown[40];
    int seen[3] = {0, 0, 0};
    size_t i, skip;
    int n;

    out->error[0] = '\0';
    out->lease_id[0] = '\0';
    out->device[0] = '\0';
    out->max_streams = STREAMY_MAX_STREAMS_NONE;
    if (len > BATCH_LINE_MAX)
        return line_error(out, "line is longer than %d bytes", BATCH_LINE_MAX);
    /* A line from a Windows editor ends in CR; the CR is no part of the stream id. */
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (memchr(line, '\0', len) != NULL)
        return line_error(out, "line contains a NUL byte");
    line[len] = '\0';
    skip = strspn(line, " \t");
    if (line[skip] == '\0' || line[skip] == '#')
        return 0;

    n = split(line, field, FIELDS_MAX);
    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(field[0], kinds[i].name) == 0)
            break;
    }
    if (i == sizeof(kinds) / sizeof(kinds[0])) {
        cli_printable(shown, field[0]);
        return line_error(
            out, "unknown command \"%s\" (use subscribe, unsubscribe or renew)", shown);
    }
    if (n < 3)
        return line_error(out, "expected 3 fields (COMMAND USER STREAM), got %d", n);
    if (n > FIELDS_MAX)
        return line_error(out, "expected at most %d fields, got %d", FIELDS_MAX, n);
    out->kind = kinds[i].kind;
    for (int f = 3; f < n; f++) {
        if (parse_field(out, field[f], f + 1, seen) != 0)
            return -1;
    }
    if (streamy_normalize_id(out->user, sizeof(out->user), h, "user", field[1]) !=
            STREAMY_OK ||
        streamy_normalize_id(out->stream, sizeof(out->stream), h, "stream", field[2]) !=
            STREAMY_OK)
        return line_error(out, "%s", streamy_errmsg(h));
    return 1;
}

/* Parse one line (without its newline) into the pending chunk. */
static void add_line(batch *b, char *line, size_t len, long lineno)
{
    entry *e = &b->entries[b->nentries];
    streamy_call *call;
    int rc = cli_batch_parse_line(&e->parsed, b->h, line, len);

    if (rc == 0)
        return;
    e->line = lineno;
    b->nentries++;
    if (rc < 0) {
        e->op = -1;
        b->invalid = 1;
        return;
    }
    e->op = (int)b->nops;
    call = &b->calls[b->nops];
    streamy_call_init(call, STREAMY_CALL_VERSION);
    call->user = e->parsed.user;
    call->stream = e->parsed.stream;
    call->lease_id = e->parsed.lease_id[0] != '\0' ? e->parsed.lease_id : NULL;
    call->device = e->parsed.device[0] != '\0' ? e->parsed.device : NULL;
    call->max_streams = e->parsed.max_streams;
    streamy_answer_init(&b->answers[b->nops], STREAMY_CALL_VERSION);
    b->ops[b->nops].kind = e->parsed.kind;
    b->ops[b->nops].call = call;
    b->ops[b->nops].result = STREAMY_OK;
    b->ops[b->nops].answer = &b->answers[b->nops];
    b->nops++;
}

/* Decide the pending operations in one transaction and print every pending line. */
static void flush(batch *b)
{
    char why[512], what[128], last[512];
    int rc = STREAMY_OK, store_failed = 0;
    size_t last_own = 0;
    cli_outcome o;

    if (b->nentries == 0)
        return;
    if (b->nops > 0 && (rc = streamy_apply_ex(b->h, b->ops, b->nops)) != STREAMY_OK)
        snprintf(why, sizeof(why), "%s", streamy_errmsg(b->h));
    /* streamy_errmsg() keeps the message of the last operation refused on its own. */
    snprintf(last, sizeof(last), "%s", streamy_errmsg(b->h));
    for (size_t i = 0; rc == STREAMY_OK && i < b->nops; i++) {
        if (b->ops[i].result < 0)
            last_own = i + 1;
    }
    for (size_t i = 0; i < b->nentries; i++) {
        const entry *e = &b->entries[i];
        const streamy_batch_op *op = e->op >= 0 ? &b->ops[e->op] : NULL;
        int printed;

        if (op == NULL) {
            printed = cli_print_line_error(e->line, STREAMY_EINVAL, e->parsed.error);
        } else if (rc != STREAMY_OK && op->result == rc) {
            /* The store failed for this line; with --on-store-error allow, subscribe
             * and renew lines were answered degraded instead. */
            printed = cli_print_line_error(e->line, rc, why);
            store_failed = 1;
        } else if (op->result < 0) {
            /* Checked above, so the library refuses it only when the store cannot
             * honour it (a version-1 store keeps no lease ids or device labels). */
            printed = cli_print_line_error(
                e->line, op->result,
                (size_t)e->op + 1 == last_own ? last : streamy_strerror(op->result));
            if (op->result == STREAMY_EINVAL)
                b->invalid = 1;
            else
                b->unsupported = 1;
        } else {
            o.line = e->line;
            o.kind = op->kind;
            o.result = op->result;
            o.user = e->parsed.user;
            o.stream = e->parsed.stream;
            o.lease_id = op->call->lease_id;
            o.a = op->answer;
            printed = cli_print_outcome(&o);
        }
        if (printed != CLI_EXIT_OK)
            b->failed = printed;
    }
    if (store_failed) {
        cli_error("batch stopped: the store failed on lines %ld to %ld: %s",
                  b->entries[0].line, b->entries[b->nentries - 1].line, why);
        b->failed = CLI_EXIT_FAILURE;
    } else if (rc != STREAMY_OK) {
        snprintf(what, sizeof(what),
                 "subscribe and renew on lines %ld to %ld were answered degraded",
                 b->entries[0].line, b->entries[b->nentries - 1].line);
        cli_degraded_warning(what, why);
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        b->failed = cli_error("cannot write the output: %s", strerror(errno));
    b->nentries = 0;
    b->nops = 0;
}

/* Read `fd`, deciding every complete line before waiting for more. */
static int run(batch *b, char *buf, int fd)
{
    size_t len = 0, start, n;
    long lineno = 0;
    int discarding = 0;
    ssize_t got;
    char *nl;

    for (;;) {
        start = 0;
        while ((nl = memchr(buf + start, '\n', len - start)) != NULL) {
            n = (size_t)(nl - (buf + start));
            lineno++;
            if (discarding)
                discarding = 0; /* the end of an over-long line, already answered */
            else
                add_line(b, buf + start, n, lineno);
            start += n + 1;
            if (b->nentries == BATCH_CHUNK) {
                flush(b);
                if (b->failed)
                    return b->failed;
            }
        }
        memmove(buf, buf + start, len - start);
        len -= start;
        if (!discarding && len > BATCH_LINE_MAX) {
            /* Answer now and drop the rest of the line as it arrives. */
            add_line(b, buf, len, lineno + 1);
            discarding = 1;
        }
        if (discarding)
            len = 0;
        /* No complete line is left: answer before blocking in read(). */
        flush(b);
        if (b->failed)
            return b->failed;
        do {
            got = read(fd, buf + len, BATCH_BUF_SIZE - 1 - len);
        } while (got < 0 && errno == EINTR);
        if (got < 0)
            return cli_error("cannot read standard input: %s", strerror(errno));
        if (got == 0)
            break;
        len += (size_t)got;
    }
    if (len > 0) /* a last line without a newline */
        add_line(b, buf, len, lineno + 1);
    flush(b);
    return b->failed;
}

int cli_batch_run(streamy *h, int fd)
{
    batch b = {0};
    char *buf = NULL;
    int rc;

    b.h = h;
    b.entries = malloc(BATCH_CHUNK * sizeof(*b.entries));
    b.ops = malloc(BATCH_CHUNK * sizeof(*b.ops));
    b.calls = malloc(BATCH_CHUNK * sizeof(*b.calls));
    b.answers = malloc(BATCH_CHUNK * sizeof(*b.answers));
    buf = malloc(BATCH_BUF_SIZE);
    if (b.entries == NULL || b.ops == NULL || b.calls == NULL || b.answers == NULL ||
        buf == NULL) {
        rc = cli_error("cannot start the batch: out of memory");
        goto out;
    }
    rc = run(&b, buf, fd);
    if (rc == CLI_EXIT_OK && b.unsupported)
        rc = CLI_EXIT_FAILURE;
    else if (rc == CLI_EXIT_OK && b.invalid)
        rc = CLI_EXIT_USAGE;
out:
    free(b.entries);
    free(b.ops);
    free(b.calls);
    free(b.answers);
    free(buf);
    return rc;
}

int cmd_batch(int argc, char **argv)
{
    streamy *h = NULL;
    cli_args args;
    int rc;

    if ((rc = cli_parse(&args, &spec, argc, argv, NULL, NULL)) != CLI_CONTINUE)
        return rc;
    if ((rc = cli_open(&h)) != CLI_CONTINUE)
        return rc;
    rc = cli_batch_run(h, STDIN_FILENO);
    streamy_close(h);
    return rc;
}
