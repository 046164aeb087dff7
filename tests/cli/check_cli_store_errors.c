/* SPDX-License-Identifier: MIT */
/* check_cli_store_errors.c: a store that cannot be opened or written, for single commands
 * and batches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_cli.h"

/* ---- errors of the store ------------------------------------------------ */

START_TEST(store_missing_directory)
{
    const char *missing = fmt("sqlite:%s/no/such/dir/t.db", tmp);
    const char *const cmds[][4] = {
        {"subscribe", "u", "s", NULL}, {"unsubscribe", "u", "s", NULL},
        {"renew", "u", "s", NULL},     {"list", "u", NULL, NULL},
        {"count", "u", NULL, NULL},    {"limit", "u", "4", NULL},
        {"purge", NULL, NULL, NULL}};

    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        const char *args[8] = {cmds[i][0]};
        size_t n = 1;

        for (size_t k = 1; k < 4 && cmds[i][k] != NULL; k++)
            args[n++] = cmds[i][k];
        args[n++] = "--db";
        args[n++] = missing;
        args[n++] = "--json";
        args[n] = NULL;
        expect_failure(run(NULL, 0, NULL, args), 1, "no/such/dir");
    }
    expect_failure(CLI_IN("subscribe u s\n", "batch", "--db", missing, "--json"), 1,
                   "no/such/dir");
}
END_TEST

START_TEST(store_not_a_database)
{
    static const char junk[] = "this is not a database, and must stay as it is\n";
    const char *path = path_in_tmp("junk.db");
    char back[256];
    FILE *f;
    size_t n;

    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(junk, f);
    fclose(f);
    expect_failure(CLI("subscribe", "u", "s", "--db", path), 1, "not a Streamy database");
    expect_failure(CLI("count", "u", "--db", fmt("sqlite:%s", path), "--json"), 1,
                   "junk.db");
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    n = fread(back, 1, sizeof(back), f);
    fclose(f);
    ck_assert_uint_eq(n, strlen(junk));
    ck_assert(memcmp(back, junk, n) == 0);
}
END_TEST

START_TEST(batch_store_failure)
{
    const char *ro = fmt("%s?mode=ro", db);
    result r;
    json_t *j;

    expect_exit(CLI("subscribe", "u", "s1", "--db", db), 0);
    /* A read-only store refuses the writes: every line of the chunk says so. */
    r = CLI_IN("subscribe u s2\nnonsense\nunsubscribe u s1\n", "batch", "--db", ro,
               "--json");
    expect_exit(r, 1);
    ck_assert_uint_eq(count_lines(r.out), 3);
    j = json_line(r.out, 0);
    expect_keys(j, ARGS("line", "result", "code", "error"));
    ck_assert_str_eq(jstr(j, "result"), "error");
    ck_assert_str_eq(jstr(j, "code"), "store");
    ck_assert_str_eq(jstr(json_line(r.out, 1), "code"), "invalid");
    j = json_line(r.out, 2);
    ck_assert_int_eq(jint(j, "line"), 3);
    ck_assert_str_eq(jstr(j, "code"), "store");
    ck_assert_msg(strncmp(r.err, "streamyctl: ", 12) == 0, "stderr: %s", r.err);
    ck_assert_int_eq(count_of("u"), 1); /* nothing was half-written */

    /* The single commands: a store error is exit 1 with nothing on stdout. */
    expect_failure(CLI("subscribe", "u", "s2", "--db", ro, "--json"), 1, "read");
    r = CLI("count", "u", "--db", ro, "--json"); /* reading works */
    expect_exit(r, 0);
    ck_assert_int_eq(jint(json_only(&r), "count"), 1);
}
END_TEST

/* ---- --on-store-error: fail open or closed ------------------------------- */

/* A read-only store cannot record anything: each write fails as a store that is down. */
START_TEST(on_store_error_allow_degrades)
{
    const char *ro = fmt("%s?mode=ro", db);
    result r;
    json_t *j;

    expect_exit(CLI("subscribe", "u", "s1", "--db", db), 0);
    /* deny, the default: the store's error. */
    expect_failure(CLI("subscribe", "u", "s2", "--db", ro), 1, "read-only");
    expect_failure(CLI("subscribe", "u", "s2", "--db", ro, "--on-store-error", "deny"), 1,
                   "read-only");

    /* allow: ok, marked degraded, nothing recorded; stderr says why. */
    r = CLI("subscribe", "u", "s2", "--db", ro, "--on-store-error", "allow", "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_str_eq(jstr(j, "result"), "ok");
    ck_assert(jbool(j, "degraded"));
    ck_assert(!jbool(j, "created"));
    ck_assert_int_eq(jint(j, "active"), 0);
    ck_assert_int_eq(jint(j, "limit"), 3);
    jnull(j, "since_ms");
    jnull(j, "expires_ms");
    ck_assert_msg(strncmp(r.err, "streamyctl: ", 12) == 0 &&
                      strstr(r.err, "degraded") != NULL &&
                      strstr(r.err, "read-only") != NULL,
                  "stderr: %s", r.err);
    r = CLI("subscribe", "u", "s2", "--db", ro, "--on-store-error", "allow", "--limit",
            "5");
    expect_exit(r, 0);
    ck_assert_msg(strncmp(r.out, "allowed, degraded: user u stream s2", 35) == 0,
                  "human output: %s", r.out);

    /* STREAMY_ON_STORE_ERROR, and the flag beats it. */
    r = CLI_ENV(ENV("STREAMY_ON_STORE_ERROR=allow"), "renew", "u", "s1", "--db", ro,
                "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_str_eq(jstr(j, "command"), "renew");
    ck_assert(jbool(j, "degraded"));
    r = CLI_ENV(ENV("STREAMY_ON_STORE_ERROR=allow"), "renew", "u", "s1", "--db", ro);
    expect_exit(r, 0);
    ck_assert_msg(strncmp(r.out, "renewed, degraded:", 18) == 0, "human output: %s",
                  r.out);
    expect_failure(CLI_ENV(ENV("STREAMY_ON_STORE_ERROR=allow"), "renew", "u", "s1",
                           "--db", ro, "--on-store-error", "deny"),
                   1, "read-only");

    /* Never degraded: an unsubscribe (nothing to allow) and invalid input. */
    expect_failure(CLI("unsubscribe", "u", "s1", "--db", ro, "--on-store-error", "allow"),
                   1, "read-only");
    expect_failure(
        CLI("subscribe", "u", "bad\001id", "--db", ro, "--on-store-error", "allow"), 2,
        "stream");
    ck_assert_int_eq(count_of("u"), 1);
    /* A store that works answers normally with allow too. */
    r = CLI("subscribe", "u", "s2", "--db", db, "--on-store-error", "allow", "--json");
    expect_exit(r, 0);
    ck_assert(!jbool(json_only(&r), "degraded"));
    ck_assert_int_eq(jint(json_only(&r), "active"), 2);
}
END_TEST

START_TEST(batch_on_store_error_allow)
{
    const char *ro = fmt("%s?mode=ro", db);
    char *input = track(calloc(1002, 24)), *p = input;
    result r;
    json_t *j;

    expect_exit(CLI("subscribe", "u", "s1", "--db", db), 0);
    /* More than one chunk of subscribes and renews: all answered degraded, on to the
     * end. */
    for (int i = 0; i < 1001; i++)
        p += sprintf(p, "subscribe u n%d\n", i);
    p += sprintf(p, "renew u s1\n");
    r = CLI_IN(input, "batch", "--db", ro, "--on-store-error", "allow", "--json");
    expect_exit(r, 0);
    ck_assert_uint_eq(count_lines(r.out), 1002);
    j = json_line(r.out, 1000);
    ck_assert_int_eq(jint(j, "line"), 1001);
    ck_assert_str_eq(jstr(j, "result"), "ok");
    ck_assert(jbool(j, "degraded"));
    j = json_line(r.out, 1001);
    ck_assert_str_eq(jstr(j, "command"), "renew");
    ck_assert(jbool(j, "degraded"));
    ck_assert_msg(strstr(r.err, "answered degraded") != NULL &&
                      strstr(r.err, "read-only"),
                  "stderr: %s", r.err);

    /* An unsubscribe cannot be answered: it gets the error and the batch stops. */
    r = CLI_IN("subscribe u s2\nunsubscribe u s1\nrenew u s1\nbogus\n", "batch", "--db",
               ro, "--on-store-error", "allow", "--json");
    expect_exit(r, 1);
    ck_assert_uint_eq(count_lines(r.out), 4);
    ck_assert(jbool(json_line(r.out, 0), "degraded"));
    j = json_line(r.out, 1);
    expect_keys(j, ARGS("line", "result", "code", "error"));
    ck_assert_str_eq(jstr(j, "code"), "store");
    ck_assert(jbool(json_line(r.out, 2), "degraded"));
    ck_assert_str_eq(jstr(json_line(r.out, 3), "code"), "invalid");
    ck_assert_msg(strstr(r.err, "batch stopped") != NULL, "stderr: %s", r.err);

    /* deny: every line of the chunk is an error, as before. */
    r = CLI_IN("subscribe u s2\nrenew u s1\n", "batch", "--db", ro, "--json");
    expect_exit(r, 1);
    ck_assert_str_eq(jstr(json_line(r.out, 0), "code"), "store");
    ck_assert_str_eq(jstr(json_line(r.out, 1), "code"), "store");
    ck_assert_int_eq(count_of("u"), 1);
}
END_TEST

void cli_case_store_errors(TCase *tc)
{
    tcase_add_test(tc, store_missing_directory);
    tcase_add_test(tc, store_not_a_database);
    tcase_add_test(tc, batch_store_failure);
    tcase_add_test(tc, on_store_error_allow_degrades);
    tcase_add_test(tc, batch_on_store_error_allow);
}
