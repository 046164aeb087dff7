/* SPDX-License-Identifier: MIT */
/* check_core_sessions.c: the core's side of sessions over the counting fake store: the
 * `_ex` calls, streamy_apply_ex, what a version-1 store gets and what it is spared, and
 * how a version-2 store is called. */
#include <string.h>

#include "check_core.h"
#include "fake_store.h"
#include "test_util.h"

#define NONE STREAMY_MAX_STREAMS_NONE
#define UPPER_ID "6F9619FF-8B86-4011-B42D-00C04FC964FF"

static fake_store *f;
static streamy *h;
static test_clock clk;
static test_events events;
static streamy_options opts;
static streamy_answer a;

static void setup(void)
{
    clk.now = 1000;
    memset(&events, 0, sizeof(events));
    streamy_options_init(&opts, STREAMY_OPTIONS_VERSION);
    opts.clock = test_clock_cb;
    opts.clock_payload = &clk;
    opts.observer = test_observer_cb;
    opts.observer_payload = &events;
    opts.limit = 4;
    f = fake_store_new(0);
    ck_assert_ptr_nonnull(f);
    h = NULL;
}

static void teardown(void)
{
    streamy_close(h);
}

static void open_fake(void)
{
    ck_assert_rc(streamy_open_store(&h, &f->base, &opts), STREAMY_OK);
}

/* Replace the fixture's fake by one of vtable version 2 and open it. */
static void open_sessions_fake(void)
{
    f->base.free(&f->base);
    f = fake_store_new_sessions();
    ck_assert_ptr_nonnull(f);
    open_fake();
}

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

static streamy_call mkcall(const char *user, const char *stream, const char *lease_id,
                           const char *device, int max)
{
    streamy_call c = STREAMY_CALL_INIT;

    c.user = user;
    c.stream = stream;
    c.lease_id = lease_id;
    c.device = device;
    c.max_streams = max;
    return c;
}

static int sub_ex(const char *device, int max)
{
    streamy_call c = mkcall("u", "s", NULL, device, max);

    poison(&a);
    return streamy_subscribe_ex(&a, h, &c);
}

static int renew_ex(const char *lease_id)
{
    streamy_call c = mkcall("u", "s", lease_id, NULL, NONE);

    poison(&a);
    return streamy_renew_ex(&a, h, &c);
}

static int unsub_ex(const char *lease_id)
{
    streamy_call c = mkcall("u", "s", lease_id, NULL, NONE);

    poison(&a);
    return streamy_unsubscribe_ex(&a, h, &c);
}

static void assert_blank(const streamy_answer *x)
{
    static const streamy_decision zero;

    ck_assert_msg(memcmp(&x->decision, &zero, sizeof(zero)) == 0, "decision not zero");
    ck_assert_str_eq(x->lease_id, "");
    ck_assert_str_eq(x->device, "");
    ck_assert_str_eq(x->evicted_lease_id, "");
    ck_assert_str_eq(x->evicted_device, "");
    ck_assert_int_eq(x->stale, 0);
}

static int store_calls(void)
{
    return f->acquires + f->releases + f->renews + f->applies + f->decides;
}

/* --- a version-1 store keeps working ------------------------------------------------ */

START_TEST(v1_ex_calls_reach_the_version_1_methods)
{
    streamy_call c = mkcall(UPPER_ID, "s", NULL, NULL, NONE);

    opts.ttl_ms = 30000;
    open_fake();
    poison(&a);
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_int_eq(f->acquires, 1);
    ck_assert_str_eq(f->last_user, "6f9619ff-8b86-4011-b42d-00c04fc964ff");
    ck_assert_int_eq(a.decision.created, 1);
    ck_assert_uint_eq(a.decision.active, 1);
    ck_assert_uint_eq(a.decision.limit, 4);
    ck_assert_str_eq(a.lease_id, ""); /* the store keeps no ids */
    ck_assert_str_eq(a.device, "");
    ck_assert_str_eq(a.evicted_lease_id, "");
    ck_assert_str_eq(a.evicted_device, "");
    ck_assert_int_eq(a.stale, 0);
    ck_assert_rc(renew_ex(NULL), STREAMY_OK);
    ck_assert_int_eq(f->renews, 1);
    ck_assert_int_eq(a.decision.expires_ms, 31000);
    ck_assert_str_eq(a.lease_id, "");
    ck_assert_rc(unsub_ex(NULL), STREAMY_OK);
    ck_assert_int_eq(f->releases, 1);
    ck_assert_int_eq(a.decision.removed, 1);
    ck_assert_str_eq(a.lease_id, "");
    ck_assert_int_eq(f->applies + f->decides, 0);
    ck_assert_int_eq(events.n, 3);
    ck_assert_int_eq(events.ev[0].kind, STREAMY_EVENT_ALLOWED);
    ck_assert_int_eq(events.ev[1].kind, STREAMY_EVENT_RENEWED);
    ck_assert_int_eq(events.ev[2].kind, STREAMY_EVENT_RELEASED);
    /* The answer may be NULL. */
    ck_assert_rc(streamy_subscribe_ex(NULL, h, &c), STREAMY_OK);
    ck_assert_int_eq(f->acquires, 2);
}
END_TEST

START_TEST(v1_gets_the_callers_limit_as_req_limit)
{
    static const int max[] = {7, 0, (int)STREAMY_LIMIT_MAX, 1};

    open_fake();
    for (size_t i = 0; i < sizeof(max) / sizeof(max[0]); i++) {
        ck_assert_rc(sub_ex(NULL, max[i]), STREAMY_OK);
        ck_assert_uint_eq(f->last.limit, (unsigned)max[i]);
        ck_assert_uint_eq(a.decision.limit, (unsigned)max[i]);
        ck_assert_uint_eq(events.ev[events.n - 1].limit, (unsigned)max[i]);
    }
    ck_assert_rc(sub_ex(NULL, NONE), STREAMY_OK); /* nothing was kept */
    ck_assert_uint_eq(f->last.limit, 4);
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "s"), STREAMY_OK);
    ck_assert_uint_eq(f->last.limit, 4);
    ck_assert_int_eq(f->acquires, 6);
    ck_assert_int_eq(f->set_limits + f->get_limits, 0);
}
END_TEST

struct seen {
    int n;
    int ids_blank, devices_blank;
    char first_id[STREAMY_LEASE_ID_LEN + 1], first_device[STREAMY_DEVICE_MAX + 1];
};

static int look(const streamy_lease *lease, void *payload)
{
    struct seen *s = payload;

    ck_assert_ptr_nonnull(lease->lease_id);
    ck_assert_ptr_nonnull(lease->device);
    if (s->n++ == 0) {
        strcpy(s->first_id, lease->lease_id);
        strcpy(s->first_device, lease->device);
    }
    s->ids_blank += lease->lease_id[0] == '\0';
    s->devices_blank += lease->device[0] == '\0';
    return 0;
}

/* The fake's version-1 leases carry a pointer past their end that the core would
 * crash on: it must read nothing there. */
START_TEST(v1_list_gives_empty_ids_and_devices)
{
    struct seen s = {0};

    open_fake();
    ck_assert_rc(streamy_list(h, "u", look, &s), STREAMY_OK);
    ck_assert_int_eq(s.n, 2);
    ck_assert_int_eq(s.ids_blank, 2);
    ck_assert_int_eq(s.devices_blank, 2);
}
END_TEST

START_TEST(v1_refuses_lease_ids_and_devices)
{
    streamy_counters c;

    opts.on_store_error = STREAMY_ON_STORE_ERROR_ALLOW; /* never a reason to allow */
    open_fake();
    ck_assert_rc(sub_ex("tv", NONE), STREAMY_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "device label"));
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "version 1"));
    assert_blank(&a);
    ck_assert_rc(sub_ex("tv", 2), STREAMY_EUNSUPPORTED);
    assert_blank(&a);
    ck_assert_rc(renew_ex(FAKE_LEASE_ID), STREAMY_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "lease id"));
    assert_blank(&a);
    ck_assert_rc(unsub_ex(UPPER_ID), STREAMY_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "lease id"));
    assert_blank(&a);
    /* Bad input is still bad input. */
    ck_assert_rc(unsub_ex("not-a-uuid"), STREAMY_EINVAL);
    ck_assert_rc(sub_ex("", NONE), STREAMY_EINVAL);
    ck_assert_int_eq(store_calls(), 0);
    ck_assert_int_eq(events.n, 0);
    ck_assert_rc(streamy_stats(&c, h), STREAMY_OK);
    ck_assert_uint_eq(c.allowed + c.renewed + c.released + c.refused, 0);
}
END_TEST

START_TEST(v1_batches_take_one_limit)
{
    streamy_call c[6] = {
        mkcall("u", "s1", NULL, NULL, 5),        mkcall("u", "s2", NULL, NULL, NONE),
        mkcall("u", "s1", NULL, NULL, NONE),     mkcall("u", "s3", NULL, NULL, 2),
        mkcall("u", "s1", UPPER_ID, NULL, NONE), mkcall("u", "s4", NULL, "tv", NONE),
    };
    static const streamy_op_kind kinds[6] = {
        STREAMY_OP_SUBSCRIBE, STREAMY_OP_SUBSCRIBE,   STREAMY_OP_RENEW,
        STREAMY_OP_SUBSCRIBE, STREAMY_OP_UNSUBSCRIBE, STREAMY_OP_SUBSCRIBE};
    streamy_answer x[6];
    streamy_batch_op ops[6];
    int i;

    open_fake();
    for (i = 0; i < 6; i++) {
        poison(&x[i]);
        ops[i].kind = kinds[i];
        ops[i].call = &c[i];
        ops[i].answer = &x[i];
        ops[i].result = 99;
    }
    /* Differing limits in a batch of several: those of the caller's are refused. */
    ck_assert_rc(streamy_apply_ex(h, ops, 6), STREAMY_OK);
    ck_assert_int_eq(f->applies, 1);
    ck_assert_uint_eq(f->last_apply_n, 2);
    ck_assert_uint_eq(f->apply_limits[0], 4);
    ck_assert_uint_eq(f->apply_limits[1], 4);
    ck_assert_int_eq(ops[0].result, STREAMY_EUNSUPPORTED);
    assert_blank(&x[0]);
    ck_assert_int_eq(ops[1].result, STREAMY_OK);
    ck_assert_uint_eq(x[1].decision.limit, 4);
    ck_assert_str_eq(x[1].lease_id, "");
    ck_assert_int_eq(ops[2].result, STREAMY_OK);
    ck_assert_int_eq(ops[3].result, STREAMY_EUNSUPPORTED);
    ck_assert_int_eq(ops[4].result, STREAMY_EUNSUPPORTED); /* a lease id */
    ck_assert_int_eq(ops[5].result, STREAMY_EUNSUPPORTED); /* a device label */
    assert_blank(&x[5]);
    ck_assert_int_eq(f->acquires + f->renews + f->releases, 0);

    /* The caller's limit as one operation, or equal to the default, goes through. */
    ck_assert_rc(streamy_apply_ex(h, ops, 1), STREAMY_OK);
    ck_assert_int_eq(ops[0].result, STREAMY_OK);
    ck_assert_uint_eq(x[0].decision.limit, 5);
    ck_assert_uint_eq(f->apply_limits[0], 5);
    c[3].max_streams = 4;
    ck_assert_rc(streamy_apply_ex(h, ops + 1, 3), STREAMY_OK);
    ck_assert_uint_eq(f->last_apply_n, 3);
    for (i = 1; i < 4; i++)
        ck_assert_int_eq(ops[i].result, STREAMY_OK);
    /* Beside operations refused anyway, one with a limit of its own is alone. */
    c[1].user = "";
    ck_assert_rc(streamy_apply_ex(h, ops, 2), STREAMY_OK);
    ck_assert_int_eq(ops[0].result, STREAMY_OK);
    ck_assert_int_eq(ops[1].result, STREAMY_EINVAL);
    ck_assert_uint_eq(f->apply_limits[0], 5);
    ck_assert_int_eq(f->applies, 4);
    /* Several with one and the same limit of the caller's: no limits differ. */
    c[1].user = "u";
    c[1].max_streams = 5;
    ck_assert_rc(streamy_apply_ex(h, ops, 2), STREAMY_OK);
    ck_assert_int_eq(ops[0].result, STREAMY_OK);
    ck_assert_int_eq(ops[1].result, STREAMY_OK);
    ck_assert_uint_eq(f->last_apply_n, 2);
    ck_assert_uint_eq(f->apply_limits[0], 5);
    ck_assert_uint_eq(f->apply_limits[1], 5);
    ck_assert_uint_eq(x[1].decision.limit, 5);
}
END_TEST

START_TEST(v1_ex_degrades_as_the_plain_calls)
{
    opts.on_store_error = STREAMY_ON_STORE_ERROR_ALLOW;
    open_fake();
    f->answer = STREAMY_ESTORE;
    f->error = "disk on fire";
    ck_assert_rc(sub_ex(NULL, 9), STREAMY_OK);
    ck_assert_int_eq(a.decision.degraded, 1);
    ck_assert_uint_eq(a.decision.limit, 4); /* the handle's default */
    ck_assert_str_eq(a.lease_id, "");
    ck_assert_rc(renew_ex(NULL), STREAMY_OK);
    ck_assert_int_eq(a.decision.degraded, 1);
    ck_assert_rc(unsub_ex(NULL), STREAMY_ESTORE);
    ck_assert_int_eq(a.decision.degraded, 0);
    ck_assert_str_eq(streamy_errmsg(h), "fake: disk on fire");
}
END_TEST

/* --- versions ----------------------------------------------------------------------- */

START_TEST(call_and_answer_init_check_their_version)
{
    static const streamy_call blank = STREAMY_CALL_INIT;
    streamy_answer init = STREAMY_ANSWER_INIT;
    streamy_call c;
    unsigned int bad[2] = {0, STREAMY_CALL_VERSION + 1};

    memset(&c, 'Z', sizeof(c));
    ck_assert_rc(streamy_call_init(&c, STREAMY_CALL_VERSION), STREAMY_OK);
    ck_assert_uint_eq(c.version, STREAMY_CALL_VERSION);
    ck_assert_ptr_null(c.user);
    ck_assert_ptr_null(c.stream);
    ck_assert_ptr_null(c.lease_id);
    ck_assert_ptr_null(c.device);
    ck_assert_int_eq(c.max_streams, STREAMY_MAX_STREAMS_NONE);
    ck_assert_uint_eq(blank.version, STREAMY_CALL_VERSION);
    ck_assert_ptr_null(blank.lease_id);
    ck_assert_int_eq(blank.max_streams, STREAMY_MAX_STREAMS_NONE);
    poison(&a);
    ck_assert_rc(streamy_answer_init(&a, STREAMY_CALL_VERSION), STREAMY_OK);
    ck_assert_uint_eq(a.version, STREAMY_CALL_VERSION);
    assert_blank(&a);
    ck_assert_uint_eq(init.version, STREAMY_CALL_VERSION);
    assert_blank(&init);
    for (int i = 0; i < 2; i++) {
        memset(&c, 'Z', sizeof(c));
        ck_assert_rc(streamy_call_init(&c, bad[i]), STREAMY_EINVAL);
        ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "call version"));
        poison(&a);
        ck_assert_rc(streamy_answer_init(&a, bad[i]), STREAMY_EINVAL);
        ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "answer version"));
        ck_assert_int_eq(a.stale, 77); /* untouched */
    }
    ck_assert_rc(streamy_call_init(NULL, STREAMY_CALL_VERSION), STREAMY_EINVAL);
    ck_assert_rc(streamy_answer_init(NULL, STREAMY_CALL_VERSION), STREAMY_EINVAL);
    f->base.free(&f->base); /* never opened */
}
END_TEST

START_TEST(ex_calls_check_versions_before_the_store)
{
    streamy_call c = mkcall("u", "s", NULL, NULL, NONE);
    streamy_batch_op op = {STREAMY_OP_SUBSCRIBE, &c, 99, &a};
    unsigned int bad[2] = {0, STREAMY_CALL_VERSION + 1};

    open_fake();
    for (int i = 0; i < 2; i++) {
        c.version = bad[i];
        poison(&a);
        ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_EINVAL);
        ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "call version"));
        assert_blank(&a);
        ck_assert_rc(streamy_apply_ex(h, &op, 1), STREAMY_OK);
        ck_assert_int_eq(op.result, STREAMY_EINVAL);
        c.version = STREAMY_CALL_VERSION;
        poison(&a);
        a.version = bad[i];
        ck_assert_rc(streamy_renew_ex(&a, h, &c), STREAMY_EINVAL);
        ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "answer version"));
        ck_assert_int_eq(a.stale, 77); /* an answer it cannot read is not written */
        op.result = 99;
        ck_assert_rc(streamy_apply_ex(h, &op, 1), STREAMY_EINVAL);
        ck_assert_int_eq(a.stale, 77);
    }
    ck_assert_rc(streamy_unsubscribe_ex(NULL, h, NULL), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "call"));
    ck_assert_int_eq(store_calls(), 0);
    ck_assert_int_eq(events.n, 0);
}
END_TEST

/* --- a version-2 store: everything through decide ----------------------------------- */

START_TEST(v2_decides_every_call)
{
    streamy_op ops[2] = {{STREAMY_OP_SUBSCRIBE, "u", "s", 0, {0}},
                         {STREAMY_OP_UNSUBSCRIBE, "u", "t", 0, {0}}};
    streamy_decision d;

    open_sessions_fake();
    ck_assert_rc(streamy_subscribe(&d, h, "u", "s"), STREAMY_OK);
    ck_assert_int_eq(d.created, 1);
    ck_assert_uint_eq(d.limit, 4);
    ck_assert_rc(streamy_renew(&d, h, "u", "s"), STREAMY_OK);
    ck_assert_int_eq(f->last_kind, STREAMY_OP_RENEW);
    ck_assert_rc(streamy_unsubscribe(&d, h, "u", "s"), STREAMY_OK);
    ck_assert_int_eq(d.removed, 1);
    ck_assert_int_eq(f->decides, 3);
    ck_assert_uint_eq(f->last_decide_n, 1);
    ck_assert_int_eq(f->last_lease_id_null, 1);
    ck_assert_int_eq(f->last_device_null, 1);
    ck_assert_rc(streamy_apply(h, ops, 2), STREAMY_OK);
    ck_assert_int_eq(f->decides, 4);
    ck_assert_uint_eq(f->last_decide_n, 2);
    ck_assert_int_eq(ops[1].result, STREAMY_OK);
    ck_assert_int_eq(ops[1].decision.removed, 1);
    ck_assert_int_eq(f->acquires + f->releases + f->renews + f->applies, 0);
    ck_assert_int_eq(events.n, 5);
}
END_TEST

START_TEST(v2_gets_the_session_inputs)
{
    open_sessions_fake();
    ck_assert_rc(sub_ex("Living-room TV", 6), STREAMY_OK);
    ck_assert_int_eq(f->last_kind, STREAMY_OP_SUBSCRIBE);
    ck_assert_str_eq(f->last_device, "Living-room TV");
    ck_assert_int_eq(f->last_lease_id_null, 1);
    ck_assert_uint_eq(f->last.limit, 6);
    ck_assert_uint_eq(a.decision.limit, 6);
    ck_assert_str_eq(a.lease_id, FAKE_LEASE_ID);
    ck_assert_str_eq(a.device, "Living-room TV");
    ck_assert_rc(renew_ex(UPPER_ID), STREAMY_OK);
    ck_assert_str_eq(f->last_lease_id, "6f9619ff-8b86-4011-b42d-00c04fc964ff");
    ck_assert_int_eq(f->last_device_null, 1);
    ck_assert_uint_eq(f->last.limit, 4);
    ck_assert_rc(unsub_ex(FAKE_LEASE_ID), STREAMY_OK);
    ck_assert_int_eq(f->last_kind, STREAMY_OP_UNSUBSCRIBE);
    ck_assert_str_eq(f->last_lease_id, FAKE_LEASE_ID);
    /* What the core refuses never reaches it. */
    ck_assert_rc(renew_ex("6f9619ff-8b86-4011-b42d-00c04fc964f"), STREAMY_EINVAL);
    ck_assert_rc(sub_ex(NULL, -7), STREAMY_EINVAL);
    ck_assert_int_eq(f->decides, 3);
}
END_TEST

START_TEST(v2_decides_a_batch_of_differing_limits_at_once)
{
    streamy_call c[3] = {mkcall("u", "s1", NULL, NULL, 5),
                         mkcall("u", "s2", NULL, "tv", NONE),
                         mkcall("u", "s3", NULL, NULL, 0)};
    streamy_answer x[3];
    streamy_batch_op ops[3];

    open_sessions_fake();
    for (int i = 0; i < 3; i++) {
        poison(&x[i]);
        ops[i].kind = STREAMY_OP_SUBSCRIBE;
        ops[i].call = &c[i];
        ops[i].answer = &x[i];
    }
    ck_assert_rc(streamy_apply_ex(h, ops, 3), STREAMY_OK);
    ck_assert_int_eq(f->decides, 1);
    ck_assert_uint_eq(f->last_decide_n, 3);
    ck_assert_uint_eq(f->decide_limits[0], 5);
    ck_assert_uint_eq(f->decide_limits[1], 4);
    ck_assert_uint_eq(f->decide_limits[2], 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(ops[i].result, STREAMY_OK);
        ck_assert_str_eq(x[i].lease_id, FAKE_LEASE_ID);
    }
    ck_assert_str_eq(x[1].device, "tv");
    ck_assert_uint_eq(x[2].decision.limit, 0);
    /* A store failure fails the whole batch, and nothing is told. */
    f->answer = STREAMY_EBUSY;
    for (int i = 0; i < 3; i++)
        poison(&x[i]);
    ck_assert_rc(streamy_apply_ex(h, ops, 3), STREAMY_EBUSY);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(ops[i].result, STREAMY_EBUSY);
        assert_blank(&x[i]);
    }
}
END_TEST

START_TEST(v2_list_gives_ids_and_devices)
{
    struct seen s = {0};

    open_sessions_fake();
    ck_assert_rc(streamy_list(h, "u", look, &s), STREAMY_OK);
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.first_id, FAKE_LEASE_ID);
    ck_assert_str_eq(s.first_device, "tv");
    ck_assert_int_eq(s.ids_blank, 1); /* the second has none: "" for NULL */
    ck_assert_int_eq(s.devices_blank, 1);
}
END_TEST

START_TEST(v1_stores_decide_is_never_read)
{
    f->base.free(&f->base);
    f = fake_store_new_sessions();
    f->base.version = 1; /* a store built for version 1 has no `decide` */
    open_fake();
    ck_assert_rc(sub_ex(NULL, NONE), STREAMY_OK);
    ck_assert_int_eq(f->acquires, 1);
    ck_assert_int_eq(f->decides, 0);
    ck_assert_rc(sub_ex("tv", NONE), STREAMY_EUNSUPPORTED);
    ck_assert_int_eq(f->decides + f->acquires, 1);
}
END_TEST

START_TEST(v2_decide_stands_for_the_version_1_methods)
{
    fake_store *g = fake_store_new_sessions();
    streamy *x = NULL;

    g->base.acquire = NULL;
    g->base.release = NULL;
    g->base.renew = NULL;
    g->base.apply = NULL;
    ck_assert_rc(streamy_open_store(&x, &g->base, &opts), STREAMY_OK);
    ck_assert_rc(streamy_subscribe(NULL, x, "u", "s"), STREAMY_OK);
    ck_assert_int_eq(g->decides, 1);
    streamy_close(x);
    g = fake_store_new_sessions();
    g->base.acquire = NULL;
    g->base.decide = NULL; /* then acquire is required again */
    ck_assert_rc(streamy_open_store(&x, &g->base, &opts), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "acquire"));
    open_fake();
}
END_TEST

void core_add_session_cases(Suite *s)
{
    TCase *tc = tcase_create("sessions-v1");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, v1_ex_calls_reach_the_version_1_methods);
    tcase_add_test(tc, v1_gets_the_callers_limit_as_req_limit);
    tcase_add_test(tc, v1_list_gives_empty_ids_and_devices);
    tcase_add_test(tc, v1_refuses_lease_ids_and_devices);
    tcase_add_test(tc, v1_batches_take_one_limit);
    tcase_add_test(tc, v1_ex_degrades_as_the_plain_calls);
    tcase_add_test(tc, v1_stores_decide_is_never_read);
    suite_add_tcase(s, tc);
    tc = tcase_create("sessions-versions");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, call_and_answer_init_check_their_version);
    tcase_add_test(tc, ex_calls_check_versions_before_the_store);
    suite_add_tcase(s, tc);
    tc = tcase_create("sessions-v2");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, v2_decides_every_call);
    tcase_add_test(tc, v2_gets_the_session_inputs);
    tcase_add_test(tc, v2_decides_a_batch_of_differing_limits_at_once);
    tcase_add_test(tc, v2_list_gives_ids_and_devices);
    tcase_add_test(tc, v2_decide_stands_for_the_version_1_methods);
    suite_add_tcase(s, tc);
}
