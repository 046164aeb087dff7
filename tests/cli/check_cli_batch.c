/* SPDX-License-Identifier: MIT */
/* check_cli_batch.c: the batch command: lines in, one result line out each, in chunks of
 * one store operation. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_cli.h"

/* ---- batch ---------------------------------------------------------------- */

START_TEST(batch_json_mixed)
{
    static const char input[] = "subscribe a s1\n"
                                "\n"
                                "# a comment\n"
                                "   \n"
                                "subscribe a s2\n"
                                "bogus a b\n"
                                "subscribe a\n"
                                "renew a s9\n"
                                "unsubscribe a s1\n"
                                "subscribe a bad\001id\n"
                                "subscribe a s3\n"
                                "subscribe a s4\n"
                                "subscribe a s5\n"
                                "renew  a   s2\n";
    result r = CLI_IN(input, "batch", "--db", db, "--json");
    json_t *j;

    expect_exit(r, 2); /* some lines were invalid */
    ck_assert_uint_eq(count_lines(r.out), 11);

    j = json_line(r.out, 0);
    ck_assert_int_eq(jint(j, "line"), 1);
    ck_assert_str_eq(jstr(j, "command"), "subscribe");
    ck_assert_str_eq(jstr(j, "result"), "ok");
    ck_assert_int_eq(json_object_size(j), 19); /* the subscribe keys plus "line" */
    expect_lease_id(jstr(j, "lease_id"));

    j = json_line(r.out, 1);
    ck_assert_int_eq(jint(j, "line"), 5);
    ck_assert_int_eq(jint(j, "active"), 2);
    /* Written at once, decided at once: one transaction, one instant. */
    ck_assert_int_eq(jint(j, "since_ms"), jint(json_line(r.out, 0), "since_ms"));

    j = json_line(r.out, 2);
    expect_keys(j, ARGS("line", "result", "code", "error"));
    ck_assert_int_eq(jint(j, "line"), 6);
    ck_assert_str_eq(jstr(j, "result"), "error");
    ck_assert_str_eq(jstr(j, "code"), "invalid");
    ck_assert_ptr_nonnull(strstr(jstr(j, "error"), "bogus"));

    j = json_line(r.out, 3);
    ck_assert_int_eq(jint(j, "line"), 7);
    ck_assert_str_eq(jstr(j, "code"), "invalid");

    j = json_line(r.out, 4);
    ck_assert_int_eq(jint(j, "line"), 8);
    ck_assert_str_eq(jstr(j, "command"), "renew");
    ck_assert_str_eq(jstr(j, "result"), "not_found");

    j = json_line(r.out, 5);
    ck_assert_int_eq(jint(j, "line"), 9);
    ck_assert_str_eq(jstr(j, "command"), "unsubscribe");
    ck_assert(jbool(j, "removed"));

    j = json_line(r.out, 6);
    ck_assert_int_eq(jint(j, "line"), 10);
    ck_assert_str_eq(jstr(j, "code"), "invalid");
    ck_assert_ptr_nonnull(strstr(jstr(j, "error"), "stream"));

    ck_assert_str_eq(jstr(json_line(r.out, 7), "result"), "ok");
    ck_assert_str_eq(jstr(json_line(r.out, 8), "result"), "ok");
    j = json_line(r.out, 9);
    ck_assert_int_eq(jint(j, "line"), 13);
    ck_assert_str_eq(jstr(j, "result"), "limit_reached");
    j = json_line(r.out, 10);
    ck_assert_int_eq(jint(j, "line"), 14);
    ck_assert_str_eq(jstr(j, "command"), "renew");
    ck_assert_str_eq(jstr(j, "stream"), "s2");
    ck_assert_str_eq(jstr(j, "result"), "ok");

    ck_assert_int_eq(count_of("a"), 3);
}
END_TEST

START_TEST(batch_exit_codes)
{
    result r;

    /* Refusals and "not found" are answers: exit 0. */
    r = CLI_IN("subscribe a 1\nsubscribe a 2\nrenew a 9\nsubscribe a 3\nsubscribe a 4\n",
               "batch", "--db", db, "--json", "--limit", "2");
    expect_exit(r, 0);
    ck_assert_uint_eq(count_lines(r.out), 5);
    ck_assert_str_eq(jstr(json_line(r.out, 2), "result"), "not_found");
    ck_assert_str_eq(jstr(json_line(r.out, 3), "result"), "limit_reached");
    ck_assert_uint_eq(r.err_len, 0);

    /* Empty input, or only comments: no output, exit 0. */
    r = CLI_IN("", "batch", "--db", db, "--json");
    expect_exit(r, 0);
    ck_assert_uint_eq(r.out_len, 0);
    r = CLI_IN("# nothing\n\n\t\n", "batch", "--db", db);
    expect_exit(r, 0);
    ck_assert_uint_eq(r.out_len, 0);

    /* One invalid line: exit 2, the rest decided. */
    r = CLI_IN("subscribe b 1\nsubscribe b\n", "batch", "--db", db, "--json");
    expect_exit(r, 2);
    ck_assert_int_eq(count_of("b"), 1);
}
END_TEST

START_TEST(batch_human)
{
    result r =
        CLI_IN("subscribe a s1\n\nfly a s1\nrenew a s1\nrenew a s2\nunsubscribe a s1\n",
               "batch", "--db", db);

    expect_exit(r, 2);
    ck_assert_uint_eq(count_lines(r.out), 5);
    ck_assert_msg(strstr(r.out, "line 1: allowed") != NULL, "%s", r.out);
    ck_assert_msg(strstr(r.out, "line 3: error: ") != NULL, "%s", r.out);
    ck_assert_msg(strstr(r.out, "line 4: renewed") != NULL, "%s", r.out);
    ck_assert_msg(strstr(r.out, "line 5: not found") != NULL, "%s", r.out);
    ck_assert_msg(strstr(r.out, "line 6: removed") != NULL, "%s", r.out);
    ck_assert_ptr_null(strchr(r.out, '\033'));
}
END_TEST

START_TEST(batch_tabs_crlf_and_last_line)
{
    result r = CLI_IN("subscribe\tuser one\tstream a\n"
                      "subscribe\tuser one\tstream b\r\n"
                      "subscribe\tuser one\n"
                      "subscribe user one stream\n"
                      "subscribe\t\ts\n"
                      "unsubscribe\tuser one\tstream a",
                      "batch", "--db", db, "--json");
    json_t *j;

    expect_exit(r, 2);
    ck_assert_uint_eq(count_lines(r.out), 6);
    j = json_line(r.out, 0);
    ck_assert_str_eq(jstr(j, "user"), "user one");
    ck_assert_str_eq(jstr(j, "stream"), "stream a");
    j = json_line(r.out, 1);
    ck_assert_str_eq(jstr(j, "stream"), "stream b"); /* without the CR */
    ck_assert_int_eq(jint(j, "active"), 2);
    ck_assert_str_eq(jstr(json_line(r.out, 2), "code"), "invalid");
    ck_assert_str_eq(jstr(json_line(r.out, 3), "code"), "invalid"); /* 4 fields */
    j = json_line(r.out, 4);
    ck_assert_str_eq(jstr(j, "code"), "invalid");
    ck_assert_ptr_nonnull(strstr(jstr(j, "error"), "user"));
    j = json_line(r.out, 5); /* the last line had no newline */
    ck_assert_int_eq(jint(j, "line"), 6);
    ck_assert_str_eq(jstr(j, "command"), "unsubscribe");
    ck_assert(jbool(j, "removed"));
    ck_assert_int_eq(count_of("user one"), 1);
}
END_TEST

START_TEST(batch_long_and_nul_lines)
{
    size_t big = 100000;
    char *input = track(malloc(big + 200));
    size_t n = 0;
    result r;
    json_t *j;

    n += (size_t)sprintf(input + n, "subscribe a s0\nsubscribe a ");
    memset(input + n, 'x', big);
    n += big;
    n += (size_t)sprintf(input + n, "\nsubscribe a s1\nsubscribe a s");
    input[n++] = '\0';
    n += (size_t)sprintf(input + n, "2\nsubscribe a s3\n");
    r = run(input, n, NULL, ARGS("batch", "--db", db, "--json"));
    expect_exit(r, 2);
    ck_assert_uint_eq(count_lines(r.out), 5);
    ck_assert_str_eq(jstr(json_line(r.out, 0), "result"), "ok");
    j = json_line(r.out, 1);
    ck_assert_int_eq(jint(j, "line"), 2);
    ck_assert_str_eq(jstr(j, "code"), "invalid");
    ck_assert_ptr_nonnull(strstr(jstr(j, "error"), "longer"));
    j = json_line(r.out, 2);
    ck_assert_int_eq(jint(j, "line"), 3);
    ck_assert_str_eq(jstr(j, "stream"), "s1");
    j = json_line(r.out, 3);
    ck_assert_int_eq(jint(j, "line"), 4);
    ck_assert_str_eq(jstr(j, "code"), "invalid");
    j = json_line(r.out, 4);
    ck_assert_int_eq(jint(j, "line"), 5);
    ck_assert_str_eq(jstr(j, "stream"), "s3");

    /* An over-long last line without a newline. */
    memset(input, 'y', big);
    r = run(input, big, NULL, ARGS("batch", "--db", db, "--json"));
    expect_exit(r, 2);
    ck_assert_uint_eq(count_lines(r.out), 1);
    ck_assert_int_eq(jint(json_line(r.out, 0), "line"), 1);
    ck_assert_int_eq(count_of("a"), 3);
}
END_TEST

START_TEST(batch_large_enforces_limit)
{
    const int users = 50, streams = 100, lines = users * streams;
    char *input = track(malloc((size_t)lines * 32 + 1));
    size_t n = 0;
    int ok = 0, refused = 0;
    const char *p;
    result r;

    /* Interleave users so every chunk decides many users at once. */
    for (int s = 0; s < streams; s++)
        for (int u = 0; u < users; u++)
            n += (size_t)sprintf(input + n, "subscribe user%d stream%d\n", u, s);
    r = run(input, n, NULL, ARGS("batch", "--db", db, "--json"));
    expect_exit(r, 0);
    ck_assert_uint_eq(count_lines(r.out), (size_t)lines);
    p = r.out;
    for (int i = 0; i < lines; i++) {
        json_t *j = json_next(&p, (size_t)i + 1);
        const char *res = jstr(j, "result");

        ck_assert_int_eq(jint(j, "line"), i + 1);
        ck_assert_int_le(jint(j, "active"), 3);
        if (strcmp(res, "ok") == 0)
            ok++;
        else if (strcmp(res, "limit_reached") == 0)
            refused++;
    }
    ck_assert_int_eq(ok, users * 3);
    ck_assert_int_eq(refused, lines - users * 3);
    ck_assert_int_eq(count_of("user0"), 3);
    ck_assert_int_eq(count_of("user49"), 3);
}
END_TEST

/* Lines are decided in chunks, each in one streamy_apply() call, and the library
 * decides a whole batch at one instant: few distinct since_ms for many lines. */
START_TEST(batch_groups_lines)
{
    const int lines = 3000;
    char *input = track(malloc((size_t)lines * 32 + 1));
    int64_t seen[64];
    size_t n = 0, distinct = 0;
    const char *p;
    result r;

    for (int i = 0; i < lines; i++)
        n += (size_t)sprintf(input + n, "subscribe g%d s\n", i);
    r = run(input, n, NULL, ARGS("batch", "--db", db, "--json"));
    expect_exit(r, 0);
    p = r.out;
    for (int i = 0; i < lines; i++) {
        json_t *j = json_next(&p, (size_t)i + 1);
        int64_t since = jint(j, "since_ms");
        size_t k;

        ck_assert_str_eq(jstr(j, "result"), "ok");
        for (k = 0; k < distinct && seen[k] != since; k++) {
        }
        if (k == distinct) {
            ck_assert_msg(distinct < 20,
                          "more than 20 instants for %d lines: not grouped", lines);
            seen[distinct++] = since;
        }
    }
    ck_assert_int_eq(count_of("g2999"), 1);
}
END_TEST

/* Read one line from fd within a few seconds; a batch that waits for more input
 * before answering never gives it. */
static char *read_line(int fd, char *buf, size_t size)
{
    size_t len = 0;

    while (len + 1 < size) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int ready = poll(&pfd, 1, 10000);
        ssize_t n;

        ck_assert_msg(ready > 0, "no answer within 10 s: batch waits for more input");
        n = read(fd, buf + len, 1);
        ck_assert_int_eq(n, 1);
        if (buf[len++] == '\n')
            break;
    }
    buf[len] = '\0';
    return buf;
}

START_TEST(batch_coprocess)
{
    char line[4096];
    json_t *j;
    proc p;

    proc_start(&p, NULL, ARGS("batch", "--db", db, "--json", "--limit", "1"));
    ck_assert_int_eq(write(p.in, "subscribe a s1\n", 15), 15);
    j = track_json(json_loads(read_line(p.out, line, sizeof(line)), 0, NULL));
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(jint(j, "line"), 1);
    ck_assert_str_eq(jstr(j, "result"), "ok");

    ck_assert_int_eq(write(p.in, "# hi\nsubscribe a s2\n", 20), 20);
    j = track_json(json_loads(read_line(p.out, line, sizeof(line)), 0, NULL));
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(jint(j, "line"), 3);
    ck_assert_str_eq(jstr(j, "result"), "limit_reached");

    ck_assert_int_eq(write(p.in, "unsubscribe a s1\n", 17), 17);
    j = track_json(json_loads(read_line(p.out, line, sizeof(line)), 0, NULL));
    ck_assert_ptr_nonnull(j);
    ck_assert(jbool(j, "removed"));

    close(p.in);
    ck_assert_int_eq(read(p.out, line, sizeof(line)), 0);
    close(p.out);
    close(p.err);
    ck_assert_int_eq(proc_wait(&p), 0);
}
END_TEST

START_TEST(batch_require_uuid)
{
    result r = CLI_IN("subscribe a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 "
                      "6F9619FF-8B86-D011-B42D-00C04FC964FF\n"
                      "subscribe plain 6f9619ff-8b86-d011-b42d-00c04fc964ff\n",
                      "batch", "--db", db, "--json", "--require-uuid");
    json_t *j;

    expect_exit(r, 2);
    j = json_line(r.out, 0);
    ck_assert_str_eq(jstr(j, "stream"), "6f9619ff-8b86-d011-b42d-00c04fc964ff");
    j = json_line(r.out, 1);
    ck_assert_str_eq(jstr(j, "code"), "invalid");
    ck_assert_ptr_nonnull(strstr(jstr(j, "error"), "UUID"));
}
END_TEST

void cli_case_batch(TCase *tc)
{
    tcase_add_test(tc, batch_json_mixed);
    tcase_add_test(tc, batch_exit_codes);
    tcase_add_test(tc, batch_human);
    tcase_add_test(tc, batch_tabs_crlf_and_last_line);
    tcase_add_test(tc, batch_long_and_nul_lines);
    tcase_add_test(tc, batch_large_enforces_limit);
    tcase_add_test(tc, batch_groups_lines);
    tcase_add_test(tc, batch_coprocess);
    tcase_add_test(tc, batch_require_uuid);
}
