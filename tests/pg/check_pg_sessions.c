/* SPDX-License-Identifier: MIT */
/* check_pg_sessions.c: the PostgreSQL store's sessions (lease ids, devices, fences, the
 * caller's limit, in single calls and batches), and with pg_migration.c the migration of
 * the schemas earlier releases made, against the server of pg_harness.sh. */
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "pg_util.h"
#include "streamy.h"
#include "test_util.h"

/* --- sessions ----------------------------------------------------------------------- */

START_TEST(ids_and_devices_of_single_calls)
{
    int64_t now = 1000000;
    streamy *h = open_clocked("ids", &now, STREAMY_POLICY_REJECT);
    streamy_answer a;
    char id[STREAMY_LEASE_ID_LEN + 1], text[256];
    PGconn *c = admin();
    seen s;

    /* A new lease: a new id, the device stored. */
    ck_assert_rc(
        call_ex(&a, h, STREAMY_OP_SUBSCRIBE, "u", "s1", NULL, "Living-room TV", NONE),
        STREAMY_OK);
    ck_assert_int_eq(a.decision.created, 1);
    ck_assert_msg(is_lease_id(a.lease_id), "%s", a.lease_id);
    ck_assert_str_eq(a.device, "Living-room TV");
    strcpy(id, a.lease_id);
    snprintf(text, sizeof(text),
             "SELECT count(*) FROM \"%s\".leases WHERE lease_id = '%s' AND device = "
             "'Living-room TV'",
             schema("ids"), id);
    ck_assert_int_eq(sql_int(c, text), 1);
    /* A refresh without a device keeps id and device; with one, replaces the device. */
    now += 1000;
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_SUBSCRIBE, "u", "s1", NULL, NULL, NONE),
                 STREAMY_OK);
    ck_assert_int_eq(a.decision.created, 0);
    ck_assert_str_eq(a.lease_id, id);
    ck_assert_str_eq(a.device, "Living-room TV");
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_SUBSCRIBE, "u", "s1", NULL, "Phone", NONE),
                 STREAMY_OK);
    ck_assert_str_eq(a.lease_id, id);
    ck_assert_str_eq(a.device, "Phone");
    /* A renew keeps them; the plain call answers as before. */
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_RENEW, "u", "s1", NULL, NULL, NONE),
                 STREAMY_OK);
    ck_assert_str_eq(a.lease_id, id);
    ck_assert_str_eq(a.device, "Phone");
    ck_assert_int_eq(a.decision.since_ms, 1000000);
    ck_assert_int_eq(a.decision.expires_ms, 1001000 + 60000);
    /* Without a device, a lease has none; list shows ids and devices. */
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_SUBSCRIBE, "u", "s2", NULL, NULL, NONE),
                 STREAMY_OK);
    ck_assert_str_eq(a.device, "");
    ck_assert_msg(is_lease_id(a.lease_id) && strcmp(a.lease_id, id) != 0, "%s",
                  a.lease_id);
    s = list_leases(h, "u");
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.l[0].stream, "s1");
    ck_assert_str_eq(s.l[0].id, id);
    ck_assert_str_eq(s.l[0].device, "Phone");
    ck_assert_str_eq(s.l[1].id, a.lease_id);
    ck_assert_str_eq(s.l[1].device, "");
    /* Unsubscribe removes it, and answers no lease. */
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_UNSUBSCRIBE, "u", "s1", NULL, NULL, NONE),
                 STREAMY_OK);
    ck_assert_int_eq(a.decision.removed, 1);
    ck_assert_str_eq(a.lease_id, "");
    ck_assert_str_eq(a.device, "");
    ck_assert_int_eq(a.stale, 0);
    streamy_close(h);
    PQfinish(c);
}
END_TEST

START_TEST(a_stale_lease_id_ends_nothing)
{
    int64_t now = 1000000;
    streamy *h = open_clocked("fence", &now, STREAMY_POLICY_REJECT);
    streamy_answer a;
    char old[STREAMY_LEASE_ID_LEN + 1], cur[STREAMY_LEASE_ID_LEN + 1];
    const char *other = "6f9619ff-8b86-4011-b42d-00c04fc964ff";
    unsigned int n;

    ck_assert_rc(call_ex(&a, h, STREAMY_OP_SUBSCRIBE, "u", "s", NULL, "tv", NONE),
                 STREAMY_OK);
    strcpy(old, a.lease_id);
    /* Another id: renew is not found, unsubscribe removes nothing; both say stale. */
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_RENEW, "u", "s", other, NULL, NONE),
                 STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 1);
    ck_assert_uint_eq(a.decision.active, 1);
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_UNSUBSCRIBE, "u", "s", other, NULL, NONE),
                 STREAMY_OK);
    ck_assert_int_eq(a.decision.removed, 0);
    ck_assert_int_eq(a.stale, 1);
    ck_assert_str_eq(a.lease_id, "");
    ck_assert_rc(streamy_count(&n, h, "u"), STREAMY_OK);
    ck_assert_uint_eq(n, 1);
    /* The id it holds: renewed. */
    now += 1000;
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_RENEW, "u", "s", old, NULL, NONE), STREAMY_OK);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_str_eq(a.lease_id, old);
    ck_assert_int_eq(a.decision.expires_ms, now + 60000);
    /* The lease expires and the stream starts again: a new id; the old one is stale. */
    now += 61000;
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_SUBSCRIBE, "u", "s", NULL, NULL, NONE),
                 STREAMY_OK);
    ck_assert_int_eq(a.decision.created, 1);
    ck_assert_uint_eq(a.decision.expired, 1);
    ck_assert_str_eq(a.device, "");
    strcpy(cur, a.lease_id);
    ck_assert_str_ne(cur, old);
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_RENEW, "u", "s", old, NULL, NONE),
                 STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 1);
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_UNSUBSCRIBE, "u", "s", old, NULL, NONE),
                 STREAMY_OK);
    ck_assert_int_eq(a.stale, 1);
    ck_assert_int_eq(a.decision.removed, 0);
    /* An expired lease is nobody's: as if no id was given. */
    now += 61000;
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_RENEW, "u", "s", old, NULL, NONE),
                 STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_SUBSCRIBE, "u", "t", NULL, NULL, NONE),
                 STREAMY_OK);
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_UNSUBSCRIBE, "u", "t", other, NULL, NONE),
                 STREAMY_OK);
    ck_assert_int_eq(a.stale, 1);
    now += 61000;
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_UNSUBSCRIBE, "u", "t", other, NULL, NONE),
                 STREAMY_OK);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_int_eq(a.decision.removed, 0);
    ck_assert_uint_eq(a.decision.expired, 1);
    ck_assert_str_eq(a.lease_id, "");
    /* The id it holds, in any case: removed, and named. */
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_SUBSCRIBE, "u", "v", NULL, "tv", NONE),
                 STREAMY_OK);
    strcpy(cur, a.lease_id);
    for (char *p = cur; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_UNSUBSCRIBE, "u", "v", cur, NULL, NONE),
                 STREAMY_OK);
    ck_assert_int_eq(a.decision.removed, 1);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_str_eq(a.device, "");
    /* A second unsubscribe with that id finds nothing, and nothing stale. */
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_UNSUBSCRIBE, "u", "v", cur, NULL, NONE),
                 STREAMY_OK);
    ck_assert_int_eq(a.decision.removed, 0);
    ck_assert_int_eq(a.stale, 0);
    streamy_close(h);
}
END_TEST

START_TEST(an_eviction_names_the_evicted_lease)
{
    int64_t now = 1000000;
    streamy *h = open_clocked("evict", &now, STREAMY_POLICY_EVICT_OLDEST);
    streamy_answer a;
    char first[STREAMY_LEASE_ID_LEN + 1];

    ck_assert_rc(call_ex(&a, h, STREAMY_OP_SUBSCRIBE, "u", "s1", NULL, "Kitchen", 2),
                 STREAMY_OK);
    strcpy(first, a.lease_id);
    now++;
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_SUBSCRIBE, "u", "s2", NULL, NULL, 2),
                 STREAMY_OK);
    ck_assert_str_eq(a.evicted_lease_id, "");
    now++;
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_SUBSCRIBE, "u", "s3", NULL, "Phone", 2),
                 STREAMY_OK);
    ck_assert_uint_eq(a.decision.limit, 2);
    ck_assert_str_eq(a.decision.evicted, "s1");
    ck_assert_str_eq(a.evicted_lease_id, first);
    ck_assert_str_eq(a.evicted_device, "Kitchen");
    ck_assert_str_eq(a.device, "Phone");
    ck_assert_str_ne(a.lease_id, first);
    streamy_close(h);
}
END_TEST

START_TEST(the_callers_limit_applies_and_a_stored_one_wins)
{
    int64_t now = 1000000;
    streamy *h = open_clocked("maxs", &now, STREAMY_POLICY_REJECT);
    streamy_answer a;
    PGconn *c = admin();
    char text[256];

    ck_assert_rc(call_ex(&a, h, STREAMY_OP_SUBSCRIBE, "u", "s1", NULL, NULL, 1),
                 STREAMY_OK);
    ck_assert_uint_eq(a.decision.limit, 1);
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_SUBSCRIBE, "u", "s2", NULL, NULL, 1),
                 STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(a.decision.limit, 1);
    ck_assert_str_eq(a.lease_id, "");
    /* The default (3) without one; the caller's limit is stored nowhere. */
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_SUBSCRIBE, "u", "s2", NULL, NULL, NONE),
                 STREAMY_OK);
    ck_assert_uint_eq(a.decision.limit, 3);
    snprintf(text, sizeof(text),
             "SELECT count(*) FROM \"%s\".users WHERE max_streams IS NOT NULL",
             schema("maxs"));
    ck_assert_int_eq(sql_int(c, text), 0);
    /* A stored limit wins over the caller's. */
    ck_assert_rc(streamy_set_limit(h, "u", 5), STREAMY_OK);
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_SUBSCRIBE, "u", "s3", NULL, NULL, 1),
                 STREAMY_OK);
    ck_assert_uint_eq(a.decision.limit, 5);
    ck_assert_rc(streamy_set_limit(h, "u", 0), STREAMY_OK);
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_SUBSCRIBE, "u", "s4", NULL, NULL, 100),
                 STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(a.decision.limit, 0);
    streamy_close(h);
    PQfinish(c);
}
END_TEST

/* A batch decides as the single calls do: its own limit for each operation, devices
 * (any text: quotes, backslashes, braces and commas too), fences, ids. */
START_TEST(a_batch_decides_sessions_as_single_calls_do)
{
    static const char *const devices[] = {"Tom's \"TV\", {den}\\", "NULL",
                                          "Ph\xc3\xb6ne"};
    int64_t now = 1000000;
    streamy *h = open_clocked("batch", &now, STREAMY_POLICY_REJECT);
    streamy_call calls[8];
    streamy_answer ans[8];
    streamy_batch_op ops[8];
    const char *other = "6f9619ff-8b86-4011-b42d-00c04fc964ff";
    char ids[3][STREAMY_LEASE_ID_LEN + 1];
    seen s;

    for (int i = 0; i < 8; i++) {
        static const streamy_call blank = STREAMY_CALL_INIT;
        calls[i] = blank;
        calls[i].user = "u";
        ck_assert_rc(streamy_answer_init(&ans[i], STREAMY_CALL_VERSION), STREAMY_OK);
        ops[i].call = &calls[i];
        ops[i].answer = &ans[i];
        ops[i].kind = STREAMY_OP_SUBSCRIBE;
    }
    /* Three subscribes with devices and a limit of 3, one more with a limit of 3
     * (refused), one with a limit of 4 (allowed). */
    for (int i = 0; i < 5; i++) {
        static const char *const streams[] = {"a", "b", "c", "d", "e"};
        calls[i].stream = streams[i];
        calls[i].device = i < 3 ? devices[i] : NULL;
        calls[i].max_streams = i < 4 ? 3 : 4;
    }
    ck_assert_rc(streamy_apply_ex(h, ops, 5), STREAMY_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(ops[i].result, STREAMY_OK);
        ck_assert_msg(is_lease_id(ans[i].lease_id), "%s", ans[i].lease_id);
        ck_assert_str_eq(ans[i].device, devices[i]);
        strcpy(ids[i], ans[i].lease_id);
    }
    ck_assert_str_ne(ids[0], ids[1]);
    ck_assert_str_ne(ids[1], ids[2]);
    ck_assert_int_eq(ops[3].result, STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(ans[3].decision.limit, 3);
    ck_assert_str_eq(ans[3].lease_id, "");
    ck_assert_int_eq(ops[4].result, STREAMY_OK);
    ck_assert_uint_eq(ans[4].decision.limit, 4);
    ck_assert_uint_eq(ans[4].decision.active, 4);
    s = list_leases(h, "u");
    ck_assert_int_eq(s.n, 4);
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(s.l[i].id, ids[i]);
        ck_assert_str_eq(s.l[i].device, devices[i]);
    }
    /* Fenced renews and unsubscribes, a refresh with a new device. */
    for (int i = 0; i < 8; i++) {
        static const streamy_call blank = STREAMY_CALL_INIT;
        calls[i] = blank;
        calls[i].user = "u";
        ck_assert_rc(streamy_answer_init(&ans[i], STREAMY_CALL_VERSION), STREAMY_OK);
    }
    now += 1000;
    ops[0].kind = STREAMY_OP_RENEW, calls[0].stream = "a", calls[0].lease_id = ids[0];
    ops[1].kind = STREAMY_OP_RENEW, calls[1].stream = "b", calls[1].lease_id = other;
    ops[2].kind = STREAMY_OP_UNSUBSCRIBE, calls[2].stream = "b",
    calls[2].lease_id = other;
    ops[3].kind = STREAMY_OP_UNSUBSCRIBE, calls[3].stream = "c",
    calls[3].lease_id = ids[2];
    ops[4].kind = STREAMY_OP_SUBSCRIBE, calls[4].stream = "a", calls[4].device = "Den";
    ops[5].kind = STREAMY_OP_RENEW, calls[5].stream = "a";
    ops[6].kind = STREAMY_OP_UNSUBSCRIBE, calls[6].stream = "zz",
    calls[6].lease_id = other;
    ops[7].kind = STREAMY_OP_RENEW, calls[7].stream = "c", calls[7].lease_id = ids[2];
    ck_assert_rc(streamy_apply_ex(h, ops, 8), STREAMY_OK);
    ck_assert_int_eq(ops[0].result, STREAMY_OK);
    ck_assert_str_eq(ans[0].lease_id, ids[0]);
    ck_assert_int_eq(ans[0].decision.expires_ms, now + 60000);
    ck_assert_int_eq(ops[1].result, STREAMY_NOT_FOUND);
    ck_assert_int_eq(ans[1].stale, 1);
    ck_assert_int_eq(ops[2].result, STREAMY_OK);
    ck_assert_int_eq(ans[2].stale, 1);
    ck_assert_int_eq(ans[2].decision.removed, 0);
    ck_assert_int_eq(ops[3].result, STREAMY_OK);
    ck_assert_int_eq(ans[3].decision.removed, 1);
    ck_assert_str_eq(ans[3].lease_id, "");
    ck_assert_str_eq(ans[3].device, "");
    ck_assert_int_eq(ops[4].result, STREAMY_OK);
    ck_assert_int_eq(ans[4].decision.created, 0);
    ck_assert_str_eq(ans[4].lease_id, ids[0]);
    ck_assert_str_eq(ans[4].device, "Den");
    ck_assert_int_eq(ops[5].result, STREAMY_OK);
    ck_assert_str_eq(ans[5].device, "Den");
    ck_assert_int_eq(ops[6].result, STREAMY_OK);
    ck_assert_int_eq(ans[6].stale, 0);
    ck_assert_int_eq(ans[6].decision.removed, 0);
    ck_assert_int_eq(ops[7].result, STREAMY_NOT_FOUND);
    ck_assert_int_eq(ans[7].stale, 0);
    s = list_leases(h, "u");
    ck_assert_int_eq(s.n, 3);
    ck_assert_str_eq(s.l[1].id, ids[1]);
    ck_assert_str_eq(s.l[1].device, devices[1]);
    streamy_close(h);
}
END_TEST

static Suite *sessions_suite(void)
{
    Suite *s = suite_create("postgresql sessions");
    TCase *tc = test_add_case(s, "sessions", NULL, NULL, test_timeout_scale(30));

    tcase_add_test(tc, ids_and_devices_of_single_calls);
    tcase_add_test(tc, a_stale_lease_id_ends_nothing);
    tcase_add_test(tc, an_eviction_names_the_evicted_lease);
    tcase_add_test(tc, the_callers_limit_applies_and_a_stored_one_wins);
    tcase_add_test(tc, a_batch_decides_sessions_as_single_calls_do);
    pg_migration_cases(s);
    return s;
}

int main(void)
{
    if (pg_util_init("check_pg_sessions") != 0)
        return 2;
    return test_run_suite(sessions_suite());
}
