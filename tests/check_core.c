/* SPDX-License-Identifier: MIT */
/* check_core.c: the core apart from any real backend, over the counting fake store. */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check_core.h"
#include "fake_store.h"
#include "test_util.h"

static fake_store *f;
static streamy *h;
static test_clock clk;
static test_events events;
static streamy_options opts;
static int freed;

static void setup(void)
{
    freed = 0;
    clk.now = 1000;
    memset(&events, 0, sizeof(events));
    streamy_options_init(&opts, STREAMY_OPTIONS_VERSION);
    opts.clock = test_clock_cb;
    opts.clock_payload = &clk;
    opts.observer = test_observer_cb;
    opts.observer_payload = &events;
    f = fake_store_new(0);
    ck_assert_ptr_nonnull(f);
    f->freed = &freed;
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

/* --- opening over a caller's store -------------------------------------------- */

START_TEST(open_store_checks_the_vtable)
{
    streamy *x = (streamy *)&opts;

    f->base.version = 0;
    ck_assert_rc(streamy_open_store(&x, &f->base, &opts), STREAMY_EINVAL);
    ck_assert_ptr_null(x);
    ck_assert_int_eq(freed, 1); /* ownership passes on failure too */
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "version"));

    f = fake_store_new(0);
    f->freed = &freed;
    freed = 0;
    f->base.version = STREAMY_STORE_VERSION + 1;
    ck_assert_rc(streamy_open_store(&x, &f->base, &opts), STREAMY_EINVAL);
    ck_assert_int_eq(freed, 1);

    f = fake_store_new(0);
    f->freed = &freed;
    freed = 0;
    f->base.acquire = NULL;
    ck_assert_rc(streamy_open_store(&x, &f->base, &opts), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "acquire"));
    ck_assert_int_eq(freed, 1);

    f = fake_store_new(0);
    f->freed = &freed;
    freed = 0;
    opts.limit = STREAMY_LIMIT_MAX + 1;
    ck_assert_rc(streamy_open_store(&x, &f->base, &opts), STREAMY_EINVAL);
    ck_assert_int_eq(freed, 1);

    f = fake_store_new(0);
    f->freed = &freed;
    freed = 0;
    ck_assert_rc(streamy_open_store(NULL, &f->base, NULL), STREAMY_EINVAL);
    ck_assert_int_eq(freed, 1);
    ck_assert_rc(streamy_open_store(&x, NULL, NULL), STREAMY_EINVAL);
}
END_TEST

START_TEST(close_frees_the_store)
{
    open_fake();
    ck_assert_str_eq(streamy_store_name(h), "fake");
    streamy_close(h);
    h = NULL;
    ck_assert_int_eq(freed, 1);
    streamy_close(NULL);
}
END_TEST

START_TEST(store_init_checks_the_version)
{
    streamy_store st;

    ck_assert_rc(streamy_store_init(&st, STREAMY_STORE_VERSION), STREAMY_OK);
    ck_assert_uint_eq(st.version, STREAMY_STORE_VERSION);
    ck_assert_ptr_null(st.acquire);
    ck_assert_rc(streamy_store_init(&st, 0), STREAMY_EINVAL);
    ck_assert_rc(streamy_store_init(&st, STREAMY_STORE_VERSION + 1), STREAMY_EINVAL);
    ck_assert_rc(streamy_store_init(NULL, 1), STREAMY_EINVAL);
    f->base.free(&f->base); /* never opened: free the fixture's own */
}
END_TEST

/* --- one store call per decision ------------------------------------------------- */

START_TEST(subscribe_is_one_acquire)
{
    streamy_decision d;

    opts.limit = 5;
    opts.ttl_ms = 30000;
    opts.policy = STREAMY_POLICY_EVICT_IDLE;
    opts.shadow = 1;
    open_fake();
    ck_assert_rc(streamy_subscribe(&d, h, "6F9619FF-8B86-D011-B42D-00C04FC964FF", "s"),
                 STREAMY_OK);
    ck_assert_int_eq(f->acquires, 1);
    ck_assert_int_eq(f->counts + f->lists + f->releases + f->renews + f->applies, 0);
    ck_assert_str_eq(f->last_user, "6f9619ff-8b86-d011-b42d-00c04fc964ff");
    ck_assert_str_eq(f->last_stream, "s");
    ck_assert_int_eq(f->last.now_ms, 1000);
    ck_assert_int_eq(f->last.ttl_ms, 30000);
    ck_assert_uint_eq(f->last.limit, 5);
    ck_assert_int_eq(f->last.policy, STREAMY_POLICY_EVICT_IDLE);
    ck_assert_int_eq(f->last.shadow, 1);
    ck_assert_uint_eq(d.limit, 5);
    ck_assert_rc(streamy_unsubscribe(NULL, h, "u", "s"), STREAMY_OK);
    ck_assert_int_eq(f->releases, 1);
    ck_assert_rc(streamy_renew(&d, h, "u", "s"), STREAMY_OK);
    ck_assert_int_eq(f->renews, 1);
    ck_assert_int_eq(d.expires_ms, 31000);
    ck_assert_int_eq(f->acquires, 1);
}
END_TEST

START_TEST(invalid_input_never_reaches_the_store)
{
    streamy_decision d;
    unsigned int n;

    open_fake();
    ck_assert_rc(streamy_subscribe(&d, h, "", "s"), STREAMY_EINVAL);
    ck_assert_rc(streamy_subscribe(&d, h, "u", "a\nb"), STREAMY_EINVAL);
    ck_assert_rc(streamy_unsubscribe(&d, h, "u", NULL), STREAMY_EINVAL);
    ck_assert_rc(streamy_renew(&d, h, "\xff", "s"), STREAMY_EINVAL);
    ck_assert_rc(streamy_count(&n, h, ""), STREAMY_EINVAL);
    ck_assert_rc(streamy_set_limit(h, "u", STREAMY_LIMIT_MAX + 1), STREAMY_EINVAL);
    ck_assert_int_eq(f->acquires + f->releases + f->renews + f->counts + f->set_limits,
                     0);
    ck_assert_int_eq(events.n, 0);
}
END_TEST

START_TEST(store_errors_pass_through_with_their_message)
{
    streamy_decision d;
    streamy_counters c;

    open_fake();
    f->answer = STREAMY_ESTORE;
    f->error = "disk on fire";
    ck_assert_rc(streamy_subscribe(&d, h, "u", "s"), STREAMY_ESTORE);
    ck_assert_str_eq(streamy_errmsg(h), "fake: disk on fire");
    ck_assert_uint_eq(d.active, 0); /* nothing half-reported */
    ck_assert_int_eq(d.created, 0);
    f->answer = STREAMY_EBUSY;
    f->error = NULL;
    ck_assert_rc(streamy_unsubscribe(&d, h, "u", "s"), STREAMY_EBUSY);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "fake"));
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "busy"));
    ck_assert_rc(streamy_stats(&c, h), STREAMY_OK);
    ck_assert_uint_eq(c.allowed + c.released, 0);
    ck_assert_int_eq(events.n, 0);
    f->answer = STREAMY_OK;
    ck_assert_rc(streamy_subscribe(&d, h, "u", "s"), STREAMY_OK);
    ck_assert_str_eq(streamy_errmsg(h), "not an error");
}
END_TEST

START_TEST(optional_methods_may_be_missing)
{
    streamy_op ops[2] = {{STREAMY_OP_SUBSCRIBE, "u", "s", 0, {0}},
                         {STREAMY_OP_UNSUBSCRIBE, "u", "s", 0, {0}}};
    unsigned int n = 0, limit = 0;
    int over = -1;
    uint64_t removed;

    f->base.free(&f->base);
    f = fake_store_new(1);
    open_fake();
    ck_assert_rc(streamy_count(&n, h, "u"), STREAMY_OK);
    ck_assert_uint_eq(n, 2); /* counted through list */
    ck_assert_rc(streamy_set_limit(h, "u", 1), STREAMY_EUNSUPPORTED);
    ck_assert_rc(streamy_clear_limit(h, "u"), STREAMY_EUNSUPPORTED);
    ck_assert_rc(streamy_get_limit(&limit, &over, h, "u"), STREAMY_OK);
    ck_assert_uint_eq(limit, 3);
    ck_assert_int_eq(over, 0);
    ck_assert_rc(streamy_purge(&removed, h), STREAMY_EUNSUPPORTED);
    ck_assert_rc(streamy_health(h), STREAMY_OK);
    ck_assert_rc(streamy_apply(h, ops, 1), STREAMY_OK);
    ck_assert_int_eq(f->acquires, 1);
    ck_assert_int_eq(ops[0].result, STREAMY_OK);
    ck_assert_rc(streamy_apply(h, ops, 2), STREAMY_EUNSUPPORTED);
    ck_assert_int_eq(ops[0].result, STREAMY_EUNSUPPORTED);
    ck_assert_int_eq(ops[1].result, STREAMY_EUNSUPPORTED);
    ck_assert_int_eq(f->acquires, 1);
}
END_TEST

START_TEST(optional_methods_are_used_when_present)
{
    unsigned int n = 0, limit = 0;
    int over = 0;
    uint64_t removed = 0;

    open_fake();
    ck_assert_rc(streamy_count(&n, h, "u"), STREAMY_OK);
    ck_assert_uint_eq(n, 7);
    ck_assert_rc(streamy_get_limit(&limit, &over, h, "u"), STREAMY_OK);
    ck_assert_uint_eq(limit, 9);
    ck_assert_int_eq(over, 1);
    ck_assert_rc(streamy_set_limit(h, "u", 2), STREAMY_OK);
    ck_assert_rc(streamy_clear_limit(h, "u"), STREAMY_OK);
    ck_assert_rc(streamy_purge(&removed, h), STREAMY_OK);
    ck_assert_uint_eq(removed, 4);
    ck_assert_rc(streamy_health(h), STREAMY_OK);
    ck_assert_int_eq(f->counts + f->get_limits + f->set_limits + f->clear_limits, 4);
    ck_assert_int_eq(f->purges + f->healths, 2);
    f->answer = STREAMY_ESTORE;
    ck_assert_rc(streamy_health(h), STREAMY_ESTORE);
    ck_assert_rc(streamy_purge(&removed, h), STREAMY_ESTORE);
}
END_TEST

/* --- batches ------------------------------------------------------------------------ */

START_TEST(apply_sends_valid_operations_once)
{
    streamy_op ops[3] = {{STREAMY_OP_SUBSCRIBE, "u", "s", 0, {0}},
                         {STREAMY_OP_SUBSCRIBE, "", "s", 0, {0}},
                         {STREAMY_OP_RENEW, "u", "s", 0, {0}}};

    open_fake();
    ck_assert_rc(streamy_apply(h, ops, 3), STREAMY_OK);
    ck_assert_int_eq(f->applies, 1);
    ck_assert_uint_eq(f->last_apply_n, 2);
    ck_assert_int_eq(f->acquires + f->renews, 0);
    ck_assert_int_eq(ops[0].result, STREAMY_OK);
    ck_assert_uint_eq(ops[0].decision.active, 1);
    ck_assert_int_eq(ops[1].result, STREAMY_EINVAL);
    ck_assert_int_eq(ops[2].result, STREAMY_OK);
    ck_assert_uint_eq(ops[2].decision.active, 2);
}
END_TEST

START_TEST(apply_failure_acknowledges_nothing)
{
    streamy_op ops[3] = {{STREAMY_OP_SUBSCRIBE, "u", "s", 0, {0}},
                         {STREAMY_OP_SUBSCRIBE, "", "s", 0, {0}},
                         {STREAMY_OP_UNSUBSCRIBE, "u", "s", 0, {0}}};
    streamy_counters c;

    open_fake();
    f->answer = STREAMY_EBUSY;
    f->error = "locked";
    ck_assert_rc(streamy_apply(h, ops, 3), STREAMY_EBUSY);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(ops[i].result, STREAMY_EBUSY);
        ck_assert_uint_eq(ops[i].decision.active, 0);
    }
    ck_assert_str_eq(streamy_errmsg(h), "fake: locked");
    ck_assert_rc(streamy_stats(&c, h), STREAMY_OK);
    ck_assert_uint_eq(c.allowed + c.released, 0);
    ck_assert_int_eq(events.n, 0);
}
END_TEST

/* --- the list callback, threads and messages -----------------------------------------
 */

static int reenter(const streamy_lease *lease, void *payload)
{
    unsigned int n = 0;
    (void)lease;
    /* Leases are read before the callback runs, so calling back in is safe. */
    ck_assert_rc(streamy_count(&n, (streamy *)payload, "u"), STREAMY_OK);
    return 0;
}

START_TEST(list_callback_may_call_the_library)
{
    ck_assert_rc(streamy_open(&h, "memory:", NULL), STREAMY_OK);
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "s1"), STREAMY_OK);
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "s2"), STREAMY_OK);
    ck_assert_rc(streamy_list(h, "u", reenter, h), STREAMY_OK);
    f->base.free(&f->base);
}
END_TEST

static void *fail_in_thread(void *arg)
{
    streamy_subscribe(NULL, arg, "", "s");
    return strdup(streamy_errmsg(arg));
}

START_TEST(error_messages_are_per_thread)
{
    pthread_t t;
    void *msg;
    streamy *other = NULL;

    open_fake();
    ck_assert_rc(streamy_open(&other, "memory:", NULL), STREAMY_OK);
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "s"), STREAMY_OK);
    pthread_create(&t, NULL, fail_in_thread, h);
    pthread_join(t, &msg);
    ck_assert_ptr_nonnull(strstr(msg, "user id is empty"));
    free(msg);
    /* This thread's last call succeeded: the other thread's error is not ours. */
    ck_assert_str_eq(streamy_errmsg(h), "not an error");
    ck_assert_rc(streamy_subscribe(NULL, h, "u", ""), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "stream id is empty"));
    ck_assert_str_eq(streamy_errmsg(other), "not an error"); /* another handle's */
    streamy_close(other);
}
END_TEST

START_TEST(strerror_names_every_code)
{
#define CHECK_CODE(name, value, text)                                                    \
    ck_assert_str_eq(streamy_strerror(STREAMY_##name), text);
    STREAMY_RESULT_MAP(CHECK_CODE)
#undef CHECK_CODE
    ck_assert_int_eq(STREAMY_OK, 0);
    ck_assert_int_gt(STREAMY_LIMIT_REACHED, 0);
    ck_assert_int_gt(STREAMY_NOT_FOUND, 0);
    ck_assert_int_lt(STREAMY_EINVAL, 0);
    ck_assert_int_lt(STREAMY_EBUSY, 0);
    ck_assert_int_lt(STREAMY_ESTORE, 0);
    ck_assert_int_lt(STREAMY_ENOMEM, 0);
    ck_assert_int_lt(STREAMY_EUNSUPPORTED, 0);
    ck_assert_str_eq(streamy_strerror(12345), "unknown result code");
    f->base.free(&f->base);
}
END_TEST

START_TEST(version_and_options_defaults)
{
    streamy_options o;
    char buf[32];

    snprintf(buf, sizeof(buf), "%d.%d.%d", STREAMY_VERSION_MAJOR, STREAMY_VERSION_MINOR,
             STREAMY_VERSION_PATCH);
    ck_assert_str_eq(streamy_version(), STREAMY_VERSION);
    ck_assert_str_eq(buf, STREAMY_VERSION);
    ck_assert_int_eq(STREAMY_VERSION_NUMBER, (STREAMY_VERSION_MAJOR << 16) |
                                                 (STREAMY_VERSION_MINOR << 8) |
                                                 STREAMY_VERSION_PATCH);
    memset(&o, 0xff, sizeof(o));
    ck_assert_rc(streamy_options_init(&o, STREAMY_OPTIONS_VERSION), STREAMY_OK);
    ck_assert_uint_eq(o.version, STREAMY_OPTIONS_VERSION);
    ck_assert_uint_eq(o.limit, 3);
    ck_assert_int_eq(o.ttl_ms, 0);
    ck_assert_int_eq(o.policy, STREAMY_POLICY_REJECT);
    ck_assert_int_eq(o.shadow, 0);
    ck_assert_int_eq(o.require_uuid, 0);
    ck_assert_int_eq(o.busy_timeout_ms, 5000);
    ck_assert_ptr_null(o.clock);
    ck_assert_ptr_null(o.observer);
    ck_assert_int_eq(o.on_store_error, STREAMY_ON_STORE_ERROR_DENY);
    ck_assert_rc(streamy_options_init(&o, 0), STREAMY_EINVAL);
    ck_assert_rc(streamy_options_init(&o, STREAMY_OPTIONS_VERSION + 1), STREAMY_EINVAL);
    ck_assert_rc(streamy_options_init(NULL, 1), STREAMY_EINVAL);
    f->base.free(&f->base);
}
END_TEST

START_TEST(real_clock_is_used_by_default)
{
    streamy_decision d;
    int64_t before = (int64_t)time(NULL) * 1000;

    opts.clock = NULL;
    open_fake();
    ck_assert_rc(streamy_subscribe(&d, h, "u", "s"), STREAMY_OK);
    ck_assert_int_ge(f->last.now_ms, before);
    ck_assert_int_le(f->last.now_ms, before + 60000);
}
END_TEST

/* --- on_store_error: fail open or closed ---------------------------------------------
 */

/* The fake failing as a store does when it cannot decide, for every method. */
static void store_fails(int rc)
{
    f->answer = rc;
    f->error = "disk on fire";
}

START_TEST(deny_returns_the_store_error)
{
    streamy_statistics st = STREAMY_STATISTICS_INIT;
    streamy_decision d;

    open_fake(); /* the default is deny */
    store_fails(STREAMY_ESTORE);
    ck_assert_rc(streamy_subscribe(&d, h, "u", "s"), STREAMY_ESTORE);
    ck_assert_int_eq(d.degraded, 0);
    ck_assert_rc(streamy_renew(&d, h, "u", "s"), STREAMY_ESTORE);
    f->answer = STREAMY_EBUSY;
    ck_assert_rc(streamy_subscribe(&d, h, "u", "s"), STREAMY_EBUSY);
    ck_assert_int_eq(d.degraded, 0);
    ck_assert_rc(streamy_statistics_get(&st, h), STREAMY_OK);
    ck_assert_uint_eq(st.degraded, 0);
    ck_assert_int_eq(events.n, 0);
}
END_TEST

START_TEST(allow_answers_ok_degraded)
{
    streamy_statistics st = STREAMY_STATISTICS_INIT;
    streamy_decision d;

    opts.on_store_error = STREAMY_ON_STORE_ERROR_ALLOW;
    opts.limit = 4;
    opts.ttl_ms = 60000;
    open_fake();
    store_fails(STREAMY_ESTORE);
    memset(&d, 0xff, sizeof(d));
    ck_assert_rc(streamy_subscribe(&d, h, "6F9619FF-8B86-D011-B42D-00C04FC964FF", "s"),
                 STREAMY_OK);
    ck_assert_int_eq(f->acquires, 1);
    ck_assert_int_eq(d.degraded, 1);
    ck_assert_uint_eq(d.limit, 4);  /* the handle's default */
    ck_assert_uint_eq(d.active, 0); /* not the fake's 1: nothing is known */
    ck_assert_int_eq(d.created, 0);
    ck_assert_int_eq(d.since_ms, 0);
    ck_assert_int_eq(d.expires_ms, 0);
    ck_assert_str_eq(d.evicted, "");
    /* The answer is OK, yet the message says why it is degraded. */
    ck_assert_str_eq(streamy_errmsg(h), "fake: disk on fire");

    f->answer = STREAMY_EBUSY;
    ck_assert_rc(streamy_renew(&d, h, "u", "s"), STREAMY_OK);
    ck_assert_int_eq(d.degraded, 1);
    ck_assert_uint_eq(d.limit, 4);

    ck_assert_rc(streamy_statistics_get(&st, h), STREAMY_OK);
    ck_assert_uint_eq(st.degraded, 2);
    ck_assert_uint_eq(st.counters.allowed + st.counters.renewed, 0);
    ck_assert_int_eq(events.n, 2);
    ck_assert_int_eq(events.ev[0].kind, STREAMY_EVENT_DEGRADED);
    ck_assert_str_eq(events.ev[0].user, "6f9619ff-8b86-d011-b42d-00c04fc964ff");
    ck_assert_str_eq(events.ev[0].stream, "s");
    ck_assert_uint_eq(events.ev[0].count, 1);
    ck_assert_uint_eq(events.ev[0].active, 0);
    ck_assert_uint_eq(events.ev[0].limit, 4);
    ck_assert_int_eq(events.ev[0].at_ms, 1000);
    ck_assert_int_eq(events.ev[1].kind, STREAMY_EVENT_DEGRADED);
    ck_assert_str_eq(events.ev[1].user, "u");

    /* The store is back: normal answers, without reopening. */
    f->answer = STREAMY_OK;
    f->error = NULL;
    ck_assert_rc(streamy_subscribe(&d, h, "u", "s"), STREAMY_OK);
    ck_assert_int_eq(d.degraded, 0);
    ck_assert_uint_eq(d.active, 1);
    ck_assert_int_eq(d.created, 1);
    ck_assert_str_eq(streamy_errmsg(h), "not an error");
    ck_assert_rc(streamy_statistics_get(&st, h), STREAMY_OK);
    ck_assert_uint_eq(st.degraded, 2);
    ck_assert_uint_eq(st.counters.allowed, 1);
    ck_assert_int_eq(events.ev[events.n - 1].kind, STREAMY_EVENT_ALLOWED);
}
END_TEST

START_TEST(allow_never_degrades_the_rest)
{
    static const int never[] = {STREAMY_ENOMEM, STREAMY_EUNSUPPORTED, STREAMY_EINVAL};
    streamy_statistics st = STREAMY_STATISTICS_INIT;
    streamy_decision d;

    opts.on_store_error = STREAMY_ON_STORE_ERROR_ALLOW;
    open_fake();
    store_fails(STREAMY_ESTORE);
    /* Invalid input is refused before the store, whatever it would have said. */
    ck_assert_rc(streamy_subscribe(&d, h, "", "s"), STREAMY_EINVAL);
    ck_assert_rc(streamy_renew(&d, h, "u", "a\nb"), STREAMY_EINVAL);
    ck_assert_int_eq(d.degraded, 0);
    ck_assert_int_eq(f->acquires + f->renews, 0);
    /* Unsubscribe has nothing to allow: the error stays. */
    ck_assert_rc(streamy_unsubscribe(&d, h, "u", "s"), STREAMY_ESTORE);
    ck_assert_int_eq(d.degraded, 0);
    ck_assert_int_eq(d.removed, 0);
    f->answer = STREAMY_EBUSY;
    ck_assert_rc(streamy_unsubscribe(&d, h, "u", "s"), STREAMY_EBUSY);
    /* Only a store that cannot decide is a reason to allow. */
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        f->answer = never[i];
        ck_assert_rc(streamy_subscribe(&d, h, "u", "s"), never[i]);
        ck_assert_int_eq(d.degraded, 0);
        ck_assert_rc(streamy_renew(&d, h, "u", "s"), never[i]);
    }
    ck_assert_rc(streamy_statistics_get(&st, h), STREAMY_OK);
    ck_assert_uint_eq(st.degraded, 0);
    ck_assert_int_eq(events.n, 0);
}
END_TEST

START_TEST(apply_degrades_subscribe_and_renew_only)
{
    streamy_op ops[4] = {{STREAMY_OP_SUBSCRIBE, "u", "s", 0, {0}},
                         {STREAMY_OP_SUBSCRIBE, "", "s", 0, {0}},
                         {STREAMY_OP_UNSUBSCRIBE, "u", "t", 0, {0}},
                         {STREAMY_OP_RENEW, "v", "s", 0, {0}}};
    streamy_statistics st = STREAMY_STATISTICS_INIT;

    opts.on_store_error = STREAMY_ON_STORE_ERROR_ALLOW;
    opts.limit = 2;
    open_fake();
    store_fails(STREAMY_EBUSY);
    /* The batch still failed, and says so; each operation has its own answer. */
    ck_assert_rc(streamy_apply(h, ops, 4), STREAMY_EBUSY);
    ck_assert_int_eq(ops[0].result, STREAMY_OK);
    ck_assert_int_eq(ops[0].decision.degraded, 1);
    ck_assert_uint_eq(ops[0].decision.limit, 2);
    ck_assert_int_eq(ops[1].result, STREAMY_EINVAL);
    ck_assert_int_eq(ops[1].decision.degraded, 0);
    ck_assert_int_eq(ops[2].result, STREAMY_EBUSY);
    ck_assert_int_eq(ops[2].decision.degraded, 0);
    ck_assert_int_eq(ops[3].result, STREAMY_OK);
    ck_assert_int_eq(ops[3].decision.degraded, 1);
    ck_assert_str_eq(streamy_errmsg(h), "fake: disk on fire");
    ck_assert_rc(streamy_statistics_get(&st, h), STREAMY_OK);
    ck_assert_uint_eq(st.degraded, 2);
    ck_assert_int_eq(events.n, 2);
    ck_assert_str_eq(events.ev[0].user, "u");
    ck_assert_str_eq(events.ev[1].user, "v");

    /* Out of memory is no reason to allow: every operation gets it, as with deny. */
    f->answer = STREAMY_ENOMEM;
    ck_assert_rc(streamy_apply(h, ops, 4), STREAMY_ENOMEM);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(ops[i].result, STREAMY_ENOMEM);
        ck_assert_int_eq(ops[i].decision.degraded, 0);
    }

    /* Back: the same batch is decided by the store. */
    f->answer = STREAMY_OK;
    ck_assert_rc(streamy_apply(h, ops, 4), STREAMY_OK);
    ck_assert_int_eq(ops[0].result, STREAMY_OK);
    ck_assert_int_eq(ops[0].decision.degraded, 0);
    ck_assert_uint_eq(ops[0].decision.active, 1);
}
END_TEST

START_TEST(apply_without_batches_degrades_one_operation)
{
    streamy_op ops[2] = {{STREAMY_OP_RENEW, "u", "s", 0, {0}},
                         {STREAMY_OP_SUBSCRIBE, "u", "t", 0, {0}}};

    f->base.free(&f->base);
    f = fake_store_new(1); /* no apply: one operation goes to the single method */
    opts.on_store_error = STREAMY_ON_STORE_ERROR_ALLOW;
    open_fake();
    store_fails(STREAMY_ESTORE);
    ck_assert_rc(streamy_apply(h, ops, 1), STREAMY_ESTORE);
    ck_assert_int_eq(f->renews, 1);
    ck_assert_int_eq(ops[0].result, STREAMY_OK);
    ck_assert_int_eq(ops[0].decision.degraded, 1);
    /* Two cannot be decided at all: unsupported is not a store failure. */
    ck_assert_rc(streamy_apply(h, ops, 2), STREAMY_EUNSUPPORTED);
    ck_assert_int_eq(ops[0].result, STREAMY_EUNSUPPORTED);
    ck_assert_int_eq(ops[1].result, STREAMY_EUNSUPPORTED);
    ck_assert_int_eq(ops[1].decision.degraded, 0);
}
END_TEST

/* streamy_options as version 1 of streamy.h laid it out. */
struct options_v1 {
    unsigned int version, limit;
    int64_t ttl_ms;
    streamy_policy policy;
    int shadow, require_uuid, busy_timeout_ms, synchronous_full;
    streamy_clock_cb clock;
    void *clock_payload;
    streamy_observer_cb observer;
    void *observer_payload;
};

START_TEST(version_1_options_still_work)
{
    /* What follows a caller's version-1 struct is not the library's to read or write:
     * bytes that would be an invalid on_store_error if read. */
    struct v1_then_more {
        struct options_v1 o;
        unsigned char after[16];
    } v1;
    streamy_decision d;

    ck_assert_uint_eq(sizeof(struct options_v1),
                      offsetof(streamy_options, on_store_error));
    ck_assert_uint_eq(offsetof(struct v1_then_more, after), sizeof(struct options_v1));
    memset(&v1, 0x55, sizeof(v1));
    ck_assert_rc(streamy_options_init((streamy_options *)&v1.o, 1), STREAMY_OK);
    ck_assert_uint_eq(v1.o.version, 1);
    ck_assert_uint_eq(v1.o.limit, 3);
    ck_assert_int_eq(v1.o.busy_timeout_ms, 5000);
    ck_assert_ptr_null(v1.o.observer);
    for (size_t i = 0; i < sizeof(v1.after); i++)
        ck_assert_uint_eq(v1.after[i], 0x55);

    v1.o.limit = 2;
    v1.o.clock = test_clock_cb;
    v1.o.clock_payload = &clk;
    ck_assert_rc(streamy_open_store(&h, &f->base, (const streamy_options *)&v1.o),
                 STREAMY_OK);
    ck_assert_rc(streamy_subscribe(&d, h, "u", "s"), STREAMY_OK);
    ck_assert_uint_eq(d.limit, 2);
    store_fails(STREAMY_ESTORE);
    ck_assert_rc(streamy_subscribe(&d, h, "u", "s"), STREAMY_ESTORE); /* deny */
    ck_assert_int_eq(d.degraded, 0);
}
END_TEST

START_TEST(unknown_on_store_error_is_refused)
{
    streamy *x = NULL;

    opts.on_store_error = (streamy_on_store_error)7;
    ck_assert_rc(streamy_open_store(&x, &f->base, &opts), STREAMY_EINVAL);
    ck_assert_ptr_null(x);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "on_store_error 7 is unknown"));
    ck_assert_rc(streamy_open(&x, "memory:", &opts), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "on_store_error"));
}
END_TEST

/* streamy_decision as version 1 of streamy.h laid it out. */
struct decision_v1 {
    int created, removed, shadow_refused;
    unsigned int active, limit, expired;
    int64_t since_ms, expires_ms, retry_ms;
    char evicted[STREAMY_ID_MAX + 1];
};

START_TEST(decision_keeps_its_size)
{
    ck_assert_uint_eq(sizeof(streamy_decision), sizeof(struct decision_v1));
    ck_assert_uint_ge(offsetof(streamy_decision, degraded),
                      offsetof(struct decision_v1, evicted) + STREAMY_ID_MAX + 1);
#if UINTPTR_MAX == UINT64_MAX
    ck_assert_uint_eq(sizeof(streamy_decision), 184);
#endif
    f->base.free(&f->base);
}
END_TEST

START_TEST(statistics_check_their_version)
{
    streamy_statistics st;
    streamy_counters c;

    open_fake();
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "s"), STREAMY_OK);
    memset(&st, 0x55, sizeof(st));
    st.version = 0;
    ck_assert_rc(streamy_statistics_get(&st, h), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "statistics version 0"));
    ck_assert_uint_eq(st.degraded, 0x5555555555555555ULL); /* untouched */
    st.version = STREAMY_STATISTICS_VERSION + 1;
    ck_assert_rc(streamy_statistics_get(&st, h), STREAMY_EINVAL);
    ck_assert_rc(streamy_statistics_get(NULL, h), STREAMY_EINVAL);
    st.version = STREAMY_STATISTICS_VERSION;
    ck_assert_rc(streamy_statistics_get(&st, NULL), STREAMY_EINVAL);
    ck_assert_rc(streamy_statistics_get(&st, h), STREAMY_OK);
    ck_assert_rc(streamy_stats(&c, h), STREAMY_OK);
    ck_assert_uint_eq(st.counters.allowed, 1);
    ck_assert(memcmp(&st.counters, &c, sizeof(c)) == 0);
    ck_assert_uint_eq(st.degraded, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("open");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, open_store_checks_the_vtable);
    tcase_add_test(tc, close_frees_the_store);
    tcase_add_test(tc, store_init_checks_the_version);
    suite_add_tcase(s, tc);
    tc = tcase_create("decide");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, subscribe_is_one_acquire);
    tcase_add_test(tc, invalid_input_never_reaches_the_store);
    tcase_add_test(tc, store_errors_pass_through_with_their_message);
    tcase_add_test(tc, optional_methods_may_be_missing);
    tcase_add_test(tc, optional_methods_are_used_when_present);
    tcase_add_test(tc, real_clock_is_used_by_default);
    suite_add_tcase(s, tc);
    tc = tcase_create("batch");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, apply_sends_valid_operations_once);
    tcase_add_test(tc, apply_failure_acknowledges_nothing);
    suite_add_tcase(s, tc);
    tc = tcase_create("on_store_error");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, deny_returns_the_store_error);
    tcase_add_test(tc, allow_answers_ok_degraded);
    tcase_add_test(tc, allow_never_degrades_the_rest);
    tcase_add_test(tc, apply_degrades_subscribe_and_renew_only);
    tcase_add_test(tc, apply_without_batches_degrades_one_operation);
    tcase_add_test(tc, version_1_options_still_work);
    tcase_add_test(tc, unknown_on_store_error_is_refused);
    tcase_add_test(tc, decision_keeps_its_size);
    tcase_add_test(tc, statistics_check_their_version);
    suite_add_tcase(s, tc);
    tc = tcase_create("misc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, list_callback_may_call_the_library);
    tcase_add_test(tc, error_messages_are_per_thread);
    tcase_add_test(tc, strerror_names_every_code);
    tcase_add_test(tc, version_and_options_defaults);
    suite_add_tcase(s, tc);
    core_add_session_cases(s);
    return test_run_suite(s);
}
