/* SPDX-License-Identifier: MIT */
/* fuzz_batch.c: `streamyctl batch` input, line by line and whole, through the command's
 * own code. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

/* main.c is streamyctl's; the batch command only needs its flags. */
cli_flags cli_flag;

/* Inputs are cut into at most this many reads, as a pipe might deliver them. */
#define MAX_RECORDS 48

#define FUZZ_WHERE() fputs("fuzz_batch: ", stderr)
#include "fuzz.h"

static FILE *devnull;
static streamy *plain, *uuids; /* for the line parser: without and with require_uuid */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    streamy_options o = STREAMY_OPTIONS_INIT;

    (void)argc;
    (void)argv;
    devnull = fopen("/dev/null", "w");
    o.require_uuid = 1;
    if (devnull == NULL || streamy_open(&plain, "memory:", NULL) != STREAMY_OK ||
        streamy_open(&uuids, "memory:", &o) != STREAMY_OK)
        abort();
    return 0;
}

static int printable_ascii(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7E)
            return 0;
    return 1;
}

/* Parse one line from a heap copy of exactly len + 1 bytes; 1, 0 or -1 as the parser. */
static int parse_line(const streamy *h, const uint8_t *line, size_t len)
{
    char *copy = malloc(len + 1), *again, *cmd;
    const char *name;
    cli_batch_line out, out2;
    size_t skip;
    int rc;

    if (copy == NULL)
        abort();
    memcpy(copy, line, len);
    copy[len] = 'X'; /* the parser may write its NUL here; it must not read it first */
    memset(&out, 0xA5, sizeof(out));
    rc = cli_batch_parse_line(&out, h, copy, len);
    memcpy(copy, line, len);
    copy[len] = '\0';
    if (len > 0 && copy[len - 1] == '\r')
        copy[len - 1] = '\0';
    skip = strspn(copy, " \t");
    switch (rc) {
    case 0: /* blank or a comment, and nothing else */
        CHECK(len <= CLI_BATCH_LINE_MAX, "skipped a line of %zu bytes", len);
        CHECK(memchr(line, '\0', len - (len > 0 && line[len - 1] == '\r')) == NULL,
              "skipped a line holding a NUL");
        CHECK(copy[skip] == '\0' || copy[skip] == '#', "skipped \"%s\"", copy);
        break;
    case 1:
        name = out.kind == STREAMY_OP_SUBSCRIBE     ? "subscribe"
               : out.kind == STREAMY_OP_UNSUBSCRIBE ? "unsubscribe"
               : out.kind == STREAMY_OP_RENEW       ? "renew"
                                                    : NULL;
        CHECK(name != NULL, "kind %d", (int)out.kind);
        /* Spaces may lead when fields are separated by spaces, never with tabs. */
        cmd = copy + strspn(copy, " ");
        CHECK(strncmp(cmd, name, strlen(name)) == 0 &&
                  (cmd[strlen(name)] == ' ' || cmd[strlen(name)] == '\t'),
              "\"%s\" read as %s", copy, name);
        /* The ids are canonical: normalising them again changes nothing. */
        again = out2.user;
        CHECK(streamy_normalize_id(again, sizeof(out2.user), h, "user", out.user) == 0 &&
                  strcmp(again, out.user) == 0,
              "user \"%s\"", out.user);
        again = out2.stream;
        CHECK(streamy_normalize_id(again, sizeof(out2.stream), h, "stream", out.stream) ==
                      0 &&
                  strcmp(again, out.stream) == 0,
              "stream \"%s\"", out.stream);
        break;
    default:
        CHECK(rc == -1, "rc %d", rc);
        /* The message goes into a JSON string and a terminal: printable ASCII only. */
        CHECK(memchr(out.error, '\0', sizeof(out.error)) != NULL, "unterminated message");
        CHECK(out.error[0] != '\0' && printable_ascii(out.error), "message \"%s\"",
              out.error);
        break;
    }
    free(copy);
    return rc;
}

/* Every line of the input as the batch command reads it. */
static void check_lines(const uint8_t *data, size_t size, const streamy *h, long *expect,
                        size_t *nexpect)
{
    size_t start = 0, lineno = 0;

    *nexpect = 0;
    while (start < size) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t len = nl ? (size_t)(nl - (data + start)) : size - start;

        lineno++;
        if (parse_line(h, data + start, len) != 0)
            expect[(*nexpect)++] = (long)lineno;
        start += len + 1;
    }
}

/* Run the whole input through cli_batch_run over a socket of SOCK_SEQPACKET
 * records (each read returns one), cut where the first byte says: lines then
 * straddle reads as they would from a pipe. Returns the exit code; *out holds
 * what the command printed. */
static int run_batch(streamy *h, const uint8_t *data, size_t size, size_t cut, char **out,
                     size_t *outlen)
{
    int sv[2], rc;
    size_t off, step = cut;
    FILE *saved_out, *saved_err, *mem;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0)
        abort();
    if (step < (size + MAX_RECORDS - 1) / MAX_RECORDS)
        step = (size + MAX_RECORDS - 1) / MAX_RECORDS;
    for (off = 0; off < size; off += step) {
        size_t n = size - off < step ? size - off : step;
        ssize_t w;

        while ((w = send(sv[1], data + off, n, 0)) < 0 && errno == EINTR) {
        }
        if (w != (ssize_t)n)
            abort();
    }
    shutdown(sv[1], SHUT_WR);
    mem = open_memstream(out, outlen);
    if (mem == NULL)
        abort();
    saved_out = stdout;
    saved_err = stderr;
    stdout = mem;
    stderr = devnull;
    rc = cli_batch_run(h, sv[0]);
    stdout = saved_out;
    stderr = saved_err;
    fclose(mem);
    close(sv[0]);
    close(sv[1]);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static long expect[65536];
    size_t nexpect, n = 0, outlen = 0, cut;
    char *out = NULL, *line, *save = NULL;
    int rc, any_invalid = 0;
    streamy *h = NULL;

    if (size < 1 || size > 60000)
        return 0;
    cut = 1 + (size_t)data[0] * 61;
    data++;
    size--;
    /* The parser alone, with require_uuid, where no result is printed. */
    check_lines(data, size, uuids, expect, &nexpect);
    check_lines(data, size, plain, expect, &nexpect);

    /* The whole command on a fresh memory store, printing JSON. */
    if (streamy_open(&h, "memory:", NULL) != STREAMY_OK)
        abort();
    cli_flag.json = 1;
    rc = run_batch(h, data, size, cut, &out, &outlen);
    streamy_close(h);
    CHECK(strlen(out) == outlen, "NUL in the output");
    /* One result line per command line, in order, each a JSON object. */
    for (line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        json_error_t err;
        json_t *doc = json_loads(line, 0, &err), *v;
        const char *result;

        CHECK(doc != NULL && json_is_object(doc), "line %zu: \"%s\": %s", n + 1, line,
              err.text);
        CHECK(n < nexpect, "more results than command lines: \"%s\"", line);
        v = json_object_get(doc, "line");
        CHECK(json_is_integer(v) && json_integer_value(v) == expect[n],
              "result %zu is for line %lld, expected line %ld", n + 1,
              (long long)json_integer_value(v), expect[n]);
        result = json_string_value(json_object_get(doc, "result"));
        CHECK(result != NULL, "no result: %s", line);
        if (strcmp(result, "error") == 0) {
            CHECK(strcmp(json_string_value(json_object_get(doc, "code")), "invalid") == 0,
                  "%s", line);
            any_invalid = 1;
        } else {
            CHECK(strcmp(result, "ok") == 0 || strcmp(result, "limit_reached") == 0 ||
                      strcmp(result, "not_found") == 0,
                  "%s", line);
        }
        json_decref(doc);
        n++;
    }
    CHECK(n == nexpect, "%zu results for %zu command lines", n, nexpect);
    CHECK(rc == (any_invalid ? CLI_EXIT_USAGE : CLI_EXIT_OK), "exit %d", rc);
    free(out);
    return 0;
}
