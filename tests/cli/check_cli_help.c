/* SPDX-License-Identifier: MIT */
/* check_cli_help.c: --help of streamyctl and of every command, and the exit codes they
 * list. */
#include <stdio.h>
#include <string.h>

#include "check_cli.h"

/* ---- help ----------------------------------------------------------------- */

static const char *const all_commands[] = {"subscribe", "unsubscribe", "renew", "list",
                                           "count",     "limit",       "purge", "health",
                                           "batch",     "help",        NULL};

static void expect_exit_codes_listed(const char *text)
{
    static const char *const lines[] = {"0  done",
                                        "1  store or internal error",
                                        "2  usage or invalid input",
                                        "3  limit reached",
                                        "4  not found",
                                        NULL};
    for (size_t i = 0; lines[i] != NULL; i++)
        ck_assert_msg(strstr(text, lines[i]) != NULL, "help lacks \"%s\"", lines[i]);
}

START_TEST(help_main)
{
    static const char *const names[] = {"--db",
                                        "--limit",
                                        "--ttl",
                                        "--policy",
                                        "--shadow",
                                        "--require-uuid",
                                        "--busy-timeout",
                                        "--sync",
                                        "--on-store-error",
                                        "--json",
                                        "--version",
                                        "STREAMY_DB",
                                        "STREAMY_MAX_STREAMS",
                                        "STREAMY_LEASE_TTL",
                                        "STREAMY_POLICY",
                                        "STREAMY_SHADOW",
                                        "STREAMY_REQUIRE_UUID",
                                        "STREAMY_BUSY_TIMEOUT",
                                        "STREAMY_SYNC",
                                        "STREAMY_ON_STORE_ERROR",
                                        NULL};
    result r = CLI("--help");
    result h = CLI("help");

    expect_exit(r, 0);
    expect_exit(h, 0);
    ck_assert_str_eq(r.out, h.out);
    ck_assert_uint_eq(r.err_len, 0);
    ck_assert_msg(strncmp(r.out, "Usage: streamyctl", 17) == 0, "help: %s", r.out);
    for (size_t i = 0; all_commands[i] != NULL; i++) {
        char entry[32];
        snprintf(entry, sizeof(entry), "\n  %s ", all_commands[i]);
        ck_assert_msg(strstr(r.out, entry) != NULL, "help lacks command %s",
                      all_commands[i]);
    }
    for (size_t i = 0; names[i] != NULL; i++)
        ck_assert_msg(strstr(r.out, names[i]) != NULL, "help lacks %s", names[i]);
    expect_exit_codes_listed(r.out);
}
END_TEST

START_TEST(help_every_command)
{
    for (size_t i = 0; all_commands[i] != NULL; i++) {
        const char *cmd = all_commands[i];
        char usage[64];
        result a = CLI(cmd, "--help");
        result b = CLI("help", cmd);
        result c = CLI("--help", cmd);
        result d = CLI(cmd, "-h", "extra", "operands", "are", "ignored");

        expect_exit(a, 0);
        expect_exit(b, 0);
        expect_exit(c, 0);
        expect_exit(d, 0);
        ck_assert_uint_eq(a.err_len, 0);
        snprintf(usage, sizeof(usage), "Usage: streamyctl %s ", cmd);
        ck_assert_msg(strncmp(a.out, usage, strlen(usage)) == 0, "%s --help: %s", cmd,
                      a.out);
        ck_assert_str_eq(a.out, b.out);
        ck_assert_str_eq(a.out, c.out);
        ck_assert_str_eq(a.out, d.out);
        expect_exit_codes_listed(a.out);
        ck_assert_msg(strstr(a.out, "--json") != NULL, "%s --help lacks options", cmd);
    }
    ck_assert_ptr_nonnull(strstr(CLI("limit", "--help").out, "--clear"));
    ck_assert_ptr_nonnull(strstr(CLI("batch", "--help").out, "\"line\""));
}
END_TEST

/* Each session option is in the help of the commands that take it, and only there. */
START_TEST(help_session_options)
{
    const char *sub = CLI("subscribe", "--help").out;
    const char *renew = CLI("help", "renew").out;
    const char *unsub = CLI("unsubscribe", "--help").out;
    const char *batch = CLI("batch", "--help").out;
    const char *main_help = CLI("--help").out;

    ck_assert_ptr_nonnull(strstr(sub, "Options of subscribe:\n  --device LABEL"));
    ck_assert_ptr_nonnull(strstr(sub, "  --max-streams N"));
    ck_assert_ptr_nonnull(strstr(sub, "lease_id"));
    ck_assert_ptr_null(strstr(sub, "--lease "));
    ck_assert_ptr_nonnull(strstr(renew, "Options of renew:\n  --lease ID"));
    ck_assert_ptr_nonnull(strstr(renew, "stale"));
    ck_assert_ptr_null(strstr(renew, "--device"));
    ck_assert_ptr_nonnull(strstr(unsub, "Options of unsubscribe:\n  --lease ID"));
    ck_assert_ptr_nonnull(strstr(unsub, "stale"));
    ck_assert_ptr_nonnull(strstr(batch, "subscribe USER STREAM [device=LABEL] "
                                        "[max-streams=N]"));
    ck_assert_ptr_nonnull(strstr(batch, "renew USER STREAM [lease=ID]"));
    ck_assert_ptr_nonnull(strstr(batch, "unsubscribe USER STREAM [lease=ID]"));
    /* --limit, the default, and --max-streams, per call, are told apart. */
    ck_assert_ptr_nonnull(strstr(main_help, "--max-streams"));
    ck_assert_ptr_nonnull(strstr(sub, "over --limit, the default"));
}
END_TEST

void cli_case_help(TCase *tc)
{
    tcase_add_test(tc, help_main);
    tcase_add_test(tc, help_every_command);
    tcase_add_test(tc, help_session_options);
}
