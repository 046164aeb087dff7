/* SPDX-License-Identifier: MIT */
/* check_store_sessions.c: the conformance suite's session tests, on every store: lease
 * ids, fencing by lease id, device labels, the caller's limit and what evictions tell;
 * and the helpers that check_store_sessions_batch.c shares. */
#include <stdio.h>
#include <string.h>

#include "check_store.h"

const char *const BOGUS = "00000000-0000-4000-8000-000000000000";

streamy_answer ans;

void poison(streamy_answer *x)
{
    memset(x, 'Z', sizeof(*x));
    x->version = STREAMY_CALL_VERSION;
    x->lease_id[STREAMY_LEASE_ID_LEN] = '\0';
    x->device[STREAMY_DEVICE_MAX] = '\0';
    x->evicted_lease_id[STREAMY_LEASE_ID_LEN] = '\0';
    x->evicted_device[STREAMY_DEVICE_MAX] = '\0';
    x->stale = 77;
}

streamy_call mkcall(const char *user, const char *stream)
{
    streamy_call c;

    ck_assert_rc(streamy_call_init(&c, STREAMY_CALL_VERSION), STREAMY_OK);
    c.user = user;
    c.stream = stream;
    return c;
}

int sub_ex(const char *user, const char *stream, const char *device, int max)
{
    streamy_call c = mkcall(user, stream);

    c.device = device;
    c.max_streams = max;
    poison(&ans);
    return streamy_subscribe_ex(&ans, h, &c);
}

int renew_ex(const char *user, const char *stream, const char *lease_id)
{
    streamy_call c = mkcall(user, stream);

    c.lease_id = lease_id;
    poison(&ans);
    return streamy_renew_ex(&ans, h, &c);
}

int unsub_ex(const char *user, const char *stream, const char *lease_id)
{
    streamy_call c = mkcall(user, stream);

    c.lease_id = lease_id;
    poison(&ans);
    return streamy_unsubscribe_ex(&ans, h, &c);
}

int is_lease_id(const char *s)
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

const char *upper(const char *s)
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

void list_of(seen_list *s, const char *user)
{
    memset(s, 0, sizeof(*s));
    ck_assert_rc(streamy_list(h, user, keep_lease, s), STREAMY_OK);
}

const seen_lease *lease_of(const char *user, const char *stream)
{
    static seen_list s;
    int i;

    list_of(&s, user);
    for (i = 0; i < s.n; i++)
        if (strcmp(s.l[i].stream, stream) == 0)
            return &s.l[i];
    return NULL;
}

void counters(streamy_counters *c)
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
    ck_assert_int_eq(ans.decision.created, 1);
    ck_assert_uint_eq(ans.decision.active, 1);
    ck_assert_uint_eq(ans.decision.limit, 3);
    ck_assert_int_eq(ans.decision.since_ms, T0);
    ck_assert_lease_id(ans.lease_id);
    ck_assert_str_eq(ans.device, "");
    ck_assert_str_eq(ans.evicted_lease_id, "");
    ck_assert_str_eq(ans.evicted_device, "");
    ck_assert_int_eq(ans.stale, 0);
    strcpy(first, ans.lease_id);
    ck_assert_rc(sub_ex(u, "s2", NULL, NONE), STREAMY_OK);
    ck_assert_lease_id(ans.lease_id);
    strcpy(second, ans.lease_id);
    ck_assert_rc(sub_ex(v, "s1", NULL, NONE), STREAMY_OK);
    ck_assert_lease_id(ans.lease_id);
    strcpy(third, ans.lease_id);
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
    strcpy(id, ans.lease_id);
    clk.now = T0 + 100;
    ck_assert_rc(sub_ex(u, "s", NULL, NONE), STREAMY_OK); /* refresh */
    ck_assert_int_eq(ans.decision.created, 0);
    ck_assert_int_eq(ans.decision.expires_ms, T0 + 1100);
    ck_assert_str_eq(ans.lease_id, id);
    ck_assert_rc(sub(u, "s"), STREAMY_OK); /* a plain refresh keeps it too */
    clk.now = T0 + 200;
    ck_assert_rc(renew_ex(u, "s", NULL), STREAMY_OK);
    ck_assert_str_eq(ans.lease_id, id);
    ck_assert_int_eq(ans.decision.expires_ms, T0 + 1200);
    ck_assert_int_eq(ans.stale, 0);
    ck_assert_rc(streamy_renew(NULL, h, u, "s"), STREAMY_OK);
    clk.now = T0 + 300;
    ck_assert_rc(renew_ex(u, "s", id), STREAMY_OK);
    ck_assert_str_eq(ans.lease_id, id);
    ck_assert_int_eq(ans.decision.since_ms, T0);
    ck_assert_int_eq(ans.decision.expires_ms, T0 + 1300);
    ck_assert_str_eq(lease_of(u, "s")->id, id);
}
END_TEST

/* Many leases, of many users and of one: never two with one id. */
START_TEST(ids_are_never_handed_out_twice)
{
    enum { N = 120 };
    static char ids[N][ID_SIZE];
    char stream[16];
    int i, k;

    reopen();
    for (i = 0; i < N; i++) {
        snprintf(stream, sizeof(stream), "s%d", i);
        ck_assert_rc(sub_ex(i % 2 ? uid("many") : uid(stream), stream, NULL, N),
                     STREAMY_OK);
        ck_assert_lease_id(ans.lease_id);
        strcpy(ids[i], ans.lease_id);
        for (k = 0; k < i; k++)
            ck_assert_msg(strcmp(ids[k], ids[i]) != 0, "leases %d and %d: %s", k, i,
                          ids[i]);
    }
}
END_TEST

START_TEST(a_new_lease_after_unsubscribe_gets_a_new_id)
{
    const char *u = uid("u");
    char first[ID_SIZE];

    reopen();
    ck_assert_rc(sub_ex(u, "s", NULL, NONE), STREAMY_OK);
    strcpy(first, ans.lease_id);
    ck_assert_rc(unsub_ex(u, "s", NULL), STREAMY_OK);
    ck_assert_int_eq(ans.decision.removed, 1);
    ck_assert_str_eq(ans.lease_id, ""); /* an unsubscribe answers no lease */
    ck_assert_int_eq(ans.stale, 0);
    ck_assert_rc(sub_ex(u, "s", NULL, NONE), STREAMY_OK);
    ck_assert_int_eq(ans.decision.created, 1);
    ck_assert_lease_id(ans.lease_id);
    ck_assert_str_ne(ans.lease_id, first);
    strcpy(first, ans.lease_id);
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
    strcpy(first, ans.lease_id);
    clk.now = T0 + 1000;
    ck_assert_rc(sub_ex(u, "s", NULL, NONE), STREAMY_OK);
    ck_assert_int_eq(ans.decision.created, 1);
    ck_assert_uint_eq(ans.decision.expired, 1);
    ck_assert_int_eq(ans.decision.since_ms, T0 + 1000);
    ck_assert_lease_id(ans.lease_id);
    ck_assert_str_ne(ans.lease_id, first);
    ck_assert_str_eq(lease_of(u, "s")->id, ans.lease_id);
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
    strcpy(first, ans.lease_id);
    clk.now++;
    ck_assert_rc(sub_ex(u, "t", NULL, NONE), STREAMY_OK);
    ck_assert_str_eq(ans.decision.evicted, "s");
    ck_assert_str_eq(ans.evicted_lease_id, first);
    strcpy(other, ans.lease_id);
    clk.now++;
    ck_assert_rc(sub_ex(u, "s", NULL, NONE), STREAMY_OK);
    ck_assert_int_eq(ans.decision.created, 1);
    ck_assert_str_eq(ans.decision.evicted, "t");
    ck_assert_str_eq(ans.evicted_lease_id, other);
    ck_assert_lease_id(ans.lease_id);
    ck_assert_str_ne(ans.lease_id, first);
    ck_assert_str_ne(ans.lease_id, other);
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
    strcpy(id, ans.lease_id);
    reopen();
    ck_assert_str_eq(lease_of(u, "s")->id, id);
    ck_assert_str_eq(lease_of(u, "s")->device, "Living-room TV");
    ck_assert_rc(renew_ex(u, "s", BOGUS), STREAMY_NOT_FOUND);
    ck_assert_int_eq(ans.stale, 1);
    ck_assert_rc(renew_ex(u, "s", id), STREAMY_OK);
    ck_assert_str_eq(ans.lease_id, id);
    ck_assert_str_eq(ans.device, "Living-room TV");
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
    strcpy(old, ans.lease_id);
    ck_assert_rc(unsub(u, "s"), STREAMY_OK);
    clk.now = T0 + 100;
    ck_assert_rc(sub_ex(u, "s", "tv", NONE), STREAMY_OK); /* someone started it again */
    strcpy(cur, ans.lease_id);
    counters(&before);
    n = events.n;
    clk.now = T0 + 500;
    ck_assert_rc(renew_ex(u, "s", old), STREAMY_NOT_FOUND);
    ck_assert_int_eq(ans.stale, 1);
    ck_assert_str_eq(ans.lease_id, "");
    ck_assert_rc(renew_ex(u, "s", upper(old)), STREAMY_NOT_FOUND);
    ck_assert_int_eq(ans.stale, 1);
    ck_assert_rc(renew_ex(u, "s", BOGUS), STREAMY_NOT_FOUND);
    ck_assert_int_eq(ans.stale, 1);
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
    strcpy(old, ans.lease_id);
    ck_assert_rc(unsub(u, "s"), STREAMY_OK);
    ck_assert_rc(sub_ex(u, "s", "tv", NONE), STREAMY_OK);
    strcpy(cur, ans.lease_id);
    counters(&before);
    ck_assert_rc(unsub_ex(u, "s", old), STREAMY_OK); /* unsubscribe stays idempotent */
    ck_assert_int_eq(ans.decision.removed, 0);
    ck_assert_int_eq(ans.stale, 1);
    ck_assert_str_eq(ans.lease_id, "");
    ck_assert_rc(unsub_ex(u, "s", BOGUS), STREAMY_OK);
    ck_assert_int_eq(ans.decision.removed, 0);
    ck_assert_int_eq(ans.stale, 1);
    ck_assert_str_eq(names(u), "s");
    ck_assert_str_eq(lease_of(u, "s")->id, cur);
    ck_assert_str_eq(lease_of(u, "s")->device, "tv");
    counters(&after);
    ck_assert_uint_eq(after.released, before.released);
    /* The lease of another stream of the same user does not name this one either. */
    ck_assert_rc(sub_ex(u, "t", NULL, NONE), STREAMY_OK);
    strcpy(old, ans.lease_id);
    ck_assert_rc(unsub_ex(u, "s", old), STREAMY_OK);
    ck_assert_int_eq(ans.decision.removed, 0);
    ck_assert_int_eq(ans.stale, 1);
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
    strcpy(id, ans.lease_id);
    clk.now = T0 + 400;
    ck_assert_rc(renew_ex(u, "s", upper(id)), STREAMY_OK);
    ck_assert_int_eq(ans.stale, 0);
    ck_assert_str_eq(ans.lease_id, id); /* answered in lower case */
    ck_assert_str_eq(ans.device, "tv");
    ck_assert_int_eq(ans.decision.since_ms, T0);
    ck_assert_int_eq(ans.decision.expires_ms, T0 + 1400);
    ck_assert_uint_eq(ans.decision.active, 1);
    ck_assert_uint_eq(ans.decision.limit, 3);
    ck_assert_int_eq(lease_of(u, "s")->expires, T0 + 1400);
    ck_assert_rc(unsub_ex(u, "s", upper(id)), STREAMY_OK);
    ck_assert_int_eq(ans.decision.removed, 1);
    ck_assert_int_eq(ans.stale, 0);
    ck_assert_str_eq(ans.lease_id, ""); /* the call named it */
    ck_assert_str_eq(ans.device, "");
    ck_assert_uint_eq(count(u), 0);
    counters(&c);
    ck_assert_uint_eq(c.renewed, 1);
    ck_assert_uint_eq(c.released, 1);
    /* Gone: the id names nothing now. */
    ck_assert_rc(renew_ex(u, "s", id), STREAMY_NOT_FOUND);
    ck_assert_int_eq(ans.stale, 0);
    ck_assert_rc(unsub_ex(u, "s", id), STREAMY_OK);
    ck_assert_int_eq(ans.decision.removed, 0);
    ck_assert_int_eq(ans.stale, 0);
}
END_TEST

/* Leases that never expire are fenced the same way. */
START_TEST(fences_hold_without_a_ttl)
{
    const char *u = uid("u");
    char old[ID_SIZE], cur[ID_SIZE];

    reopen();
    ck_assert_rc(sub_ex(u, "s", NULL, NONE), STREAMY_OK);
    strcpy(old, ans.lease_id);
    ck_assert_rc(unsub_ex(u, "s", old), STREAMY_OK);
    ck_assert_int_eq(ans.decision.removed, 1);
    ck_assert_rc(sub_ex(u, "s", NULL, NONE), STREAMY_OK);
    strcpy(cur, ans.lease_id);
    clk.now += 50;
    ck_assert_rc(renew_ex(u, "s", old), STREAMY_NOT_FOUND);
    ck_assert_int_eq(ans.stale, 1);
    ck_assert_rc(unsub_ex(u, "s", old), STREAMY_OK);
    ck_assert_int_eq(ans.stale, 1);
    ck_assert_int_eq(ans.decision.removed, 0);
    ck_assert_int_eq(lease_of(u, "s")->renewed, T0);
    ck_assert_rc(renew_ex(u, "s", cur), STREAMY_OK);
    ck_assert_int_eq(ans.decision.expires_ms, 0);
    ck_assert_int_eq(lease_of(u, "s")->renewed, T0 + 50);
    ck_assert_str_eq(lease_of(u, "s")->id, cur);
}
END_TEST

START_TEST(an_expired_lease_is_nobodys)
{
    const char *u = uid("u");
    char id[ID_SIZE];

    opts.ttl_ms = 1000;
    reopen();
    ck_assert_rc(sub_ex(u, "s", NULL, NONE), STREAMY_OK);
    strcpy(id, ans.lease_id);
    ck_assert_rc(sub_ex(u, "t", NULL, NONE), STREAMY_OK);
    clk.now = T0 + 1000;
    /* Another id on an expired lease is no fence: as if no id were given. */
    ck_assert_rc(unsub_ex(u, "t", BOGUS), STREAMY_OK);
    ck_assert_int_eq(ans.decision.removed, 0);
    ck_assert_uint_eq(ans.decision.expired, 1);
    ck_assert_int_eq(ans.stale, 0);
    ck_assert_rc(renew_ex(u, "s", BOGUS), STREAMY_NOT_FOUND);
    ck_assert_int_eq(ans.stale, 0);
    ck_assert_rc(renew_ex(u, "s", id), STREAMY_NOT_FOUND);
    ck_assert_int_eq(ans.stale, 0);
    ck_assert_rc(unsub_ex(u, "s", id), STREAMY_OK);
    ck_assert_int_eq(ans.decision.removed, 0);
    ck_assert_int_eq(ans.stale, 0);
    ck_assert_uint_eq(count(u), 0);
    /* No lease at all: not stale either. */
    ck_assert_rc(renew_ex(uid("nobody"), "s", BOGUS), STREAMY_NOT_FOUND);
    ck_assert_int_eq(ans.stale, 0);
    ck_assert_rc(unsub_ex(uid("nobody"), "s", BOGUS), STREAMY_OK);
    ck_assert_int_eq(ans.stale, 0);
    ck_assert_int_eq(ans.decision.removed, 0);
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
    ck_assert_str_eq(ans.device, "Living-room TV");
    strcpy(id, ans.lease_id);
    ck_assert_rc(sub_ex(u, "s2", NULL, NONE), STREAMY_OK);
    ck_assert_str_eq(ans.device, "");
    ck_assert_rc(sub_ex(u, "s3", dev64, NONE), STREAMY_OK);
    ck_assert_str_eq(ans.device, dev64);
    list_of(&s, u);
    ck_assert_int_eq(s.n, 3);
    ck_assert_str_eq(s.l[0].device, "Living-room TV");
    ck_assert_str_eq(s.l[1].device, "");
    ck_assert_str_eq(s.l[2].device, dev64);
    /* A refresh without a device keeps it; with one, replaces it; the id stays. */
    clk.now += 10;
    ck_assert_rc(sub_ex(u, "s1", NULL, NONE), STREAMY_OK);
    ck_assert_int_eq(ans.decision.created, 0);
    ck_assert_str_eq(ans.device, "Living-room TV");
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    ck_assert_str_eq(lease_of(u, "s1")->device, "Living-room TV");
    ck_assert_rc(sub_ex(u, "s1", utf8, NONE), STREAMY_OK);
    ck_assert_int_eq(ans.decision.created, 0);
    ck_assert_str_eq(ans.device, utf8);
    ck_assert_str_eq(ans.lease_id, id);
    ck_assert_rc(sub_ex(u, "s2", "Phone", NONE), STREAMY_OK);
    ck_assert_str_eq(ans.device, "Phone");
    list_of(&s, u);
    ck_assert_str_eq(s.l[0].device, utf8);
    ck_assert_str_eq(s.l[0].id, id);
    ck_assert_str_eq(s.l[1].device, "Phone");
    /* Renew tells the lease's device; an unsubscribe answers no lease. */
    ck_assert_rc(renew_ex(u, "s1", NULL), STREAMY_OK);
    ck_assert_str_eq(ans.device, utf8);
    ck_assert_rc(unsub_ex(u, "s2", NULL), STREAMY_OK);
    ck_assert_str_eq(ans.device, "");
    /* A new lease of the stream starts without the old lease's device. */
    ck_assert_rc(sub_ex(u, "s2", NULL, NONE), STREAMY_OK);
    ck_assert_int_eq(ans.decision.created, 1);
    ck_assert_str_eq(ans.device, "");
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
    ck_assert_uint_eq(ans.decision.limit, 1);
    ck_assert_rc(sub_ex(u, "s2", NULL, 1), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(ans.decision.limit, 1);
    ck_assert_uint_eq(ans.decision.active, 1);
    ck_assert_str_eq(ans.lease_id, "");
    ck_assert_rc(sub_ex(u, "s2", NULL, 2), STREAMY_OK);
    ck_assert_uint_eq(ans.decision.limit, 2);
    ck_assert_rc(sub_ex(u, "s3", NULL, 2), STREAMY_LIMIT_REACHED);
    /* Nothing of it is stored: the next call without one has the default. */
    ck_assert_rc(sub(u, "s3"), STREAMY_OK);
    ck_assert_uint_eq(d.limit, 3);
    ck_assert_rc(sub_ex(u, "s4", NULL, NONE), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(ans.decision.limit, 3);
    ck_assert_rc(streamy_get_limit(&limit, &over, h, u), STREAMY_OK);
    ck_assert_uint_eq(limit, 3);
    ck_assert_int_eq(over, 0);
    ck_assert_rc(sub_ex(u, "s4", NULL, 5), STREAMY_OK);
    ck_assert_uint_eq(ans.decision.limit, 5);
    ck_assert_uint_eq(ans.decision.active, 4);
    ck_assert_rc(sub_ex(u, "s5", NULL, STREAMY_LIMIT_MAX), STREAMY_OK);
    ck_assert_uint_eq(ans.decision.limit, STREAMY_LIMIT_MAX);
    ck_assert_rc(sub_ex(u, "s6", NULL, 0), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(ans.decision.limit, 0);
    ck_assert_uint_eq(count(u), 5);
    /* Above a default of 0 too. */
    opts.limit = 0;
    reopen();
    ck_assert_rc(sub(uid("w"), "s"), STREAMY_LIMIT_REACHED);
    ck_assert_rc(sub_ex(uid("w"), "s", NULL, 1), STREAMY_OK);
    ck_assert_uint_eq(ans.decision.limit, 1);
}
END_TEST

START_TEST(a_stored_limit_wins_over_the_callers)
{
    const char *u = uid("u");

    reopen();
    ck_assert_rc(streamy_set_limit(h, u, 1), STREAMY_OK);
    ck_assert_rc(sub_ex(u, "s1", NULL, 5), STREAMY_OK);
    ck_assert_uint_eq(ans.decision.limit, 1);
    ck_assert_rc(sub_ex(u, "s2", NULL, 5), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(ans.decision.limit, 1);
    ck_assert_rc(streamy_set_limit(h, u, 0), STREAMY_OK); /* blocked by an operator */
    ck_assert_rc(sub_ex(u, "s2", NULL, STREAMY_LIMIT_MAX), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(ans.decision.limit, 0);
    ck_assert_rc(streamy_set_limit(h, u, 4), STREAMY_OK); /* above the caller's too */
    ck_assert_rc(sub_ex(u, "s2", NULL, 1), STREAMY_OK);
    ck_assert_uint_eq(ans.decision.limit, 4);
    ck_assert_rc(streamy_clear_limit(h, u), STREAMY_OK);
    ck_assert_rc(sub_ex(u, "s3", NULL, 2), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(ans.decision.limit, 2);
    ck_assert_rc(sub_ex(u, "s3", NULL, NONE), STREAMY_OK);
    ck_assert_uint_eq(ans.decision.limit, 3);
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
    ck_assert_int_eq(ans.decision.created, 0);
    ck_assert_uint_eq(ans.decision.active, 3);
    ck_assert_uint_eq(ans.decision.limit, 1);
    ck_assert_rc(sub_ex(u, "s4", NULL, 1), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(ans.decision.active, 3);
    ck_assert_uint_eq(ans.decision.limit, 1);
    /* All three must expire for one more to fit: s2 was refreshed with s3. */
    ck_assert_int_eq(ans.decision.retry_ms, T0 + 1200);
    ck_assert_str_eq(names(u), "s1,s2,s3");
    ck_assert_rc(renew_ex(u, "s1", NULL), STREAMY_OK); /* renew takes no limit */
    ck_assert_uint_eq(ans.decision.limit, 3);
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
    ck_assert_str_eq(ans.decision.evicted, "s1");
    ck_assert_str_eq(ans.evicted_device, "tv");
    ck_assert_uint_eq(ans.decision.active, 2);
    /* The observer sees the eviction and the limit that applied. */
    ck_assert_int_eq(events.n, 4);
    ck_assert_int_eq(events.ev[2].kind, STREAMY_EVENT_EVICTED);
    ck_assert_str_eq(events.ev[2].stream, "s1");
    ck_assert_int_eq(events.ev[3].kind, STREAMY_EVENT_ALLOWED);
    ck_assert_uint_eq(events.ev[3].limit, 2);
    /* Evicting only makes room at exactly the limit: over it, the answer is no. */
    ck_assert_rc(sub_ex(u, "s4", NULL, 1), STREAMY_LIMIT_REACHED);
    ck_assert_str_eq(ans.decision.evicted, "");
    ck_assert_int_eq(events.ev[4].kind, STREAMY_EVENT_REFUSED);
    ck_assert_uint_eq(events.ev[4].limit, 1);
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
        strcpy(ids[i], ans.lease_id);
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
    ck_assert_int_eq(ans.decision.created, 1);
    ck_assert_str_eq(ans.decision.evicted, "s1");
    ck_assert_str_eq(ans.evicted_lease_id, ids[0]);
    ck_assert_str_eq(ans.evicted_device, "tv");
    ck_assert_str_eq(ans.device, "tablet");
    ck_assert_lease_id(ans.lease_id);
    ck_assert_str_ne(ans.lease_id, ids[0]);
    ck_assert_str_eq(names(u), "s2,s3,s4");
    /* The evicted player's heartbeat finds nothing. */
    ck_assert_rc(renew_ex(u, "s1", ids[0]), STREAMY_NOT_FOUND);
    ck_assert_int_eq(ans.stale, 0);
    ck_assert_rc(sub_ex(u, "s5", NULL, NONE), STREAMY_OK);
    ck_assert_str_eq(ans.decision.evicted, "s2");
    ck_assert_str_eq(ans.evicted_lease_id, ids[1]);
    ck_assert_str_eq(ans.evicted_device, "phone");
    /* Evicting a lease without a device tells "". */
    ck_assert_rc(sub_ex(u, "s6", NULL, NONE), STREAMY_OK);
    ck_assert_str_eq(ans.decision.evicted, "s3");
    ck_assert_str_eq(ans.evicted_lease_id, ids[2]);
    ck_assert_str_eq(ans.evicted_device, "");
    /* A refresh evicts nothing. */
    ck_assert_rc(sub_ex(u, "s6", NULL, NONE), STREAMY_OK);
    ck_assert_str_eq(ans.evicted_lease_id, "");
    ck_assert_str_eq(ans.evicted_device, "");
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
    ck_assert_str_eq(ans.decision.evicted, "s2");
    ck_assert_str_eq(ans.evicted_lease_id, ids[1]);
    ck_assert_str_eq(ans.evicted_device, "phone");
    ck_assert_str_eq(ans.device, "");
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
    ck_assert_str_eq(ans.lease_id, "");
    ck_assert_str_eq(ans.device, "");
    ck_assert_str_eq(ans.evicted_lease_id, "");
    ck_assert_int_eq(ans.stale, 0);
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
    ck_assert_int_eq(ans.decision.shadow_refused, 0);
    ck_assert_rc(sub_ex(u, "s2", "phone", NONE), STREAMY_OK);
    ck_assert_int_eq(ans.decision.shadow_refused, 1);
    ck_assert_lease_id(ans.lease_id);
    ck_assert_str_eq(ans.device, "phone");
    ck_assert_str_eq(lease_of(u, "s2")->id, ans.lease_id);
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
         tcase_add_test(tc, ids_are_never_handed_out_twice);
         tcase_add_test(tc, refresh_and_renew_keep_the_id);
         tcase_add_test(tc, a_new_lease_after_unsubscribe_gets_a_new_id);
         tcase_add_test(tc, a_new_lease_after_expiry_gets_a_new_id);
         tcase_add_test(tc, a_new_lease_after_eviction_gets_a_new_id);
         tcase_add_test(tc, ids_and_devices_persist_across_handles));
    CASE("fencing", tcase_add_test(tc, renew_with_a_stale_id_changes_nothing);
         tcase_add_test(tc, unsubscribe_with_a_stale_id_removes_nothing);
         tcase_add_test(tc, the_right_id_in_any_case_works);
         tcase_add_test(tc, fences_hold_without_a_ttl);
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
#undef CASE
}
