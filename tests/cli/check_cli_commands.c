/* SPDX-License-Identifier: MIT */
/* check_cli_commands.c: each command: its JSON keys, its human output and its exit codes.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "check_cli.h"

static const char *const subscribe_keys[] = {
    "command", "result",   "user",       "stream",   "created",          "active",
    "limit",   "since_ms", "expires_ms", "retry_ms", "evicted",          "shadow_refused",
    "expired", "degraded", "lease_id",   "device",   "evicted_lease_id", "evicted_device",
    NULL};
static const char *const unsubscribe_keys[] = {"command", "result",  "user",     "stream",
                                               "removed", "expired", "lease_id", "device",
                                               "stale",   NULL};
static const char *const renew_keys[] = {
    "command",    "result",  "user",     "stream",   "active", "limit", "since_ms",
    "expires_ms", "expired", "degraded", "lease_id", "device", "stale", NULL};

/* ---- commands ---------------------------------------------------------- */

START_TEST(subscribe_json)
{
    const char *id;
    int64_t before = now_ms();
    result r = CLI("subscribe", "u1", "s1", "--db", db, "--json");
    int64_t after = now_ms();
    json_t *j;

    expect_exit(r, 0);
    ck_assert_uint_eq(r.err_len, 0);
    j = json_only(&r);
    expect_keys(j, subscribe_keys);
    ck_assert_str_eq(jstr(j, "command"), "subscribe");
    ck_assert_str_eq(jstr(j, "result"), "ok");
    ck_assert_str_eq(jstr(j, "user"), "u1");
    ck_assert_str_eq(jstr(j, "stream"), "s1");
    ck_assert(jbool(j, "created"));
    ck_assert_int_eq(jint(j, "active"), 1);
    ck_assert_int_eq(jint(j, "limit"), 3);
    ck_assert_int_ge(jint(j, "since_ms"), before);
    ck_assert_int_le(jint(j, "since_ms"), after);
    jnull(j, "expires_ms");
    jnull(j, "retry_ms");
    jnull(j, "evicted");
    ck_assert(!jbool(j, "shadow_refused"));
    ck_assert_int_eq(jint(j, "expired"), 0);
    ck_assert(!jbool(j, "degraded"));
    expect_lease_id(jstr(j, "lease_id"));
    jnull(j, "device");
    jnull(j, "evicted_lease_id");
    jnull(j, "evicted_device");
    id = track(strdup(jstr(j, "lease_id")));

    /* A stream counts once: subscribing again refreshes the same lease, and its id. */
    r = CLI("--db", db, "--json", "subscribe", "u1", "s1");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert(!jbool(j, "created"));
    ck_assert_int_eq(jint(j, "active"), 1);
    ck_assert_str_eq(jstr(j, "lease_id"), id);
    ck_assert_int_eq(count_of("u1"), 1);
}
END_TEST

START_TEST(subscribe_limit_reached)
{
    result r;
    json_t *j;

    for (int i = 1; i <= 3; i++) {
        char stream[8];
        snprintf(stream, sizeof(stream), "s%d", i);
        r = CLI("subscribe", "u1", stream, "--db", db);
        expect_exit(r, 0);
        ck_assert_msg(strncmp(r.out, "allowed:", 8) == 0, "human output: %s", r.out);
    }
    r = CLI("subscribe", "u1", "s4", "--db", db);
    expect_exit(r, 3);
    ck_assert_msg(strncmp(r.out, "refused:", 8) == 0 && strstr(r.out, "3 of 3") != NULL,
                  "human output: %s", r.out);

    r = CLI("subscribe", "u1", "s4", "--db", db, "--json");
    expect_exit(r, 3);
    j = json_only(&r);
    expect_keys(j, subscribe_keys);
    ck_assert_str_eq(jstr(j, "result"), "limit_reached");
    ck_assert(!jbool(j, "created"));
    ck_assert_int_eq(jint(j, "active"), 3);
    ck_assert_int_eq(jint(j, "limit"), 3);
    jnull(j, "since_ms");
    jnull(j, "expires_ms");
    jnull(j, "retry_ms"); /* no TTL: no slot frees by itself */
    jnull(j, "lease_id"); /* refused: no lease */
    jnull(j, "device");
    ck_assert_int_eq(count_of("u1"), 3);
    /* Another user is not affected. */
    r = CLI("subscribe", "u2", "s4", "--db", db);
    expect_exit(r, 0);
}
END_TEST

START_TEST(unsubscribe_json)
{
    result r;
    json_t *j;

    expect_exit(CLI("subscribe", "u1", "s1", "--db", db), 0);
    expect_exit(CLI("subscribe", "u1", "s2", "--db", db), 0);
    r = CLI("unsubscribe", "u1", "s1", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    expect_keys(j, unsubscribe_keys);
    ck_assert_str_eq(jstr(j, "command"), "unsubscribe");
    ck_assert_str_eq(jstr(j, "result"), "ok");
    ck_assert_str_eq(jstr(j, "user"), "u1");
    ck_assert_str_eq(jstr(j, "stream"), "s1");
    ck_assert(jbool(j, "removed"));
    ck_assert_int_eq(jint(j, "expired"), 0);
    jnull(j, "lease_id"); /* no lease named: none answered */
    jnull(j, "device");
    ck_assert(!jbool(j, "stale"));
    ck_assert_int_eq(count_of("u1"), 1);

    /* Idempotent: nothing to remove is still exit 0. */
    r = CLI("unsubscribe", "u1", "s1", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert(!jbool(j, "removed"));
    jnull(j, "lease_id");
    ck_assert(!jbool(j, "stale"));
    r = CLI("unsubscribe", "u1", "s2", "--db", db);
    expect_exit(r, 0);
    ck_assert_msg(strstr(r.out, "removed") != NULL, "human output: %s", r.out);
    ck_assert_int_eq(count_of("u1"), 0);
}
END_TEST

START_TEST(renew_found_and_not_found)
{
    result r;
    json_t *j;

    r = CLI("renew", "u1", "s1", "--db", db, "--json");
    expect_exit(r, 4);
    j = json_only(&r);
    expect_keys(j, renew_keys);
    ck_assert_str_eq(jstr(j, "command"), "renew");
    ck_assert_str_eq(jstr(j, "result"), "not_found");
    jnull(j, "since_ms");
    jnull(j, "expires_ms");
    jnull(j, "lease_id");
    ck_assert(!jbool(j, "stale"));
    ck_assert_int_eq(count_of("u1"), 0); /* renew never creates a lease */

    r = CLI("renew", "u1", "s1", "--db", db);
    expect_exit(r, 4);
    ck_assert_msg(strstr(r.out, "not found") != NULL, "human output: %s", r.out);

    expect_exit(CLI("subscribe", "u1", "s1", "--db", db), 0);
    r = CLI("renew", "u1", "s1", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    expect_keys(j, renew_keys);
    ck_assert_str_eq(jstr(j, "result"), "ok");
    ck_assert_int_eq(jint(j, "active"), 1);
    ck_assert_int_eq(jint(j, "limit"), 3);
    ck_assert_int_gt(jint(j, "since_ms"), 0);
    jnull(j, "expires_ms");
    ck_assert(!jbool(j, "degraded"));
    expect_lease_id(jstr(j, "lease_id"));
    ck_assert(!jbool(j, "stale"));
}
END_TEST

START_TEST(ttl_sets_expiry)
{
    int64_t before, after;
    result r;
    json_t *j;

    before = now_ms();
    r = CLI("subscribe", "u1", "s1", "--db", db, "--json", "--ttl", "90s");
    after = now_ms();
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_int_ge(jint(j, "expires_ms"), before + 90000);
    ck_assert_int_le(jint(j, "expires_ms"), after + 90000);

    before = now_ms();
    r = CLI("renew", "u1", "s1", "--db", db, "--json", "--ttl", "5m");
    after = now_ms();
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_int_ge(jint(j, "expires_ms"), before + 300000);
    ck_assert_int_le(jint(j, "expires_ms"), after + 300000);

    /* The list shows the same expiry, and a human sees it as an ISO-8601 time. */
    r = CLI("list", "u1", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_array_get(get(json_only(&r), "leases"), 0);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_ge(jint(j, "expires_ms"), before + 300000);

    /* At the limit with a TTL, retry_ms says when the first slot frees. */
    expect_exit(CLI("subscribe", "u1", "s2", "--db", db, "--ttl", "1h"), 0);
    expect_exit(CLI("subscribe", "u1", "s3", "--db", db, "--ttl", "1h"), 0);
    r = CLI("subscribe", "u1", "s4", "--db", db, "--json", "--ttl", "1h");
    expect_exit(r, 3);
    j = json_only(&r);
    ck_assert_int_ge(jint(j, "retry_ms"), before + 300000);
    ck_assert_int_le(jint(j, "retry_ms"), now_ms() + 300000);
}
END_TEST

START_TEST(list_json_and_human)
{
    result r;
    json_t *j, *leases, *l;

    r = CLI("list", "u1", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    expect_keys(j, ARGS("user", "count", "limit", "leases"));
    ck_assert_int_eq(jint(j, "count"), 0);
    ck_assert_int_eq(json_array_size(get(j, "leases")), 0);

    expect_exit(CLI("subscribe", "u1", "first", "--db", db), 0);
    expect_exit(CLI("subscribe", "u1", "second", "--db", db, "--ttl", "1h"), 0);
    r = CLI("list", "u1", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_str_eq(jstr(j, "user"), "u1");
    ck_assert_int_eq(jint(j, "count"), 2);
    ck_assert_int_eq(jint(j, "limit"), 3);
    leases = get(j, "leases");
    ck_assert(json_is_array(leases));
    ck_assert_int_eq(json_array_size(leases), 2);
    l = json_array_get(leases, 0);
    expect_keys(
        l, ARGS("stream", "since_ms", "renewed_ms", "expires_ms", "lease_id", "device"));
    ck_assert_str_eq(jstr(l, "stream"), "first"); /* oldest first */
    expect_lease_id(jstr(l, "lease_id"));
    jnull(l, "device");
    ck_assert_int_gt(jint(l, "since_ms"), 0);
    ck_assert_int_ge(jint(l, "renewed_ms"), jint(l, "since_ms"));
    jnull(l, "expires_ms");
    l = json_array_get(leases, 1);
    ck_assert_str_eq(jstr(l, "stream"), "second");
    ck_assert_int_gt(jint(l, "expires_ms"), jint(l, "since_ms"));

    r = CLI("list", "u1", "--db", db);
    expect_exit(r, 0);
    ck_assert_msg(strstr(r.out, "first") && strstr(r.out, "second") &&
                      strstr(r.out, "2 of 3") && strstr(r.out, "never"),
                  "human list: %s", r.out);
    /* ISO-8601 UTC: 2026-01-02T03:04:05.678Z */
    {
        const char *t = strstr(r.out, "since ");
        ck_assert_ptr_nonnull(t);
        t += 6;
        ck_assert_msg(t[4] == '-' && t[7] == '-' && t[10] == 'T' && t[13] == ':' &&
                          t[19] == '.' && t[23] == 'Z',
                      "not an ISO-8601 UTC time: %.30s", t);
    }
    ck_assert_ptr_null(strchr(r.out, '\033')); /* no colour */
}
END_TEST

START_TEST(count_json_and_human)
{
    result r;
    json_t *j;

    expect_exit(CLI("subscribe", "u1", "a", "--db", db), 0);
    expect_exit(CLI("subscribe", "u1", "b", "--db", db), 0);
    r = CLI("count", "u1", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    expect_keys(j, ARGS("user", "count", "limit"));
    ck_assert_str_eq(jstr(j, "user"), "u1");
    ck_assert_int_eq(jint(j, "count"), 2);
    ck_assert_int_eq(jint(j, "limit"), 3);
    r = CLI("count", "u1", "--db", db, "--limit", "10");
    expect_exit(r, 0);
    ck_assert_msg(strstr(r.out, "2 of 10") != NULL, "human count: %s", r.out);
    ck_assert_int_eq(count_of("nobody"), 0);
}
END_TEST

START_TEST(limit_set_get_clear)
{
    result r;
    json_t *j;

    r = CLI("limit", "u1", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    expect_keys(j, ARGS("user", "limit", "override"));
    ck_assert_str_eq(jstr(j, "user"), "u1");
    ck_assert_int_eq(jint(j, "limit"), 3);
    ck_assert(!jbool(j, "override"));

    r = CLI("limit", "u1", "5", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_int_eq(jint(j, "limit"), 5);
    ck_assert(jbool(j, "override"));

    /* The user's own limit beats the default, whatever the default. */
    r = CLI("limit", "u1", "--db", db, "--json", "--limit", "7");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_int_eq(jint(j, "limit"), 5);
    ck_assert(jbool(j, "override"));
    for (int i = 0; i < 5; i++) {
        char s[8];
        snprintf(s, sizeof(s), "s%d", i);
        expect_exit(CLI("subscribe", "u1", s, "--db", db), 0);
    }
    r = CLI("subscribe", "u1", "s5", "--db", db, "--json");
    expect_exit(r, 3);
    ck_assert_int_eq(jint(json_only(&r), "limit"), 5);

    r = CLI("limit", "u1", "--clear", "--db", db, "--json", "--limit", "7");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_int_eq(jint(j, "limit"), 7);
    ck_assert(!jbool(j, "override"));
    r = CLI("limit", "u1", "--db", db);
    expect_exit(r, 0);
    ck_assert_msg(strstr(r.out, "limit 3") != NULL, "human limit: %s", r.out);

    /* 0 blocks the user. */
    expect_exit(CLI("limit", "u2", "0", "--db", db), 0);
    r = CLI("subscribe", "u2", "s1", "--db", db, "--json");
    expect_exit(r, 3);
    j = json_only(&r);
    ck_assert_int_eq(jint(j, "limit"), 0);
    ck_assert_int_eq(jint(j, "active"), 0);
    ck_assert_int_eq(count_of("u2"), 0);
}
END_TEST

START_TEST(limit_invalid)
{
    expect_failure(CLI("limit", "u1", "abc", "--db", db), 2, "abc");
    expect_failure(CLI("limit", "u1", "1.5", "--db", db), 2, "1.5");
    expect_failure(CLI("limit", "u1", "100001", "--db", db), 2,
                   "100001"); /* library's max */
    expect_failure(CLI("limit", "u1", "99999999999999999999", "--db", db), 2, "limit");
    expect_failure(CLI("limit", "u1", "5", "--clear", "--db", db), 2, "--clear");
    expect_failure(CLI("limit", "--db", db), 2, "limit");
    expect_failure(CLI("limit", "u1", "1", "2", "--db", db), 2, "limit");
    expect_failure(CLI("subscribe", "u1", "s1", "--clear", "--db", db), 2, "--clear");
    expect_exit(CLI("limit", "u1", "100000", "--db", db), 0);
}
END_TEST

START_TEST(purge_json)
{
    result r;
    json_t *j;

    r = CLI("purge", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    expect_keys(j, ARGS("removed", NULL));
    ck_assert_int_eq(jint(j, "removed"), 0);

    /* The CLI cannot move the library's clock: a 1 ms TTL expires while we wait. */
    expect_exit(CLI("subscribe", "u1", "s1", "--db", db, "--ttl", "1ms"), 0);
    expect_exit(CLI("subscribe", "u2", "s1", "--db", db, "--ttl", "1ms"), 0);
    expect_exit(CLI("subscribe", "u3", "s1", "--db", db), 0);
    test_sleep_ms(20);
    r = CLI("purge", "--db", db, "--json");
    expect_exit(r, 0);
    ck_assert_int_eq(jint(json_only(&r), "removed"), 2);
    r = CLI("purge", "--db", db);
    expect_exit(r, 0);
    ck_assert_msg(strstr(r.out, "0") != NULL, "human purge: %s", r.out);
    ck_assert_int_eq(count_of("u3"), 1);
}
END_TEST

START_TEST(health_json)
{
    result r;
    json_t *j;

    r = CLI("health", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    expect_keys(j, ARGS("status", "store"));
    ck_assert_str_eq(jstr(j, "status"), "ok");
    ck_assert_str_eq(jstr(j, "store"), "sqlite");

    r = CLI("health", "--db", "memory:", "--json");
    expect_exit(r, 0);
    ck_assert_str_eq(jstr(json_only(&r), "store"), "memory");

    r = CLI("health", "--db", db);
    expect_exit(r, 0);
    ck_assert_msg(strncmp(r.out, "ok", 2) == 0, "human health: %s", r.out);

    /* A store that cannot be opened is unavailable: exit 1, with the reason. */
    r = CLI("health", "--db", fmt("sqlite:%s/missing/t.db", tmp), "--json");
    expect_exit(r, 1);
    j = json_only(&r);
    expect_keys(j, ARGS("status", "store", "error"));
    ck_assert_str_eq(jstr(j, "status"), "unavailable");
    ck_assert_msg(strstr(jstr(j, "error"), "missing") != NULL, "error: %s",
                  jstr(j, "error"));
    r = CLI("health", "--db", fmt("sqlite:%s/missing/t.db", tmp));
    expect_exit(r, 1);
    ck_assert_msg(strncmp(r.out, "unavailable", 11) == 0, "human health: %s", r.out);
}
END_TEST

START_TEST(default_store_is_streamy_db)
{
    struct stat st;

    /* streamyctl runs in the test's directory, without STREAMY_DB. */
    expect_exit(CLI("subscribe", "u1", "s1"), 0);
    ck_assert_int_eq(stat(path_in_tmp("streamy.db"), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(count_of("u1"), 0); /* count_of reads t.db, not streamy.db */
    expect_exit(CLI("subscribe", "u1", "s2", "--db", "streamy.db"), 0);
    {
        result r = CLI("count", "u1", "--json");
        expect_exit(r, 0);
        ck_assert_int_eq(jint(json_only(&r), "count"), 2);
    }
}
END_TEST

START_TEST(policies_and_shadow)
{
    result r;
    json_t *j;

    for (int i = 1; i <= 3; i++) {
        char s[8];
        snprintf(s, sizeof(s), "s%d", i);
        expect_exit(CLI("subscribe", "old", s, "--db", db), 0);
        expect_exit(CLI("subscribe", "idle", s, "--db", db), 0);
        test_sleep_ms(3); /* distinct start times, whatever the machine's speed */
    }
    r = CLI("subscribe", "old", "s4", "--db", db, "--json", "--policy", "evict-oldest");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_str_eq(jstr(j, "evicted"), "s1");
    ck_assert_int_eq(jint(j, "active"), 3);
    ck_assert_int_eq(count_of("old"), 3);

    expect_exit(CLI("renew", "idle", "s1", "--db", db), 0);
    r = CLI("subscribe", "idle", "s4", "--db", db, "--json", "--policy", "evict-idle");
    expect_exit(r, 0);
    ck_assert_str_eq(jstr(json_only(&r), "evicted"), "s2");

    /* Shadow mode allows, and says it would have refused. */
    r = CLI("subscribe", "old", "s5", "--db", db, "--json", "--shadow");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_str_eq(jstr(j, "result"), "ok");
    ck_assert(jbool(j, "shadow_refused"));
    ck_assert_int_eq(count_of("old"), 4);
    r = CLI("subscribe", "old", "s6", "--db", db, "--shadow");
    expect_exit(r, 0);
    ck_assert_msg(strstr(r.out, "shadow") != NULL, "human shadow: %s", r.out);
}
END_TEST

START_TEST(uuid_canonical_and_required)
{
    const char *upper = "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11";
    const char *lower = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    const char *stream = "6F9619FF-8B86-D011-B42D-00C04FC964FF";
    result r;
    json_t *j;

    r = CLI("subscribe", upper, "plain-stream", "--db", db, "--json");
    expect_exit(r, 0);
    ck_assert_str_eq(jstr(json_only(&r), "user"), lower);
    r = CLI("subscribe", lower, "plain-stream", "--db", db, "--json");
    expect_exit(r, 0);
    ck_assert(!jbool(json_only(&r), "created"));

    expect_failure(CLI("subscribe", "not-a-uuid", stream, "--db", db, "--require-uuid"),
                   2, "user");
    expect_failure(CLI("subscribe", upper, "plain", "--db", db, "--require-uuid"), 2,
                   "stream");
    r = CLI("subscribe", upper, stream, "--db", db, "--require-uuid", "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_str_eq(jstr(j, "user"), lower);
    ck_assert_str_eq(jstr(j, "stream"), "6f9619ff-8b86-d011-b42d-00c04fc964ff");
    ck_assert_int_eq(count_of(lower), 2);
    expect_failure(CLI("count", "nope", "--db", db, "--require-uuid"), 2, "user");
}
END_TEST

START_TEST(invalid_identifiers)
{
    char long_id[200];
    const char *const cmds[] = {"subscribe", "unsubscribe", "renew"};

    memset(long_id, 'x', 129);
    long_id[129] = '\0';
    expect_exit(CLI("subscribe", "u1", "s1", "--db", db), 0);
    for (size_t i = 0; i < 3; i++) {
        expect_failure(CLI(cmds[i], "u1", "", "--db", db), 2, "stream");
        expect_failure(CLI(cmds[i], "u1", long_id, "--db", db), 2, "stream");
        expect_failure(CLI(cmds[i], "u1", "bad\001id", "--db", db, "--json"), 2,
                       "stream");
        expect_failure(CLI(cmds[i], "u1", "bad\xff", "--db", db), 2, "UTF-8");
        expect_failure(CLI(cmds[i], "", "s1", "--db", db), 2, "user");
        expect_failure(CLI(cmds[i], long_id, "s1", "--db", db), 2, "user");
    }
    expect_failure(CLI("list", "", "--db", db), 2, "user");
    expect_failure(CLI("count", long_id, "--db", db), 2, "user");
    expect_failure(CLI("limit", "bad\ttab", "4", "--db", db), 2, "user");
    /* Nothing changed. */
    ck_assert_int_eq(count_of("u1"), 1);
    {
        result r = CLI("limit", "u1", "--db", db, "--json");
        expect_exit(r, 0);
        ck_assert(!jbool(json_only(&r), "override"));
    }
    /* An identifier that starts with '-' comes after "--". */
    expect_exit(CLI("subscribe", "--db", db, "--", "-u", "-s"), 0);
    ck_assert_int_eq(count_of("u1"), 1);
}
END_TEST

void cli_case_commands(TCase *tc)
{
    tcase_add_test(tc, subscribe_json);
    tcase_add_test(tc, subscribe_limit_reached);
    tcase_add_test(tc, unsubscribe_json);
    tcase_add_test(tc, renew_found_and_not_found);
    tcase_add_test(tc, ttl_sets_expiry);
    tcase_add_test(tc, list_json_and_human);
    tcase_add_test(tc, count_json_and_human);
    tcase_add_test(tc, limit_set_get_clear);
    tcase_add_test(tc, limit_invalid);
    tcase_add_test(tc, purge_json);
    tcase_add_test(tc, health_json);
    tcase_add_test(tc, default_store_is_streamy_db);
    tcase_add_test(tc, policies_and_shadow);
    tcase_add_test(tc, uuid_canonical_and_required);
    tcase_add_test(tc, invalid_identifiers);
}
