/* SPDX-License-Identifier: MIT */
/* check_store_sessions_batch.c: the conformance suite's session tests of bad inputs and
 * of batches through streamy_apply_ex, on every store. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "check_store.h"

/* --- bad inputs change nothing ------------------------------------------------------ */

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
        ck_assert_str_eq(ans.lease_id, "");                                              \
        ck_assert_str_eq(ans.device, "");                                                \
        ck_assert_int_eq(ans.stale, 0);                                                  \
        ck_assert_uint_eq(ans.decision.active, 0);                                       \
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
    strcpy(id, ans.lease_id);
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
    poison(&ans);
    ck_assert_refused(streamy_subscribe_ex(&ans, h, &c), "lease id");
    c = mkcall(u, "s");
    c.device = "tv";
    poison(&ans);
    ck_assert_refused(streamy_renew_ex(&ans, h, &c), "device");
    poison(&ans);
    ck_assert_refused(streamy_unsubscribe_ex(&ans, h, &c), "device");
    c = mkcall(u, "s");
    c.max_streams = 2;
    poison(&ans);
    ck_assert_refused(streamy_renew_ex(&ans, h, &c), "max_streams");
    poison(&ans);
    ck_assert_refused(streamy_unsubscribe_ex(&ans, h, &c), "max_streams");
    /* Bad identifiers in a call, as for the plain functions. */
    c = mkcall("", "s");
    poison(&ans);
    ck_assert_refused(streamy_unsubscribe_ex(&ans, h, &c), "user");
    c = mkcall(u, "s\x01");
    poison(&ans);
    ck_assert_refused(streamy_renew_ex(&ans, h, &c), "stream");
    c = mkcall(u, NULL);
    poison(&ans);
    ck_assert_refused(streamy_subscribe_ex(&ans, h, &c), "stream");
    /* No call, or a call or an answer of a version this library does not know. */
    poison(&ans);
    ck_assert_refused(streamy_subscribe_ex(&ans, h, NULL), "call");
    poison(&ans);
    ck_assert_refused(streamy_unsubscribe_ex(&ans, h, NULL), "call");
    for (i = 0; i < 2; i++) {
        c = mkcall(u, "s");
        c.version = i == 0 ? 0 : STREAMY_CALL_VERSION + 1;
        poison(&ans);
        ck_assert_refused(streamy_unsubscribe_ex(&ans, h, &c), "call version");
        poison(&ans);
        ck_assert_refused(streamy_renew_ex(&ans, h, &c), "call version");
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
    ck_assert_rc(streamy_renew_ex(&ans, NULL, &c), STREAMY_EINVAL);
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

/* --- batches through streamy_apply_ex ----------------------------------------------- */

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
    strcpy(old1, ans.lease_id);
    ck_assert_rc(sub_ex(u, "s2", "phone", NONE), STREAMY_OK);
    strcpy(id2, ans.lease_id);
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
    ck_assert_str_eq(x[0].lease_id, ""); /* an unsubscribe answers no lease */
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
    ck_assert_str_eq(x[8].lease_id, ""); /* an unsubscribe answers no lease */
    ck_assert_str_eq(x[8].device, "");
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
void store_add_session_batch_cases(Suite *s)
{
    TCase *tc;

#define CASE(name, ...)                                                                  \
    do {                                                                                 \
        tc = test_add_case(s, name, setup, teardown, test_timeout_scale(20));            \
        __VA_ARGS__;                                                                     \
    } while (0)

    CASE("session-input", tcase_add_test(tc, invalid_session_inputs_change_nothing));
    CASE("session-batch", tcase_add_test(tc, apply_ex_mixes_operations_and_fences);
         tcase_add_test(tc, apply_ex_refuses_what_it_cannot_read);
         tcase_add_loop_test(tc, apply_ex_answers_like_single_calls, 0, 2));
#undef CASE
}
