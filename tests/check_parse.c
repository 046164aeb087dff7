/* SPDX-License-Identifier: MIT */
/* check_parse.c: durations, policies, numbers and store URIs. */
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "streamy_int.h"
#include "test_util.h"

static const struct {
    const char *text;
    int64_t ms; /* -1: refused */
} durations[] = {
    {"0", 0},
    {"90", 90000},
    {"90s", 90000},
    {"5m", 300000},
    {"1h", 3600000},
    {"2d", 172800000},
    {"250ms", 250},
    {"0ms", 0},
    {"366d", 366LL * 86400000},
    {"367d", -1},
    {"", -1},
    {"s", -1},
    {"-5s", -1},
    {"5 s", -1},
    {"5sec", -1},
    {"1.5s", -1},
    {"5S", -1},
    {"99999999999999999999s", -1},
    {"10y", -1},
    {"1m1s", -1},
    {" 5s", -1},
    {"5s ", -1},
    /* Leading zeros past 23 digits were refused as "not a number" (fuzz_parse). */
    {"000000000000000000000000000000090s", 90000},
    {"0000000000000000000000000000000000", 0},
    {"00000000000000000000000000000000000000001000", 1000000},
    {"000000000000000000000000000000000000000000367d", -1},
};

START_TEST(duration_table)
{
    int64_t ms = 777;
    int rc = streamy_parse_duration(&ms, durations[_i].text);

    if (durations[_i].ms >= 0) {
        ck_assert_msg(rc == STREAMY_OK, "\"%s\": %s", durations[_i].text,
                      streamy_errmsg(NULL));
        ck_assert_int_eq(ms, durations[_i].ms);
    } else {
        ck_assert_msg(rc == STREAMY_EINVAL, "\"%s\" accepted as %lld", durations[_i].text,
                      (long long)ms);
        ck_assert_int_eq(ms, 777); /* untouched */
        ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "duration"));
    }
}
END_TEST

START_TEST(policies)
{
    streamy_policy p = STREAMY_POLICY_REJECT;

    ck_assert_rc(streamy_parse_policy(&p, "evict-oldest"), STREAMY_OK);
    ck_assert_int_eq(p, STREAMY_POLICY_EVICT_OLDEST);
    ck_assert_rc(streamy_parse_policy(&p, "evict-idle"), STREAMY_OK);
    ck_assert_int_eq(p, STREAMY_POLICY_EVICT_IDLE);
    ck_assert_rc(streamy_parse_policy(&p, "reject"), STREAMY_OK);
    ck_assert_int_eq(p, STREAMY_POLICY_REJECT);
    ck_assert_rc(streamy_parse_policy(&p, "Reject"), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "policy \"Reject\" is unknown"));
    ck_assert_rc(streamy_parse_policy(&p, ""), STREAMY_EINVAL);
    ck_assert_rc(streamy_parse_policy(NULL, "reject"), STREAMY_EINVAL);
    ck_assert_rc(streamy_parse_duration(NULL, "5s"), STREAMY_EINVAL);
    ck_assert_str_eq(streamy_policy_name(STREAMY_POLICY_EVICT_IDLE), "evict-idle");
    ck_assert_ptr_null(streamy_policy_name((streamy_policy)7));
}
END_TEST

/* A digit alone past a maximum under 9 was taken: (max - digit) wrapped around
 * (found by tests/fuzz/fuzz_parse). */
START_TEST(uint_limits)
{
    unsigned long long v = 42;

    ck_assert_rc(streamy__parse_uint(&v, "7", 5), STREAMY_EINVAL);
    ck_assert_rc(streamy__parse_uint(&v, "11", 0), STREAMY_EINVAL);
    ck_assert_rc(streamy__parse_uint(&v, "9", 8), STREAMY_EINVAL);
    ck_assert_int_eq(v, 42);
    ck_assert_rc(streamy__parse_uint(&v, "5", 5), STREAMY_OK);
    ck_assert_int_eq(v, 5);
    ck_assert_rc(streamy__parse_uint(&v, "0", 0), STREAMY_OK);
    ck_assert_int_eq(v, 0);
    ck_assert_rc(streamy__parse_uint(&v, "65536", 65535), STREAMY_EINVAL);
    ck_assert_rc(streamy__parse_uint(&v, "18446744073709551615", ULLONG_MAX), STREAMY_OK);
    ck_assert(v == ULLONG_MAX);
    ck_assert_rc(streamy__parse_uint(&v, "18446744073709551616", ULLONG_MAX),
                 STREAMY_EINVAL);
    ck_assert_rc(streamy__parse_uint(&v, "", 10), STREAMY_EINVAL);
    ck_assert_rc(streamy__parse_uint(&v, "+1", 10), STREAMY_EINVAL);
}
END_TEST

static const struct {
    const char *uri;
    int rc;
    const char *why;
} bad_uris[] = {
    {"", STREAMY_EINVAL, "empty"},
    {"foo:bar", STREAMY_EINVAL, "scheme"},
    {"mysql://localhost/db", STREAMY_EINVAL, "scheme"},
    {"memory:extra", STREAMY_EINVAL, "memory"},
    {"sqlite:", STREAMY_EINVAL, "no path"},
    {"sqlite:?mode=ro", STREAMY_EINVAL, "no path"},
    {"sqlite:@TMP@/x.db?mode=rx", STREAMY_EINVAL, "mode=rx"},
    {"sqlite:@TMP@/x.db?cache=shared", STREAMY_EINVAL, "parameter"},
    {"sqlite:@TMP@/missing/dir/x.db", STREAMY_ESTORE, "missing/dir"},
    {"@TMP@/missing/x.db", STREAMY_ESTORE, "cannot create"},
    {"sqlite:@TMP@/nothing.db?mode=ro", STREAMY_ESTORE, "nothing.db"},
};

START_TEST(uri_errors)
{
    char *dir = test_tmpdir();
    char *uri = test_expand(bad_uris[_i].uri, dir);
    streamy *h = (streamy *)dir;
    char *xdb = test_expand("@TMP@/x.db", dir);
    struct stat st;

    ck_assert_rc(streamy_open(&h, uri, NULL), bad_uris[_i].rc);
    ck_assert_ptr_null(h);
    ck_assert_msg(strstr(streamy_errmsg(NULL), bad_uris[_i].why) != NULL, "%s: %s", uri,
                  streamy_errmsg(NULL));
    /* A failed open leaves no database file behind where none could be made. */
    ck_assert_int_ne(stat(xdb, &st), 0);
    free(xdb);
    free(uri);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(uri_forms)
{
    char *dir = test_tmpdir();
    char *uri;
    streamy *h;
    struct stat st;
    int rc;

    ck_assert_rc(streamy_open(&h, "memory:", NULL), STREAMY_OK);
    ck_assert_str_eq(streamy_store_name(h), "memory");
    streamy_close(h);
    ck_assert_rc(streamy_open(&h, "sqlite::memory:", NULL), STREAMY_OK);
    ck_assert_str_eq(streamy_store_name(h), "sqlite");
    streamy_close(h);
    uri = test_expand("sqlite:@TMP@/a.db?synchronous=full&mode=rw", dir);
    ck_assert_rc(streamy_open(&h, uri, NULL), STREAMY_OK);
    streamy_close(h);
    free(uri);
    uri = test_expand("@TMP@/a.db", dir); /* a plain path is a SQLite file */
    ck_assert_rc(streamy_open(&h, uri, NULL), STREAMY_OK);
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "s"), STREAMY_OK);
    streamy_close(h);
    ck_assert_int_eq(stat(uri, &st), 0);
    free(uri);
    /* NULL means streamy.db in the working directory. */
    ck_assert_int_eq(chdir(dir), 0);
    ck_assert_rc(streamy_open(&h, NULL, NULL), STREAMY_OK);
    streamy_close(h);
    ck_assert_int_eq(stat("streamy.db", &st), 0);
    /* Shared stores are either built in (and then fail to connect here) or refused. */
    rc = streamy_open(&h, "redis://127.0.0.1:1", NULL);
    ck_assert_msg(rc == STREAMY_EUNSUPPORTED || rc == STREAMY_ESTORE, "%d", rc);
    rc = streamy_open(&h, "postgresql://127.0.0.1:1/x?connect_timeout=1", NULL);
    ck_assert_msg(rc == STREAMY_EUNSUPPORTED || rc == STREAMY_ESTORE, "%d", rc);
    test_tmpdir_free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("parse");
    TCase *tc = tcase_create("parse");

    tcase_add_loop_test(tc, duration_table, 0,
                        (int)(sizeof(durations) / sizeof(durations[0])));
    tcase_add_test(tc, policies);
    tcase_add_test(tc, uint_limits);
    tcase_add_loop_test(tc, uri_errors, 0, (int)(sizeof(bad_uris) / sizeof(bad_uris[0])));
    tcase_add_test(tc, uri_forms);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
