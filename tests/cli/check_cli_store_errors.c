/* SPDX-License-Identifier: MIT */
/* check_cli_store_errors.c: a store that cannot be opened or written, for single commands
 * and batches. */
#include <stdio.h>
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

void cli_case_store_errors(TCase *tc)
{
    tcase_add_test(tc, store_missing_directory);
    tcase_add_test(tc, store_not_a_database);
    tcase_add_test(tc, batch_store_failure);
}
