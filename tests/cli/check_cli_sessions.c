/* SPDX-License-Identifier: MIT */
/* check_cli_sessions.c: sessions: lease ids, device labels and the caller's limit, as
 * flags of subscribe, renew and unsubscribe, in list, and as batch fields. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_cli.h"

/* A lease id that no lease has. */
#define OTHER_ID "0f8e1d2a-6b1c-4c3e-9a7b-3c2d1e0f9a8b"

/* Subscribe and return the new lease's id (tracked). */
static const char *subscribe_id(const char *user, const char *stream)
{
    result r = CLI("subscribe", user, stream, "--db", db, "--json");
    expect_exit(r, 0);
    return track(strdup(jstr(json_only(&r), "lease_id")));
}

/* The store as `list USER --json` shows it: what must not change after bad input. */
static const char *listing(const char *user)
{
    result r = CLI("list", user, "--db", db, "--json");
    expect_exit(r, 0);
    return r.out;
}

/* ---- subscribe --device ---------------------------------------------------- */

START_TEST(subscribe_device)
{
    result r;
    json_t *j, *l;
    const char *id;

    r = CLI("subscribe", "u1", "s1", "--device", "Living-room TV", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_str_eq(jstr(j, "device"), "Living-room TV");
    expect_lease_id(jstr(j, "lease_id"));
    id = track(strdup(jstr(j, "lease_id")));

    /* A refresh without a label keeps the lease's own, and its id. */
    r = CLI("subscribe", "u1", "s1", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert(!jbool(j, "created"));
    ck_assert_str_eq(jstr(j, "lease_id"), id);
    ck_assert_str_eq(jstr(j, "device"), "Living-room TV");

    /* A refresh with one replaces it; the option may come before the command. */
    expect_failure(CLI("--device", "Phone", "--db", db, "subscribe", "u1", "s1"), 2,
                   "goes after the command"); /* subscribe's own, not a common option */
    r = CLI("--db", db, "subscribe", "--device", "Phone", "u1", "s1");
    expect_exit(r, 0);
    ck_assert_msg(strncmp(r.out, "allowed:", 8) == 0 && strstr(r.out, id) != NULL &&
                      strstr(r.out, "device \"Phone\"") != NULL,
                  "human output: %s", r.out);

    /* A label of exactly 64 bytes, and UTF-8 beyond ASCII. */
    r = CLI("subscribe", "u1", "s2", "--device",
            "1234567890123456789012345678901234567890123456789012345678901234", "--db",
            db, "--json");
    expect_exit(r, 0);
    r = CLI("subscribe", "u1", "s3", "--device", "T\xc3\xa9l\xc3\xa9 salon", "--db", db,
            "--json");
    expect_exit(r, 0);
    ck_assert_str_eq(jstr(json_only(&r), "device"), "T\xc3\xa9l\xc3\xa9 salon");

    /* list shows each lease's id and device. */
    r = CLI("list", "u1", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_int_eq(jint(j, "count"), 3);
    l = json_array_get(get(j, "leases"), 0);
    ck_assert_ptr_nonnull(l);
    ck_assert_str_eq(jstr(l, "stream"), "s1");
    ck_assert_str_eq(jstr(l, "lease_id"), id);
    ck_assert_str_eq(jstr(l, "device"), "Phone");
    r = CLI("list", "u1", "--db", db);
    expect_exit(r, 0);
    ck_assert_msg(strstr(r.out, fmt("s1  lease %s  device \"Phone\"  since ", id)) !=
                      NULL,
                  "human list: %s", r.out);
}
END_TEST

/* A lease without a label: no device in the human output, null in JSON. */
START_TEST(subscribe_human_shows_lease)
{
    result r = CLI("subscribe", "u1", "s1", "--db", db);
    const char *p;

    expect_exit(r, 0);
    p = strstr(r.out, "; lease ");
    ck_assert_msg(p != NULL, "human output lacks the lease: %s", r.out);
    p += 8;
    ck_assert_msg(strlen(p) >= 37 && p[36] == '\n', "human output: %s", r.out);
    ck_assert_ptr_null(strstr(r.out, "device"));
    r = CLI("list", "u1", "--db", db);
    expect_exit(r, 0);
    ck_assert_ptr_null(strstr(r.out, "device"));
    ck_assert_ptr_nonnull(strstr(r.out, "  lease "));

    /* A refusal points at the leases that hold the slots. */
    r = CLI("subscribe", "u1", "s2", "--db", db, "--limit", "1");
    expect_exit(r, 3);
    ck_assert_msg(strncmp(r.out, "refused:", 8) == 0 &&
                      strstr(r.out, "streamyctl list u1") != NULL,
                  "human output: %s", r.out);
}
END_TEST

/* ---- subscribe --max-streams ------------------------------------------------ */

START_TEST(subscribe_max_streams)
{
    result r;
    json_t *j;

    /* The caller's limit beats the default, lower or higher. */
    expect_exit(CLI("subscribe", "u1", "s1", "--max-streams", "1", "--db", db), 0);
    r = CLI("subscribe", "u1", "s2", "--max-streams", "1", "--db", db, "--json");
    expect_exit(r, 3);
    j = json_only(&r);
    ck_assert_str_eq(jstr(j, "result"), "limit_reached");
    ck_assert_int_eq(jint(j, "limit"), 1);
    ck_assert_int_eq(jint(j, "active"), 1);
    for (int i = 2; i <= 5; i++) {
        char s[8];
        snprintf(s, sizeof(s), "s%d", i);
        r = CLI("subscribe", "u1", s, "--max-streams", "5", "--db", db, "--json");
        expect_exit(r, 0);
        ck_assert_int_eq(jint(json_only(&r), "limit"), 5);
    }
    ck_assert_int_eq(count_of("u1"), 5);
    r = CLI("subscribe", "u1", "s6", "--max-streams", "5", "--db", db);
    expect_exit(r, 3);
    /* It is not stored: without it the default applies again. */
    r = CLI("subscribe", "u2", "s1", "--db", db, "--json", "--limit", "2");
    expect_exit(r, 0);
    ck_assert_int_eq(jint(json_only(&r), "limit"), 2);
    r = CLI("limit", "u1", "--db", db, "--json");
    expect_exit(r, 0);
    ck_assert(!jbool(json_only(&r), "override"));

    /* A limit stored for the user wins over the caller's; 0 blocks. */
    expect_exit(CLI("limit", "u3", "1", "--db", db), 0);
    expect_exit(CLI("subscribe", "u3", "s1", "--max-streams", "10", "--db", db), 0);
    r = CLI("subscribe", "u3", "s2", "--max-streams", "10", "--db", db, "--json");
    expect_exit(r, 3);
    ck_assert_int_eq(jint(json_only(&r), "limit"), 1);
    r = CLI("subscribe", "u4", "s1", "--max-streams", "0", "--db", db, "--json");
    expect_exit(r, 3);
    ck_assert_int_eq(jint(json_only(&r), "limit"), 0);
    ck_assert_int_eq(count_of("u4"), 0);
    expect_exit(CLI("subscribe", "u4", "s1", "--max-streams=100000", "--db", db), 0);
}
END_TEST

/* ---- renew and unsubscribe --lease ------------------------------------------- */

START_TEST(renew_lease)
{
    const char *id = subscribe_id("u1", "s1"), *newer;
    char upper[40];
    result r;
    json_t *j;

    r = CLI("renew", "u1", "s1", "--lease", id, "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_str_eq(jstr(j, "result"), "ok");
    ck_assert_str_eq(jstr(j, "lease_id"), id);
    ck_assert(!jbool(j, "stale"));
    /* Any case. */
    for (size_t i = 0; i <= strlen(id); i++)
        upper[i] = (char)(id[i] >= 'a' && id[i] <= 'f' ? id[i] - 32 : id[i]);
    r = CLI("renew", "u1", "s1", "--db", db, "--lease", upper);
    expect_exit(r, 0);
    ck_assert_msg(strncmp(r.out, "renewed:", 8) == 0 && strstr(r.out, id) != NULL,
                  "human output: %s", r.out);

    /* The stream started again: the old id is stale. */
    expect_exit(CLI("unsubscribe", "u1", "s1", "--db", db), 0);
    newer = subscribe_id("u1", "s1");
    ck_assert_str_ne(newer, id);
    r = CLI("renew", "u1", "s1", "--lease", id, "--db", db, "--json");
    expect_exit(r, 4);
    j = json_only(&r);
    ck_assert_str_eq(jstr(j, "result"), "not_found");
    ck_assert(jbool(j, "stale"));
    jnull(j, "lease_id");
    r = CLI("renew", "u1", "s1", "--lease", id, "--db", db);
    expect_exit(r, 4);
    ck_assert_msg(strncmp(r.out, "not found:", 10) == 0 &&
                      strstr(r.out, "another lease") != NULL && strstr(r.out, id) != NULL,
                  "human output: %s", r.out);
    /* No such lease at all: not found, and not stale. */
    r = CLI("renew", "u1", "s9", "--lease", id, "--db", db, "--json");
    expect_exit(r, 4);
    ck_assert(!jbool(json_only(&r), "stale"));
    /* The newer lease is untouched and renews with its own id. */
    r = CLI("renew", "u1", "s1", "--lease", newer, "--db", db, "--json");
    expect_exit(r, 0);
    ck_assert_str_eq(jstr(json_only(&r), "lease_id"), newer);
    ck_assert_int_eq(count_of("u1"), 1);
}
END_TEST

START_TEST(unsubscribe_lease)
{
    const char *id = subscribe_id("u1", "s1"), *newer;
    result r;
    json_t *j;

    expect_exit(CLI("unsubscribe", "u1", "s1", "--db", db), 0);
    newer = subscribe_id("u1", "s1");

    /* A stale player cannot end the newer session: nothing removed, still exit 0. */
    r = CLI("unsubscribe", "u1", "s1", "--lease", id, "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_str_eq(jstr(j, "result"), "ok");
    ck_assert(!jbool(j, "removed"));
    ck_assert(jbool(j, "stale"));
    jnull(j, "lease_id");
    r = CLI("unsubscribe", "u1", "s1", "--lease", id, "--db", db);
    expect_exit(r, 0);
    ck_assert_msg(strstr(r.out, "nothing was removed") != NULL &&
                      strstr(r.out, "another lease") != NULL,
                  "human output: %s", r.out);
    ck_assert_int_eq(count_of("u1"), 1);

    /* The holder of the lease ends it; the answer names the lease removed. */
    r = CLI("unsubscribe", "u1", "s1", "--lease", newer, "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert(jbool(j, "removed"));
    ck_assert(!jbool(j, "stale"));
    ck_assert_str_eq(jstr(j, "lease_id"), newer);
    ck_assert_int_eq(count_of("u1"), 0);
    /* Gone: idempotent, not stale. */
    r = CLI("unsubscribe", "u1", "s1", "--lease", newer, "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert(!jbool(j, "removed"));
    ck_assert(!jbool(j, "stale"));

    /* Without --lease a removal names no lease: the call named none. */
    r = CLI("subscribe", "u1", "s2", "--device", "TV", "--db", db, "--json");
    expect_exit(r, 0);
    id = track(strdup(jstr(json_only(&r), "lease_id")));
    r = CLI("unsubscribe", "u1", "s2", "--db", db);
    expect_exit(r, 0);
    ck_assert_msg(strncmp(r.out, "removed:", 8) == 0 && strstr(r.out, id) == NULL &&
                      strstr(r.out, "lease") == NULL,
                  "human output: %s", r.out);
}
END_TEST

START_TEST(evicted_lease)
{
    const char *first;
    result r;
    json_t *j;

    r = CLI("subscribe", "u1", "s1", "--device", "Kitchen", "--db", db, "--json");
    expect_exit(r, 0);
    first = track(strdup(jstr(json_only(&r), "lease_id")));
    test_sleep_ms(3); /* distinct start times */
    expect_exit(CLI("subscribe", "u1", "s2", "--db", db), 0);
    r = CLI("subscribe", "u1", "s3", "--db", db, "--json", "--limit", "2", "--policy",
            "evict-oldest");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_str_eq(jstr(j, "evicted"), "s1");
    ck_assert_str_eq(jstr(j, "evicted_lease_id"), first);
    ck_assert_str_eq(jstr(j, "evicted_device"), "Kitchen");
    ck_assert_str_ne(jstr(j, "lease_id"), first);

    /* The evicted player's renew is not found; the human evict line names the lease. */
    expect_exit(CLI("renew", "u1", "s1", "--lease", first, "--db", db), 4);
    r = CLI("subscribe", "u1", "s4", "--db", db, "--limit", "2", "--policy",
            "evict-oldest");
    expect_exit(r, 0);
    ck_assert_msg(strstr(r.out, "evicted stream s2 (lease ") != NULL, "human output: %s",
                  r.out);
}
END_TEST

/* ---- bad input: exit 2, the flag named, nothing changed ---------------------- */

START_TEST(bad_session_flags)
{
    static const struct {
        const char *args[4];
        const char *needle;
    } bad[] = {
        {{"renew", "--lease", "not-a-uuid"}, "--lease"},
        {{"unsubscribe", "--lease", "0f8e1d2a-6b1c-4c3e-9a7b-3c2d1e0f9a8"}, "--lease"},
        {{"renew", "--lease", "0f8e1d2a6b1c4c3e9a7b3c2d1e0f9a8b0000"}, "--lease"},
        {{"unsubscribe", "--lease", ""}, "--lease"},
        {{"subscribe", "--device", ""}, "--device"},
        {{"subscribe", "--device",
          "12345678901234567890123456789012345678901234567890123456789012345"},
         "--device"},
        {{"subscribe", "--device", "TV\tKitchen"}, "--device"},
        {{"subscribe", "--device", "TV\nKitchen"}, "--device"},
        {{"subscribe", "--device", "bad\xff"}, "--device"},
        {{"subscribe", "--max-streams", "-1"}, "--max-streams"},
        {{"subscribe", "--max-streams", "1.5"}, "--max-streams"},
        {{"subscribe", "--max-streams", "abc"}, "--max-streams"},
        {{"subscribe", "--max-streams", "100001"}, "--max-streams"},
        {{"subscribe", "--max-streams", ""}, "--max-streams"},
        {{"subscribe", "--max-streams", " 2"}, "--max-streams"},
        {{"subscribe", "--max-streams", "99999999999999999999"}, "--max-streams"},
        /* A flag given to a command that does not take it. */
        {{"subscribe", "--lease", OTHER_ID}, "--lease"},
        {{"renew", "--device", "TV"}, "--device"},
        {{"unsubscribe", "--device", "TV"}, "--device"},
        {{"renew", "--max-streams", "2"}, "--max-streams"},
        {{"unsubscribe", "--max-streams=2"}, "--max-streams"},
        {{"list", "--lease", OTHER_ID}, "--lease"},
        {{"subscribe", "--clear"}, "--clear"},
    };
    const char *before;

    subscribe_id("u1", "s1");
    before = listing("u1");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *const *a = bad[i].args;
        int list = strcmp(a[0], "list") == 0;
        result r;

        /* Each with its operands, the flag after them and before them. */
        if (a[2] != NULL) {
            r = list ? CLI(a[0], "u1", a[1], a[2], "--db", db)
                     : CLI(a[0], "u1", "s1", a[1], a[2], "--db", db, "--json");
            expect_failure(r, 2, bad[i].needle);
            r = list ? CLI("--db", db, a[0], a[1], a[2], "u1")
                     : CLI("--db", db, a[0], a[1], a[2], "u1", "s2");
        } else {
            r = CLI(a[0], "u1", "s1", a[1], "--db", db);
        }
        expect_failure(r, 2, bad[i].needle);
    }
    /* Nothing changed: the same leases, no new user, no stored limit. */
    ck_assert_str_eq(listing("u1"), before);
    ck_assert_int_eq(count_of("u1"), 1);
    {
        result r = CLI("limit", "u1", "--db", db, "--json");
        expect_exit(r, 0);
        ck_assert(!jbool(json_only(&r), "override"));
    }
    /* The messages say whose option it is. */
    expect_failure(CLI("subscribe", "u1", "s1", "--lease", OTHER_ID, "--db", db), 2,
                   "renew and unsubscribe take it");
    expect_failure(CLI("renew", "u1", "s1", "--device", "TV", "--db", db), 2,
                   "subscribe takes it");
    expect_failure(CLI("subscribe", "u1", "s1", "--max-streams", "1.5", "--db", db), 2,
                   "0 to 100000");
    expect_failure(CLI("renew", "u1", "s1", "--lease", "nope", "--db", db), 2, "UUID");
    expect_failure(
        CLI("subscribe", "u1", "s1", "--device",
            "12345678901234567890123456789012345678901234567890123456789012345", "--db",
            db),
        2, "64 bytes");
    expect_failure(CLI("subscribe", "u1", "s1", "--device", "a\x01", "--db", db), 2,
                   "control character");
}
END_TEST

/* ---- batch fields ------------------------------------------------------------ */

START_TEST(batch_session_fields)
{
    const char *id = subscribe_id("a", "old");
    char *input = track(malloc(1024));
    result r;
    json_t *j;

    /* Drop and restart "old", so `id` is stale. */
    expect_exit(CLI("unsubscribe", "a", "old", "--db", db), 0);
    expect_exit(CLI("subscribe", "a", "old", "--db", db), 0);
    snprintf(input, 1024,
             "subscribe a s1 device=Kitchen\n"
             "subscribe\ta\ts2\tdevice=Living room TV\tmax-streams=5\n"
             "subscribe a s3 max-streams=1\n"
             "renew a old lease=%s\n"
             "unsubscribe a old lease=" OTHER_ID "\n"
             "subscribe a s2 max-streams=5\n",
             id);
    r = CLI_IN(input, "batch", "--db", db, "--json");
    expect_exit(r, 0);
    ck_assert_uint_eq(count_lines(r.out), 6);

    j = json_line(r.out, 0);
    ck_assert_str_eq(jstr(j, "result"), "ok");
    ck_assert_str_eq(jstr(j, "device"), "Kitchen");
    expect_lease_id(jstr(j, "lease_id"));
    ck_assert_int_eq(jint(j, "limit"), 3);

    j = json_line(r.out, 1);
    ck_assert_str_eq(jstr(j, "result"), "ok");
    ck_assert_str_eq(jstr(j, "device"), "Living room TV");
    ck_assert_int_eq(jint(j, "limit"), 5);
    ck_assert_int_eq(jint(j, "active"), 3);

    j = json_line(r.out, 2);
    ck_assert_str_eq(jstr(j, "result"), "limit_reached");
    ck_assert_int_eq(jint(j, "limit"), 1);

    j = json_line(r.out, 3);
    ck_assert_int_eq(jint(j, "line"), 4);
    ck_assert_str_eq(jstr(j, "command"), "renew");
    ck_assert_str_eq(jstr(j, "result"), "not_found");
    ck_assert(jbool(j, "stale"));

    j = json_line(r.out, 4);
    ck_assert_str_eq(jstr(j, "command"), "unsubscribe");
    ck_assert(!jbool(j, "removed"));
    ck_assert(jbool(j, "stale"));

    /* A refresh without device= keeps the label. */
    j = json_line(r.out, 5);
    ck_assert(!jbool(j, "created"));
    ck_assert_str_eq(jstr(j, "device"), "Living room TV");
    ck_assert_str_eq(jstr(j, "lease_id"), jstr(json_line(r.out, 1), "lease_id"));
    ck_assert_int_eq(count_of("a"), 3);

    /* The current lease renews and ends by its id. */
    id = track(strdup(jstr(json_line(r.out, 0), "lease_id")));
    r = CLI_IN(fmt("renew a s1 lease=%s\n", id), "batch", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_str_eq(jstr(j, "result"), "ok");
    ck_assert_str_eq(jstr(j, "lease_id"), id);
    ck_assert_str_eq(jstr(j, "device"), "Kitchen");
    r = CLI_IN(fmt("unsubscribe a s1 lease=%s\n", id), "batch", "--db", db);
    expect_exit(r, 0);
    ck_assert_msg(strstr(r.out, "line 1: removed: user a stream s1; lease ") != NULL,
                  "human output: %s", r.out);
    ck_assert_int_eq(count_of("a"), 2);
}
END_TEST

START_TEST(batch_session_human)
{
    const char *id = subscribe_id("a", "s1");
    result r;

    expect_exit(CLI("unsubscribe", "a", "s1", "--db", db), 0);
    expect_exit(CLI("subscribe", "a", "s1", "--db", db), 0);
    r = CLI_IN(fmt("renew a s1 lease=%s\n", id), "batch", "--db", db);
    expect_exit(r, 0);
    ck_assert_msg(strstr(r.out, "line 1: not found: ") != NULL &&
                      strstr(r.out, "another lease") != NULL,
                  "human output: %s", r.out);
    r = CLI_IN(fmt("unsubscribe a s1 lease=%s\n", id), "batch", "--db", db);
    expect_exit(r, 0);
    ck_assert_msg(strstr(r.out, "line 1: not removed: ") != NULL &&
                      strstr(r.out, "nothing was removed") != NULL,
                  "human output: %s", r.out);
    r = CLI_IN("subscribe a s2 device=TV\n", "batch", "--db", db);
    expect_exit(r, 0);
    ck_assert_msg(strstr(r.out, "line 1: allowed: ") != NULL &&
                      strstr(r.out, "; lease ") != NULL &&
                      strstr(r.out, "device \"TV\"") != NULL,
                  "human output: %s", r.out);
    ck_assert_int_eq(count_of("a"), 2);
}
END_TEST

START_TEST(batch_bad_session_fields)
{
    static const struct {
        const char *line, *needle;
    } bad[] = {
        {"subscribe a s1 lease=" OTHER_ID, "lease="},
        {"renew a s1 device=TV", "device="},
        {"unsubscribe a s1 max-streams=2", "max-streams="},
        {"renew a s1 lease=nope", "lease="},
        {"renew a s1 lease=", "lease="},
        {"unsubscribe a s1 lease=" OTHER_ID " lease=" OTHER_ID, "twice"},
        {"subscribe a s1 device=", "device="},
        {"subscribe a s1 "
         "device=12345678901234567890123456789012345678901234567890123456789"
         "012345",
         "64 bytes"},
        {"subscribe\ta\ts1\tdevice=bad\x01", "control character"},
        {"subscribe a s1 device=bad\xff", "UTF-8"},
        {"subscribe a s1 max-streams=-1", "max-streams="},
        {"subscribe a s1 max-streams=1.5", "max-streams="},
        {"subscribe a s1 max-streams=x", "max-streams="},
        {"subscribe a s1 max-streams=100001", "max-streams="},
        {"subscribe a s1 max-streams=1 max-streams=2", "twice"},
        {"subscribe a s1 colour=red", "colour"},
        {"subscribe a s1 device", "device"},
        {"subscribe a s1 =x", "field 4"},
        {"subscribe a s1 a=1 b=2 c=3 d=4 e=5 f=6", "at most"},
    };
    const size_t n = sizeof(bad) / sizeof(bad[0]);
    char *input = track(malloc(8192));
    const char *before;
    size_t len = 0;
    result r;

    expect_exit(CLI("subscribe", "a", "s1", "--db", db), 0);
    before = listing("a");
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(input + len, "%s\n", bad[i].line);
    r = run(input, len, NULL, ARGS("batch", "--db", db, "--json"));
    expect_exit(r, 2);
    ck_assert_uint_eq(count_lines(r.out), n);
    for (size_t i = 0; i < n; i++) {
        json_t *j = json_line(r.out, i);
        const char *msg;

        expect_keys(j, ARGS("line", "result", "code", "error"));
        ck_assert_int_eq(jint(j, "line"), (json_int_t)i + 1);
        ck_assert_str_eq(jstr(j, "code"), "invalid");
        msg = jstr(j, "error");
        ck_assert_msg(strstr(msg, bad[i].needle) != NULL, "line %zu: \"%s\" lacks \"%s\"",
                      i + 1, msg, bad[i].needle);
        for (const char *p = msg; *p; p++) /* printable ASCII only */
            ck_assert_msg(*p >= 0x20 && *p < 0x7F, "line %zu: \"%s\"", i + 1, msg);
    }
    ck_assert_str_eq(listing("a"), before);
}
END_TEST

void cli_case_sessions(TCase *tc)
{
    tcase_add_test(tc, subscribe_device);
    tcase_add_test(tc, subscribe_human_shows_lease);
    tcase_add_test(tc, subscribe_max_streams);
    tcase_add_test(tc, renew_lease);
    tcase_add_test(tc, unsubscribe_lease);
    tcase_add_test(tc, evicted_lease);
    tcase_add_test(tc, bad_session_flags);
    tcase_add_test(tc, batch_session_fields);
    tcase_add_test(tc, batch_session_human);
    tcase_add_test(tc, batch_bad_session_fields);
}
