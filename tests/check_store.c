/* SPDX-License-Identifier: MIT */
/* check_store.c: the conformance suite, written once and run against every backend URI.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check_store.h"

/* The URI under test; "@TMP@" becomes a fresh directory for each test, "@PID@"
 * the test's process id (for a key space of its own in a shared store). */
const char *g_uri;

static char *tmpdir;
streamy *h;
test_clock clk;
test_events events;
streamy_options opts;
streamy_decision d;

/* Users are unique to each test (Check runs each in its own process), so shared
 * stores that outlive a test never mix two tests' leases. */
const char *uid(const char *name)
{
    static char ring[16][STREAMY_ID_MAX + 1];
    static int next;
    char *buf = ring[next++ % 16];

    snprintf(buf, sizeof(ring[0]), "%s@%ld.%d", name, (long)getpid(), test_generation);
    return buf;
}

void setup(void)
{
    test_generation++;
    tmpdir = test_tmpdir();
    clk.now = T0;
    memset(&events, 0, sizeof(events));
    memset(&d, 0, sizeof(d));
    ck_assert_rc(streamy_options_init(&opts, STREAMY_OPTIONS_VERSION), STREAMY_OK);
    opts.clock = test_clock_cb;
    opts.clock_payload = &clk;
    opts.observer = test_observer_cb;
    opts.observer_payload = &events;
    h = NULL;
}

void teardown(void)
{
    streamy_close(h);
    h = NULL;
    test_tmpdir_free(tmpdir);
}

void reopen(void)
{
    char *uri = test_expand(g_uri, tmpdir);

    streamy_close(h);
    h = NULL;
    ck_assert_rc(streamy_open(&h, uri, &opts), STREAMY_OK);
    free(uri);
}

int sub(const char *user, const char *stream)
{
    return streamy_subscribe(&d, h, user, stream);
}

int unsub(const char *user, const char *stream)
{
    return streamy_unsubscribe(&d, h, user, stream);
}

unsigned int count(const char *user)
{
    unsigned int n = 12345;
    ck_assert_rc(streamy_count(&n, h, user), STREAMY_OK);
    return n;
}

/* The leases of a user as "a,b,c" in list order. */
struct names {
    char text[1024];
    int n;
};

static int add_name(const streamy_lease *lease, void *payload)
{
    struct names *nm = payload;
    size_t len = strlen(nm->text);

    snprintf(nm->text + len, sizeof(nm->text) - len, "%s%s", nm->n++ ? "," : "",
             lease->stream);
    return 0;
}

const char *names(const char *user)
{
    static struct names nm;

    memset(&nm, 0, sizeof(nm));
    ck_assert_rc(streamy_list(h, user, add_name, &nm), STREAMY_OK);
    return nm.text;
}

/* --- subscribe, the limit and idempotence -------------------------------- */

START_TEST(subscribe_up_to_the_limit)
{
    const char *u = uid("alice");

    reopen();
    ck_assert_str_eq(names(u), "");
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    ck_assert_int_eq(d.created, 1);
    ck_assert_uint_eq(d.active, 1);
    ck_assert_uint_eq(d.limit, 3);
    ck_assert_int_eq(d.since_ms, T0);
    ck_assert_int_eq(d.expires_ms, 0);
    ck_assert_str_eq(d.evicted, "");
    clk.now++;
    ck_assert_rc(sub(u, "s2"), STREAMY_OK);
    ck_assert_uint_eq(d.active, 2);
    clk.now++;
    ck_assert_rc(sub(u, "s3"), STREAMY_OK);
    ck_assert_uint_eq(d.active, 3);
    ck_assert_rc(sub(u, "s4"), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(d.active, 3);
    ck_assert_uint_eq(d.limit, 3);
    ck_assert_int_eq(d.created, 0);
    ck_assert_int_eq(d.retry_ms, 0); /* no TTL: no slot frees by itself */
    ck_assert_uint_eq(count(u), 3);
    ck_assert_str_eq(names(u), "s1,s2,s3");
}
END_TEST

START_TEST(subscribe_is_idempotent)
{
    const char *u = uid("bob");

    reopen();
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    clk.now += 10;
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    ck_assert_int_eq(d.created, 0);
    ck_assert_uint_eq(d.active, 1);
    ck_assert_int_eq(d.since_ms, T0); /* a refresh keeps the start */
    ck_assert_uint_eq(count(u), 1);
    ck_assert_rc(sub(u, "s2"), STREAMY_OK);
    ck_assert_rc(sub(u, "s3"), STREAMY_OK);
    /* At the limit, a stream the user already holds is still allowed. */
    ck_assert_rc(sub(u, "s2"), STREAMY_OK);
    ck_assert_int_eq(d.created, 0);
    ck_assert_uint_eq(d.active, 3);
    ck_assert_uint_eq(count(u), 3);
}
END_TEST

START_TEST(users_are_independent)
{
    const char *a = uid("a"), *b = uid("b");

    opts.limit = 1;
    reopen();
    ck_assert_rc(sub(a, "s"), STREAMY_OK);
    ck_assert_rc(sub(b, "s"), STREAMY_OK);
    ck_assert_rc(sub(a, "t"), STREAMY_LIMIT_REACHED);
    ck_assert_rc(sub(b, "t"), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(count(a), 1);
    ck_assert_uint_eq(count(b), 1);
    ck_assert_uint_eq(count(uid("nobody")), 0);
}
END_TEST

START_TEST(default_limit_zero_blocks_everyone)
{
    opts.limit = 0;
    reopen();
    ck_assert_rc(sub(uid("u"), "s"), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(d.limit, 0);
    ck_assert_uint_eq(count(uid("u")), 0);
}
END_TEST

/* --- unsubscribe ----------------------------------------------------------- */

START_TEST(unsubscribe_frees_a_slot)
{
    const char *u = uid("u");

    reopen();
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    ck_assert_rc(sub(u, "s2"), STREAMY_OK);
    ck_assert_rc(sub(u, "s3"), STREAMY_OK);
    ck_assert_rc(sub(u, "s4"), STREAMY_LIMIT_REACHED);
    ck_assert_rc(unsub(u, "s2"), STREAMY_OK);
    ck_assert_int_eq(d.removed, 1);
    ck_assert_str_eq(names(u), "s1,s3");
    ck_assert_rc(sub(u, "s4"), STREAMY_OK);
    ck_assert_str_eq(names(u), "s1,s3,s4");
}
END_TEST

START_TEST(unsubscribe_is_idempotent)
{
    const char *u = uid("u");

    reopen();
    ck_assert_rc(unsub(u, "never"), STREAMY_OK);
    ck_assert_int_eq(d.removed, 0);
    ck_assert_rc(sub(u, "s"), STREAMY_OK);
    ck_assert_rc(unsub(u, "s"), STREAMY_OK);
    ck_assert_int_eq(d.removed, 1);
    ck_assert_rc(unsub(u, "s"), STREAMY_OK);
    ck_assert_int_eq(d.removed, 0);
    ck_assert_rc(unsub(u, "other"), STREAMY_OK);
    ck_assert_int_eq(d.removed, 0);
    ck_assert_uint_eq(count(u), 0);
    ck_assert_rc(streamy_unsubscribe(NULL, h, u, "s"), STREAMY_OK); /* out may be NULL */
}
END_TEST

/* --- TTL, renew and purge ---------------------------------------------------- */

START_TEST(leases_expire_after_the_ttl)
{
    const char *u = uid("u");

    opts.ttl_ms = 1000;
    reopen();
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    ck_assert_int_eq(d.expires_ms, T0 + 1000);
    clk.now = T0 + 100;
    ck_assert_rc(sub(u, "s2"), STREAMY_OK);
    ck_assert_rc(sub(u, "s3"), STREAMY_OK);
    clk.now = T0 + 999;
    ck_assert_rc(sub(u, "s4"), STREAMY_LIMIT_REACHED);
    ck_assert_int_eq(d.retry_ms, T0 + 1000); /* when the first slot frees */
    ck_assert_uint_eq(count(u), 3);
    clk.now = T0 + 1000; /* s1 is expired at exactly its expiry */
    ck_assert_uint_eq(count(u), 2);
    ck_assert_str_eq(names(u), "s2,s3");
    ck_assert_rc(sub(u, "s4"), STREAMY_OK);
    ck_assert_uint_eq(d.expired, 1);
    ck_assert_uint_eq(d.active, 3);
    ck_assert_int_eq(d.created, 1);
    clk.now = T0 + 5000;
    ck_assert_uint_eq(count(u), 0);
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    ck_assert_uint_eq(d.expired, 3);
    ck_assert_uint_eq(d.active, 1);
}
END_TEST

/* A refusal at a default limit of 0 for a user whose leases had all expired: the
 * memory store freed the user, then read it to tell when a slot frees (found by
 * tests/fuzz/fuzz_sequence under AddressSanitizer). */
START_TEST(refusal_of_a_user_left_with_nothing)
{
    const char *u = uid("u");

    opts.ttl_ms = 1000;
    opts.limit = 0;
    reopen();
    ck_assert_rc(streamy_set_limit(h, u, 1), STREAMY_OK);
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    ck_assert_rc(streamy_clear_limit(h, u), STREAMY_OK);
    clk.now = T0 + 1000;
    ck_assert_rc(sub(u, "s2"), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(d.active, 0);
    ck_assert_uint_eq(d.limit, 0);
    ck_assert_uint_eq(d.expired, 1);
    ck_assert_int_eq(d.retry_ms, 0);
    ck_assert_rc(sub(u, "s2"), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(d.expired, 0);
    ck_assert_uint_eq(count(u), 0);
    ck_assert_rc(streamy_set_limit(h, u, 1), STREAMY_OK);
    ck_assert_rc(sub(u, "s2"), STREAMY_OK);
    ck_assert_str_eq(names(u), "s2");
}
END_TEST

START_TEST(retry_is_when_a_slot_really_frees)
{
    const char *u = uid("u");

    opts.ttl_ms = 1000;
    reopen();
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    clk.now = T0 + 100;
    ck_assert_rc(sub(u, "s2"), STREAMY_OK);
    clk.now = T0 + 200;
    ck_assert_rc(sub(u, "s3"), STREAMY_OK);
    /* Over a lowered limit, two leases must expire before one more fits. */
    ck_assert_rc(streamy_set_limit(h, u, 2), STREAMY_OK);
    ck_assert_rc(sub(u, "s4"), STREAMY_LIMIT_REACHED);
    ck_assert_int_eq(d.retry_ms, T0 + 1100);
    clk.now = T0 + 1099;
    ck_assert_rc(sub(u, "s4"), STREAMY_LIMIT_REACHED);
    clk.now = T0 + 1100;
    ck_assert_rc(sub(u, "s4"), STREAMY_OK);
    /* A user whose limit is 0 never gets a slot by waiting. */
    ck_assert_rc(streamy_set_limit(h, u, 0), STREAMY_OK);
    ck_assert_rc(sub(u, "s5"), STREAMY_LIMIT_REACHED);
    ck_assert_int_eq(d.retry_ms, 0);
}
END_TEST

START_TEST(renew_extends_a_lease)
{
    const char *u = uid("u");

    opts.ttl_ms = 1000;
    reopen();
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    clk.now = T0 + 600;
    ck_assert_rc(streamy_renew(&d, h, u, "s1"), STREAMY_OK);
    ck_assert_int_eq(d.expires_ms, T0 + 1600);
    ck_assert_int_eq(d.since_ms, T0);
    ck_assert_uint_eq(d.active, 1);
    ck_assert_uint_eq(d.limit, 3);
    clk.now = T0 + 1500;
    ck_assert_uint_eq(count(u), 1);
    clk.now = T0 + 1600;
    ck_assert_uint_eq(count(u), 0);
    ck_assert_rc(streamy_renew(&d, h, u, "s1"), STREAMY_NOT_FOUND);
    ck_assert_uint_eq(d.expired, 1);
    ck_assert_rc(streamy_renew(&d, h, u, "never"), STREAMY_NOT_FOUND);
    /* The player subscribes again, which checks the limit again. */
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    ck_assert_int_eq(d.created, 1);
}
END_TEST

START_TEST(renew_without_ttl)
{
    const char *u = uid("u");

    reopen();
    ck_assert_rc(streamy_renew(&d, h, u, "s1"), STREAMY_NOT_FOUND);
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    clk.now += 50;
    ck_assert_rc(streamy_renew(&d, h, u, "s1"), STREAMY_OK);
    ck_assert_int_eq(d.expires_ms, 0);
}
END_TEST

START_TEST(subscribe_refreshes_the_expiry)
{
    const char *u = uid("u");

    opts.ttl_ms = 1000;
    reopen();
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    clk.now = T0 + 900;
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    ck_assert_int_eq(d.expires_ms, T0 + 1900);
    clk.now = T0 + 1800;
    ck_assert_uint_eq(count(u), 1);
}
END_TEST

START_TEST(unsubscribe_of_an_expired_lease)
{
    const char *u = uid("u");

    opts.ttl_ms = 1000;
    reopen();
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    ck_assert_rc(sub(u, "s2"), STREAMY_OK);
    clk.now = T0 + 2000;
    ck_assert_rc(unsub(u, "s1"), STREAMY_OK);
    ck_assert_int_eq(d.removed, 0); /* it was no longer active */
    ck_assert_uint_eq(d.expired, 1);
    ck_assert_uint_eq(count(u), 0);
    ck_assert_rc(sub(u, "s3"), STREAMY_OK); /* the next subscribe drops the rest */
    ck_assert_uint_eq(d.expired, 1);
    ck_assert_uint_eq(d.active, 1);
}
END_TEST

START_TEST(purge_removes_expired_leases)
{
    const char *a = uid("a"), *b = uid("b");
    uint64_t removed = 99;
    streamy_counters c;

    opts.ttl_ms = 1000;
    reopen();
    ck_assert_rc(streamy_purge(&removed, h), STREAMY_OK);
    ck_assert_uint_eq(removed, 0);
    ck_assert_rc(sub(a, "s1"), STREAMY_OK);
    ck_assert_rc(sub(a, "s2"), STREAMY_OK);
    clk.now = T0 + 500;
    ck_assert_rc(sub(b, "s1"), STREAMY_OK);
    clk.now = T0 + 1200;
    ck_assert_rc(streamy_purge(&removed, h), STREAMY_OK);
    ck_assert_uint_eq(removed, 2);
    ck_assert_uint_eq(count(b), 1);
    ck_assert_rc(streamy_purge(NULL, h), STREAMY_OK);
    clk.now = T0 + 1500;
    ck_assert_rc(streamy_purge(&removed, h), STREAMY_OK);
    ck_assert_uint_eq(removed, 1);
    ck_assert_rc(streamy_stats(&c, h), STREAMY_OK);
    ck_assert_uint_eq(c.expired, 3);
    ck_assert_int_eq(events.ev[events.n - 1].kind, STREAMY_EVENT_EXPIRED);
    ck_assert_uint_eq(events.ev[events.n - 1].count, 1);
}
END_TEST

/* --- per-user limits --------------------------------------------------------- */

START_TEST(per_user_limits)
{
    const char *u = uid("u"), *other = uid("other");
    unsigned int limit = 0;
    int over = -1;

    reopen();
    ck_assert_rc(streamy_get_limit(&limit, &over, h, u), STREAMY_OK);
    ck_assert_uint_eq(limit, 3);
    ck_assert_int_eq(over, 0);
    ck_assert_rc(streamy_set_limit(h, u, 1), STREAMY_OK);
    ck_assert_rc(streamy_get_limit(&limit, &over, h, u), STREAMY_OK);
    ck_assert_uint_eq(limit, 1);
    ck_assert_int_eq(over, 1);
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    ck_assert_uint_eq(d.limit, 1);
    ck_assert_rc(sub(u, "s2"), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(d.limit, 1);
    ck_assert_rc(sub(other, "s1"), STREAMY_OK);
    ck_assert_rc(sub(other, "s2"), STREAMY_OK); /* others keep the default */
    ck_assert_rc(streamy_set_limit(h, u, 5), STREAMY_OK);
    ck_assert_rc(sub(u, "s2"), STREAMY_OK);
    ck_assert_uint_eq(d.limit, 5);
    ck_assert_rc(streamy_clear_limit(h, u), STREAMY_OK);
    ck_assert_rc(streamy_get_limit(&limit, NULL, h, u), STREAMY_OK);
    ck_assert_uint_eq(limit, 3);
    ck_assert_rc(streamy_clear_limit(h, u), STREAMY_OK); /* idempotent */
    ck_assert_rc(streamy_set_limit(h, u, STREAMY_LIMIT_MAX + 1), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "limit"));
    ck_assert_rc(streamy_get_limit(&limit, NULL, h, u), STREAMY_OK);
    ck_assert_uint_eq(limit, 3);
    ck_assert_rc(streamy_set_limit(h, u, STREAMY_LIMIT_MAX), STREAMY_OK);
}
END_TEST

START_TEST(per_user_limit_zero_blocks_the_user)
{
    const char *u = uid("u");

    reopen();
    ck_assert_rc(streamy_set_limit(h, u, 0), STREAMY_OK);
    ck_assert_rc(sub(u, "s1"), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(d.limit, 0);
    ck_assert_uint_eq(count(u), 0);
    ck_assert_rc(sub(uid("v"), "s1"), STREAMY_OK);
}
END_TEST

START_TEST(lowering_a_limit_cuts_no_stream)
{
    const char *u = uid("u");

    reopen();
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    ck_assert_rc(sub(u, "s2"), STREAMY_OK);
    ck_assert_rc(sub(u, "s3"), STREAMY_OK);
    ck_assert_rc(streamy_set_limit(h, u, 1), STREAMY_OK);
    ck_assert_uint_eq(count(u), 3);
    ck_assert_rc(sub(u, "s2"), STREAMY_OK); /* running streams stay */
    ck_assert_rc(sub(u, "s4"), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(d.active, 3);
    ck_assert_rc(unsub(u, "s1"), STREAMY_OK);
    ck_assert_rc(unsub(u, "s2"), STREAMY_OK);
    ck_assert_rc(sub(u, "s4"), STREAMY_LIMIT_REACHED); /* still at 1 of 1 */
    ck_assert_rc(unsub(u, "s3"), STREAMY_OK);
    ck_assert_rc(sub(u, "s4"), STREAMY_OK);
}
END_TEST

START_TEST(limits_survive_without_leases)
{
    const char *u = uid("u");
    unsigned int limit = 0;

    reopen();
    ck_assert_rc(streamy_set_limit(h, u, 2), STREAMY_OK);
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    ck_assert_rc(unsub(u, "s1"), STREAMY_OK);
    ck_assert_rc(streamy_get_limit(&limit, NULL, h, u), STREAMY_OK);
    ck_assert_uint_eq(limit, 2);
}
END_TEST

/* --- policies ------------------------------------------------------------------ */

/* s1 started first, s2 was renewed least recently. */
static void three_leases(const char *u)
{
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    clk.now++;
    ck_assert_rc(sub(u, "s2"), STREAMY_OK);
    clk.now++;
    ck_assert_rc(sub(u, "s3"), STREAMY_OK);
    clk.now++;
    ck_assert_rc(streamy_renew(NULL, h, u, "s1"), STREAMY_OK);
    clk.now++;
}

START_TEST(policy_evict_oldest)
{
    const char *u = uid("u");

    opts.policy = STREAMY_POLICY_EVICT_OLDEST;
    reopen();
    three_leases(u);
    ck_assert_rc(sub(u, "s4"), STREAMY_OK);
    ck_assert_str_eq(d.evicted, "s1");
    ck_assert_uint_eq(d.active, 3);
    ck_assert_int_eq(d.created, 1);
    ck_assert_str_eq(names(u), "s2,s3,s4");
    ck_assert_rc(sub(u, "s4"), STREAMY_OK); /* an existing lease evicts nothing */
    ck_assert_str_eq(d.evicted, "");
}
END_TEST

START_TEST(policy_evict_idle)
{
    const char *u = uid("u");

    opts.policy = STREAMY_POLICY_EVICT_IDLE;
    reopen();
    three_leases(u);
    ck_assert_rc(sub(u, "s4"), STREAMY_OK);
    ck_assert_str_eq(d.evicted, "s2");
    ck_assert_str_eq(names(u), "s1,s3,s4");
}
END_TEST

/* Leases started (and renewed) at one instant, as a batch makes them: the one
 * evicted is the smallest stream id, the first that list() shows, on every
 * store (the memory store took the first added; found by tests/fuzz/fuzz_sequence). */
START_TEST(policy_evict_ties_go_to_the_smallest_stream)
{
    const char *u = uid("u"), *w = uid("w");
    static const streamy_policy policies[] = {STREAMY_POLICY_EVICT_OLDEST,
                                              STREAMY_POLICY_EVICT_IDLE};

    for (size_t i = 0; i < 2; i++) {
        opts.policy = policies[i];
        opts.limit = 2;
        reopen();
        ck_assert_rc(sub(u, "sb"), STREAMY_OK);
        ck_assert_rc(sub(u, "sa"), STREAMY_OK);
        ck_assert_str_eq(names(u), "sa,sb");
        clk.now++;
        ck_assert_rc(sub(u, "sc"), STREAMY_OK);
        ck_assert_str_eq(d.evicted, "sa");
        ck_assert_str_eq(names(u), "sb,sc");
        ck_assert_rc(unsub(u, "sb"), STREAMY_OK);
        ck_assert_rc(unsub(u, "sc"), STREAMY_OK);
        /* Renewed at one instant: the idlest is the smallest too. */
        ck_assert_rc(sub(w, "y"), STREAMY_OK);
        clk.now++;
        ck_assert_rc(sub(w, "x"), STREAMY_OK);
        clk.now++;
        ck_assert_rc(streamy_renew(NULL, h, w, "y"), STREAMY_OK);
        ck_assert_rc(streamy_renew(NULL, h, w, "x"), STREAMY_OK);
        clk.now++;
        ck_assert_rc(sub(w, "z"), STREAMY_OK);
        ck_assert_str_eq(d.evicted, i == 0 ? "y" : "x");
        ck_assert_rc(unsub(w, "z"), STREAMY_OK);
        ck_assert_rc(unsub(w, i == 0 ? "x" : "y"), STREAMY_OK);
    }
}
END_TEST

START_TEST(policy_reject_changes_nothing)
{
    const char *u = uid("u");

    reopen();
    three_leases(u);
    ck_assert_rc(sub(u, "s4"), STREAMY_LIMIT_REACHED);
    ck_assert_str_eq(d.evicted, "");
    ck_assert_str_eq(names(u), "s1,s2,s3");
}
END_TEST

START_TEST(evict_policies_respect_limit_zero_and_lowered_limits)
{
    const char *u = uid("u"), *z = uid("z");

    opts.policy = STREAMY_POLICY_EVICT_OLDEST;
    reopen();
    ck_assert_rc(streamy_set_limit(h, z, 0), STREAMY_OK);
    ck_assert_rc(sub(z, "s1"), STREAMY_LIMIT_REACHED);
    three_leases(u);
    ck_assert_rc(streamy_set_limit(h, u, 2), STREAMY_OK);
    /* Evicting one of three would still leave the user over the new limit. */
    ck_assert_rc(sub(u, "s4"), STREAMY_LIMIT_REACHED);
    ck_assert_str_eq(names(u), "s1,s2,s3");
}
END_TEST

/* --- shadow mode, the observer and the counters -------------------------------- */

START_TEST(shadow_mode_allows_and_reports)
{
    const char *u = uid("u");
    streamy_counters c;

    opts.limit = 1;
    opts.shadow = 1;
    reopen();
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    ck_assert_int_eq(d.shadow_refused, 0);
    ck_assert_rc(sub(u, "s2"), STREAMY_OK);
    ck_assert_int_eq(d.shadow_refused, 1);
    ck_assert_uint_eq(d.active, 2);
    ck_assert_uint_eq(d.limit, 1);
    ck_assert_uint_eq(count(u), 2); /* recorded exactly as if allowed */
    ck_assert_rc(streamy_stats(&c, h), STREAMY_OK);
    ck_assert_uint_eq(c.allowed, 2);
    ck_assert_uint_eq(c.shadow_refused, 1);
    ck_assert_uint_eq(c.refused, 0);
    ck_assert_int_eq(events.n, 2);
    ck_assert_int_eq(events.ev[1].kind, STREAMY_EVENT_ALLOWED);
    ck_assert_int_eq(events.ev[1].shadow_refused, 1);
}
END_TEST

START_TEST(observer_sees_every_decision)
{
    const char *u = uid("u");
    streamy_counters c;

    opts.limit = 2;
    opts.ttl_ms = 1000;
    opts.policy = STREAMY_POLICY_REJECT;
    reopen();
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);                    /* ALLOWED */
    ck_assert_rc(sub(u, "s2"), STREAMY_OK);                    /* ALLOWED */
    ck_assert_rc(sub(u, "s3"), STREAMY_LIMIT_REACHED);         /* REFUSED */
    ck_assert_rc(streamy_renew(NULL, h, u, "s1"), STREAMY_OK); /* RENEWED */
    ck_assert_rc(unsub(u, "s1"), STREAMY_OK);                  /* RELEASED */
    ck_assert_rc(unsub(u, "s1"), STREAMY_OK);                  /* nothing */
    clk.now += 5000;
    ck_assert_rc(sub(u, "s3"), STREAMY_OK); /* EXPIRED(1), ALLOWED */
    ck_assert_int_eq(events.n, 7);
    ck_assert_int_eq(events.ev[0].kind, STREAMY_EVENT_ALLOWED);
    ck_assert_str_eq(events.ev[0].user, u);
    ck_assert_str_eq(events.ev[0].stream, "s1");
    ck_assert_uint_eq(events.ev[0].active, 1);
    ck_assert_uint_eq(events.ev[0].limit, 2);
    ck_assert_int_eq(events.ev[0].at_ms, T0);
    ck_assert_int_eq(events.ev[2].kind, STREAMY_EVENT_REFUSED);
    ck_assert_str_eq(events.ev[2].stream, "s3");
    ck_assert_uint_eq(events.ev[2].active, 2);
    ck_assert_int_eq(events.ev[3].kind, STREAMY_EVENT_RENEWED);
    ck_assert_int_eq(events.ev[4].kind, STREAMY_EVENT_RELEASED);
    ck_assert_str_eq(events.ev[4].stream, "s1");
    ck_assert_int_eq(events.ev[5].kind, STREAMY_EVENT_EXPIRED);
    ck_assert_uint_eq(events.ev[5].count, 1);
    ck_assert_int_eq(events.ev[6].kind, STREAMY_EVENT_ALLOWED);
    ck_assert_rc(streamy_stats(&c, h), STREAMY_OK);
    ck_assert_uint_eq(c.allowed, 3);
    ck_assert_uint_eq(c.refused, 1);
    ck_assert_uint_eq(c.renewed, 1);
    ck_assert_uint_eq(c.released, 1);
    ck_assert_uint_eq(c.expired, 1);
    ck_assert_uint_eq(c.evicted, 0);
}
END_TEST

START_TEST(observer_sees_evictions)
{
    const char *u = uid("u");
    streamy_counters c;

    opts.limit = 1;
    opts.policy = STREAMY_POLICY_EVICT_OLDEST;
    reopen();
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    ck_assert_rc(sub(u, "s2"), STREAMY_OK);
    ck_assert_int_eq(events.n, 3);
    ck_assert_int_eq(events.ev[1].kind, STREAMY_EVENT_EVICTED);
    ck_assert_str_eq(events.ev[1].stream, "s1");
    ck_assert_int_eq(events.ev[2].kind, STREAMY_EVENT_ALLOWED);
    ck_assert_str_eq(events.ev[2].stream, "s2");
    ck_assert_rc(streamy_stats(&c, h), STREAMY_OK);
    ck_assert_uint_eq(c.evicted, 1);
    ck_assert_uint_eq(c.allowed, 2);
}
END_TEST

/* --- identifiers and bad input --------------------------------------------------- */

START_TEST(uuids_are_canonical)
{
    const char *upper = "6F9619FF-8B86-D011-B42D-00C04FC964FF";
    const char *lower = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
    char canon[STREAMY_ID_MAX + 1];

    reopen();
    ck_assert_rc(sub(upper, "S1"), STREAMY_OK);
    ck_assert_rc(sub(lower, "S1"), STREAMY_OK);
    ck_assert_int_eq(d.created, 0); /* one user, one lease */
    ck_assert_uint_eq(count(lower), 1);
    ck_assert_uint_eq(count(upper), 1);
    ck_assert_str_eq(events.ev[0].user, lower);
    /* Non-UUID identifiers keep their case: they are different ids. */
    ck_assert_rc(sub(lower, "s1"), STREAMY_OK);
    ck_assert_int_eq(d.created, 1);
    ck_assert_rc(streamy_normalize_id(canon, sizeof(canon), h, "user", upper),
                 STREAMY_OK);
    ck_assert_str_eq(canon, lower);
    ck_assert_rc(streamy_unsubscribe(&d, h, upper, "S1"), STREAMY_OK);
    ck_assert_int_eq(d.removed, 1);
}
END_TEST

START_TEST(require_uuid_refuses_other_ids)
{
    const char *uuid = "123e4567-e89b-12d3-a456-426614174000";

    opts.require_uuid = 1;
    reopen();
    ck_assert_rc(sub("alice", uuid), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "user"));
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "UUID"));
    ck_assert_rc(sub(uuid, "movie"), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "stream"));
    ck_assert_rc(sub(uuid, "123E4567-E89B-12D3-A456-426614174001"), STREAMY_OK);
    ck_assert_uint_eq(count(uuid), 1);
    ck_assert_int_eq(events.n, 1);
}
END_TEST

/* Every kind of bad identifier, on every call: EINVAL, the field named, nothing written.
 */
START_TEST(invalid_identifiers_change_nothing)
{
    static const char *const bad[] = {
        "",                 /* empty */
        "a\001b",           /* control character */
        "tab\there",        /* control character */
        "del\x7f",          /* DEL */
        "\xc3",             /* truncated UTF-8 */
        "\xc0\xaf",         /* overlong */
        "\xed\xa0\x80",     /* surrogate */
        "\xf4\x90\x80\x80", /* past U+10FFFF */
        "\xff",             /* never valid */
        "caf\xe9",          /* Latin-1, not UTF-8 */
    };
    char longid[STREAMY_ID_MAX + 2];
    const char *u = uid("u");
    streamy_counters c;
    unsigned int n, lim;
    size_t i;

    reopen();
    ck_assert_rc(sub(u, "keep"), STREAMY_OK);
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    for (i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
        const char *id = i < sizeof(bad) / sizeof(bad[0]) ? bad[i] : longid;
        ck_assert_rc(sub(id, "s"), STREAMY_EINVAL);
        ck_assert_msg(strstr(streamy_errmsg(h), "user") != NULL, "%s", streamy_errmsg(h));
        ck_assert_rc(sub(u, id), STREAMY_EINVAL);
        ck_assert_msg(strstr(streamy_errmsg(h), "stream") != NULL, "%s",
                      streamy_errmsg(h));
        ck_assert_rc(unsub(u, id), STREAMY_EINVAL);
        ck_assert_rc(unsub(id, "keep"), STREAMY_EINVAL);
        ck_assert_rc(streamy_renew(&d, h, u, id), STREAMY_EINVAL);
        ck_assert_rc(streamy_count(&n, h, id), STREAMY_EINVAL);
        ck_assert_rc(streamy_list(h, id, add_name, NULL), STREAMY_EINVAL);
        ck_assert_rc(streamy_set_limit(h, id, 1), STREAMY_EINVAL);
        ck_assert_rc(streamy_clear_limit(h, id), STREAMY_EINVAL);
        ck_assert_rc(streamy_get_limit(&lim, NULL, h, id), STREAMY_EINVAL);
    }
    ck_assert_rc(sub(NULL, "s"), STREAMY_EINVAL);
    ck_assert_rc(sub(u, NULL), STREAMY_EINVAL);
    ck_assert_rc(streamy_subscribe(&d, NULL, u, "s"), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "handle"));
    ck_assert_rc(streamy_count(NULL, h, u), STREAMY_EINVAL);
    ck_assert_rc(streamy_list(h, u, NULL, NULL), STREAMY_EINVAL);
    ck_assert_rc(streamy_get_limit(NULL, NULL, h, u), STREAMY_EINVAL);
    ck_assert_rc(streamy_stats(NULL, h), STREAMY_EINVAL);
    ck_assert_rc(streamy_purge(NULL, NULL), STREAMY_EINVAL);
    ck_assert_rc(streamy_health(NULL), STREAMY_EINVAL);
    /* The store is as it was, and no decision was counted or observed. */
    ck_assert_str_eq(names(u), "keep");
    ck_assert_rc(streamy_stats(&c, h), STREAMY_OK);
    ck_assert_uint_eq(c.allowed, 1);
    ck_assert_uint_eq(c.refused + c.released + c.renewed + c.expired, 0);
    ck_assert_int_eq(events.n, 1);
    /* The longest valid identifier works. */
    longid[STREAMY_ID_MAX] = '\0';
    ck_assert_rc(sub(longid, "\xe2\x82\xac uro stream \xf0\x9f\x8e\xac"), STREAMY_OK);
    ck_assert_uint_eq(count(longid), 1);
}
END_TEST

START_TEST(invalid_options_are_refused)
{
    char *uri = test_expand(g_uri, tmpdir);
    streamy_options bad;
    streamy *x = (streamy *)&bad;

    bad = opts;
    bad.limit = STREAMY_LIMIT_MAX + 1;
    ck_assert_rc(streamy_open(&x, uri, &bad), STREAMY_EINVAL);
    ck_assert_ptr_null(x);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "limit"));
    bad = opts;
    bad.ttl_ms = -1;
    ck_assert_rc(streamy_open(&x, uri, &bad), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "ttl"));
    bad.ttl_ms = STREAMY_TTL_MAX_MS + 1;
    ck_assert_rc(streamy_open(&x, uri, &bad), STREAMY_EINVAL);
    bad = opts;
    bad.policy = (streamy_policy)42;
    ck_assert_rc(streamy_open(&x, uri, &bad), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "policy"));
    bad = opts;
    bad.busy_timeout_ms = -5;
    ck_assert_rc(streamy_open(&x, uri, &bad), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "busy"));
    bad = opts;
    bad.version = 0;
    ck_assert_rc(streamy_open(&x, uri, &bad), STREAMY_EINVAL);
    bad.version = STREAMY_OPTIONS_VERSION + 1;
    ck_assert_rc(streamy_open(&x, uri, &bad), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "version"));
    ck_assert_rc(streamy_open(NULL, uri, &opts), STREAMY_EINVAL);
    ck_assert_ptr_null(x);
    free(uri);
}
END_TEST

/* --- batches ----------------------------------------------------------------------- */

START_TEST(apply_answers_like_single_calls)
{
    enum { N = 400, USERS = 4, STREAMS = 6 };
    static streamy_op ops[N];
    static streamy_decision single[N];
    static int single_rc[N], who[N];
    static char alone[USERS][64], batched[USERS][64], streams[STREAMS][8];
    unsigned seed = 12345;
    int i;

    opts.ttl_ms = 700;
    opts.limit = 2;
    opts.policy = _i == 0 ? STREAMY_POLICY_REJECT : STREAMY_POLICY_EVICT_IDLE;
    opts.observer = NULL;
    /* The two runs use different users, so they can share a store. */
    for (i = 0; i < USERS; i++) {
        snprintf(alone[i], sizeof(alone[i]), "%s-%d", uid("alone"), i);
        snprintf(batched[i], sizeof(batched[i]), "%s-%d", uid("batched"), i);
    }
    for (i = 0; i < STREAMS; i++)
        snprintf(streams[i], sizeof(streams[i]), "s%d", i);
    for (i = 0; i < N; i++) {
        seed = seed * 1103515245 + 12345;
        ops[i].kind = (streamy_op_kind)(1 + (seed >> 16) % 3);
        who[i] = (int)((seed >> 8) % USERS);
        ops[i].stream = (seed >> 20) % 50 == 0 ? "" : streams[(seed >> 4) % STREAMS];
    }
    reopen();
    /* First one by one, at the times the batches will run. */
    for (i = 0; i < N; i++) {
        const char *u = alone[who[i]];
        clk.now = T0 + (i / 25) * 100;
        if (ops[i].kind == STREAMY_OP_SUBSCRIBE)
            single_rc[i] = sub(u, ops[i].stream);
        else if (ops[i].kind == STREAMY_OP_UNSUBSCRIBE)
            single_rc[i] = unsub(u, ops[i].stream);
        else
            single_rc[i] = streamy_renew(&d, h, u, ops[i].stream);
        single[i] = d;
    }
    /* Then the same operations in batches of 25. */
    for (i = 0; i < N; i++)
        ops[i].user = batched[who[i]];
    for (i = 0; i < N; i += 25) {
        clk.now = T0 + (i / 25) * 100;
        ck_assert_rc(streamy_apply(h, ops + i, 25), STREAMY_OK);
    }
    for (i = 0; i < N; i++) {
        ck_assert_msg(ops[i].result == single_rc[i], "op %d: batch %d, single %d", i,
                      ops[i].result, single_rc[i]);
        ck_assert_int_eq(ops[i].decision.created, single[i].created);
        ck_assert_int_eq(ops[i].decision.removed, single[i].removed);
        ck_assert_uint_eq(ops[i].decision.active, single[i].active);
        ck_assert_uint_eq(ops[i].decision.limit, single[i].limit);
        ck_assert_uint_eq(ops[i].decision.expired, single[i].expired);
        ck_assert_int_eq(ops[i].decision.since_ms, single[i].since_ms);
        ck_assert_int_eq(ops[i].decision.expires_ms, single[i].expires_ms);
        ck_assert_int_eq(ops[i].decision.retry_ms, single[i].retry_ms);
        ck_assert_str_eq(ops[i].decision.evicted, single[i].evicted);
    }
    for (i = 0; i < USERS; i++)
        ck_assert_str_eq(names(alone[i]), names(batched[i]));
}
END_TEST

START_TEST(apply_in_order_in_one_batch)
{
    const char *u = uid("u");
    streamy_op ops[6] = {
        {STREAMY_OP_SUBSCRIBE, u, "s1", 99, {0}},
        {STREAMY_OP_SUBSCRIBE, u, "s2", 99, {0}},
        {STREAMY_OP_SUBSCRIBE, u, "\x01", 99, {0}},
        {STREAMY_OP_SUBSCRIBE, u, "s3", 99, {0}},
        {STREAMY_OP_UNSUBSCRIBE, u, "s1", 99, {0}},
        {STREAMY_OP_SUBSCRIBE, u, "s3", 99, {0}},
    };
    streamy_counters c;

    opts.limit = 2;
    reopen();
    ck_assert_rc(streamy_apply(h, ops, 6), STREAMY_OK);
    ck_assert_int_eq(ops[0].result, STREAMY_OK);
    ck_assert_int_eq(ops[1].result, STREAMY_OK);
    ck_assert_int_eq(ops[2].result, STREAMY_EINVAL);
    ck_assert_int_eq(ops[3].result, STREAMY_LIMIT_REACHED);
    ck_assert_int_eq(ops[4].result, STREAMY_OK);
    ck_assert_int_eq(ops[4].decision.removed, 1);
    ck_assert_int_eq(ops[5].result, STREAMY_OK);
    ck_assert_uint_eq(ops[5].decision.active, 2);
    ck_assert_str_eq(names(u), "s2,s3");
    ck_assert_rc(streamy_stats(&c, h), STREAMY_OK);
    ck_assert_uint_eq(c.allowed, 3);
    ck_assert_uint_eq(c.refused, 1);
    ck_assert_uint_eq(c.released, 1);
    ck_assert_int_eq(events.n, 5);
    ops[0].kind = (streamy_op_kind)9;
    ck_assert_rc(streamy_apply(h, ops, 1), STREAMY_OK);
    ck_assert_int_eq(ops[0].result, STREAMY_EINVAL);
    ck_assert_rc(streamy_apply(h, NULL, 0), STREAMY_OK);
    ck_assert_rc(streamy_apply(h, NULL, 3), STREAMY_EINVAL);
    ck_assert_rc(streamy_apply(NULL, ops, 1), STREAMY_EINVAL);
}
END_TEST

/* --- the rest ------------------------------------------------------------------------
 */

START_TEST(health_and_names)
{
    reopen();
    ck_assert_rc(streamy_health(h), STREAMY_OK);
    ck_assert_str_ne(streamy_store_name(h), "");
}
END_TEST

static int count_calls(const streamy_lease *lease, void *payload)
{
    (void)lease;
    (*(unsigned int *)payload)++;
    return 0;
}

static int first_only(const streamy_lease *lease, void *payload)
{
    streamy_lease *out = payload;
    *out = *lease;
    out->stream = NULL;
    return 1;
}

START_TEST(list_lease_fields)
{
    const char *u = uid("u");
    streamy_lease l;
    unsigned int seen = 0;

    opts.ttl_ms = 1000;
    reopen();
    ck_assert_rc(sub(u, "b"), STREAMY_OK);
    clk.now += 5;
    ck_assert_rc(sub(u, "a"), STREAMY_OK);
    clk.now += 5;
    ck_assert_rc(streamy_renew(NULL, h, u, "b"), STREAMY_OK);
    ck_assert_str_eq(names(u), "b,a");                            /* oldest first */
    ck_assert_rc(streamy_list(h, u, first_only, &l), STREAMY_OK); /* stops after one */
    ck_assert_int_eq(l.since_ms, T0);
    ck_assert_int_eq(l.renewed_ms, T0 + 10);
    ck_assert_int_eq(l.expires_ms, T0 + 1010);
    ck_assert_rc(streamy_list(h, u, count_calls, &seen), STREAMY_OK);
    ck_assert_uint_eq(seen, 2);
}
END_TEST

START_TEST(leases_persist_across_handles)
{
    const char *u = uid("u");

    if (strstr(g_uri, "memory:") != NULL)
        return; /* memory stores die with their handle by design */
    reopen();
    ck_assert_rc(sub(u, "s1"), STREAMY_OK);
    ck_assert_rc(streamy_set_limit(h, u, 1), STREAMY_OK);
    reopen();
    ck_assert_str_eq(names(u), "s1");
    ck_assert_rc(sub(u, "s2"), STREAMY_LIMIT_REACHED);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc;

#define CASE(name, ...)                                                                  \
    do {                                                                                 \
        tc = test_add_case(s, name, setup, teardown, test_timeout_scale(20));            \
        __VA_ARGS__;                                                                     \
    } while (0)

    CASE("subscribe", tcase_add_test(tc, subscribe_up_to_the_limit);
         tcase_add_test(tc, subscribe_is_idempotent);
         tcase_add_test(tc, users_are_independent);
         tcase_add_test(tc, default_limit_zero_blocks_everyone));
    CASE("unsubscribe", tcase_add_test(tc, unsubscribe_frees_a_slot);
         tcase_add_test(tc, unsubscribe_is_idempotent));
    CASE("ttl", tcase_add_test(tc, leases_expire_after_the_ttl);
         tcase_add_test(tc, retry_is_when_a_slot_really_frees);
         tcase_add_test(tc, refusal_of_a_user_left_with_nothing);
         tcase_add_test(tc, renew_extends_a_lease); tcase_add_test(tc, renew_without_ttl);
         tcase_add_test(tc, subscribe_refreshes_the_expiry);
         tcase_add_test(tc, unsubscribe_of_an_expired_lease);
         tcase_add_test(tc, purge_removes_expired_leases));
    CASE("limits", tcase_add_test(tc, per_user_limits);
         tcase_add_test(tc, per_user_limit_zero_blocks_the_user);
         tcase_add_test(tc, lowering_a_limit_cuts_no_stream);
         tcase_add_test(tc, limits_survive_without_leases));
    CASE("policies", tcase_add_test(tc, policy_evict_oldest);
         tcase_add_test(tc, policy_evict_idle);
         tcase_add_test(tc, policy_evict_ties_go_to_the_smallest_stream);
         tcase_add_test(tc, policy_reject_changes_nothing);
         tcase_add_test(tc, evict_policies_respect_limit_zero_and_lowered_limits));
    CASE("observe", tcase_add_test(tc, shadow_mode_allows_and_reports);
         tcase_add_test(tc, observer_sees_every_decision);
         tcase_add_test(tc, observer_sees_evictions));
    CASE("input", tcase_add_test(tc, uuids_are_canonical);
         tcase_add_test(tc, require_uuid_refuses_other_ids);
         tcase_add_test(tc, invalid_identifiers_change_nothing);
         tcase_add_test(tc, invalid_options_are_refused));
    CASE("batch", tcase_add_loop_test(tc, apply_answers_like_single_calls, 0, 2);
         tcase_add_test(tc, apply_in_order_in_one_batch));
    CASE("misc", tcase_add_test(tc, health_and_names);
         tcase_add_test(tc, list_lease_fields);
         tcase_add_test(tc, leases_persist_across_handles));
#undef CASE
    store_add_session_cases(s);
    store_add_session_batch_cases(s);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr,
                "usage: %s URI  (\"@TMP@\" becomes a fresh directory per test, \"@PID@\" "
                "its process id)\n",
                argv[0]);
        return 2;
    }
    g_uri = argv[1];
    return test_run_suite(store_suite());
}
