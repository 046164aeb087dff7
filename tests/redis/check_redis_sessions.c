/* SPDX-License-Identifier: MIT */
/* check_redis_sessions.c: the Redis store's sessions: lease ids, devices, fences, the
 * caller's max_streams, batches, and the values release 0.2.0 wrote. */
#include <stdio.h>
#include <string.h>

#include "check_redis.h"

/* The injected clock's start: every test that writes values by hand uses it. */
#define T0 1700000000000LL
/* A lease id no lease of these tests has. */
static const char other[] = "0badc0de-0000-4000-8000-000000000000";

static streamy_call call_of(const char *user, const char *stream)
{
    streamy_call c = STREAMY_CALL_INIT;

    c.user = user;
    c.stream = stream;
    return c;
}

static streamy_answer answer_new(void)
{
    streamy_answer a;

    ck_assert_rc(streamy_answer_init(&a, STREAMY_CALL_VERSION), STREAMY_OK);
    return a;
}

/* A handle with an injected clock at T0, a TTL of a minute, and `limit` / `policy`. */
static streamy *open_clocked(unsigned int limit, streamy_policy policy)
{
    streamy_options o;

    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    o.ttl_ms = 60000;
    o.limit = limit;
    o.policy = policy;
    o.clock = test_clock_cb;
    o.clock_payload = &clk;
    clk.now = T0;
    return open_ok(&o);
}

/* The stored value of (user, stream) into `out` ("" when there is none). */
static const char *value_of(char *out, size_t size, const char *user, const char *stream)
{
    redisReply *r = cmd("HGET %sstreamy:{%s}:leases %s", prefix, user, stream);

    ck_assert(r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL);
    snprintf(out, size, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
    return out;
}

/* Write a lease exactly as release 0.2.0 did: "since:renewed:expires". */
static void put_old(const char *user, const char *stream, long long since,
                    long long renewed, long long expires)
{
    freeReplyObject(cmd("HSET %sstreamy:{%s}:leases %s %lld:%lld:%lld", prefix, user,
                        stream, since, renewed, expires));
}

/* A lease id as the store keeps it: the UUID's 16 bytes in base64url, no padding. */
static const char *wire(char out[23], const char *id)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char u[16];
    size_t n = 0, o = 0;
    unsigned int acc = 0;
    int bits = 0;

    for (const char *p = id; *p && n < 16; p++) {
        unsigned int hi, lo;
        if (*p == '-')
            continue;
        ck_assert(sscanf(p, "%1x%1x", &hi, &lo) == 2);
        u[n++] = (unsigned char)(hi << 4 | lo);
        p++;
    }
    ck_assert_uint_eq(n, 16);
    for (size_t i = 0; i < 16; i++) {
        acc = (acc << 8 | u[i]) & 0xffff;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = b64[(acc >> bits) & 63];
        }
    }
    out[o++] = b64[(acc << (6 - bits)) & 63];
    out[o] = '\0';
    ck_assert_uint_eq(o, 22);
    return out;
}

static void assert_lease_id(const char *id)
{
    ck_assert_msg(strlen(id) == STREAMY_LEASE_ID_LEN && id[8] == '-' && id[14] == '4',
                  "\"%s\" is not a version-4 UUID", id);
}

/* What streamy_list() reported, copied. */
typedef struct listed {
    int n;
    char stream[8][STREAMY_ID_MAX + 1];
    char id[8][STREAMY_LEASE_ID_LEN + 1];
    char device[8][STREAMY_DEVICE_MAX + 1];
    int64_t since[8], renewed[8], expires[8];
} listed;

static int collect(const streamy_lease *l, void *payload)
{
    listed *ls = payload;

    ck_assert_int_lt(ls->n, 8);
    snprintf(ls->stream[ls->n], sizeof(ls->stream[0]), "%s", l->stream);
    snprintf(ls->id[ls->n], sizeof(ls->id[0]), "%s", l->lease_id);
    snprintf(ls->device[ls->n], sizeof(ls->device[0]), "%s", l->device);
    ls->since[ls->n] = l->since_ms;
    ls->renewed[ls->n] = l->renewed_ms;
    ls->expires[ls->n] = l->expires_ms;
    ls->n++;
    return 0;
}

static void list_of(listed *ls, streamy *h, const char *user)
{
    memset(ls, 0, sizeof(*ls));
    ck_assert_rc(streamy_list(h, user, collect, ls), STREAMY_OK);
}

/* --- ids and devices --------------------------------------------------------------- */

START_TEST(ids_and_devices)
{
    static const char *salon = "Salon: TV \xe2\x80\x94 \xc3\xbcn:\xc3\xaf";
    streamy *h = open_clocked(3, STREAMY_POLICY_REJECT);
    streamy_call c = call_of("ann", "s1");
    streamy_answer a = answer_new();
    char id1[STREAMY_LEASE_ID_LEN + 1], v[256], want[256],
        upper[STREAMY_LEASE_ID_LEN + 1], w[23];
    listed ls;

    c.device = "Living-room TV";
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_int_eq(a.decision.created, 1);
    assert_lease_id(a.lease_id);
    ck_assert_str_eq(a.device, "Living-room TV");
    strcpy(id1, a.lease_id);
    /* The value carries the id and the device, the device last; times in hex. */
    snprintf(want, sizeof(want), "%llx:%llx:%llx:%s:Living-room TV", T0, T0, T0 + 60000,
             wire(w, id1));
    ck_assert_str_eq(value_of(v, sizeof(v), "ann", "s1"), want);

    /* A refresh keeps the id; without a device it keeps the lease's own. */
    clk.now += 1000;
    c.device = NULL;
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_int_eq(a.decision.created, 0);
    ck_assert_str_eq(a.lease_id, id1);
    ck_assert_str_eq(a.device, "Living-room TV");
    /* With one it replaces it; a device may hold ':' and any UTF-8. */
    c.device = salon;
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_str_eq(a.lease_id, id1);
    ck_assert_str_eq(a.device, salon);

    /* A renew keeps both, with or without the lease id (in any case). */
    c.device = NULL;
    clk.now += 1000;
    ck_assert_rc(streamy_renew_ex(&a, h, &c), STREAMY_OK);
    ck_assert_str_eq(a.lease_id, id1);
    ck_assert_str_eq(a.device, salon);
    ck_assert_int_eq(a.decision.expires_ms, T0 + 2000 + 60000);
    for (int i = 0; i <= STREAMY_LEASE_ID_LEN; i++)
        upper[i] = (char)(id1[i] >= 'a' && id1[i] <= 'f' ? id1[i] - 32 : id1[i]);
    c.lease_id = upper;
    ck_assert_rc(streamy_renew_ex(&a, h, &c), STREAMY_OK);
    ck_assert_str_eq(a.lease_id, id1);
    ck_assert_int_eq(a.stale, 0);

    list_of(&ls, h, "ann");
    ck_assert_int_eq(ls.n, 1);
    ck_assert_str_eq(ls.id[0], id1);
    ck_assert_str_eq(ls.device[0], salon);
    ck_assert_int_eq(ls.since[0], T0);
    ck_assert_int_eq(ls.renewed[0], T0 + 2000);

    /* Unsubscribe by the lease's id removes it, and answers no lease. */
    c.lease_id = id1;
    ck_assert_rc(streamy_unsubscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_int_eq(a.decision.removed, 1);
    ck_assert_str_eq(a.lease_id, "");
    ck_assert_str_eq(a.device, "");

    /* The same stream again is a new session: a new id, no device. */
    c.lease_id = NULL;
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_int_eq(a.decision.created, 1);
    assert_lease_id(a.lease_id);
    ck_assert_str_ne(a.lease_id, id1);
    ck_assert_str_eq(a.device, "");
    streamy_close(h);
}
END_TEST

/* A user's leases without devices (or with short ones) stay a listpack, as in 0.2.0:
 * every value fits in Redis's default hash-max-listpack-value (64 bytes). */
START_TEST(small_hashes_stay_small)
{
    streamy *h = open_clocked(3, STREAMY_POLICY_REJECT);
    streamy_call c = call_of("ida", "stream-000001");
    streamy_answer a = answer_new();
    redisReply *r;
    char v[256];

    /* Far in the future, the times take as many digits as they ever will here. */
    clk.now = 4102444800000LL;
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    c.stream = "stream-000002";
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    c.stream = "stream-000003";
    c.device = "TV";
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_uint_le(strlen(value_of(v, sizeof(v), "ida", "stream-000003")), 64);
    r = cmd("OBJECT ENCODING %sstreamy:{ida}:leases", prefix);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, "listpack");
    freeReplyObject(r);
    streamy_close(h);
}
END_TEST

/* --- fences ------------------------------------------------------------------------- */

START_TEST(a_stale_player_ends_no_newer_session)
{
    streamy *h = open_clocked(3, STREAMY_POLICY_REJECT);
    streamy_call c = call_of("bea", "s1");
    streamy_answer a = answer_new();
    char before[256], after[256];

    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    value_of(before, sizeof(before), "bea", "s1");

    /* Another id than the lease's: renew answers NOT_FOUND, unsubscribe removes
     * nothing, both say stale, and the lease is untouched. */
    clk.now += 1000;
    c.lease_id = other;
    ck_assert_rc(streamy_renew_ex(&a, h, &c), STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 1);
    ck_assert_uint_eq(a.decision.active, 1);
    ck_assert_str_eq(a.lease_id, "");
    ck_assert_rc(streamy_unsubscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_int_eq(a.stale, 1);
    ck_assert_int_eq(a.decision.removed, 0);
    ck_assert_str_eq(a.lease_id, "");
    ck_assert_str_eq(value_of(after, sizeof(after), "bea", "s1"), before);
    /* The plain calls know no ids. */
    ck_assert_rc(streamy_renew(NULL, h, "bea", "s1"), STREAMY_OK);

    /* An expired lease is nobody's: as if no id were given. */
    clk.now += 61000;
    ck_assert_rc(streamy_renew_ex(&a, h, &c), STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_uint_eq(a.decision.expired, 1);
    c.lease_id = NULL;
    c.stream = "s2";
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    clk.now += 61000;
    c.lease_id = other;
    ck_assert_rc(streamy_unsubscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_int_eq(a.decision.removed, 0);
    ck_assert_int_eq(a.decision.expired, 1);
    ck_assert_int_eq(cmd_int("HEXISTS %sstreamy:{bea}:leases s2", prefix), 0);
    streamy_close(h);
}
END_TEST

START_TEST(evictions_name_the_session)
{
    streamy *h = open_clocked(2, STREAMY_POLICY_EVICT_OLDEST);
    streamy_call c = call_of("cid", "s1");
    streamy_answer a = answer_new();
    char id1[STREAMY_LEASE_ID_LEN + 1], id2[STREAMY_LEASE_ID_LEN + 1];

    c.device = "Phone";
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    strcpy(id1, a.lease_id);
    clk.now += 10;
    c.stream = "s2";
    c.device = "Tablet";
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    strcpy(id2, a.lease_id);
    clk.now += 10;
    c.stream = "s3";
    c.device = NULL;
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_str_eq(a.decision.evicted, "s1");
    ck_assert_str_eq(a.evicted_lease_id, id1);
    ck_assert_str_eq(a.evicted_device, "Phone");
    ck_assert_str_ne(a.lease_id, id1);

    /* s1 started again (evicting s2): the first player's heartbeat and stop hit the
     * newer session, and are refused as stale. */
    clk.now += 10;
    c.stream = "s1";
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_str_eq(a.evicted_lease_id, id2);
    ck_assert_str_eq(a.evicted_device, "Tablet");
    ck_assert_str_ne(a.lease_id, id1);
    c.lease_id = id1;
    ck_assert_rc(streamy_renew_ex(&a, h, &c), STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 1);
    ck_assert_rc(streamy_unsubscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_int_eq(a.stale, 1);
    ck_assert_int_eq(cmd_int("HEXISTS %sstreamy:{cid}:leases s1", prefix), 1);
    /* s2's player: its lease is gone, nobody else holds the stream: not stale. */
    c.stream = "s2";
    c.lease_id = id2;
    ck_assert_rc(streamy_renew_ex(&a, h, &c), STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 0);
    streamy_close(h);
}
END_TEST

/* --- the caller's limit ------------------------------------------------------------- */

START_TEST(max_streams_and_the_stored_limit)
{
    streamy *h = open_clocked(3, STREAMY_POLICY_REJECT);
    streamy_call c = call_of("dora", "s1");
    streamy_answer a = answer_new();

    c.max_streams = 1;
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_uint_eq(a.decision.limit, 1);
    c.stream = "s2";
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(a.decision.limit, 1);
    ck_assert_str_eq(a.lease_id, "");
    c.max_streams = 5;
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_uint_eq(a.decision.limit, 5);
    /* Nothing of it is stored: the default applies again. */
    ck_assert_rc(streamy_subscribe(&a.decision, h, "dora", "s2"), STREAMY_OK);
    ck_assert_uint_eq(a.decision.limit, 3);
    /* A limit stored for the user wins over the caller's. */
    ck_assert_rc(streamy_set_limit(h, "dora", 2), STREAMY_OK);
    c.stream = "s3";
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(a.decision.limit, 2);
    ck_assert_int_eq(cmd_int("HLEN %sstreamy:{dora}:leases", prefix), 2);
    streamy_close(h);
}
END_TEST

/* --- batches ------------------------------------------------------------------------ */

START_TEST(batches_carry_sessions)
{
    char too_long[STREAMY_DEVICE_MAX + 2];
    streamy *h = open_clocked(3, STREAMY_POLICY_REJECT);
    streamy_call c[7];
    streamy_answer a[7];
    streamy_batch_op ops[7];
    streamy_op_kind kinds[7] = {STREAMY_OP_SUBSCRIBE, STREAMY_OP_SUBSCRIBE,
                                STREAMY_OP_RENEW,     STREAMY_OP_RENEW,
                                STREAMY_OP_SUBSCRIBE, STREAMY_OP_UNSUBSCRIBE,
                                STREAMY_OP_SUBSCRIBE};

    memset(too_long, 'x', sizeof(too_long) - 1);
    too_long[sizeof(too_long) - 1] = '\0';
    c[0] = call_of("eve", "s1");
    c[0].device = "TV";
    c[1] = call_of("eve", "s2");
    c[1].max_streams = 1;
    c[2] = call_of("eve", "s1");
    c[2].lease_id = other;
    c[3] = call_of("eve", "s1");
    c[4] = call_of("eve", "s3");
    c[4].device = too_long;
    c[5] = call_of("fay", "x");
    c[6] = call_of("fay", "s1");
    c[6].device = "Car";
    for (int i = 0; i < 7; i++) {
        streamy_answer_init(&a[i], STREAMY_CALL_VERSION);
        ops[i].kind = kinds[i];
        ops[i].call = &c[i];
        ops[i].answer = &a[i];
        ops[i].result = -100;
    }
    ck_assert_rc(streamy_apply_ex(h, ops, 7), STREAMY_OK);
    ck_assert_int_eq(ops[0].result, STREAMY_OK);
    assert_lease_id(a[0].lease_id);
    ck_assert_str_eq(a[0].device, "TV");
    ck_assert_int_eq(ops[1].result, STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(a[1].decision.limit, 1);
    ck_assert_int_eq(ops[2].result, STREAMY_NOT_FOUND);
    ck_assert_int_eq(a[2].stale, 1);
    ck_assert_int_eq(ops[3].result, STREAMY_OK);
    ck_assert_str_eq(a[3].lease_id, a[0].lease_id);
    ck_assert_str_eq(a[3].device, "TV");
    /* An invalid operation gets its own error and writes nothing. */
    ck_assert_int_eq(ops[4].result, STREAMY_EINVAL);
    ck_assert_int_eq(cmd_int("HEXISTS %sstreamy:{eve}:leases s3", prefix), 0);
    ck_assert_int_eq(ops[5].result, STREAMY_OK);
    ck_assert_int_eq(a[5].decision.removed, 0);
    ck_assert_int_eq(ops[6].result, STREAMY_OK);
    assert_lease_id(a[6].lease_id);
    ck_assert_str_ne(a[6].lease_id, a[0].lease_id);
    ck_assert_str_eq(a[6].device, "Car");
    streamy_close(h);
}
END_TEST

/* --- values of release 0.2.0 ---------------------------------------------------------
 */

/* Leases written as 0.2.0 wrote them ("since:renewed:expires") are listed (without id
 * or device), counted, expired, renewed and refreshed (getting an id then), released,
 * evicted and purged; a fence never matches them. */
START_TEST(values_of_release_0_2_0)
{
    streamy *h = open_clocked(10, STREAMY_POLICY_REJECT);
    streamy *ev = open_clocked(2, STREAMY_POLICY_EVICT_OLDEST);
    streamy_call c = call_of("old", "o2");
    streamy_answer a = answer_new();
    char id[STREAMY_LEASE_ID_LEN + 1], v[256], want[256], w[23];
    unsigned int n = 0;
    uint64_t purged = 0;
    listed ls;

    put_old("old", "o1", T0 - 5000, T0 - 5000, 0);
    put_old("old", "o2", T0 - 4000, T0 - 3500, T0 + 30000);
    put_old("old", "o3", T0 - 3000, T0 - 3000, T0 - 1);
    put_old("old", "o4", T0 - 2000, T0 - 2000, T0 + 50000);

    /* Counted and listed; the expired one is neither. */
    ck_assert_rc(streamy_count(&n, h, "old"), STREAMY_OK);
    ck_assert_uint_eq(n, 3);
    list_of(&ls, h, "old");
    ck_assert_int_eq(ls.n, 3);
    ck_assert_str_eq(ls.stream[0], "o1");
    ck_assert_str_eq(ls.stream[1], "o2");
    ck_assert_str_eq(ls.stream[2], "o4");
    ck_assert_int_eq(ls.since[1], T0 - 4000);
    ck_assert_int_eq(ls.renewed[1], T0 - 3500);
    ck_assert_int_eq(ls.expires[1], T0 + 30000);
    ck_assert_int_eq(ls.expires[0], 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(ls.id[i], "");
        ck_assert_str_eq(ls.device[i], "");
    }

    /* A fenced renew: the old lease has no id, so it is another session's; it stays as
     * it was. The expired one is dropped on the way. */
    c.lease_id = other;
    ck_assert_rc(streamy_renew_ex(&a, h, &c), STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 1);
    ck_assert_uint_eq(a.decision.expired, 1);
    ck_assert_uint_eq(a.decision.active, 3);
    ck_assert_int_eq(cmd_int("HEXISTS %sstreamy:{old}:leases o3", prefix), 0);
    snprintf(want, sizeof(want), "%lld:%lld:%lld", T0 - 4000, T0 - 3500, T0 + 30000);
    ck_assert_str_eq(value_of(v, sizeof(v), "old", "o2"), want);
    /* So is a fenced unsubscribe. */
    ck_assert_rc(streamy_unsubscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_int_eq(a.stale, 1);
    ck_assert_int_eq(a.decision.removed, 0);
    ck_assert_str_eq(value_of(v, sizeof(v), "old", "o2"), want);

    /* Renewed: it keeps its start and gets an id, which it keeps. */
    c.lease_id = NULL;
    ck_assert_rc(streamy_renew_ex(&a, h, &c), STREAMY_OK);
    assert_lease_id(a.lease_id);
    ck_assert_str_eq(a.device, "");
    ck_assert_int_eq(a.decision.since_ms, T0 - 4000);
    ck_assert_int_eq(a.decision.expires_ms, T0 + 60000);
    strcpy(id, a.lease_id);
    snprintf(want, sizeof(want), "%llx:%llx:%llx:%s:", T0 - 4000, T0, T0 + 60000,
             wire(w, id));
    ck_assert_str_eq(value_of(v, sizeof(v), "old", "o2"), want);
    clk.now += 1000;
    c.lease_id = id;
    ck_assert_rc(streamy_renew_ex(&a, h, &c), STREAMY_OK);
    ck_assert_str_eq(a.lease_id, id);

    /* Refreshed by a subscribe: likewise, with a device. */
    c = call_of("old", "o4");
    c.device = "Kitchen";
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_int_eq(a.decision.created, 0);
    ck_assert_int_eq(a.decision.since_ms, T0 - 2000);
    ck_assert_uint_eq(a.decision.active, 3);
    assert_lease_id(a.lease_id);
    ck_assert_str_ne(a.lease_id, id);
    ck_assert_str_eq(a.device, "Kitchen");
    strcpy(id, a.lease_id);
    c.device = NULL;
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_str_eq(a.lease_id, id);
    ck_assert_str_eq(a.device, "Kitchen");

    /* Released: the one without expiry, which kept the key persistent. */
    ck_assert_int_eq(cmd_int("PTTL %sstreamy:{old}:leases", prefix), -1);
    c = call_of("old", "o1");
    ck_assert_rc(streamy_unsubscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_int_eq(a.decision.removed, 1);
    ck_assert_str_eq(a.lease_id, "");
    ck_assert_int_gt(cmd_int("PTTL %sstreamy:{old}:leases", prefix), 0);
    ck_assert_rc(streamy_count(&n, h, "old"), STREAMY_OK);
    ck_assert_uint_eq(n, 2);

    /* Evicted: the oldest of two old leases, at the limit; it had no id or device. */
    put_old("oldev", "e1", T0 - 9000, T0 - 9000, 0);
    put_old("oldev", "e2", T0 - 8000, T0 - 8000, 0);
    c = call_of("oldev", "e3");
    c.device = "Desk";
    ck_assert_rc(streamy_subscribe_ex(&a, ev, &c), STREAMY_OK);
    ck_assert_int_eq(a.decision.created, 1);
    ck_assert_uint_eq(a.decision.active, 2);
    ck_assert_str_eq(a.decision.evicted, "e1");
    ck_assert_str_eq(a.evicted_lease_id, "");
    ck_assert_str_eq(a.evicted_device, "");
    assert_lease_id(a.lease_id);
    ck_assert_int_eq(cmd_int("HEXISTS %sstreamy:{oldev}:leases e1", prefix), 0);

    /* Expired ones: dropped by a subscribe, reported by an unsubscribe, purged. */
    put_old("oldx", "x1", T0 - 9000, T0 - 9000, T0 - 10);
    put_old("oldx", "x2", T0 - 9000, T0 - 9000, T0 - 10);
    c = call_of("oldx", "x1");
    ck_assert_rc(streamy_unsubscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_int_eq(a.decision.removed, 0);
    ck_assert_uint_eq(a.decision.expired, 1);
    put_old("oldx", "x3", T0 - 9000, T0 - 9000, T0 - 10);
    c = call_of("oldx", "x4");
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_uint_eq(a.decision.expired, 2);
    ck_assert_uint_eq(a.decision.active, 1);
    put_old("oldp", "p1", T0 - 9000, T0 - 9000, T0 - 10);
    put_old("oldp", "p2", T0 - 9000, T0 - 9000, T0 + 60000);
    ck_assert_rc(streamy_purge(&purged, h), STREAMY_OK);
    ck_assert_int_eq(purged, 1);
    ck_assert_int_eq(cmd_int("HLEN %sstreamy:{oldp}:leases", prefix), 1);
    streamy_close(h);
    streamy_close(ev);
}
END_TEST

/* A value that is neither format is an error that names the key, and changes nothing. */
START_TEST(a_malformed_value_is_an_error)
{
    streamy *h = open_clocked(3, STREAMY_POLICY_REJECT);
    streamy_call c = call_of("gus", "s2");
    streamy_answer a = answer_new();
    char v[256];

    freeReplyObject(cmd("HSET %sstreamy:{gus}:leases s1 12:34", prefix));
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_ESTORE);
    ck_assert_msg(strstr(streamy_errmsg(h), "malformed lease") != NULL &&
                      strstr(streamy_errmsg(h), "{gus}") != NULL,
                  "%s", streamy_errmsg(h));
    ck_assert_int_eq(cmd_int("HLEN %sstreamy:{gus}:leases", prefix), 1);
    ck_assert_str_eq(value_of(v, sizeof(v), "gus", "s1"), "12:34");
    streamy_close(h);
}
END_TEST

void add_session_cases(Suite *s)
{
    TCase *tc = test_add_case(s, "sessions", setup, teardown, test_timeout_scale(20));

    tcase_add_test(tc, ids_and_devices);
    tcase_add_test(tc, small_hashes_stay_small);
    tcase_add_test(tc, a_stale_player_ends_no_newer_session);
    tcase_add_test(tc, evictions_name_the_session);
    tcase_add_test(tc, max_streams_and_the_stored_limit);
    tcase_add_test(tc, batches_carry_sessions);
    tc = test_add_case(s, "release 0.2.0", setup, teardown, test_timeout_scale(20));
    tcase_add_test(tc, values_of_release_0_2_0);
    tcase_add_test(tc, a_malformed_value_is_an_error);
}
