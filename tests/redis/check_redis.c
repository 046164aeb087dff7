/* SPDX-License-Identifier: MIT */
/* check_redis.c: the Redis store's own promises: URIs, keys, time, expiry, reconnects
 * (sessions: check_redis_sessions.c). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check_redis.h"

int port;
static const char *sockpath;
char base[128];
char prefix[64];
redisContext *rc;
test_clock clk;

void setup(void)
{
    const char *p = getenv("REDIS_PORT"), *dir = getenv("REDIS_DIR");
    static char sock[1024];
    static int tests;

    ck_assert_msg(p != NULL && dir != NULL, "run under tests/redis/with_redis.sh");
    port = atoi(p);
    snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
    sockpath = sock;
    snprintf(base, sizeof(base), "redis://127.0.0.1:%d", port);
    /* Unique to each test, also when Check does not fork (CK_FORK=no, valgrind). */
    snprintf(prefix, sizeof(prefix), "u%ld-%d:", (long)getpid(), ++tests);
    rc = redisConnect("127.0.0.1", port);
    ck_assert_msg(rc != NULL && rc->err == 0, "cannot connect to the test server");
}

void teardown(void)
{
    redisFree(rc);
}

redisReply *cmd(const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(rc, fmt, ap);
    va_end(ap);
    ck_assert_msg(r != NULL, "redis: %s", rc->errstr);
    return r;
}

long long cmd_int(const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    long long v;

    va_start(ap, fmt);
    r = redisvCommand(rc, fmt, ap);
    va_end(ap);
    ck_assert_msg(r != NULL && r->type == REDIS_REPLY_INTEGER,
                  "redis: not an integer: %s",
                  r && r->type == REDIS_REPLY_ERROR ? r->str : rc->errstr);
    v = r->integer;
    freeReplyObject(r);
    return v;
}

/* Open `uri` (printf-style) with `o` (NULL for defaults). */
static int open_uri(streamy **h, const streamy_options *o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int open_uri(streamy **h, const streamy_options *o, const char *fmt, ...)
{
    char uri[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(uri, sizeof(uri), fmt, ap);
    va_end(ap);
    return streamy_open(h, uri, o);
}

streamy *open_ok(const streamy_options *o)
{
    streamy *h = NULL;

    ck_assert_rc(open_uri(&h, o, "%s/0?prefix=%s", base, prefix), STREAMY_OK);
    ck_assert_str_eq(streamy_store_name(h), "redis");
    return h;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- URIs ----------------------------------------------------------------------------
 */

static void expect_einval(const char *uri, const char *words)
{
    streamy *h = (streamy *)&h;

    ck_assert_msg(streamy_open(&h, uri, NULL) == STREAMY_EINVAL, "%s: not EINVAL: %s",
                  uri, streamy_errmsg(NULL));
    ck_assert_ptr_null(h);
    ck_assert_msg(strstr(streamy_errmsg(NULL), words) != NULL,
                  "%s: message \"%s\" does not say \"%s\"", uri, streamy_errmsg(NULL),
                  words);
}

START_TEST(bad_uris_are_refused)
{
    expect_einval("redis://127.0.0.1:0", "port");
    expect_einval("redis://127.0.0.1:65536", "port");
    expect_einval("redis://127.0.0.1:99999999999", "port");
    expect_einval("redis://127.0.0.1:abc", "port");
    expect_einval("redis://127.0.0.1:", "port");
    expect_einval("redis://127.0.0.1:6379x/0", "port");
    expect_einval("redis://127.0.0.1:6379/zero", "database");
    expect_einval("redis://127.0.0.1:6379/1/2", "database");
    expect_einval("redis://127.0.0.1/0?bogus=1", "\"bogus\"");
    expect_einval("redis://127.0.0.1/0?prefix=a&db=2", "\"db\"");
    expect_einval("redis://127.0.0.1/0?prefix", "no value");
    expect_einval("redis://127.0.0.1/0?prefix=%zz", "escape");
    expect_einval("redis://127.0.0.1/0?prefix=a{b}", "brace");
    expect_einval("redis://127.0.0.1/0?timeout=soon", "timeout");
    expect_einval("redis://127.0.0.1/0?timeout=0", "timeout");
    expect_einval("redis://127.0.0.1/0?connect_timeout=2h", "connect_timeout");
    expect_einval("redis://", "host");
    expect_einval("redis:///0", "host");
    expect_einval("redis://:6379/0", "host");
    expect_einval("redis://[::1/0", "IPv6");
    expect_einval("redis://[::1]x/0", "IPv6");
    expect_einval("redis://alice@127.0.0.1/0", "password");
    expect_einval("redis://al%zzce:pw@127.0.0.1/0", "escape");
    expect_einval("unix://relative.sock", "absolute");
    expect_einval("unix:///tmp/r.sock?db=x", "database");
    expect_einval("unix:///tmp/r.sock?nope=1", "\"nope\"");
}
END_TEST

START_TEST(tls_is_refused_clearly)
{
    streamy *h = NULL;

    ck_assert_rc(streamy_open(&h, "rediss://127.0.0.1:6380/0", NULL),
                 STREAMY_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "TLS"));
}
END_TEST

START_TEST(unreachable_server_is_a_store_error)
{
    streamy *h = NULL;
    int64_t t0 = mono_ms();

    /* Port 1 on loopback: nobody listens there. */
    ck_assert_rc(streamy_open(&h, "redis://127.0.0.1:1/0", NULL), STREAMY_ESTORE);
    ck_assert_ptr_null(h);
    ck_assert_msg(strstr(streamy_errmsg(NULL), "127.0.0.1:1") != NULL, "%s",
                  streamy_errmsg(NULL));
    ck_assert_msg(strstr(streamy_errmsg(NULL), "refused") != NULL, "%s",
                  streamy_errmsg(NULL));
    ck_assert_rc(streamy_open(&h, "unix:///nonexistent/redis.sock", NULL),
                 STREAMY_ESTORE);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "/nonexistent/redis.sock"));
    ck_assert_rc(streamy_open(&h,
                              "redis://no-such-host.invalid:6379/0?connect_timeout=500ms",
                              NULL),
                 STREAMY_ESTORE);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "no-such-host.invalid:6379"));
    ck_assert_int_lt(mono_ms() - t0, test_timeout_scale(5000));
}
END_TEST

/* --- connections ----------------------------------------------------------------------
 */

/* What Redis Cluster hashes of the key "<prefix>streamy:{alice}:<what>": the part
 * between the first '{' and the next '}'. */
static const char *hash_tag(const char *pre, const char *what)
{
    static char key[256], tag[256];
    char *open, *close;

    snprintf(key, sizeof(key), "%sstreamy:{alice}:%s", pre, what);
    open = strchr(key, '{');
    close = open ? strchr(open + 1, '}') : NULL;
    if (open == NULL || close == NULL || close == open + 1)
        return key;
    snprintf(tag, sizeof(tag), "%.*s", (int)(close - open - 1), open + 1);
    return tag;
}

START_TEST(database_prefix_and_key_layout)
{
    streamy *h = NULL;
    redisReply *r;

    ck_assert_rc(open_uri(&h, NULL, "%s/5?prefix=%s&timeout=2s&connect_timeout=300ms",
                          base, prefix),
                 STREAMY_OK);
    ck_assert_rc(streamy_subscribe(NULL, h, "alice", "s1"), STREAMY_OK);
    ck_assert_rc(streamy_set_limit(h, "alice", 7), STREAMY_OK);
    r = cmd("SELECT 5");
    freeReplyObject(r);
    ck_assert_int_eq(cmd_int("HLEN %sstreamy:{alice}:leases", prefix), 1);
    r = cmd("GET %sstreamy:{alice}:limit", prefix);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, "7");
    freeReplyObject(r);
    /* Both keys of a user hash on the user alone, so they share one Cluster slot. */
    ck_assert_str_eq(hash_tag(prefix, "leases"), "alice");
    ck_assert_str_eq(hash_tag(prefix, "limit"), "alice");
    r = cmd("SELECT 0");
    freeReplyObject(r);
    ck_assert_int_eq(cmd_int("EXISTS %sstreamy:{alice}:leases", prefix), 0);
    streamy_close(h);
}
END_TEST

START_TEST(unix_socket)
{
    streamy *h = NULL;
    unsigned int n = 0;

    ck_assert_rc(open_uri(&h, NULL, "unix://%s?db=3&prefix=%s", sockpath, prefix),
                 STREAMY_OK);
    ck_assert_rc(streamy_subscribe(NULL, h, "bob", "s1"), STREAMY_OK);
    ck_assert_rc(streamy_count(&n, h, "bob"), STREAMY_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_rc(streamy_health(h), STREAMY_OK);
    streamy_close(h);
    freeReplyObject(cmd("SELECT 3"));
    ck_assert_int_eq(cmd_int("HLEN %sstreamy:{bob}:leases", prefix), 1);
}
END_TEST

START_TEST(auth_from_the_uri)
{
    streamy *h = NULL;
    char user[64];

    /* A user of its own: the default user, which the other tests use, stays open. */
    snprintf(user, sizeof(user), "streamy%ld", (long)getpid());
    freeReplyObject(cmd("ACL SETUSER %s on >s3cr%%t ~* +@all", user));
    ck_assert_rc(open_uri(&h, NULL, "redis://%s:s3cr%%25t@127.0.0.1:%d/0?prefix=%s", user,
                          port, prefix),
                 STREAMY_OK);
    ck_assert_rc(streamy_subscribe(NULL, h, "carol", "s1"), STREAMY_OK);
    streamy_close(h);
    h = NULL;
    ck_assert_rc(open_uri(&h, NULL, "redis://%s:wrong@127.0.0.1:%d/0", user, port),
                 STREAMY_ESTORE);
    ck_assert_msg(strstr(streamy_errmsg(NULL), "AUTH") != NULL &&
                      strstr(streamy_errmsg(NULL), "WRONGPASS") != NULL,
                  "%s", streamy_errmsg(NULL));
    /* A password alone authenticates the default user, which has none here. */
    ck_assert_rc(open_uri(&h, NULL, "redis://:nopass@127.0.0.1:%d/0", port),
                 STREAMY_ESTORE);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "AUTH"));
    freeReplyObject(cmd("ACL DELUSER %s", user));
}
END_TEST

/* Kill every connection but the test's own. */
static void kill_other_clients(void)
{
    freeReplyObject(cmd("CLIENT KILL TYPE normal SKIPME yes"));
}

START_TEST(reconnects_after_a_lost_connection)
{
    streamy *h = open_ok(NULL);
    streamy_decision d;
    streamy_op ops[2] = {{STREAMY_OP_SUBSCRIBE, "dave", "s3", 0, {0}},
                         {STREAMY_OP_UNSUBSCRIBE, "dave", "s1", 0, {0}}};

    ck_assert_rc(streamy_subscribe(&d, h, "dave", "s1"), STREAMY_OK);
    kill_other_clients();
    ck_assert_rc(streamy_subscribe(&d, h, "dave", "s2"), STREAMY_OK);
    ck_assert_int_eq(d.created, 1);
    ck_assert_uint_eq(d.active, 2);
    kill_other_clients();
    ck_assert_rc(streamy_apply(h, ops, 2), STREAMY_OK);
    ck_assert_int_eq(ops[0].decision.created, 1);
    ck_assert_int_eq(ops[1].decision.removed, 1);
    kill_other_clients();
    ck_assert_rc(streamy_health(h), STREAMY_OK);
    kill_other_clients();
    ck_assert_rc(streamy_set_limit(h, "dave", 2), STREAMY_OK);
    streamy_close(h);
}
END_TEST

START_TEST(scripts_reload_after_a_flush)
{
    streamy *h = open_ok(NULL);
    streamy_op ops[3] = {{STREAMY_OP_SUBSCRIBE, "erin", "s2", 0, {0}},
                         {STREAMY_OP_SUBSCRIBE, "erin", "s3", 0, {0}},
                         {STREAMY_OP_SUBSCRIBE, "erin", "s4", 0, {0}}};
    uint64_t n = 9;

    freeReplyObject(cmd("SCRIPT FLUSH"));
    ck_assert_rc(streamy_subscribe(NULL, h, "erin", "s1"), STREAMY_OK);
    freeReplyObject(cmd("SCRIPT FLUSH"));
    ck_assert_rc(streamy_apply(h, ops, 3), STREAMY_OK);
    ck_assert_int_eq(ops[0].result, STREAMY_OK);
    ck_assert_int_eq(ops[1].result, STREAMY_OK);
    ck_assert_int_eq(ops[2].result, STREAMY_LIMIT_REACHED);
    freeReplyObject(cmd("SCRIPT FLUSH"));
    ck_assert_rc(streamy_purge(&n, h), STREAMY_OK);
    ck_assert_int_eq(n, 0);
    streamy_close(h);
}
END_TEST

START_TEST(command_timeout)
{
    streamy *h = NULL;
    int64_t t0;

    ck_assert_rc(open_uri(&h, NULL, "%s/0?prefix=%s&timeout=200ms", base, prefix),
                 STREAMY_OK);
    /* Redis holds every other client's commands for 1.5 s. */
    freeReplyObject(cmd("CLIENT PAUSE 1500 ALL"));
    t0 = mono_ms();
    ck_assert_rc(streamy_subscribe(NULL, h, "frank", "s1"), STREAMY_ESTORE);
    ck_assert_msg(strstr(streamy_errmsg(h), "200 ms") != NULL, "%s", streamy_errmsg(h));
    ck_assert_int_lt(mono_ms() - t0, test_timeout_scale(1000));
    freeReplyObject(cmd("CLIENT UNPAUSE"));
    /* The next call has a new connection. */
    ck_assert_rc(streamy_subscribe(NULL, h, "frank", "s2"), STREAMY_OK);
    streamy_close(h);
}
END_TEST

START_TEST(server_down_then_back)
{
    streamy *h = open_ok(NULL);

    ck_assert_rc(streamy_subscribe(NULL, h, "gina", "s1"), STREAMY_OK);
    /* Make the server refuse the store's reconnect: its connection is killed and
     * new ones must authenticate with a password nobody knows, for a while. */
    freeReplyObject(cmd("ACL SETUSER default on >x%ld", (long)getpid()));
    kill_other_clients();
    ck_assert_rc(streamy_subscribe(NULL, h, "gina", "s2"), STREAMY_ESTORE);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "127.0.0.1"));
    ck_assert_rc(streamy_health(h), STREAMY_ESTORE);
    freeReplyObject(cmd("ACL SETUSER default on nopass"));
    ck_assert_rc(streamy_health(h), STREAMY_OK);
    ck_assert_rc(streamy_subscribe(NULL, h, "gina", "s2"), STREAMY_OK);
    streamy_close(h);
}
END_TEST

/* --- time and expiry
 * --------------------------------------------------------------------- */

static int64_t redis_time_ms(void)
{
    redisReply *r = cmd("TIME");
    int64_t t = atoll(r->element[0]->str) * 1000 + atoll(r->element[1]->str) / 1000;
    freeReplyObject(r);
    return t;
}

START_TEST(time_comes_from_the_server)
{
    streamy_options o;
    streamy *h;
    streamy_decision d;
    int64_t before, after;

    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    o.ttl_ms = 60000;
    h = open_ok(&o);
    before = redis_time_ms();
    ck_assert_rc(streamy_subscribe(&d, h, "hank", "s1"), STREAMY_OK);
    after = redis_time_ms();
    ck_assert_int_ge(d.since_ms, before);
    ck_assert_int_le(d.since_ms, after);
    ck_assert_int_eq(d.expires_ms, d.since_ms + 60000);
    /* The user's keys expire with the latest lease. */
    ck_assert_int_gt(cmd_int("PTTL %sstreamy:{hank}:leases", prefix), 55000);
    ck_assert_int_le(cmd_int("PTTL %sstreamy:{hank}:leases", prefix), 60000);
    streamy_close(h);
}
END_TEST

START_TEST(injected_clock_wins)
{
    streamy_options o;
    streamy *h;
    streamy_decision d;

    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    o.ttl_ms = 30000;
    o.clock = test_clock_cb;
    o.clock_payload = &clk;
    clk.now = 1000000000000LL;
    h = open_ok(&o);
    ck_assert_rc(streamy_subscribe(&d, h, "ivy", "s1"), STREAMY_OK);
    ck_assert_int_eq(d.since_ms, 1000000000000LL);
    ck_assert_int_eq(d.expires_ms, 1000000030000LL);
    /* Relative to the injected clock: 30 s from now, not 2001 plus 30 s. */
    ck_assert_int_gt(cmd_int("PTTL %sstreamy:{ivy}:leases", prefix), 25000);
    ck_assert_int_le(cmd_int("PTTL %sstreamy:{ivy}:leases", prefix), 30000);
    streamy_close(h);
}
END_TEST

START_TEST(leases_without_ttl_keep_the_key)
{
    streamy_options o;
    streamy *ttl, *forever;

    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    o.ttl_ms = 60000;
    ttl = open_ok(&o);
    forever = open_ok(NULL);
    ck_assert_rc(streamy_subscribe(NULL, ttl, "jack", "s1"), STREAMY_OK);
    ck_assert_int_gt(cmd_int("PTTL %sstreamy:{jack}:leases", prefix), 0);
    ck_assert_rc(streamy_subscribe(NULL, forever, "jack", "s2"), STREAMY_OK);
    ck_assert_int_eq(cmd_int("PTTL %sstreamy:{jack}:leases", prefix), -1);
    ck_assert_rc(streamy_subscribe(NULL, ttl, "jack", "s3"), STREAMY_OK);
    ck_assert_int_eq(cmd_int("PTTL %sstreamy:{jack}:leases", prefix), -1);
    /* Without the lease that never expires, the key may expire again. */
    ck_assert_rc(streamy_unsubscribe(NULL, forever, "jack", "s2"), STREAMY_OK);
    ck_assert_int_gt(cmd_int("PTTL %sstreamy:{jack}:leases", prefix), 0);
    ck_assert_rc(streamy_renew(NULL, forever, "jack", "s1"), STREAMY_OK);
    ck_assert_int_eq(cmd_int("PTTL %sstreamy:{jack}:leases", prefix), -1);
    ck_assert_rc(streamy_renew(NULL, ttl, "jack", "s1"), STREAMY_OK);
    ck_assert_int_gt(cmd_int("PTTL %sstreamy:{jack}:leases", prefix), 0);
    /* A limit never expires. */
    ck_assert_rc(streamy_set_limit(ttl, "jack", 4), STREAMY_OK);
    ck_assert_int_eq(cmd_int("PTTL %sstreamy:{jack}:limit", prefix), -1);
    streamy_close(ttl);
    streamy_close(forever);
}
END_TEST

START_TEST(idle_users_disappear_by_themselves)
{
    streamy_options o;
    streamy *h;
    int64_t t0;

    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    o.ttl_ms = 200;
    h = open_ok(&o);
    ck_assert_rc(streamy_subscribe(NULL, h, "kim", "s1"), STREAMY_OK);
    ck_assert_int_eq(cmd_int("EXISTS %sstreamy:{kim}:leases", prefix), 1);
    t0 = mono_ms();
    while (cmd_int("EXISTS %sstreamy:{kim}:leases", prefix) == 1) {
        ck_assert_msg(mono_ms() - t0 < test_timeout_scale(5000), "the key never expired");
        usleep(20 * 1000);
    }
    ck_assert_int_ge(mono_ms() - t0, 100);
    streamy_close(h);
}
END_TEST

START_TEST(purge_scans_every_page)
{
    enum { USERS = 2500 };
    static streamy_op ops[USERS];
    static char names[USERS][16];
    streamy_options o;
    streamy *h;
    uint64_t n = 0;

    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    /* Long enough that Redis, which expires keys by its own clock, keeps them all
     * while a slow run (valgrind) writes 2 500 users. */
    o.ttl_ms = 60000;
    o.clock = test_clock_cb;
    o.clock_payload = &clk;
    clk.now = 1700000000000LL;
    h = open_ok(&o);
    for (int i = 0; i < USERS; i++) {
        snprintf(names[i], sizeof(names[i]), "p%d", i);
        ops[i].kind = STREAMY_OP_SUBSCRIBE;
        ops[i].user = names[i];
        ops[i].stream = i % 2 ? "a*" : "b?";
    }
    ck_assert_rc(streamy_apply(h, ops, USERS), STREAMY_OK);
    ck_assert_rc(streamy_subscribe(NULL, h, "p0", "later"), STREAMY_OK);
    clk.now += 30000;
    ck_assert_rc(streamy_subscribe(NULL, h, "p1", "later"), STREAMY_OK);
    /* Another prefix on the same server is not this store's. */
    freeReplyObject(cmd("HSET other:streamy:{p0}:leases x 1:1:1"));
    clk.now += 36000;
    ck_assert_rc(streamy_purge(&n, h), STREAMY_OK);
    ck_assert_int_eq(n, USERS + 1);
    ck_assert_rc(streamy_purge(&n, h), STREAMY_OK);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(cmd_int("HLEN %sstreamy:{p1}:leases", prefix), 1);
    ck_assert_int_eq(cmd_int("EXISTS %sstreamy:{p2}:leases", prefix), 0);
    ck_assert_int_eq(cmd_int("HLEN other:streamy:{p0}:leases"), 1);
    streamy_close(h);
}
END_TEST

/* --- threads
 * ---------------------------------------------------------------------------- */

typedef struct racer {
    streamy *h;
    int id, allowed;
    pthread_t t;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    char stream[32];

    for (int i = 0; i < 100; i++) {
        snprintf(stream, sizeof(stream), "t%d-%d", r->id, i);
        int rc = streamy_subscribe(NULL, r->h, "lena", stream);
        ck_assert(rc == STREAMY_OK || rc == STREAMY_LIMIT_REACHED);
        r->allowed += rc == STREAMY_OK;
    }
    return NULL;
}

/* Threads sharing a handle, and separate handles (connections), on one user. */
START_TEST(the_limit_holds_under_threads)
{
    racer r[6];
    streamy *shared = open_ok(NULL);
    int allowed = 0;

    for (int i = 0; i < 6; i++) {
        r[i].h = i < 3 ? shared : open_ok(NULL);
        r[i].id = i;
        r[i].allowed = 0;
        ck_assert_int_eq(pthread_create(&r[i].t, NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(r[i].t, NULL);
        allowed += r[i].allowed;
        if (i >= 3)
            streamy_close(r[i].h);
    }
    ck_assert_int_eq(allowed, 3);
    ck_assert_int_eq(cmd_int("HLEN %sstreamy:{lena}:leases", prefix), 3);
    streamy_close(shared);
}
END_TEST

static Suite *redis_suite(void)
{
    Suite *s = suite_create("redis");
    TCase *tc;

#define CASE(name, ...)                                                                  \
    do {                                                                                 \
        tc = test_add_case(s, name, setup, teardown, test_timeout_scale(20));            \
        __VA_ARGS__;                                                                     \
    } while (0)

    CASE("uri", tcase_add_test(tc, bad_uris_are_refused);
         tcase_add_test(tc, tls_is_refused_clearly);
         tcase_add_test(tc, unreachable_server_is_a_store_error));
    CASE("connection", tcase_add_test(tc, database_prefix_and_key_layout);
         tcase_add_test(tc, unix_socket); tcase_add_test(tc, auth_from_the_uri);
         tcase_add_test(tc, reconnects_after_a_lost_connection);
         tcase_add_test(tc, scripts_reload_after_a_flush);
         tcase_add_test(tc, command_timeout); tcase_add_test(tc, server_down_then_back));
    CASE("time", tcase_add_test(tc, time_comes_from_the_server);
         tcase_add_test(tc, injected_clock_wins);
         tcase_add_test(tc, leases_without_ttl_keep_the_key);
         tcase_add_test(tc, idle_users_disappear_by_themselves);
         tcase_add_test(tc, purge_scans_every_page));
    CASE("threads", tcase_add_test(tc, the_limit_holds_under_threads));
#undef CASE
    add_session_cases(s);
    return s;
}

int main(void)
{
    return test_run_suite(redis_suite());
}
