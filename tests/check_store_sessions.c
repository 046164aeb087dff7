/* SPDX-License-Identifier: MIT */
/* check_store_sessions.c: the conformance suite's session tests: lease ids, fencing by
 * lease id, device labels, the caller's limit and the `_ex` batches, on every store. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "check_store.h"

#define NONE STREAMY_MAX_STREAMS_NONE
#define ID_SIZE (STREAMY_LEASE_ID_LEN + 1)

/* A UUID no store ever hands out (random ids are version 4, this one is all zero). */
static const char *const BOGUS = "00000000-0000-4000-8000-000000000000";

/* The last `_ex` answer. */
static streamy_answer a;

/* Fill the answer with garbage (each string still ends inside its field), so that a
 * field the library leaves alone shows. */
static void poison(streamy_answer *x)
{
    memset(x, 'Z', sizeof(*x));
    x->version = STREAMY_CALL_VERSION;
    x->lease_id[STREAMY_LEASE_ID_LEN] = '\0';
    x->device[STREAMY_DEVICE_MAX] = '\0';
    x->evicted_lease_id[STREAMY_LEASE_ID_LEN] = '\0';
    x->evicted_device[STREAMY_DEVICE_MAX] = '\0';
    x->stale = 77;
}

static streamy_call mkcall(const char *user, const char *stream)
{
    streamy_call c;

    ck_assert_rc(streamy_call_init(&c, STREAMY_CALL_VERSION), STREAMY_OK);
    c.user = user;
    c.stream = stream;
    return c;
}

static int sub_ex(const char *user, const char *stream, const char *device, int max)
{
    streamy_call c = mkcall(user, stream);

    c.device = device;
    c.max_streams = max;
    poison(&a);
    return streamy_subscribe_ex(&a, h, &c);
}

static int renew_ex(const char *user, const char *stream, const char *lease_id)
{
    streamy_call c = mkcall(user, stream);

    c.lease_id = lease_id;
    poison(&a);
    return streamy_renew_ex(&a, h, &c);
}

static int unsub_ex(const char *user, const char *stream, const char *lease_id)
{
    streamy_call c = mkcall(user, stream);

    c.lease_id = lease_id;
    poison(&a);
    return streamy_unsubscribe_ex(&a, h, &c);
}

/* A lease id as the library writes them: a version-4 UUID, 36 characters, lower case. */
static int is_lease_id(const char *s)
{
    size_t i;

    if (strlen(s) != STREAMY_LEASE_ID_LEN)
        return 0;
    for (i = 0; i < STREAMY_LEASE_ID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

#define ck_assert_lease_id(s)                                                            \
    ck_assert_msg(is_lease_id(s), "\"%s\" is not a lower-case version-4 UUID", (s))

static const char *upper(const char *s)
{
    static char ring[4][ID_SIZE];
    static int next;
    char *out = ring[next++ % 4];
    size_t i;

    for (i = 0; s[i] && i < STREAMY_LEASE_ID_LEN; i++)
        out[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 'a' + 'A') : s[i];
    out[i] = '\0';
    return out;
}

/* A user's leases as list() shows them. */
typedef struct seen_lease {
    char stream[STREAMY_ID_MAX + 1];
    char id[ID_SIZE];
    char device[STREAMY_DEVICE_MAX + 1];
    int64_t since, renewed, expires;
} seen_lease;

typedef struct seen_list {
    seen_lease l[16];
    int n;
} seen_list;

static int keep_lease(const streamy_lease *lease, void *payload)
{
    seen_list *s = payload;
    seen_lease *l;

    ck_assert_int_lt(s->n, 16);
    ck_assert_ptr_nonnull(lease->lease_id);
    ck_assert_ptr_nonnull(lease->device);
    l = &s->l[s->n++];
    snprintf(l->stream, sizeof(l->stream), "%s", lease->stream);
    ck_assert_uint_le(strlen(lease->lease_id), STREAMY_LEASE_ID_LEN);
    ck_assert_uint_le(strlen(lease->device), STREAMY_DEVICE_MAX);
    strcpy(l->id, lease->lease_id);
    strcpy(l->device, lease->device);
    l->since = lease->since_ms;
    l->renewed = lease->renewed_ms;
    l->expires = lease->expires_ms;
    return 0;
}

static void list_of(seen_list *s, const char *user)
{
    memset(s, 0, sizeof(*s));
    ck_assert_rc(streamy_list(h, user, keep_lease, s), STREAMY_OK);
}

/* The lease (user, stream) as list() shows it, or NULL; valid until the next call. */
static const seen_lease *lease_of(const char *user, const char *stream)
{
    static seen_list s;
    int i;

    list_of(&s, user);
    for (i = 0; i < s.n; i++)
        if (strcmp(s.l[i].stream, stream) == 0)
            return &s.l[i];
    return NULL;
}

static void counters(streamy_counters *c)
{
    ck_assert_rc(streamy_stats(c, h), STREAMY_OK);
}

/* --- lease ids: new, kept, new again ------------------------------------------------ */

START_TEST(new_leases_get_random_ids)
{
    const char *u = uid("u"), *v = uid("v");
    char first[ID_SIZE], second[ID_SIZE], third[ID_SIZE];
    seen_list s;

    reopen();
    ck_assert_rc(sub_ex(u, "s1", NULL, NONE), STREAMY_OK);
    ck_assert_int_eq(a.decision.created, 1);
    ck_assert_uint_eq(a.decision.active, 1);
    ck_assert_uint_eq(a.decision.limit, 3);
    ck_assert_int_eq(a.decision.since_ms, T0);
    ck_assert_lease_id(a.lease_id);
    ck_assert_str_eq(a.device, "");
    ck_assert_str_eq(a.evicted_lease_id, "");
    ck_assert_str_eq(a.evicted_device, "");
    ck_assert_int_eq(a.stale, 0);
    strcpy(first, a.lease_id);
    ck_assert_rc(sub_ex(u, "s2", NULL, NONE), STREAMY_OK);
    ck_assert_lease_id(a.lease_id);
    strcpy(second, a.lease_id);
    ck_assert_rc(sub_ex(v, "s1", NULL, NONE), STREAMY_OK);
    ck_assert_lease_id(a.lease_id);
    strcpy(third, a.lease_id);
    ck_assert_str_ne(first, second);
    ck_assert_str_ne(first, third);
    ck_assert_str_ne(second, third);
    /* A plain subscribe makes a lease with an id too. */
    ck_assert_rc(sub(u, "s3"), STREAMY_OK);
    list_of(&s, u);
    ck_assert_int_eq(s.n, 3);
    ck_assert_str_eq(s.l[0].id, first);
    ck_assert_str_eq(s.l[1].id, second);
    ck_assert_lease_id(s.l[2].id);
    ck_assert_str_ne(s.l[2].id, first);
    ck_assert_str_ne(s.l[2].id, second);
    ck_assert_str_eq(s.l[0].device, "");
    ck_assert_str_eq(s.l[2].device, "");
}
END_TEST

START_TEST(refresh_and_renew_keep_the_id)
{
    const char *u = uid("u");
    char id[ID_SIZE];

    opts.ttl_ms = 1000;
    reopen();
    ck_assert_rc(sub_ex(u, "s", NULL, NONE), STREAMY_OK);
    strcpy(id, a.lease_id);
    clk.now = T0 + 100;
    ck_assert_rc(sub_ex(u, "s", NULL, NONE), STREAMY_OK); /* refresh */
    ck_assert_int_eq(a.decision.created, 0);
    ck_assert_int_eq(a.decision.expires_ms, T0 + 1100);
    ck_assert_str_eq(a.lease_id, id);
    ck_assert_rc(sub(u, "s"), STREAMY_OK); /* a plain refresh keeps it too */
    clk.now = T0 + 200;
    ck_assert_rc(renew_ex(u, "s", NULL), STREAMY_OK);
    ck_assert_str_eq(a.lease_id, id);
    ck_assert_int_eq(a.decision.expires_ms, T0 + 1200);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_rc(streamy_renew(NULL, h, u, "s"), STREAMY_OK);
    clk.now = T0 + 300;
    ck_assert_rc(renew_ex(u, "s", id), STREAMY_OK);
    ck_assert_str_eq(a.lease_id, id);
    ck_assert_int_eq(a.decision.since_ms, T0);
    ck_assert_int_eq(a.decision.expires_ms, T0 + 1300);
    ck_assert_str_eq(lease_of(u, "s")->id, id);
}
END_TEST

START_TEST(a_new_lease_after_unsubscribe_gets_a_new_id)
{
    const char *u = uid("u");
    char first[ID_SIZE];

    reopen();
    ck_assert_rc(sub_ex(u, "s", NULL, NONE), STREAMY_OK);
    strcpy(first, a.lease_id);
    ck_assert_rc(unsub_ex(u, "s", NULL), STREAMY_OK);
    ck_assert_int_eq(a.decision.removed, 1);
    ck_assert_str_eq(a.lease_id, first); /* the removed lease's id */
    ck_assert_int_eq(a.stale, 0);
    ck_assert_rc(sub_ex(u, "s", NULL, NONE), STREAMY_OK);
    ck_assert_int_eq(a.decision.created, 1);
    ck_assert_lease_id(a.lease_id);
    ck_assert_str_ne(a.lease_id, first);
    strcpy(first, a.lease_id);
    /* Through the plain functions as well. */
    ck_assert_rc(unsub(u, "s"), STREAMY_OK);
    ck_assert_rc(sub(u, "s"), STREAMY_OK);
    ck_assert_lease_id(lease_of(u, "s")->id);
    ck_assert_str_ne(lease_of(u, "s")->id, first);
}
END_TEST

START_TEST(a_new_lease_after_expiry_gets_a_new_id)
{
    const char *u = uid("u");
    char first[ID_SIZE];

    opts.ttl_ms = 1000;
    reopen();
    ck_assert_rc(sub_ex(u, "s", NULL, NONE), STREAMY_OK);
    strcpy(first, a.lease_id);
    clk.now = T0 + 1000;
    ck_assert_rc(sub_ex(u, "s", NULL, NONE), STREAMY_OK);
    ck_assert_int_eq(a.decision.created, 1);
    ck_assert_uint_eq(a.decision.expired, 1);
    ck_assert_int_eq(a.decision.since_ms, T0 + 1000);
    ck_assert_lease_id(a.lease_id);
    ck_assert_str_ne(a.lease_id, first);
    ck_assert_str_eq(lease_of(u, "s")->id, a.lease_id);
}
END_TEST

START_TEST(a_new_lease_after_eviction_gets_a_new_id)
{
    const char *u = uid("u");
    char first[ID_SIZE], other[ID_SIZE];

    opts.limit = 1;
    opts.policy = STREAMY_POLICY_EVICT_OLDEST;
    reopen();
    ck_assert_rc(sub_ex(u, "s", NULL, NONE), STREAMY_OK);
    strcpy(first, a.lease_id);
    clk.now++;
    ck_assert_rc(sub_ex(u, "t", NULL, NONE), STREAMY_OK);
    ck_assert_str_eq(a.decision.evicted, "s");
    ck_assert_str_eq(a.evicted_lease_id, first);
    strcpy(other, a.lease_id);
    clk.now++;
    ck_assert_rc(sub_ex(u, "s", NULL, NONE), STREAMY_OK);
    ck_assert_int_eq(a.decision.created, 1);
    ck_assert_str_eq(a.decision.evicted, "t");
    ck_assert_str_eq(a.evicted_lease_id, other);
    ck_assert_lease_id(a.lease_id);
    ck_assert_str_ne(a.lease_id, first);
    ck_assert_str_ne(a.lease_id, other);
    ck_assert_str_eq(names(u), "s");
}
END_TEST

START_TEST(ids_and_devices_persist_across_handles)
{
    const char *u = uid("u");
    char id[ID_SIZE];

    if (strstr(g_uri, "memory:") != NULL)
        return; /* memory stores die with their handle by design */
    reopen();
    ck_assert_rc(sub_ex(u, "s", "Living-room TV", NONE), STREAMY_OK);
    strcpy(id, a.lease_id);
    reopen();
    ck_assert_str_eq(lease_of(u, "s")->id, id);
    ck_assert_str_eq(lease_of(u, "s")->device, "Living-room TV");
    ck_assert_rc(renew_ex(u, "s", BOGUS), STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 1);
    ck_assert_rc(renew_ex(u, "s", id), STREAMY_OK);
    ck_assert_str_eq(a.lease_id, id);
    ck_assert_str_eq(a.device, "Living-room TV");
}
END_TEST

/* --- fencing: a stale player never ends or extends a newer session ------------------ */

START_TEST(renew_with_a_stale_id_changes_nothing)
{
    const char *u = uid("u");
    char old[ID_SIZE], cur[ID_SIZE];
    const seen_lease *l;
    streamy_counters before, after;
    int n;

    opts.ttl_ms = 1000;
    reopen();
    ck_assert_rc(sub_ex(u, "s", NULL, NONE), STREAMY_OK);
    strcpy(old, a.lease_id);
    ck_assert_rc(unsub(u, "s"), STREAMY_OK);
    clk.now = T0 + 100;
    ck_assert_rc(sub_ex(u, "s", "tv", NONE), STREAMY_OK); /* someone started it again */
    strcpy(cur, a.lease_id);
    counters(&before);
    n = events.n;
    clk.now = T0 + 500;
    ck_assert_rc(renew_ex(u, "s", old), STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 1);
    ck_assert_str_eq(a.lease_id, "");
    ck_assert_int_eq(a.decision.expires_ms, 0);
    ck_assert_rc(renew_ex(u, "s", upper(old)), STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 1);
    ck_assert_rc(renew_ex(u, "s", BOGUS), STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 1);
    /* The newer lease is as it was: not extended, same id and device. */
    l = lease_of(u, "s");
    ck_assert_ptr_nonnull(l);
    ck_assert_str_eq(l->id, cur);
    ck_assert_str_eq(l->device, "tv");
    ck_assert_int_eq(l->since, T0 + 100);
    ck_assert_int_eq(l->renewed, T0 + 100);
    ck_assert_int_eq(l->expires, T0 + 1100);
    counters(&after);
    ck_assert_uint_eq(after.renewed, before.renewed);
    ck_assert_int_eq(events.n, n);
    clk.now = T0 + 1100; /* so it expires when it would have */
    ck_assert_uint_eq(count(u), 0);
}
END_TEST

START_TEST(unsubscribe_with_a_stale_id_removes_nothing)
{
    const char *u = uid("u");
    char old[ID_SIZE], cur[ID_SIZE];
    streamy_counters before, after;

    reopen();
    ck_assert_rc(sub_ex(u, "s", "phone", NONE), STREAMY_OK);
    strcpy(old, a.lease_id);
    ck_assert_rc(unsub(u, "s"), STREAMY_OK);
    ck_assert_rc(sub_ex(u, "s", "tv", NONE), STREAMY_OK);
    strcpy(cur, a.lease_id);
    counters(&before);
    ck_assert_rc(unsub_ex(u, "s", old), STREAMY_OK); /* unsubscribe stays idempotent */
    ck_assert_int_eq(a.decision.removed, 0);
    ck_assert_int_eq(a.stale, 1);
    ck_assert_str_eq(a.lease_id, "");
    ck_assert_rc(unsub_ex(u, "s", BOGUS), STREAMY_OK);
    ck_assert_int_eq(a.decision.removed, 0);
    ck_assert_int_eq(a.stale, 1);
    ck_assert_str_eq(names(u), "s");
    ck_assert_str_eq(lease_of(u, "s")->id, cur);
    ck_assert_str_eq(lease_of(u, "s")->device, "tv");
    counters(&after);
    ck_assert_uint_eq(after.released, before.released);
    /* The lease of another stream of the same user does not name this one either. */
    ck_assert_rc(sub_ex(u, "t", NULL, NONE), STREAMY_OK);
    strcpy(old, a.lease_id);
    ck_assert_rc(unsub_ex(u, "s", old), STREAMY_OK);
    ck_assert_int_eq(a.decision.removed, 0);
    ck_assert_int_eq(a.stale, 1);
    ck_assert_str_eq(names(u), "s,t");
}
END_TEST

START_TEST(the_right_id_in_any_case_works)
{
    const char *u = uid("u");
    char id[ID_SIZE];
    streamy_counters c;

    opts.ttl_ms = 1000;
    reopen();
    ck_assert_rc(sub_ex(u, "s", "tv", NONE), STREAMY_OK);
    strcpy(id, a.lease_id);
    clk.now = T0 + 400;
    ck_assert_rc(renew_ex(u, "s", upper(id)), STREAMY_OK);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_str_eq(a.lease_id, id); /* answered in lower case */
    ck_assert_str_eq(a.device, "tv");
    ck_assert_int_eq(a.decision.since_ms, T0);
    ck_assert_int_eq(a.decision.expires_ms, T0 + 1400);
    ck_assert_uint_eq(a.decision.active, 1);
    ck_assert_uint_eq(a.decision.limit, 3);
    ck_assert_int_eq(lease_of(u, "s")->expires, T0 + 1400);
    ck_assert_rc(unsub_ex(u, "s", upper(id)), STREAMY_OK);
    ck_assert_int_eq(a.decision.removed, 1);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_str_eq(a.lease_id, id);
    ck_assert_str_eq(a.device, "tv");
    ck_assert_uint_eq(count(u), 0);
    counters(&c);
    ck_assert_uint_eq(c.renewed, 1);
    ck_assert_uint_eq(c.released, 1);
    /* Gone: the id names nothing now. */
    ck_assert_rc(renew_ex(u, "s", id), STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_rc(unsub_ex(u, "s", id), STREAMY_OK);
    ck_assert_int_eq(a.decision.removed, 0);
    ck_assert_int_eq(a.stale, 0);
}
END_TEST

START_TEST(an_expired_lease_is_nobodys)
{
    const char *u = uid("u");
    char id[ID_SIZE];

    opts.ttl_ms = 1000;
    reopen();
    ck_assert_rc(sub_ex(u, "s", NULL, NONE), STREAMY_OK);
    strcpy(id, a.lease_id);
    ck_assert_rc(sub_ex(u, "t", NULL, NONE), STREAMY_OK);
    clk.now = T0 + 1000;
    /* Another id on an expired lease is no fence: as if no id were given. */
    ck_assert_rc(unsub_ex(u, "t", BOGUS), STREAMY_OK);
    ck_assert_int_eq(a.decision.removed, 0);
    ck_assert_uint_eq(a.decision.expired, 1);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_rc(renew_ex(u, "s", BOGUS), STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_rc(renew_ex(u, "s", id), STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_rc(unsub_ex(u, "s", id), STREAMY_OK);
    ck_assert_int_eq(a.decision.removed, 0);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_uint_eq(count(u), 0);
    /* No lease at all: not stale either. */
    ck_assert_rc(renew_ex(uid("nobody"), "s", BOGUS), STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_rc(unsub_ex(uid("nobody"), "s", BOGUS), STREAMY_OK);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_int_eq(a.decision.removed, 0);
}
END_TEST

/* --- device labels -------------------------------------------------------------------
 */

START_TEST(devices_are_stored_replaced_and_kept)
{
    const char *u = uid("u");
    char dev64[STREAMY_DEVICE_MAX + 1];
    const char *utf8 = "T\xc3\xa9l\xc3\xa9 du salon \xf0\x9f\x93\xba";
    char id[ID_SIZE];
    seen_list s;

    memset(dev64, 'd', STREAMY_DEVICE_MAX);
    dev64[STREAMY_DEVICE_MAX] = '\0';
    opts.ttl_ms = 1000;
    reopen();
    ck_assert_rc(sub_ex(u, "s1", "Living-room TV", NONE), STREAMY_OK);
    ck_assert_str_eq(a.device, "Living-room TV");
    strcpy(id, a.lease_id);
    ck_assert_rc(sub_ex(u, "s2", NULL, NONE), STREAMY_OK);
    ck_assert_str_eq(a.device, "");
    ck_assert_rc(sub_ex(u, "s3", dev64, NONE), STREAMY_OK);
    ck_assert_str_eq(a.device, dev64);
    list_of(&s, u);
    ck_assert_int_eq(s.n, 3);
    ck_assert_str_eq(s.l[0].device, "Living-room TV");
    ck_assert_str_eq(s.l[1].device, "");
    ck_assert_str_eq(s.l[2].device, dev64);
    /* A refresh without a device keeps it; with one, replaces it; the id stays. */
    clk.now += 10;
    ck_assert_rc(sub_ex(u, "s1", NULL, NONE), STREAMY_OK);
    ck_assert_int_eq(a.decision.created, 0);
    ck_assert_str_eq(a.device, "Living-room TV");
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    ck_assert_str_eq(lease_of(u, "s1")->device, "Living-room TV");
    ck_assert_rc(sub_ex(u, "s1", utf8, NONE), STREAMY_OK);
    ck_assert_int_eq(a.decision.created, 0);
    ck_assert_str_eq(a.device, utf8);
    ck_assert_str_eq(a.lease_id, id);
    ck_assert_rc(sub_ex(u, "s2", "Phone", NONE), STREAMY_OK);
    ck_assert_str_eq(a.device, "Phone");
    list_of(&s, u);
    ck_assert_str_eq(s.l[0].device, utf8);
    ck_assert_str_eq(s.l[0].id, id);
    ck_assert_str_eq(s.l[1].device, "Phone");
    /* Renew and unsubscribe tell the lease's device. */
    ck_assert_rc(renew_ex(u, "s1", NULL), STREAMY_OK);
    ck_assert_str_eq(a.device, utf8);
    ck_assert_rc(unsub_ex(u, "s2", NULL), STREAMY_OK);
    ck_assert_str_eq(a.device, "Phone");
    /* A new lease of the stream starts without the old lease's device. */
    ck_assert_rc(sub_ex(u, "s2", NULL, NONE), STREAMY_OK);
    ck_assert_int_eq(a.decision.created, 1);
    ck_assert_str_eq(a.device, "");
    ck_assert_str_eq(lease_of(u, "s2")->device, "");
    /* Two users may name their devices alike. */
    ck_assert_rc(sub_ex(uid("v"), "s1", "Phone", NONE), STREAMY_OK);
    ck_assert_str_eq(lease_of(uid("v"), "s1")->device, "Phone");
    ck_assert_str_eq(lease_of(u, "s1")->device, utf8);
}
END_TEST

/* --- the caller's limit --------------------------------------------------------------
 */

START_TEST(the_callers_limit_wins_over_the_default)
{
    const char *u = uid("u");
    unsigned int limit = 0;
    int over = -1;

    reopen();
    ck_assert_rc(sub_ex(u, "s1", NULL, 1), STREAMY_OK);
    ck_assert_uint_eq(a.decision.limit, 1);
    ck_assert_rc(sub_ex(u, "s2", NULL, 1), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(a.decision.limit, 1);
    ck_assert_uint_eq(a.decision.active, 1);
    ck_assert_str_eq(a.lease_id, "");
    ck_assert_rc(sub_ex(u, "s2", NULL, 2), STREAMY_OK);
    ck_assert_uint_eq(a.decision.limit, 2);
    ck_assert_rc(sub_ex(u, "s3", NULL, 2), STREAMY_LIMIT_REACHED);
    /* Nothing of it is stored: the next call without one has the default. */
    ck_assert_rc(sub(u, "s3"), STREAMY_OK);
    ck_assert_uint_eq(d.limit, 3);
    ck_assert_rc(sub_ex(u, "s4", NULL, NONE), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(a.decision.limit, 3);
    ck_assert_rc(streamy_get_limit(&limit, &over, h, u), STREAMY_OK);
    ck_assert_uint_eq(limit, 3);
    ck_assert_int_eq(over, 0);
    ck_assert_rc(sub_ex(u, "s4", NULL, 5), STREAMY_OK);
    ck_assert_uint_eq(a.decision.limit, 5);
    ck_assert_uint_eq(a.decision.active, 4);
    ck_assert_rc(sub_ex(u, "s5", NULL, STREAMY_LIMIT_MAX), STREAMY_OK);
    ck_assert_uint_eq(a.decision.limit, STREAMY_LIMIT_MAX);
    ck_assert_rc(sub_ex(u, "s6", NULL, 0), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(a.decision.limit, 0);
    ck_assert_uint_eq(count(u), 5);
    /* Above a default of 0 too. */
    opts.limit = 0;
    reopen();
    ck_assert_rc(sub(uid("w"), "s"), STREAMY_LIMIT_REACHED);
    ck_assert_rc(sub_ex(uid("w"), "s", NULL, 1), STREAMY_OK);
    ck_assert_uint_eq(a.decision.limit, 1);
}
END_TEST

START_TEST(a_stored_limit_wins_over_the_callers)
{
    const char *u = uid("u");

    reopen();
    ck_assert_rc(streamy_set_limit(h, u, 1), STREAMY_OK);
    ck_assert_rc(sub_ex(u, "s1", NULL, 5), STREAMY_OK);
    ck_assert_uint_eq(a.decision.limit, 1);
    ck_assert_rc(sub_ex(u, "s2", NULL, 5), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(a.decision.limit, 1);
    ck_assert_rc(streamy_set_limit(h, u, 0), STREAMY_OK); /* blocked by an operator */
    ck_assert_rc(sub_ex(u, "s2", NULL, STREAMY_LIMIT_MAX), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(a.decision.limit, 0);
    ck_assert_rc(streamy_set_limit(h, u, 4), STREAMY_OK); /* above the caller's too */
    ck_assert_rc(sub_ex(u, "s2", NULL, 1), STREAMY_OK);
    ck_assert_uint_eq(a.decision.limit, 4);
    ck_assert_rc(streamy_clear_limit(h, u), STREAMY_OK);
    ck_assert_rc(sub_ex(u, "s3", NULL, 2), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(a.decision.limit, 2);
    ck_assert_rc(sub_ex(u, "s3", NULL, NONE), STREAMY_OK);
    ck_assert_uint_eq(a.decision.limit, 3);
}
END_TEST

START_TEST(a_lowered_callers_limit_cuts_no_stream)
{
    const char *u = uid("u");

    opts.ttl_ms = 1000;
    reopen();
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    clk.now = T0 + 100;
    ck_assert_rc(sub(u, "s2"), STREAMY_OK);
    clk.now = T0 + 200;
    ck_assert_rc(sub(u, "s3"), STREAMY_OK);
    /* The plan went down to one stream: the running ones stay, and refresh. */
    ck_assert_rc(sub_ex(u, "s2", NULL, 1), STREAMY_OK);
    ck_assert_int_eq(a.decision.created, 0);
    ck_assert_uint_eq(a.decision.active, 3);
    ck_assert_uint_eq(a.decision.limit, 1);
    ck_assert_rc(sub_ex(u, "s4", NULL, 1), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(a.decision.active, 3);
    ck_assert_uint_eq(a.decision.limit, 1);
    /* All three must expire for one more to fit: s2 was refreshed with s3. */
    ck_assert_int_eq(a.decision.retry_ms, T0 + 1200);
    ck_assert_str_eq(names(u), "s1,s2,s3");
    ck_assert_rc(renew_ex(u, "s1", NULL), STREAMY_OK); /* renew takes no limit */
    ck_assert_uint_eq(a.decision.limit, 3);
}
END_TEST

START_TEST(evict_policies_use_the_callers_limit)
{
    const char *u = uid("u");

    opts.policy = STREAMY_POLICY_EVICT_OLDEST;
    reopen();
    ck_assert_rc(sub_ex(u, "s1", "tv", 2), STREAMY_OK);
    clk.now++;
    ck_assert_rc(sub_ex(u, "s2", NULL, 2), STREAMY_OK);
    clk.now++;
    ck_assert_rc(sub_ex(u, "s3", NULL, 2), STREAMY_OK);
    ck_assert_str_eq(a.decision.evicted, "s1");
    ck_assert_str_eq(a.evicted_device, "tv");
    ck_assert_uint_eq(a.decision.active, 2);
    /* Evicting only makes room at exactly the limit: over it, the answer is no. */
    ck_assert_rc(sub_ex(u, "s4", NULL, 1), STREAMY_LIMIT_REACHED);
    ck_assert_str_eq(a.decision.evicted, "");
    ck_assert_rc(sub_ex(u, "s4", NULL, 0), STREAMY_LIMIT_REACHED);
    ck_assert_str_eq(names(u), "s2,s3");
}
END_TEST

/* --- evict policies say which session they ended ---------------------------------------
 */

static void three_devices(const char *u, char ids[3][ID_SIZE])
{
    static const char *const devices[3] = {"tv", "phone", NULL};
    char stream[8];

    for (int i = 0; i < 3; i++) {
        snprintf(stream, sizeof(stream), "s%d", i + 1);
        ck_assert_rc(sub_ex(u, stream, devices[i], NONE), STREAMY_OK);
        strcpy(ids[i], a.lease_id);
        clk.now++;
    }
    ck_assert_rc(renew_ex(u, "s1", NULL), STREAMY_OK); /* s2 is now the idlest */
    clk.now++;
}

START_TEST(evict_oldest_tells_the_evicted_id_and_device)
{
    const char *u = uid("u");
    char ids[3][ID_SIZE];

    opts.policy = STREAMY_POLICY_EVICT_OLDEST;
    reopen();
    three_devices(u, ids);
    ck_assert_rc(sub_ex(u, "s4", "tablet", NONE), STREAMY_OK);
    ck_assert_int_eq(a.decision.created, 1);
    ck_assert_str_eq(a.decision.evicted, "s1");
    ck_assert_str_eq(a.evicted_lease_id, ids[0]);
    ck_assert_str_eq(a.evicted_device, "tv");
    ck_assert_str_eq(a.device, "tablet");
    ck_assert_lease_id(a.lease_id);
    ck_assert_str_ne(a.lease_id, ids[0]);
    ck_assert_str_eq(names(u), "s2,s3,s4");
    /* The evicted player's heartbeat finds nothing. */
    ck_assert_rc(renew_ex(u, "s1", ids[0]), STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_rc(sub_ex(u, "s5", NULL, NONE), STREAMY_OK);
    ck_assert_str_eq(a.decision.evicted, "s2");
    ck_assert_str_eq(a.evicted_lease_id, ids[1]);
    ck_assert_str_eq(a.evicted_device, "phone");
    /* Evicting a lease without a device tells "". */
    ck_assert_rc(sub_ex(u, "s6", NULL, NONE), STREAMY_OK);
    ck_assert_str_eq(a.decision.evicted, "s3");
    ck_assert_str_eq(a.evicted_lease_id, ids[2]);
    ck_assert_str_eq(a.evicted_device, "");
    /* A refresh evicts nothing. */
    ck_assert_rc(sub_ex(u, "s6", NULL, NONE), STREAMY_OK);
    ck_assert_str_eq(a.evicted_lease_id, "");
    ck_assert_str_eq(a.evicted_device, "");
}
END_TEST

START_TEST(evict_idle_tells_the_evicted_id_and_device)
{
    const char *u = uid("u");
    char ids[3][ID_SIZE];

    opts.policy = STREAMY_POLICY_EVICT_IDLE;
    reopen();
    three_devices(u, ids);
    ck_assert_rc(sub_ex(u, "s4", NULL, NONE), STREAMY_OK);
    ck_assert_str_eq(a.decision.evicted, "s2");
    ck_assert_str_eq(a.evicted_lease_id, ids[1]);
    ck_assert_str_eq(a.evicted_device, "phone");
    ck_assert_str_eq(a.device, "");
    ck_assert_str_eq(names(u), "s1,s3,s4");
    /* The plain call evicts the same way and still says which stream. */
    ck_assert_rc(sub(u, "s5"), STREAMY_OK);
    ck_assert_str_eq(d.evicted, "s3");
    ck_assert_str_eq(lease_of(u, "s1")->id, ids[0]);
}
END_TEST

START_TEST(a_refusal_tells_no_id)
{
    const char *u = uid("u");

    opts.limit = 1;
    reopen();
    ck_assert_rc(sub_ex(u, "s1", "tv", NONE), STREAMY_OK);
    ck_assert_rc(sub_ex(u, "s2", "phone", NONE), STREAMY_LIMIT_REACHED);
    ck_assert_str_eq(a.lease_id, "");
    ck_assert_str_eq(a.device, "");
    ck_assert_str_eq(a.evicted_lease_id, "");
    ck_assert_int_eq(a.stale, 0);
    ck_assert_str_eq(names(u), "s1");
    ck_assert_str_eq(lease_of(u, "s1")->device, "tv");
}
END_TEST

/* Shadow mode allows and records: the lease over the limit has an id and its device. */
START_TEST(shadow_leases_have_ids)
{
    const char *u = uid("u");

    opts.limit = 1;
    opts.shadow = 1;
    reopen();
    ck_assert_rc(sub_ex(u, "s1", "tv", NONE), STREAMY_OK);
    ck_assert_int_eq(a.decision.shadow_refused, 0);
    ck_assert_rc(sub_ex(u, "s2", "phone", NONE), STREAMY_OK);
    ck_assert_int_eq(a.decision.shadow_refused, 1);
    ck_assert_lease_id(a.lease_id);
    ck_assert_str_eq(a.device, "phone");
    ck_assert_str_eq(lease_of(u, "s2")->id, a.lease_id);
}
END_TEST

/* --- bad inputs change nothing
 * ------------------------------------------------------------ */

/* The store and the handle's counters as they were. */
typedef struct snapshot {
    seen_list leases;
    streamy_counters c;
    int events;
} snapshot;

static void take(snapshot *s, const char *u)
{
    list_of(&s->leases, u);
    counters(&s->c);
    s->events = events.n;
}

static void same_as(const snapshot *s, const char *u)
{
    snapshot now;

    take(&now, u);
    ck_assert_int_eq(now.leases.n, s->leases.n);
    ck_assert_msg(memcmp(&now.leases, &s->leases, sizeof(now.leases)) == 0,
                  "the leases changed");
    ck_assert_msg(memcmp(&now.c, &s->c, sizeof(now.c)) == 0, "the counters changed");
    ck_assert_int_eq(now.events, s->events);
}

/* EINVAL with a message that names `field`, and an answer that tells nothing. */
#define ck_assert_refused(expr, field)                                                   \
    do {                                                                                 \
        ck_assert_rc((expr), STREAMY_EINVAL);                                            \
        ck_assert_msg(strstr(streamy_errmsg(h), (field)) != NULL,                        \
                      "message \"%s\" does not name %s", streamy_errmsg(h), (field));    \
        ck_assert_str_eq(a.lease_id, "");                                                \
        ck_assert_str_eq(a.device, "");                                                  \
        ck_assert_int_eq(a.stale, 0);                                                    \
        ck_assert_uint_eq(a.decision.active, 0);                                         \
    } while (0)

START_TEST(invalid_session_inputs_change_nothing)
{
    static const char *const bad_ids[] = {
        "",
        "not-a-uuid",
        "6f9619ff-8b86-d011-b42d-00c04fc964f",   /* 35 characters */
        "6f9619ff-8b86-d011-b42d-00c04fc964ff0", /* 37 */
        "6f9619ff8b86d011b42d00c04fc964ff",      /* no dashes */
        "{6f9619ff-8b86-d011-b42d-00c04fc964ff}",
        "6f9619ff-8b86-d011-b42d-00c04fc964fg",
        "6f9619ff-8b86-d011-b42d-00c04fc964f\xc3\xa9",
    };
    static const char *const bad_devices[] = {
        "", "a\nb", "tab\there", "del\x7f", "\xc3", "\xc0\xaf", "caf\xe9", "\xed\xa0\x80",
    };
    static const int bad_max[] = {-2, -100, INT_MIN, STREAMY_LIMIT_MAX + 1, INT_MAX};
    char dev65[STREAMY_DEVICE_MAX + 2];
    const char *u = uid("u");
    char id[ID_SIZE];
    streamy_call c;
    snapshot before;
    size_t i;

    memset(dev65, 'd', STREAMY_DEVICE_MAX + 1);
    dev65[STREAMY_DEVICE_MAX + 1] = '\0';
    opts.ttl_ms = 1000;
    reopen();
    ck_assert_rc(sub_ex(u, "s", "tv", NONE), STREAMY_OK);
    strcpy(id, a.lease_id);
    clk.now = T0 + 300;
    take(&before, u);
    for (i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        ck_assert_refused(renew_ex(u, "s", bad_ids[i]), "lease id");
        ck_assert_refused(unsub_ex(u, "s", bad_ids[i]), "lease id");
    }
    for (i = 0; i <= sizeof(bad_devices) / sizeof(bad_devices[0]); i++) {
        const char *dev =
            i < sizeof(bad_devices) / sizeof(bad_devices[0]) ? bad_devices[i] : dev65;
        ck_assert_refused(sub_ex(u, "s", dev, NONE), "device");
        ck_assert_refused(sub_ex(u, "new", dev, NONE), "device");
    }
    for (i = 0; i < sizeof(bad_max) / sizeof(bad_max[0]); i++) {
        ck_assert_refused(sub_ex(u, "s", NULL, bad_max[i]), "max_streams");
        ck_assert_refused(sub_ex(u, "new", NULL, bad_max[i]), "max_streams");
    }
    /* Inputs an operation does not take. */
    c = mkcall(u, "new");
    c.lease_id = id;
    poison(&a);
    ck_assert_refused(streamy_subscribe_ex(&a, h, &c), "lease id");
    c = mkcall(u, "s");
    c.device = "tv";
    poison(&a);
    ck_assert_refused(streamy_renew_ex(&a, h, &c), "device");
    poison(&a);
    ck_assert_refused(streamy_unsubscribe_ex(&a, h, &c), "device");
    c = mkcall(u, "s");
    c.max_streams = 2;
    poison(&a);
    ck_assert_refused(streamy_renew_ex(&a, h, &c), "max_streams");
    poison(&a);
    ck_assert_refused(streamy_unsubscribe_ex(&a, h, &c), "max_streams");
    /* Bad identifiers in a call, as for the plain functions. */
    c = mkcall("", "s");
    poison(&a);
    ck_assert_refused(streamy_unsubscribe_ex(&a, h, &c), "user");
    c = mkcall(u, "s\x01");
    poison(&a);
    ck_assert_refused(streamy_renew_ex(&a, h, &c), "stream");
    c = mkcall(u, NULL);
    poison(&a);
    ck_assert_refused(streamy_subscribe_ex(&a, h, &c), "stream");
    /* No call, or a call or an answer of a version this library does not know. */
    poison(&a);
    ck_assert_refused(streamy_subscribe_ex(&a, h, NULL), "call");
    poison(&a);
    ck_assert_refused(streamy_unsubscribe_ex(&a, h, NULL), "call");
    for (i = 0; i < 2; i++) {
        c = mkcall(u, "s");
        c.version = i == 0 ? 0 : STREAMY_CALL_VERSION + 1;
        poison(&a);
        ck_assert_refused(streamy_unsubscribe_ex(&a, h, &c), "call version");
        poison(&a);
        ck_assert_refused(streamy_renew_ex(&a, h, &c), "call version");
    }
    c = mkcall(u, "s");
    for (i = 0; i < 2; i++) {
        streamy_answer x;
        poison(&x);
        x.version = i == 0 ? 0 : STREAMY_CALL_VERSION + 1;
        ck_assert_rc(streamy_unsubscribe_ex(&x, h, &c), STREAMY_EINVAL);
        ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "answer version"));
        ck_assert_rc(streamy_subscribe_ex(&x, h, &c), STREAMY_EINVAL);
        ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "answer version"));
    }
    ck_assert_rc(streamy_renew_ex(&a, NULL, &c), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "handle"));
    same_as(&before, u);
    /* The limits of each input are allowed. */
    ck_assert_rc(sub_ex(u, "s", NULL, 0), STREAMY_OK); /* a refresh at any limit */
    ck_assert_rc(renew_ex(u, "s", id), STREAMY_OK);
    ck_assert_rc(streamy_renew_ex(NULL, h, &c), STREAMY_OK); /* the answer may be NULL */
    ck_assert_rc(streamy_unsubscribe_ex(NULL, h, &c), STREAMY_OK);
    ck_assert_uint_eq(count(u), 0);
}
END_TEST

/* --- batches through streamy_apply_ex
 * ---------------------------------------------------- */

START_TEST(apply_ex_mixes_operations_and_fences)
{
    const char *u = uid("u");
    char old1[ID_SIZE], id2[ID_SIZE], id2up[ID_SIZE];
    streamy_call c[10];
    streamy_answer x[10];
    streamy_batch_op ops[10];
    streamy_counters cnt;
    const seen_lease *l;
    int i;

    opts.ttl_ms = 1000;
    reopen();
    ck_assert_rc(sub_ex(u, "s1", NULL, NONE), STREAMY_OK);
    strcpy(old1, a.lease_id);
    ck_assert_rc(sub_ex(u, "s2", "phone", NONE), STREAMY_OK);
    strcpy(id2, a.lease_id);
    strcpy(id2up, upper(id2));
    clk.now = T0 + 200;
    for (i = 0; i < 10; i++) {
        c[i] = mkcall(u, "s1");
        poison(&x[i]);
        ops[i].call = &c[i];
        ops[i].answer = &x[i];
        ops[i].result = 99;
    }
    ops[0].kind = STREAMY_OP_UNSUBSCRIBE; /* someone else stops s1 */
    ops[1].kind = STREAMY_OP_SUBSCRIBE;   /* and starts it again */
    c[1].device = "tv";
    ops[2].kind = STREAMY_OP_RENEW; /* the old player's heartbeat */
    c[2].lease_id = old1;
    ops[3].kind = STREAMY_OP_UNSUBSCRIBE; /* and its stop */
    c[3].lease_id = old1;
    ops[4].kind = STREAMY_OP_RENEW; /* invalid: renew takes no device */
    c[4].stream = "s2";
    c[4].device = "x";
    ops[5].kind = STREAMY_OP_RENEW; /* the right id, upper case */
    c[5].stream = "s2";
    c[5].lease_id = id2up;
    ops[6].kind = STREAMY_OP_SUBSCRIBE; /* over the caller's limit */
    c[6].stream = "s3";
    c[6].max_streams = 2;
    ops[7].kind = STREAMY_OP_SUBSCRIBE; /* the default limit; no answer wanted */
    c[7].stream = "s3";
    ops[7].answer = NULL;
    ops[8].kind = STREAMY_OP_UNSUBSCRIBE;
    c[8].stream = "s2";
    c[8].lease_id = id2;
    ops[9].kind = STREAMY_OP_SUBSCRIBE; /* invalid: a lease id on subscribe */
    c[9].stream = "s9";
    c[9].lease_id = id2;
    ck_assert_rc(streamy_apply_ex(h, ops, 10), STREAMY_OK);

    ck_assert_int_eq(ops[0].result, STREAMY_OK);
    ck_assert_int_eq(x[0].decision.removed, 1);
    ck_assert_str_eq(x[0].lease_id, old1);
    ck_assert_int_eq(ops[1].result, STREAMY_OK);
    ck_assert_int_eq(x[1].decision.created, 1);
    ck_assert_lease_id(x[1].lease_id);
    ck_assert_str_ne(x[1].lease_id, old1);
    ck_assert_str_eq(x[1].device, "tv");
    ck_assert_int_eq(x[1].decision.since_ms, T0 + 200);
    ck_assert_int_eq(ops[2].result, STREAMY_NOT_FOUND);
    ck_assert_int_eq(x[2].stale, 1);
    ck_assert_str_eq(x[2].lease_id, "");
    ck_assert_int_eq(ops[3].result, STREAMY_OK);
    ck_assert_int_eq(x[3].decision.removed, 0);
    ck_assert_int_eq(x[3].stale, 1);
    ck_assert_int_eq(ops[4].result, STREAMY_EINVAL);
    ck_assert_str_eq(x[4].lease_id, "");
    ck_assert_int_eq(x[4].stale, 0);
    ck_assert_int_eq(ops[5].result, STREAMY_OK);
    ck_assert_str_eq(x[5].lease_id, id2);
    ck_assert_str_eq(x[5].device, "phone");
    ck_assert_int_eq(x[5].decision.expires_ms, T0 + 1200);
    ck_assert_int_eq(ops[6].result, STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(x[6].decision.limit, 2);
    ck_assert_uint_eq(x[6].decision.active, 2);
    ck_assert_int_eq(ops[7].result, STREAMY_OK);
    ck_assert_int_eq(ops[8].result, STREAMY_OK);
    ck_assert_int_eq(x[8].decision.removed, 1);
    ck_assert_str_eq(x[8].lease_id, id2);
    ck_assert_str_eq(x[8].device, "phone");
    ck_assert_int_eq(ops[9].result, STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "lease id"));

    ck_assert_str_eq(names(u), "s1,s3");
    l = lease_of(u, "s1");
    ck_assert_str_eq(l->id, x[1].lease_id);
    ck_assert_str_eq(l->device, "tv");
    ck_assert_int_eq(l->expires, T0 + 1200);
    counters(&cnt);
    ck_assert_uint_eq(cnt.allowed, 4); /* two before, two in the batch */
    ck_assert_uint_eq(cnt.refused, 1);
    ck_assert_uint_eq(cnt.released, 2);
    ck_assert_uint_eq(cnt.renewed, 1);
}
END_TEST

START_TEST(apply_ex_refuses_what_it_cannot_read)
{
    const char *u = uid("u");
    streamy_call c[3];
    streamy_answer x[3];
    streamy_batch_op ops[3];
    snapshot before;
    int i;

    reopen();
    ck_assert_rc(sub_ex(u, "s", "tv", NONE), STREAMY_OK);
    take(&before, u);
    for (i = 0; i < 3; i++) {
        c[i] = mkcall(u, "t");
        poison(&x[i]);
        ops[i].kind = STREAMY_OP_SUBSCRIBE;
        ops[i].call = &c[i];
        ops[i].answer = &x[i];
        ops[i].result = 99;
    }
    /* An answer of an unknown version: the whole batch is refused, nothing decided. */
    x[2].version = STREAMY_CALL_VERSION + 1;
    ck_assert_rc(streamy_apply_ex(h, ops, 3), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "answer version"));
    same_as(&before, u);
    /* A NULL call, an unknown kind, a call of an unknown version: each its own EINVAL,
     * the others go on. */
    for (i = 0; i < 3; i++)
        poison(&x[i]);
    ops[0].call = NULL;
    ops[1].kind = (streamy_op_kind)9;
    c[2].version = 0;
    ck_assert_rc(streamy_apply_ex(h, ops, 3), STREAMY_OK);
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(ops[i].result, STREAMY_EINVAL);
        ck_assert_str_eq(x[i].lease_id, "");
    }
    same_as(&before, u);
    c[2].version = STREAMY_CALL_VERSION;
    ops[1].kind = STREAMY_OP_RENEW;
    c[1].stream = "s";
    ck_assert_rc(streamy_apply_ex(h, ops, 3), STREAMY_OK);
    ck_assert_int_eq(ops[0].result, STREAMY_EINVAL);
    ck_assert_int_eq(ops[1].result, STREAMY_OK);
    ck_assert_str_eq(x[1].device, "tv");
    ck_assert_int_eq(ops[2].result, STREAMY_OK);
    ck_assert_int_eq(x[2].decision.created, 1);
    ck_assert_rc(streamy_apply_ex(h, NULL, 0), STREAMY_OK);
    ck_assert_rc(streamy_apply_ex(h, NULL, 2), STREAMY_EINVAL);
    ck_assert_rc(streamy_apply_ex(NULL, ops, 1), STREAMY_EINVAL);
    ck_assert_str_eq(names(u), "s,t");
}
END_TEST

/* The same random operations one by one and in batches, on two sets of users: the same
 * answers, lease ids compared by the order in which each run first told them. */
enum { RN = 300, RUSERS = 3, RSTREAMS = 4, RWINDOW = 25 };

typedef struct run {
    char users[RUSERS][64];
    streamy_call calls[RN];
    streamy_answer ans[RN];
    int rc[RN];
    char held[RN][ID_SIZE];                /* the lease id each call names */
    char known[RUSERS][RSTREAMS][ID_SIZE]; /* the last id told for (user, stream) */
    char ids[2 * RN][ID_SIZE];             /* every id told, in order of first telling */
    int nids;
} run;

typedef struct plan {
    streamy_op_kind kind;
    int user, stream, device, max, fence, invalid;
} plan;

static const char *const r_streams[RSTREAMS] = {"s0", "s1", "s2", "s3"};
static const char *const r_devices[] = {NULL, NULL, "tv", "phone", "T\xc3\xa9l\xc3\xa9"};
static const int r_max[] = {NONE, NONE, NONE, 0, 1, 2, 3};

static void make_calls(run *r, const plan *p, int from, int to)
{
    for (int i = from; i < to; i++) {
        streamy_call *c = &r->calls[i];

        *c = mkcall(r->users[p[i].user], r_streams[p[i].stream]);
        poison(&r->ans[i]);
        if (p[i].kind == STREAMY_OP_SUBSCRIBE) {
            c->device = r_devices[p[i].device];
            c->max_streams = r_max[p[i].max];
            if (p[i].invalid)
                c->lease_id = BOGUS;
        } else {
            if (p[i].fence == 1 && r->known[p[i].user][p[i].stream][0] != '\0')
                strcpy(r->held[i], r->known[p[i].user][p[i].stream]);
            else if (p[i].fence == 2)
                strcpy(r->held[i], BOGUS);
            else
                r->held[i][0] = '\0';
            c->lease_id = r->held[i][0] ? r->held[i] : NULL;
            if (p[i].invalid)
                c->max_streams = 1;
        }
    }
}

static void learn(run *r, const plan *p, int from, int to)
{
    for (int i = from; i < to; i++)
        if (r->rc[i] == STREAMY_OK && p[i].kind != STREAMY_OP_UNSUBSCRIBE)
            strcpy(r->known[p[i].user][p[i].stream], r->ans[i].lease_id);
}

/* The order in which run `r` first told `id`; -1 for "", -2 for an id never told. */
static int ordinal(run *r, const char *id, int add)
{
    int i;

    if (id[0] == '\0')
        return -1;
    for (i = 0; i < r->nids; i++)
        if (strcmp(r->ids[i], id) == 0)
            return i;
    if (!add)
        return -2;
    strcpy(r->ids[r->nids], id);
    return r->nids++;
}

START_TEST(apply_ex_answers_like_single_calls)
{
    static run runs[2];
    static plan p[RN];
    static streamy_batch_op ops[RWINDOW];
    unsigned seed = 4242u + (unsigned)_i;
    int i, k;

    opts.ttl_ms = 700;
    opts.limit = 2;
    opts.policy = _i == 0 ? STREAMY_POLICY_REJECT : STREAMY_POLICY_EVICT_OLDEST;
    opts.observer = NULL;
    memset(runs, 0, sizeof(runs));
    for (k = 0; k < 2; k++)
        for (i = 0; i < RUSERS; i++)
            snprintf(runs[k].users[i], sizeof(runs[k].users[i]), "%s-%d",
                     uid(k ? "batched" : "alone"), i);
    for (i = 0; i < RN; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i].kind = (streamy_op_kind)(1 + (seed >> 16) % 3);
        p[i].user = (int)((seed >> 8) % RUSERS);
        p[i].stream = (int)((seed >> 4) % RSTREAMS);
        p[i].device = (int)((seed >> 12) % 5);
        p[i].max = (int)((seed >> 20) % 7);
        p[i].fence = (int)((seed >> 24) % 3);
        p[i].invalid = (seed >> 27) % 23 == 0;
    }
    reopen();
    for (int w = 0; w < RN; w += RWINDOW) {
        clk.now = T0 + (w / RWINDOW) * 100;
        /* One by one. */
        make_calls(&runs[0], p, w, w + RWINDOW);
        for (i = w; i < w + RWINDOW; i++) {
            streamy_call *c = &runs[0].calls[i];
            streamy_answer *x = &runs[0].ans[i];
            runs[0].rc[i] =
                p[i].kind == STREAMY_OP_SUBSCRIBE ? streamy_subscribe_ex(x, h, c)
                : p[i].kind == STREAMY_OP_RENEW   ? streamy_renew_ex(x, h, c)
                                                  : streamy_unsubscribe_ex(x, h, c);
        }
        learn(&runs[0], p, w, w + RWINDOW);
        /* The same in one batch. */
        make_calls(&runs[1], p, w, w + RWINDOW);
        for (i = 0; i < RWINDOW; i++) {
            ops[i].kind = p[w + i].kind;
            ops[i].call = &runs[1].calls[w + i];
            ops[i].answer = &runs[1].ans[w + i];
            ops[i].result = 99;
        }
        ck_assert_rc(streamy_apply_ex(h, ops, RWINDOW), STREAMY_OK);
        for (i = 0; i < RWINDOW; i++)
            runs[1].rc[w + i] = ops[i].result;
        learn(&runs[1], p, w, w + RWINDOW);
    }
    for (i = 0; i < RN; i++) {
        const streamy_answer *x = &runs[0].ans[i], *y = &runs[1].ans[i];
        ck_assert_msg(runs[0].rc[i] == runs[1].rc[i], "op %d: single %d, batch %d", i,
                      runs[0].rc[i], runs[1].rc[i]);
        ck_assert_int_eq(x->decision.created, y->decision.created);
        ck_assert_int_eq(x->decision.removed, y->decision.removed);
        ck_assert_uint_eq(x->decision.active, y->decision.active);
        ck_assert_uint_eq(x->decision.limit, y->decision.limit);
        ck_assert_uint_eq(x->decision.expired, y->decision.expired);
        ck_assert_int_eq(x->decision.since_ms, y->decision.since_ms);
        ck_assert_int_eq(x->decision.expires_ms, y->decision.expires_ms);
        ck_assert_int_eq(x->decision.retry_ms, y->decision.retry_ms);
        ck_assert_str_eq(x->decision.evicted, y->decision.evicted);
        ck_assert_str_eq(x->device, y->device);
        ck_assert_str_eq(x->evicted_device, y->evicted_device);
        ck_assert_msg(x->stale == y->stale, "op %d: stale %d, %d", i, x->stale, y->stale);
        ck_assert_int_eq(ordinal(&runs[0], x->lease_id, 1),
                         ordinal(&runs[1], y->lease_id, 1));
        ck_assert_int_eq(ordinal(&runs[0], x->evicted_lease_id, 1),
                         ordinal(&runs[1], y->evicted_lease_id, 1));
        if (x->lease_id[0] != '\0')
            ck_assert_lease_id(x->lease_id);
    }
    for (i = 0; i < RUSERS; i++) {
        seen_list x, y;
        list_of(&x, runs[0].users[i]);
        list_of(&y, runs[1].users[i]);
        ck_assert_int_eq(x.n, y.n);
        for (k = 0; k < x.n; k++) {
            ck_assert_str_eq(x.l[k].stream, y.l[k].stream);
            ck_assert_str_eq(x.l[k].device, y.l[k].device);
            ck_assert_int_eq(x.l[k].since, y.l[k].since);
            ck_assert_int_eq(x.l[k].expires, y.l[k].expires);
            ck_assert_int_ge(ordinal(&runs[0], x.l[k].id, 0), 0);
            ck_assert_int_eq(ordinal(&runs[0], x.l[k].id, 0),
                             ordinal(&runs[1], y.l[k].id, 0));
        }
    }
    /* The run exercised what it is meant to. */
    for (i = 0, k = 0; i < RN; i++)
        k += runs[0].ans[i].stale;
    ck_assert_int_gt(k, 3);
}
END_TEST

void store_add_session_cases(Suite *s)
{
    TCase *tc;

#define CASE(name, ...)                                                                  \
    do {                                                                                 \
        tc = test_add_case(s, name, setup, teardown, test_timeout_scale(20));            \
        __VA_ARGS__;                                                                     \
    } while (0)

    CASE("lease-ids", tcase_add_test(tc, new_leases_get_random_ids);
         tcase_add_test(tc, refresh_and_renew_keep_the_id);
         tcase_add_test(tc, a_new_lease_after_unsubscribe_gets_a_new_id);
         tcase_add_test(tc, a_new_lease_after_expiry_gets_a_new_id);
         tcase_add_test(tc, a_new_lease_after_eviction_gets_a_new_id);
         tcase_add_test(tc, ids_and_devices_persist_across_handles));
    CASE("fencing", tcase_add_test(tc, renew_with_a_stale_id_changes_nothing);
         tcase_add_test(tc, unsubscribe_with_a_stale_id_removes_nothing);
         tcase_add_test(tc, the_right_id_in_any_case_works);
         tcase_add_test(tc, an_expired_lease_is_nobodys));
    CASE("devices", tcase_add_test(tc, devices_are_stored_replaced_and_kept));
    CASE("callers-limit", tcase_add_test(tc, the_callers_limit_wins_over_the_default);
         tcase_add_test(tc, a_stored_limit_wins_over_the_callers);
         tcase_add_test(tc, a_lowered_callers_limit_cuts_no_stream);
         tcase_add_test(tc, evict_policies_use_the_callers_limit));
    CASE("session-policies",
         tcase_add_test(tc, evict_oldest_tells_the_evicted_id_and_device);
         tcase_add_test(tc, evict_idle_tells_the_evicted_id_and_device);
         tcase_add_test(tc, a_refusal_tells_no_id);
         tcase_add_test(tc, shadow_leases_have_ids));
    CASE("session-input", tcase_add_test(tc, invalid_session_inputs_change_nothing));
    CASE("session-batch", tcase_add_test(tc, apply_ex_mixes_operations_and_fences);
         tcase_add_test(tc, apply_ex_refuses_what_it_cannot_read);
         tcase_add_loop_test(tc, apply_ex_answers_like_single_calls, 0, 2));
#undef CASE
}
