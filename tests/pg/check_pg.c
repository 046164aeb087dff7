/* SPDX-License-Identifier: MIT */
/* check_pg.c: the PostgreSQL store's own promises, against the server of pg_harness.sh.
 */
#include <dirent.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pg_util.h"
#include "streamy.h"
#include "test_util.h"

/* --- URIs --------------------------------------------------------------------------- */

START_TEST(uri_errors_are_einval)
{
    static const struct {
        const char *query, *says;
    } bad[] = {
        {"?streamy_bogus=1", "streamy_bogus"},
        {"?streamy_schema=", "empty"},
        {"?streamy_schema=1abc", "1abc"},
        {"?streamy_schema=a-b", "a-b"},
        {"?streamy_schema=a%22b", "schema"},
        {"?streamy_schema="
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         "schema"},
        {"?no_such_libpq_option=1", "no_such_libpq_option"},
        {"?sslmode=sideways", "sslmode"},
    };
    streamy *h = (streamy *)&h;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = streamy_open(&h, uri("%s", bad[i].query), NULL);
        ck_assert_msg(rc == STREAMY_EINVAL || rc == STREAMY_ESTORE, "%s: %d %s",
                      bad[i].query, rc, streamy_errmsg(NULL));
        ck_assert_ptr_null(h);
        ck_assert_msg(strstr(streamy_errmsg(NULL), bad[i].says) != NULL, "%s: %s",
                      bad[i].query, streamy_errmsg(NULL));
    }
    /* Streamy's own parameters are Streamy's to refuse; libpq's syntax is libpq's. */
    ck_assert_rc(streamy_open(&h, uri("?streamy_bogus=1"), NULL), STREAMY_EINVAL);
    ck_assert_rc(streamy_open(&h, "postgresql://[::1", NULL), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "postgresql URI"));
    ck_assert_rc(streamy_open(&h, uri("?no_such_libpq_option=1"), NULL), STREAMY_EINVAL);
}
END_TEST

START_TEST(uri_schema_and_libpq_parameters_mix)
{
    char q[128];
    streamy *h;
    PGconn *c = admin();

    /* Our parameter first, last or between libpq's: libpq never sees it. */
    snprintf(q, sizeof(q), "?application_name=mix&streamy_schema=%s&connect_timeout=5",
             schema("mix"));
    h = open_ok(uri("%s", q), NULL);
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "s"), STREAMY_OK);
    streamy_close(h);
    snprintf(q, sizeof(q), "?streamy_schema=%s", schema("mix"));
    h = open_ok(uri("%s", q), NULL);
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "t"), STREAMY_OK);
    streamy_close(h);
    {
        char text[256];
        snprintf(text, sizeof(text), "SELECT count(*) FROM \"%s\".leases", schema("mix"));
        ck_assert_int_eq(sql_int(c, text), 2);
    }
    /* Without streamy_schema the tables go to the schema "streamy". */
    h = open_ok(base_uri, NULL);
    streamy_close(h);
    ck_assert_int_eq(
        sql_int(c, "SELECT count(*) FROM pg_namespace WHERE nspname = 'streamy'"), 1);
    PQfinish(c);
}
END_TEST

/* --- connecting --------------------------------------------------------------------- */

START_TEST(unreachable_server_is_estore)
{
    streamy *h = (streamy *)&h;
    int64_t t0 = mono_ms();

    /* Port 1 on loopback: refused at once. The password never shows. */
    ck_assert_rc(
        streamy_open(&h, "postgresql://streamy:Sekr3tPw@127.0.0.1:1/postgres", NULL),
        STREAMY_ESTORE);
    ck_assert_ptr_null(h);
    ck_assert_msg(strstr(streamy_errmsg(NULL), "127.0.0.1") != NULL &&
                      strstr(streamy_errmsg(NULL), "refused") != NULL,
                  "%s", streamy_errmsg(NULL));
    ck_assert_ptr_null(strstr(streamy_errmsg(NULL), "Sekr3tPw"));
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "cannot connect"));
    /* A host that never answers: connect_timeout bounds the wait. */
    t0 = mono_ms();
    ck_assert_rc(
        streamy_open(&h, "postgresql://streamy@192.0.2.1:5432/postgres?connect_timeout=2",
                     NULL),
        STREAMY_ESTORE);
    ck_assert_msg(mono_ms() - t0 < 6000, "connect_timeout=2 took %lld ms",
                  (long long)(mono_ms() - t0));
    /* A malformed password encoding: libpq's message, password masked. */
    ck_assert_rc(streamy_open(&h, "postgresql://u:Sekr3t%zz@127.0.0.1:1/x", NULL),
                 STREAMY_EINVAL);
    ck_assert_ptr_null(strstr(streamy_errmsg(NULL), "Sekr3t"));
    /* A database that does not exist: the server's words. */
    ck_assert_rc(streamy_open(&h, uri("x_no_such_db"), NULL), STREAMY_ESTORE);
}
END_TEST

START_TEST(non_utf8_database_is_refused)
{
    PGconn *c = admin();
    streamy *h = (streamy *)&h;
    char u[1024];

    PQclear(sql(c, "CREATE DATABASE latin ENCODING 'LATIN1' TEMPLATE template0 "
                   "LC_COLLATE 'C' LC_CTYPE 'C'"));
    snprintf(u, sizeof(u), "%s", base_uri);
    strcpy(strrchr(u, '/') + 1, "latin");
    ck_assert_rc(streamy_open(&h, u, NULL), STREAMY_ESTORE);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "LATIN1"));
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "UTF8"));
    PQfinish(c);
}
END_TEST

/* --- the schema --------------------------------------------------------------------- */

START_TEST(schema_created_once_by_many_processes)
{
    enum { N = 8 };
    int go[2];
    pid_t pids[N];
    PGconn *c = admin();
    char q[128], text[256];

    snprintf(q, sizeof(q), "?streamy_schema=%s", schema("race"));
    uri("%s", q);
    ck_assert_int_eq(pipe(go), 0);
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            char b, stream[16];
            streamy *h;
            close(go[1]);
            /* All start together: the parent closes the pipe. */
            if (read(go[0], &b, 1) != 0)
                test_child_exit(3);
            if (streamy_open(&h, uri_buf, NULL) != STREAMY_OK) {
                fprintf(stderr, "child %d: %s\n", i, streamy_errmsg(NULL));
                test_child_exit(1);
            }
            snprintf(stream, sizeof(stream), "s%d", i);
            if (streamy_subscribe(NULL, h, stream, stream) != STREAMY_OK)
                test_child_exit(2);
            streamy_close(h);
            test_child_exit(0);
        }
    }
    close(go[0]);
    close(go[1]);
    for (int i = 0; i < N; i++) {
        int status;
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "child %d: status %d", i, status);
    }
    snprintf(text, sizeof(text), "SELECT count(*) FROM \"%s\".schema_version",
             schema("race"));
    ck_assert_int_eq(sql_int(c, text), 1);
    snprintf(text, sizeof(text), "SELECT count(*) FROM \"%s\".leases", schema("race"));
    ck_assert_int_eq(sql_int(c, text), N);
    PQfinish(c);
}
END_TEST

START_TEST(newer_schema_is_refused)
{
    PGconn *c = admin();
    streamy *h;
    char text[256];

    h = open_ok(uri("?streamy_schema=%s", schema("newer")), NULL);
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "s"), STREAMY_OK);
    streamy_close(h);
    snprintf(text, sizeof(text), "UPDATE \"%s\".schema_version SET version = 99",
             schema("newer"));
    PQclear(sql(c, text));
    ck_assert_rc(streamy_open(&h, uri("?streamy_schema=%s", schema("newer")), NULL),
                 STREAMY_ESTORE);
    ck_assert_ptr_null(h);
    ck_assert_msg(strstr(streamy_errmsg(NULL), "version 99") != NULL &&
                      strstr(streamy_errmsg(NULL), "newer") != NULL,
                  "%s", streamy_errmsg(NULL));
    /* Left untouched. */
    snprintf(text, sizeof(text), "SELECT version FROM \"%s\".schema_version",
             schema("newer"));
    ck_assert_int_eq(sql_int(c, text), 99);
    PQfinish(c);
}
END_TEST

START_TEST(foreign_schema_is_refused)
{
    PGconn *c = admin();
    streamy *h = (streamy *)&h;
    char text[256];

    snprintf(text, sizeof(text),
             "CREATE SCHEMA \"%s\"; CREATE TABLE \"%s\".leases (x int)", schema("theirs"),
             schema("theirs"));
    PQclear(sql(c, text));
    ck_assert_rc(streamy_open(&h, uri("?streamy_schema=%s", schema("theirs")), NULL),
                 STREAMY_ESTORE);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "not Streamy's"));
    snprintf(
        text, sizeof(text),
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = '%s'",
        schema("theirs"));
    ck_assert_int_eq(sql_int(c, text), 1);
    /* An empty schema someone made for us is used. */
    snprintf(text, sizeof(text), "CREATE SCHEMA \"%s\"", schema("empty"));
    PQclear(sql(c, text));
    h = open_ok(uri("?streamy_schema=%s", schema("empty")), NULL);
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "s"), STREAMY_OK);
    streamy_close(h);
    PQfinish(c);
}
END_TEST

/* --- time -------------------------------------------------------------------------- */

START_TEST(time_comes_from_the_server)
{
    PGconn *c = admin();
    streamy_options o;
    streamy_decision d;
    streamy_lease_cb cb = NULL;
    long long before, after;
    char text[256];
    streamy *h;

    (void)cb;
    ck_assert_rc(streamy_options_init(&o, STREAMY_OPTIONS_VERSION), STREAMY_OK);
    o.ttl_ms = 60000;
    h = open_ok(uri("?streamy_schema=%s", schema("time")), &o);
    snprintf(text, sizeof(text), "SELECT \"%s\".now_ms()", schema("time"));
    before = sql_int(c, text);
    ck_assert_rc(streamy_subscribe(&d, h, "u", "s"), STREAMY_OK);
    after = sql_int(c, text);
    ck_assert_int_ge(d.since_ms, before);
    ck_assert_int_le(d.since_ms, after);
    ck_assert_int_eq(d.expires_ms - d.since_ms, 60000);
    /* An injected clock wins: then the server's time is not used. */
    streamy_close(h);
    PQfinish(c);
}
END_TEST

START_TEST(injected_clock_is_used)
{
    int64_t now = 1000000;
    streamy_options o;
    streamy_decision d;
    streamy *h;
    unsigned int n;

    ck_assert_rc(streamy_options_init(&o, STREAMY_OPTIONS_VERSION), STREAMY_OK);
    o.ttl_ms = 1000;
    o.clock = fixed_clock;
    o.clock_payload = &now;
    h = open_ok(uri("?streamy_schema=%s", schema("clock")), &o);
    ck_assert_rc(streamy_subscribe(&d, h, "u", "s"), STREAMY_OK);
    ck_assert_int_eq(d.since_ms, 1000000);
    ck_assert_int_eq(d.expires_ms, 1001000);
    /* In the server's time (about 2025 or later) it expired long ago; in ours not yet. */
    ck_assert_rc(streamy_count(&n, h, "u"), STREAMY_OK);
    ck_assert_uint_eq(n, 1);
    now = 1001000;
    ck_assert_rc(streamy_count(&n, h, "u"), STREAMY_OK);
    ck_assert_uint_eq(n, 0);
    streamy_close(h);
}
END_TEST

/* --- failures ----------------------------------------------------------------------- */

START_TEST(reconnects_once_after_losing_the_connection)
{
    PGconn *c = admin();
    streamy_decision d;
    streamy *h;
    char text[256];

    h = open_ok(uri("?streamy_schema=%s&application_name=victim_%ld", schema("recon"),
                    (long)getpid()),
                NULL);
    ck_assert_rc(streamy_subscribe(&d, h, "u", "s1"), STREAMY_OK);
    snprintf(text, sizeof(text),
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
             "WHERE application_name = 'victim_%ld'",
             (long)getpid());
    ck_assert_int_eq(sql_int(c, text), 1);
    /* The next calls reconnect and prepare their statements again, unseen. */
    ck_assert_rc(streamy_subscribe(&d, h, "u", "s2"), STREAMY_OK);
    ck_assert_uint_eq(d.active, 2);
    ck_assert_rc(streamy_health(h), STREAMY_OK);
    ck_assert_int_eq(sql_int(c, text), 1);
    ck_assert_rc(streamy_unsubscribe(&d, h, "u", "s1"), STREAMY_OK);
    ck_assert_int_eq(d.removed, 1);
    ck_assert_int_eq(sql_int(c, text), 1);
    {
        streamy_op ops[2] = {{STREAMY_OP_SUBSCRIBE, "u", "s3", 0, {0}},
                             {STREAMY_OP_SUBSCRIBE, "v", "s3", 0, {0}}};
        ck_assert_rc(streamy_apply(h, ops, 2), STREAMY_OK);
        ck_assert_int_eq(ops[0].result, STREAMY_OK);
        ck_assert_uint_eq(ops[0].decision.active, 2);
    }
    streamy_close(h);
    PQfinish(c);
}
END_TEST

/* Another session holds the user's row: that user's decisions wait for the busy
 * timeout and fail with EBUSY; other users' decisions do not wait at all. */
START_TEST(a_locked_user_is_ebusy_and_blocks_no_one_else)
{
    PGconn *c = admin();
    streamy_options o;
    streamy_decision d;
    streamy *h;
    char text[256];
    int64_t t0, took;
    unsigned int n;

    ck_assert_rc(streamy_options_init(&o, STREAMY_OPTIONS_VERSION), STREAMY_OK);
    o.busy_timeout_ms = 1000;
    h = open_ok(uri("?streamy_schema=%s", schema("busy")), &o);
    ck_assert_rc(streamy_subscribe(&d, h, "held", "s1"), STREAMY_OK);
    snprintf(text, sizeof(text),
             "BEGIN; SELECT * FROM \"%s\".users WHERE user_id = 'held' FOR UPDATE",
             schema("busy"));
    PQclear(sql(c, text));
    t0 = mono_ms();
    ck_assert_rc(streamy_subscribe(&d, h, "held", "s2"), STREAMY_EBUSY);
    took = mono_ms() - t0;
    ck_assert_msg(took >= 900 && took < test_timeout_scale(10000), "waited %lld ms",
                  (long long)took);
    ck_assert_msg(strstr(streamy_errmsg(h), "lock") != NULL, "%s", streamy_errmsg(h));
    ck_assert_rc(streamy_renew(&d, h, "held", "s1"), STREAMY_EBUSY);
    /* A batch touching the held user fails whole, and writes nothing. */
    {
        streamy_op ops[2] = {{STREAMY_OP_SUBSCRIBE, "free", "s1", 0, {0}},
                             {STREAMY_OP_SUBSCRIBE, "held", "s3", 0, {0}}};
        ck_assert_rc(streamy_apply(h, ops, 2), STREAMY_EBUSY);
        ck_assert_int_eq(ops[0].result, STREAMY_EBUSY);
        ck_assert_int_eq(ops[1].result, STREAMY_EBUSY);
    }
    /* Others go on at once. */
    t0 = mono_ms();
    ck_assert_rc(streamy_subscribe(&d, h, "other", "s1"), STREAMY_OK);
    ck_assert_rc(streamy_count(&n, h, "free"), STREAMY_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_rc(streamy_count(&n, h, "held"), STREAMY_OK); /* reading never waits */
    ck_assert_uint_eq(n, 1);
    ck_assert_msg(mono_ms() - t0 < test_timeout_scale(700), "other users waited %lld ms",
                  (long long)(mono_ms() - t0));
    PQclear(sql(c, "ROLLBACK"));
    ck_assert_rc(streamy_subscribe(&d, h, "held", "s2"), STREAMY_OK);
    ck_assert_uint_eq(d.active, 2);
    streamy_close(h);
    PQfinish(c);
}
END_TEST

/* Two handles deciding batches over the same users in opposite orders never deadlock:
 * each batch locks its users in one sorted order first. */
struct batcher {
    const char *uri;
    int reverse;
    int failures;
    char error[300];
};

static void *batch_loop(void *arg)
{
    struct batcher *b = arg;
    enum { USERS = 12 };
    char users[USERS][16];
    streamy_op ops[2 * USERS];
    streamy *h;

    if (streamy_open(&h, b->uri, NULL) != STREAMY_OK) {
        snprintf(b->error, sizeof(b->error), "open: %s", streamy_errmsg(NULL));
        b->failures++;
        return NULL;
    }
    for (int i = 0; i < USERS; i++)
        snprintf(users[i], sizeof(users[i]), "user%02d", b->reverse ? USERS - 1 - i : i);
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < USERS; i++) {
            ops[i].kind = STREAMY_OP_SUBSCRIBE;
            ops[USERS + i].kind = STREAMY_OP_UNSUBSCRIBE;
            ops[i].user = ops[USERS + i].user = users[i];
            ops[i].stream = ops[USERS + i].stream = b->reverse ? "r" : "f";
        }
        int rc = streamy_apply(h, ops, 2 * USERS);
        if (rc != STREAMY_OK) {
            if (b->failures++ == 0)
                snprintf(b->error, sizeof(b->error), "apply: %s", streamy_errmsg(h));
            continue;
        }
        for (int i = 0; i < 2 * USERS; i++)
            if (ops[i].result != STREAMY_OK && b->failures++ == 0)
                snprintf(b->error, sizeof(b->error), "op %d answered %d", i,
                         ops[i].result);
    }
    streamy_close(h);
    return NULL;
}

START_TEST(batches_in_opposite_orders_never_deadlock)
{
    struct batcher b[4];
    pthread_t t[4];
    char u[1024];

    snprintf(u, sizeof(u), "%s", uri("?streamy_schema=%s", schema("order")));
    streamy_close(open_ok(u, NULL)); /* the schema, once */
    for (int i = 0; i < 4; i++) {
        memset(&b[i], 0, sizeof(b[i]));
        b[i].uri = u;
        b[i].reverse = i % 2;
        ck_assert_int_eq(pthread_create(&t[i], NULL, batch_loop, &b[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(b[i].failures == 0, "batcher %d: %d failures, first: %s", i,
                      b[i].failures, b[i].error);
    }
}
END_TEST

/* --- the limit under many handles --------------------------------------------------- */

struct hammer {
    const char *uri;
    int id;
    int allowed;
    int errors;
    char error[300];
};

static void *hammer_loop(void *arg)
{
    struct hammer *hm = arg;
    char stream[32];
    streamy_decision d;
    streamy *h;

    if (streamy_open(&h, hm->uri, NULL) != STREAMY_OK) {
        hm->errors++;
        snprintf(hm->error, sizeof(hm->error), "open: %s", streamy_errmsg(NULL));
        return NULL;
    }
    for (int i = 0; i < 60; i++) {
        snprintf(stream, sizeof(stream), "h%d-%d", hm->id, i);
        int rc = streamy_subscribe(&d, h, "shared", stream);
        if (rc == STREAMY_OK)
            hm->allowed++;
        else if (rc != STREAMY_LIMIT_REACHED && hm->errors++ == 0)
            snprintf(hm->error, sizeof(hm->error), "%s", streamy_errmsg(h));
    }
    streamy_close(h);
    return NULL;
}

START_TEST(the_limit_holds_across_connections)
{
    struct hammer hm[6];
    pthread_t t[6];
    PGconn *c = admin();
    int allowed = 0;
    char u[1024], text[256];

    snprintf(u, sizeof(u), "%s", uri("?streamy_schema=%s", schema("hammer")));
    streamy_close(open_ok(u, NULL));
    for (int i = 0; i < 6; i++) {
        memset(&hm[i], 0, sizeof(hm[i]));
        hm[i].uri = u;
        hm[i].id = i;
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer_loop, &hm[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(hm[i].errors == 0, "thread %d: %s", i, hm[i].error);
        allowed += hm[i].allowed;
    }
    ck_assert_int_eq(allowed, 3);
    snprintf(text, sizeof(text), "SELECT count(*) FROM \"%s\".leases", schema("hammer"));
    ck_assert_int_eq(sql_int(c, text), 3);
    PQfinish(c);
}
END_TEST

START_TEST(purge_forgets_users_left_with_nothing)
{
    int64_t now = 1000000;
    streamy_options o;
    PGconn *c = admin();
    uint64_t removed;
    unsigned int limit;
    int over;
    char text[256];
    streamy *h;

    ck_assert_rc(streamy_options_init(&o, STREAMY_OPTIONS_VERSION), STREAMY_OK);
    o.ttl_ms = 1000;
    o.clock = fixed_clock;
    o.clock_payload = &now;
    h = open_ok(uri("?streamy_schema=%s", schema("purge")), &o);
    ck_assert_rc(streamy_subscribe(NULL, h, "gone", "s"), STREAMY_OK);
    ck_assert_rc(streamy_subscribe(NULL, h, "limited", "s"), STREAMY_OK);
    ck_assert_rc(streamy_set_limit(h, "limited", 7), STREAMY_OK);
    now += 5000;
    ck_assert_rc(streamy_subscribe(NULL, h, "stays", "s"), STREAMY_OK);
    ck_assert_rc(streamy_purge(&removed, h), STREAMY_OK);
    ck_assert_uint_eq(removed, 2);
    snprintf(text, sizeof(text),
             "SELECT string_agg(user_id, ',' ORDER BY user_id) FROM \"%s\".users",
             schema("purge"));
    {
        PGresult *r = sql(c, text);
        ck_assert_str_eq(PQgetvalue(r, 0, 0), "limited,stays");
        PQclear(r);
    }
    ck_assert_rc(streamy_get_limit(&limit, &over, h, "limited"), STREAMY_OK);
    ck_assert_uint_eq(limit, 7);
    ck_assert_int_eq(over, 1);
    streamy_close(h);
    PQfinish(c);
}
END_TEST

/* --- deadlines ---------------------------------------------------------------------- */

/* Every process of the server: the postmaster (the parent of `c`'s backend) and its
 * children. */
static int server_pids(PGconn *c, pid_t *out, int max)
{
    char path[64], line[512];
    long long backend = sql_int(c, "SELECT pg_backend_pid()");
    int pm = 0, n = 0;
    struct dirent *de;
    FILE *f;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%lld/stat", backend);
    ck_assert_ptr_nonnull(f = fopen(path, "r"));
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    fclose(f);
    ck_assert_int_eq(sscanf(strrchr(line, ')') + 2, "%*c %d", &pm), 1);
    out[n++] = pm;
    ck_assert_ptr_nonnull(d = opendir("/proc"));
    while ((de = readdir(d)) != NULL && n < max) {
        int pid = atoi(de->d_name), ppid = 0;
        if (pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        if (fgets(line, sizeof(line), f) && strrchr(line, ')') &&
            sscanf(strrchr(line, ')') + 2, "%*c %d", &ppid) == 1 && ppid == pm)
            out[n++] = pid;
        fclose(f);
    }
    closedir(d);
    return n;
}

typedef struct bg_call {
    streamy *h;
    const char *user, *stream;
    int rc;
    int64_t took_ms;
    char msg[512];
} bg_call;

static void *subscribe_main(void *arg)
{
    bg_call *b = arg;
    streamy_decision d;
    int64_t t0 = mono_ms();

    b->rc = streamy_subscribe(&d, b->h, b->user, b->stream);
    b->took_ms = mono_ms() - t0;
    snprintf(b->msg, sizeof(b->msg), "%s", streamy_errmsg(b->h));
    return NULL;
}

/* The server stopped (SIGSTOP): it accepts connections and answers nothing. A decision
 * ends at the deadline (EBUSY), a health check asked meanwhile does not wait for it,
 * and the same handle answers again once the server runs. */
START_TEST(a_stopped_server_answers_within_the_deadline)
{
    PGconn *c = admin();
    streamy_options o;
    streamy_decision d;
    pid_t pids[64];
    bg_call b;
    pthread_t t;
    int64_t t0, took;
    int n, rc;

    ck_assert_rc(streamy_options_init(&o, STREAMY_OPTIONS_VERSION), STREAMY_OK);
    o.busy_timeout_ms = 1000;
    memset(&b, 0, sizeof(b));
    b.h = open_ok(uri("?streamy_schema=%s", schema("stop")), &o);
    b.user = "u";
    b.stream = "s2";
    ck_assert_rc(streamy_subscribe(&d, b.h, "u", "s1"), STREAMY_OK);
    n = server_pids(c, pids, 64);
    for (int i = 0; i < n; i++)
        kill(pids[i], SIGSTOP);
    ck_assert_int_eq(pthread_create(&t, NULL, subscribe_main, &b), 0);
    usleep(100 * 1000);
    t0 = mono_ms();
    rc = streamy_health(b.h);
    took = mono_ms() - t0;
    pthread_join(t, NULL);
    for (int i = 0; i < n; i++)
        kill(pids[i], SIGCONT);
    ck_assert_rc(b.rc, STREAMY_EBUSY);
    ck_assert_msg(b.took_ms >= 900 && b.took_ms < test_timeout_scale(2500),
                  "the decision took %lld ms", (long long)b.took_ms);
    ck_assert_msg(strstr(b.msg, "no answer within 1000 ms") != NULL, "%s", b.msg);
    ck_assert_msg(rc == STREAMY_EBUSY || rc == STREAMY_ESTORE, "health: %d", rc);
    ck_assert_msg(took < test_timeout_scale(2000), "health took %lld ms",
                  (long long)took);
    /* Back: the same handle reconnects by itself (after at most the backoff). */
    t0 = mono_ms();
    while ((rc = streamy_subscribe(&d, b.h, "u", "s2")) != STREAMY_OK) {
        ck_assert_msg(mono_ms() - t0 < test_timeout_scale(10000), "still %d: %s", rc,
                      streamy_errmsg(b.h));
        usleep(50 * 1000);
    }
    ck_assert_rc(streamy_health(b.h), STREAMY_OK);
    streamy_close(b.h);
    PQfinish(c);
}
END_TEST

/* A commit waiting for a synchronous standby that is not there, its wait cancelled
 * (here by pg_cancel_backend, as the deadline's cancel does): PostgreSQL says it
 * committed locally and answers the statement; the store answers an error all the
 * same, never an acknowledgement. A retry finds the lease. */
START_TEST(a_cancelled_synchronous_commit_is_no_acknowledgement)
{
    PGconn *c = admin();
    streamy_options o;
    streamy_decision d;
    bg_call b;
    pthread_t t;
    int64_t t0 = mono_ms();

    ck_assert_rc(streamy_options_init(&o, STREAMY_OPTIONS_VERSION), STREAMY_OK);
    o.busy_timeout_ms = 30000;
    memset(&b, 0, sizeof(b));
    b.h = open_ok(uri("?streamy_schema=%s", schema("sync")), &o);
    b.user = "u";
    b.stream = "s1";
    PQclear(sql(c, "ALTER SYSTEM SET synchronous_standby_names = 'streamy_absent'"));
    PQclear(sql(c, "SELECT pg_reload_conf()"));
    usleep(200 * 1000);
    ck_assert_int_eq(pthread_create(&t, NULL, subscribe_main, &b), 0);
    while (sql_int(c, "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity "
                      "WHERE application_name = 'streamy' AND wait_event = 'SyncRep'") ==
           0) {
        ck_assert_msg(mono_ms() - t0 < test_timeout_scale(10000),
                      "no commit waits for the standby");
        usleep(20 * 1000);
    }
    pthread_join(t, NULL);
    PQclear(sql(c, "ALTER SYSTEM RESET synchronous_standby_names"));
    PQclear(sql(c, "SELECT pg_reload_conf()"));
    ck_assert_rc(b.rc, STREAMY_ESTORE);
    ck_assert_msg(strstr(b.msg, "synchronous replication") != NULL &&
                      strstr(b.msg, "outcome is unknown") != NULL,
                  "%s", b.msg);
    usleep(200 * 1000);
    ck_assert_rc(streamy_subscribe(&d, b.h, "u", "s1"), STREAMY_OK);
    ck_assert_int_eq(d.created, 0); /* it was committed: the retry refreshes it */
    streamy_close(b.h);
    PQfinish(c);
}
END_TEST

static Suite *pg_suite(void)
{
    Suite *s = suite_create("postgresql");
    TCase *tc;

#define CASE(name, ...)                                                                  \
    do {                                                                                 \
        tc = test_add_case(s, name, NULL, NULL, test_timeout_scale(30));                 \
        __VA_ARGS__;                                                                     \
    } while (0)

    CASE("uri", tcase_add_test(tc, uri_errors_are_einval);
         tcase_add_test(tc, uri_schema_and_libpq_parameters_mix));
    CASE("connect", tcase_add_test(tc, unreachable_server_is_estore);
         tcase_add_test(tc, non_utf8_database_is_refused));
    CASE("schema", tcase_add_test(tc, schema_created_once_by_many_processes);
         tcase_add_test(tc, newer_schema_is_refused);
         tcase_add_test(tc, foreign_schema_is_refused));
    CASE("time", tcase_add_test(tc, time_comes_from_the_server);
         tcase_add_test(tc, injected_clock_is_used));
    CASE("failures", tcase_add_test(tc, reconnects_once_after_losing_the_connection);
         tcase_add_test(tc, a_locked_user_is_ebusy_and_blocks_no_one_else));
    CASE("concurrency", tcase_add_test(tc, batches_in_opposite_orders_never_deadlock);
         tcase_add_test(tc, the_limit_holds_across_connections);
         tcase_add_test(tc, purge_forgets_users_left_with_nothing));
    CASE("deadline", tcase_add_test(tc, a_stopped_server_answers_within_the_deadline);
         tcase_add_test(tc, a_cancelled_synchronous_commit_is_no_acknowledgement));
#undef CASE
    return s;
}

int main(void)
{
    if (pg_util_init("check_pg") != 0)
        return 2;
    return test_run_suite(pg_suite());
}
