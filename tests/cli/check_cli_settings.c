/* SPDX-License-Identifier: MIT */
/* check_cli_settings.c: options, environment variables and their precedence, and the
 * errors of each. */
#include <stdio.h>
#include <string.h>

#include "check_cli.h"
#include "cli.h"
#include "util.h"
#include "streamy.h"

/* ---- settings: options, environment, precedence ----------------------- */

/* A digit alone past a maximum under 9 was taken: (max - digit) wrapped around
 * (found by tests/fuzz/fuzz_parse). */
START_TEST(parse_uint_limits)
{
    unsigned long long v = 42;

    ck_assert_int_ne(streamy__parse_uint(&v, "7", 5), 0);
    ck_assert_int_ne(streamy__parse_uint(&v, "11", 0), 0);
    ck_assert_int_ne(streamy__parse_uint(&v, "9", 8), 0);
    ck_assert_uint_eq(v, 42);
    ck_assert_int_eq(streamy__parse_uint(&v, "5", 5), 0);
    ck_assert_uint_eq(v, 5);
    ck_assert_int_eq(streamy__parse_uint(&v, "0", 0), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_ne(streamy__parse_uint(&v, "65", 64), 0);
    ck_assert_int_eq(streamy__parse_uint(&v, "64", 64), 0);
    ck_assert_int_ne(streamy__parse_uint(&v, "", 64), 0);
}
END_TEST

START_TEST(version)
{
    char expected[128];
    result r = CLI("--version");

    snprintf(expected, sizeof(expected), "streamyctl %s (libstreamy %s)\n",
             STREAMY_VERSION, streamy_version());
    expect_exit(r, 0);
    ck_assert_str_eq(r.out, expected);
    ck_assert_uint_eq(r.err_len, 0);
    r = CLI("-V");
    expect_exit(r, 0);
    ck_assert_str_eq(r.out, expected);
}
END_TEST

START_TEST(options_before_and_after_command)
{
    result r;

    r = CLI("--db", db, "--json", "--limit", "1", "subscribe", "u1", "s1");
    expect_exit(r, 0);
    ck_assert_int_eq(jint(json_only(&r), "limit"), 1);
    r = CLI("subscribe", "u1", "s2", "--db", db, "--json", "--limit", "1");
    expect_exit(r, 3);
    r = CLI("--db", db, "subscribe", "--limit=2", "u1", "--json", "s2");
    expect_exit(r, 0);
    ck_assert_int_eq(jint(json_only(&r), "limit"), 2);
    /* A flag after the command beats the same flag before it. */
    r = CLI("--limit", "1", "subscribe", "u1", "s3", "--db", db, "--json", "--limit",
            "3");
    expect_exit(r, 0);
}
END_TEST

START_TEST(environment_variables)
{
    char *env_db = fmt("STREAMY_DB=sqlite:%s/env.db", tmp);
    int64_t before;
    result r;
    json_t *j;

    /* STREAMY_DB, and --db beats it. */
    expect_exit(CLI_ENV(ENV(env_db), "subscribe", "u1", "s1"), 0);
    r = CLI_ENV(ENV(env_db), "count", "u1", "--json");
    ck_assert_int_eq(jint(json_only(&r), "count"), 1);
    ck_assert_int_eq(count_of("u1"), 0);
    expect_exit(CLI_ENV(ENV(env_db), "subscribe", "u1", "s1", "--db", db), 0);
    ck_assert_int_eq(count_of("u1"), 1);

    /* STREAMY_MAX_STREAMS, and --limit beats it. */
    r = CLI_ENV(ENV("STREAMY_MAX_STREAMS=1"), "subscribe", "u1", "s2", "--db", db,
                "--json");
    expect_exit(r, 3);
    ck_assert_int_eq(jint(json_only(&r), "limit"), 1);
    r = CLI_ENV(ENV("STREAMY_MAX_STREAMS=1"), "subscribe", "u1", "s2", "--db", db,
                "--json", "--limit", "2");
    expect_exit(r, 0);
    ck_assert_int_eq(jint(json_only(&r), "limit"), 2);

    /* STREAMY_LEASE_TTL, and --ttl beats it. */
    before = now_ms();
    r = CLI_ENV(ENV("STREAMY_LEASE_TTL=5m"), "subscribe", "u2", "s1", "--db", db,
                "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_int_ge(jint(j, "expires_ms"), before + 300000);
    ck_assert_int_le(jint(j, "expires_ms"), now_ms() + 300000);
    before = now_ms();
    r = CLI_ENV(ENV("STREAMY_LEASE_TTL=5m"), "subscribe", "u2", "s2", "--db", db,
                "--json", "--ttl", "90s");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_int_ge(jint(j, "expires_ms"), before + 90000);
    ck_assert_int_le(jint(j, "expires_ms"), now_ms() + 90000);

    /* STREAMY_POLICY, and --policy beats it. */
    expect_exit(CLI("subscribe", "u3", "a", "--db", db, "--limit", "1"), 0);
    r = CLI_ENV(ENV("STREAMY_POLICY=evict-oldest"), "subscribe", "u3", "b", "--db", db,
                "--limit", "1", "--json");
    expect_exit(r, 0);
    ck_assert_str_eq(jstr(json_only(&r), "evicted"), "a");
    r = CLI_ENV(ENV("STREAMY_POLICY=evict-oldest"), "subscribe", "u3", "c", "--db", db,
                "--limit", "1", "--policy", "reject");
    expect_exit(r, 3);

    /* STREAMY_SHADOW and STREAMY_REQUIRE_UUID. */
    r = CLI_ENV(ENV("STREAMY_SHADOW=1"), "subscribe", "u3", "c", "--db", db, "--limit",
                "1", "--json");
    expect_exit(r, 0);
    ck_assert(jbool(json_only(&r), "shadow_refused"));
    r = CLI_ENV(ENV("STREAMY_SHADOW=0"), "subscribe", "u3", "d", "--db", db, "--limit",
                "1");
    expect_exit(r, 3);
    expect_failure(
        CLI_ENV(ENV("STREAMY_REQUIRE_UUID=1"), "subscribe", "u4", "s", "--db", db), 2,
        "UUID");
    expect_exit(
        CLI_ENV(ENV("STREAMY_REQUIRE_UUID=0"), "subscribe", "u4", "s", "--db", db), 0);

    /* STREAMY_BUSY_TIMEOUT and STREAMY_SYNC are accepted (and --sync full works). */
    expect_exit(CLI_ENV(ENV("STREAMY_BUSY_TIMEOUT=2s", "STREAMY_SYNC=full"), "subscribe",
                        "u5", "s", "--db", db),
                0);
    expect_exit(CLI("subscribe", "u5", "t", "--db", db, "--sync", "full",
                    "--busy-timeout", "250ms"),
                0);
    ck_assert_int_eq(count_of("u5"), 2);

    /* An empty variable counts as unset. */
    expect_exit(CLI_ENV(ENV("STREAMY_MAX_STREAMS=", "STREAMY_LEASE_TTL="), "subscribe",
                        "u6", "s", "--db", db),
                0);
}
END_TEST

START_TEST(invalid_options)
{
    expect_failure(CLI("count", "u", "--db", db, "--limit", "abc"), 2, "--limit");
    expect_failure(CLI("count", "u", "--db", db, "--limit", "-1"), 2, "--limit");
    expect_failure(CLI("count", "u", "--db", db, "--limit", "100001"), 2, "--limit");
    expect_failure(CLI("count", "u", "--db", db, "--ttl", "5x"), 2, "--ttl");
    expect_failure(CLI("count", "u", "--db", db, "--ttl", "400d"), 2, "--ttl");
    expect_failure(CLI("count", "u", "--db", db, "--policy", "nope"), 2, "--policy");
    expect_failure(CLI("count", "u", "--db", db, "--sync", "weird"), 2, "--sync");
    expect_failure(CLI("count", "u", "--db", db, "--on-store-error", "open"), 2,
                   "invalid --on-store-error \"open\": use deny or allow");
    expect_failure(CLI("count", "u", "--db", db, "--on-store-error", "Allow"), 2,
                   "--on-store-error");
    expect_failure(CLI("count", "u", "--db", db, "--on-store-error"), 2,
                   "--on-store-error");
    expect_failure(CLI("count", "u", "--db", db, "--busy-timeout", "2h"), 2,
                   "--busy-timeout");
    expect_failure(CLI("count", "u", "--db", db, "--busy-timeout", "soon"), 2,
                   "--busy-timeout");
    expect_failure(CLI("count", "u", "--db", db, "--bogus"), 2, "--bogus");
    expect_failure(CLI("--bogus", "count", "u"), 2, "--bogus");
    expect_failure(CLI("count", "u", "-x"), 2, "-x");
    expect_failure(CLI("count", "u", "--db"), 2, "--db");
    expect_failure(CLI("count", "u", "--json=1"), 2, "--json");
    expect_failure(CLI("count", "u", "--db", "nosuchscheme:x"), 2, "nosuchscheme");
    expect_failure(CLI("count", "u", "--db", ""), 2, "empty");
}
END_TEST

START_TEST(invalid_environment)
{
    static const char *const bad[] = {"STREAMY_MAX_STREAMS=lots",
                                      "STREAMY_MAX_STREAMS=100001",
                                      "STREAMY_LEASE_TTL=5x",
                                      "STREAMY_POLICY=random",
                                      "STREAMY_SHADOW=maybe",
                                      "STREAMY_REQUIRE_UUID=2",
                                      "STREAMY_BUSY_TIMEOUT=2h",
                                      "STREAMY_SYNC=sometimes",
                                      "STREAMY_ON_STORE_ERROR=fail-open",
                                      NULL};

    for (size_t i = 0; bad[i] != NULL; i++) {
        char name[64];
        const char *eq = strchr(bad[i], '=');

        snprintf(name, sizeof(name), "%.*s", (int)(eq - bad[i]), bad[i]);
        expect_failure(run(NULL, 0, ENV(bad[i]), ARGS("subscribe", "u", "s", "--db", db)),
                       2, name);
    }
    ck_assert_int_eq(count_of("u"), 0);
    expect_failure(CLI_ENV(ENV("STREAMY_DB=nosuchscheme:x"), "count", "u"), 2,
                   "STREAMY_DB");
    expect_failure(CLI("count", "u", "--db", "nosuchscheme:x"), 2, "--db");
    /* A flag beats a bad variable: the variable is not even read. */
    expect_exit(CLI_ENV(ENV("STREAMY_LEASE_TTL=5x"), "subscribe", "u", "s", "--db", db,
                        "--ttl", "1m"),
                0);
    expect_exit(CLI_ENV(ENV("STREAMY_MAX_STREAMS=lots"), "count", "u", "--db", db,
                        "--limit", "4"),
                0);
    expect_failure(CLI_ENV(ENV("STREAMY_ON_STORE_ERROR=yes"), "count", "u", "--db", db),
                   2, "invalid STREAMY_ON_STORE_ERROR \"yes\": use deny or allow");
}
END_TEST

START_TEST(wrong_argument_counts)
{
    const char *const *const cases[] = {ARGS("subscribe"),
                                        ARGS("subscribe", "u"),
                                        ARGS("subscribe", "u", "s", "x"),
                                        ARGS("unsubscribe"),
                                        ARGS("unsubscribe", "u"),
                                        ARGS("renew", "u"),
                                        ARGS("renew", "u", "s", "t"),
                                        ARGS("list"),
                                        ARGS("list", "u", "v"),
                                        ARGS("count"),
                                        ARGS("count", "u", "v"),
                                        ARGS("limit"),
                                        ARGS("purge", "x"),
                                        ARGS("health", "x"),
                                        ARGS("batch", "x"),
                                        ARGS("help", "a", "b"),
                                        NULL};

    for (size_t i = 0; cases[i] != NULL; i++) {
        result r = run(NULL, 0, ENV(fmt("STREAMY_DB=%s", db)), cases[i]);
        expect_failure(r, 2, cases[i][0]);
    }
    ck_assert_int_eq(count_of("u"), 0);
}
END_TEST

START_TEST(unknown_command)
{
    result r;

    expect_failure(CLI("frobnicate", "u"), 2, "frobnicate");
    expect_failure(CLI("help", "frobnicate"), 2, "frobnicate");
    r = run(NULL, 0, NULL, (const char *const[]){NULL});
    expect_exit(r, 2);
    ck_assert_msg(strstr(r.err, "no command") != NULL, "stderr: %s", r.err);
    expect_failure(CLI("--json"), 2, "no command");
}
END_TEST

void cli_case_settings(TCase *tc)
{
    tcase_add_test(tc, parse_uint_limits);
    tcase_add_test(tc, version);
    tcase_add_test(tc, options_before_and_after_command);
    tcase_add_test(tc, environment_variables);
    tcase_add_test(tc, invalid_options);
    tcase_add_test(tc, invalid_environment);
    tcase_add_test(tc, wrong_argument_counts);
    tcase_add_test(tc, unknown_command);
}
