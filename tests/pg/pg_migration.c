/* SPDX-License-Identifier: MIT */
/* pg_migration.c: schemas that earlier releases made, migrated on open: version 1
 * (schema_v1.sql) and release 0.2.0's database (fixture-0.2.0.sql, version 2). Part of
 * check_pg_sessions. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pg_util.h"
#include "streamy.h"
#include "test_util.h"

/* schema_v1.sql, embedded by tests/pg/CMakeLists.txt. */
extern const char *const check_pg_schema_v1;

/* The OUT (or TABLE) parameters of function `fn` (with its argument types) of this
 * test's schema "v1", in order. */
static char *out_params(PGconn *c, const char *fn)
{
    static char buf[256];
    char text[512];
    PGresult *r;

    snprintf(text, sizeof(text),
             "SELECT string_agg(n, ',' ORDER BY k) FROM pg_proc p, unnest(p.proargnames, "
             "p.proargmodes) WITH ORDINALITY a(n, m, k) WHERE p.oid = "
             "'\"%s\".%s'::regprocedure "
             "AND m IN ('o', 't')",
             schema("v1"), fn);
    r = sql(c, text);
    snprintf(buf, sizeof(buf), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return buf;
}

START_TEST(version_1_schema_is_migrated)
{
    static const char *const v1_calls[] = {
        "'alice', 'a1', 1000, 0", "'alice', 'a2', 2000, 0", "'bob', 'b1', 1000, 4000",
        "'carol', 'c1', 3000, 100000"};
    /* Versions 1 and 2's functions, and version 3's. */
    static const char *const fns[] = {
        "acquire(text,text,bigint,bigint,integer,integer,boolean)",
        "renew(text,text,bigint,bigint,integer)",
        "apply(integer[],text[],text[],bigint,bigint,integer,integer,boolean)"};
    static const char *const fns3[] = {
        "acquire(text,text,bigint,bigint,integer,integer,boolean,uuid,text)",
        "renew(text,text,bigint,bigint,integer,uuid)",
        "apply(integer[],text[],text[],bigint,bigint,integer[],integer,boolean,uuid[],"
        "uuid[],text[])"};
    int64_t now = 10000;
    streamy_options o;
    streamy_decision d;
    streamy_op ops[3] = {{STREAMY_OP_UNSUBSCRIBE, "alice", "a2", -1, {0}},
                         {STREAMY_OP_RENEW, "carol", "c1", -1, {0}},
                         {STREAMY_OP_SUBSCRIBE, "dave", "d1", -1, {0}}};
    PGconn *c = admin();
    char q[96], version[256], text[512];
    char *ddl = malloc(strlen(check_pg_schema_v1) * 2 + 1), *w = ddl;
    streamy *h, *evict, *shadow;
    unsigned int n;

    /* Version 1, as the release before made it, with leases its functions decided. */
    ck_assert_ptr_nonnull(ddl);
    for (const char *p = check_pg_schema_v1; *p; p++)
        if (strncmp(p, "@S@", 3) == 0)
            w += sprintf(w, "\"%s\"", schema("v1")), p += 2;
        else
            *w++ = *p;
    *w = '\0';
    PQclear(sql(c, ddl));
    free(ddl);
    for (size_t i = 0; i < sizeof(v1_calls) / sizeof(v1_calls[0]); i++) {
        snprintf(text, sizeof(text), "SELECT * FROM \"%s\".acquire(%s, 3, 0, false)",
                 schema("v1"), v1_calls[i]);
        PQclear(sql(c, text));
    }
    snprintf(text, sizeof(text),
             "UPDATE \"%s\".users SET max_streams = 2 WHERE user_id = 'alice'",
             schema("v1"));
    PQclear(sql(c, text));
    for (size_t i = 0; i < 3; i++)
        ck_assert_str_eq(out_params(c, fns[i]), "rc,created,removed,active,lim,since,"
                                                "expires,retry,expired,evicted,"
                                                "shadow_refused");

    /* Opened by this libstreamy: migrated once, in answer.h's order. */
    ck_assert_rc(streamy_options_init(&o, STREAMY_OPTIONS_VERSION), STREAMY_OK);
    o.ttl_ms = 60000;
    o.clock = fixed_clock;
    o.clock_payload = &now;
    snprintf(q, sizeof(q), "?streamy_schema=%s", schema("v1"));
    h = open_ok(uri("%s", q), &o);
    o.policy = STREAMY_POLICY_EVICT_OLDEST;
    evict = open_ok(uri("%s", q), &o);
    o.policy = STREAMY_POLICY_REJECT;
    o.shadow = 1;
    shadow = open_ok(uri("%s", q), &o);
    snprintf(version, sizeof(version),
             "SELECT max(version) * 10 + count(*) FROM \"%s\".schema_version",
             schema("v1"));
    ck_assert_int_eq(sql_int(c, version), 31);
    /* Every lease got an id of its own. */
    snprintf(text, sizeof(text),
             "SELECT count(DISTINCT lease_id) * 10 + count(*) FROM \"%s\".leases",
             schema("v1"));
    ck_assert_int_eq(sql_int(c, text), 44);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(out_params(c, fns3[i]),
                         "rc,created,removed,shadow_refused,active,"
                         "lim,expired,since,expires,retry,evicted,lease,label,"
                         "evicted_lease,evicted_label,stale");
        /* Release 0.2's, for its processes still running: version 2's answer. */
        ck_assert_str_eq(out_params(c, fns[i]),
                         "rc,created,removed,shadow_refused,active,"
                         "lim,expired,since,expires,retry,evicted");
    }

    /* The leases and the limit survived; every field of the answers is in its place. */
    ck_assert_rc(streamy_count(&n, h, "alice"), STREAMY_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_rc(streamy_subscribe(&d, h, "alice", "a3"), STREAMY_LIMIT_REACHED);
    ck_assert_uint_eq(d.active, 2);
    ck_assert_uint_eq(d.limit, 2);
    ck_assert_rc(streamy_renew(&d, h, "alice", "a2"), STREAMY_OK);
    ck_assert_int_eq(d.since_ms, 2000);
    ck_assert_int_eq(d.expires_ms, 70000);
    ck_assert_rc(streamy_subscribe(&d, h, "bob", "b2"), STREAMY_OK);
    ck_assert_int_eq(d.created, 1);
    ck_assert_uint_eq(d.expired, 1);
    ck_assert_uint_eq(d.active, 1);
    ck_assert_uint_eq(d.limit, 3);
    ck_assert_int_eq(d.since_ms, 10000);
    ck_assert_rc(streamy_renew(&d, h, "dave", "d0"), STREAMY_NOT_FOUND);
    ck_assert_rc(streamy_subscribe(&d, evict, "alice", "a4"), STREAMY_OK);
    ck_assert_str_eq(d.evicted, "a1");
    ck_assert_uint_eq(d.active, 2);
    ck_assert_rc(streamy_subscribe(&d, shadow, "alice", "a5"), STREAMY_OK);
    ck_assert_int_eq(d.shadow_refused, 1);
    ck_assert_uint_eq(d.active, 3);
    ck_assert_rc(streamy_apply(h, ops, 3), STREAMY_OK);
    ck_assert_int_eq(ops[0].decision.removed, 1);
    ck_assert_int_eq(ops[1].decision.since_ms, 3000);
    ck_assert_int_eq(ops[1].decision.expires_ms, 70000);
    ck_assert_int_eq(ops[2].decision.created, 1);
    streamy_close(h);
    streamy_close(evict);
    streamy_close(shadow);
    ck_assert_int_eq(sql_int(c, version), 31);
    PQfinish(c);
}
END_TEST

/* fixture-0.2.0.sql, embedded by tests/pg/CMakeLists.txt: `pg_dump --inserts -n streamy`
 * of a database release 0.2.0 made (schema version 2). */
extern const char *const check_pg_fixture_0_2_0;

/* The fixture's leases, as 0.2.0 wrote them. */
static const struct {
    const char *user, *stream;
    long long since, renewed, expires;
} fixture[] = {
    {"alice", "living-room-tv", 1796408677705, 1796408677705, 0},
    {"alice", "phone", 1796408677725, 1796408677725, 0},
    {"alice", "laptop", 1796408677749, 1796408677749, 0},
    {"bob", "tablet", 1796408677772, 1796408677772, 0},
    {"6f9619ff-8b86-d011-b42d-00c04fc964ff", "0b5c2a1e-0000-4000-8000-000000000001",
     1796408677793, 1796408677793, 0},
    {"dave", "expiring", 1796408677832, 1796408677832, 1796412277832},
};
#define FIXTURE_LEASES (sizeof(fixture) / sizeof(fixture[0]))
/* An instant when every fixture lease is unexpired. */
#define FIXTURE_NOW 1796408678000LL

/* A database of the test's own holding the fixture as pg_dump wrote it (its schema
 * "streamy", the default); its URI in uri_buf. The dump is run as it is, without the
 * psql meta-commands (\restrict) of newer pg_dump. */
static const char *restore_fixture(PGconn *c)
{
    char text[128], *dump, *w;
    const char *p = check_pg_fixture_0_2_0;
    PGconn *f;

    snprintf(text, sizeof(text), "CREATE DATABASE fixture_%ld", (long)getpid());
    PQclear(sql(c, text));
    ck_assert_ptr_nonnull(dump = w = malloc(strlen(p) + 1));
    while (*p) {
        size_t n = strcspn(p, "\n");
        if (*p != '\\') {
            memcpy(w, p, n);
            w += n;
            *w++ = '\n';
        }
        p += n + (p[n] == '\n');
    }
    *w = '\0';
    snprintf(uri_buf, sizeof(uri_buf), "%s", base_uri);
    snprintf(strrchr(uri_buf, '/') + 1, 64, "fixture_%ld", (long)getpid());
    f = PQconnectdb(uri_buf);
    ck_assert_msg(PQstatus(f) == CONNECTION_OK, "%s", PQerrorMessage(f));
    PQclear(sql(f, dump));
    PQfinish(f);
    free(dump);
    return uri_buf;
}

static void fixture_ids(streamy *h, char ids[][STREAMY_LEASE_ID_LEN + 1])
{
    for (size_t i = 0; i < FIXTURE_LEASES; i++) {
        seen s = list_leases(h, fixture[i].user);
        int found = 0;
        for (int k = 0; k < s.n; k++) {
            if (strcmp(s.l[k].stream, fixture[i].stream) != 0)
                continue;
            found = 1;
            ck_assert_int_eq(s.l[k].since, fixture[i].since);
            ck_assert_int_eq(s.l[k].renewed, fixture[i].renewed);
            ck_assert_int_eq(s.l[k].expires, fixture[i].expires);
            ck_assert_str_eq(s.l[k].device, "");
            ck_assert_msg(is_lease_id(s.l[k].id), "%s/%s: %s", fixture[i].user,
                          fixture[i].stream, s.l[k].id);
            strcpy(ids[i], s.l[k].id);
        }
        ck_assert_msg(found, "%s/%s is gone", fixture[i].user, fixture[i].stream);
    }
}

START_TEST(release_0_2_0_database_is_migrated)
{
    int64_t now = FIXTURE_NOW;
    char ids[FIXTURE_LEASES][STREAMY_LEASE_ID_LEN + 1], again[FIXTURE_LEASES][37];
    char u[1024];
    streamy_options o;
    streamy_answer a;
    PGconn *c = admin(), *f;
    unsigned int limit, n;
    int over;
    streamy *h;

    snprintf(u, sizeof(u), "%s", restore_fixture(c));
    ck_assert_rc(streamy_options_init(&o, STREAMY_OPTIONS_VERSION), STREAMY_OK);
    o.ttl_ms = 60000;
    o.clock = fixed_clock;
    o.clock_payload = &now;
    h = open_ok(u, &o);
    f = PQconnectdb(u);
    ck_assert_int_eq(PQstatus(f), CONNECTION_OK);
    ck_assert_int_eq(
        sql_int(f, "SELECT max(version) * 10 + count(*) FROM streamy.schema_version"),
        31);
    /* Every lease, its times, an id of its own. */
    ck_assert_int_eq(sql_int(f, "SELECT count(*) * 100 + count(DISTINCT lease_id) * 10 + "
                                "count(device) FROM streamy.leases"),
                     660);
    fixture_ids(h, ids);
    for (size_t i = 0; i < FIXTURE_LEASES; i++)
        for (size_t k = 0; k < i; k++)
            ck_assert_str_ne(ids[i], ids[k]);
    ck_assert_rc(streamy_get_limit(&limit, &over, h, "carol"), STREAMY_OK);
    ck_assert_int_eq(over, 1);
    ck_assert_uint_eq(limit, 5);
    ck_assert_rc(streamy_count(&n, h, "alice"), STREAMY_OK);
    ck_assert_uint_eq(n, 3);
    /* Opened again: the same ids; migrated once. */
    streamy_close(h);
    h = open_ok(u, &o);
    fixture_ids(h, again);
    for (size_t i = 0; i < FIXTURE_LEASES; i++)
        ck_assert_str_eq(again[i], ids[i]);
    ck_assert_int_eq(
        sql_int(f, "SELECT max(version) * 10 + count(*) FROM streamy.schema_version"),
        31);
    /* A fenced renew: the listed id holds the lease, another one does not. */
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_RENEW, "alice", "phone", ids[1], NULL, NONE),
                 STREAMY_OK);
    ck_assert_str_eq(a.lease_id, ids[1]);
    ck_assert_int_eq(a.decision.since_ms, fixture[1].since);
    ck_assert_int_eq(a.decision.expires_ms, FIXTURE_NOW + 60000);
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_RENEW, "alice", "phone", ids[0], NULL, NONE),
                 STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 1);
    ck_assert_rc(call_ex(&a, h, STREAMY_OP_RENEW, "bob", "tablet", ids[3], NULL, NONE),
                 STREAMY_OK);
    /* Release 0.2.0's processes, still running during an upgrade, go on deciding: the
     * leases they make get ids. */
    ck_assert_int_eq(sql_int(f,
                             "SELECT rc * 10 + created::int FROM streamy.acquire('erin', "
                             "'tv', NULL, 0, 3, 0, false)"),
                     1);
    ck_assert_int_eq(
        sql_int(f, "SELECT count(*) FROM streamy.apply(ARRAY[1, 1, 2], ARRAY['erin', "
                   "'erin', 'erin'], ARRAY['pc', 'tab', 'pc'], NULL, 0, 3, 0, false) "
                   "WHERE rc = 0 AND (created OR removed)"),
        3);
    ck_assert_int_eq(sql_int(f, "SELECT rc FROM streamy.renew('erin', 'tv', NULL, 0, 3)"),
                     0);
    {
        seen e = list_leases(h, "erin");
        ck_assert_int_eq(e.n, 2);
        ck_assert_msg(is_lease_id(e.l[0].id) && is_lease_id(e.l[1].id) &&
                          strcmp(e.l[0].id, e.l[1].id) != 0,
                      "%s %s", e.l[0].id, e.l[1].id);
    }
    /* The lease 0.2.0 gave an hour: expired past it. */
    now = fixture[5].expires;
    ck_assert_rc(streamy_count(&n, h, "dave"), STREAMY_OK);
    ck_assert_uint_eq(n, 0);
    streamy_close(h);
    PQfinish(f);
    PQfinish(c);
}
END_TEST

/* Processes opening the old database together: one migrates, all go on, and all see the
 * same ids. */
START_TEST(release_0_2_0_database_is_migrated_once_by_many)
{
    enum { N = 6 };
    int go[2], out[2];
    pid_t pids[N];
    PGconn *c = admin();
    char u[1024], first[STREAMY_LEASE_ID_LEN + 1] = "";

    snprintf(u, sizeof(u), "%s", restore_fixture(c));
    PQfinish(c); /* not the children's to inherit */
    ck_assert_int_eq(pipe(go), 0);
    ck_assert_int_eq(pipe(out), 0);
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            int64_t now = FIXTURE_NOW;
            streamy_options o;
            char b;
            streamy *h;
            seen s;

            close(go[1]);
            close(out[0]);
            if (read(go[0], &b, 1) != 0)
                test_child_exit(3);
            streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
            o.clock = fixed_clock;
            o.clock_payload = &now;
            if (streamy_open(&h, u, &o) != STREAMY_OK) {
                fprintf(stderr, "child %d: %s\n", i, streamy_errmsg(NULL));
                test_child_exit(1);
            }
            memset(&s, 0, sizeof(s));
            if (streamy_list(h, "bob", lease_collect, &s) != STREAMY_OK || s.n != 1 ||
                write(out[1], s.l[0].id, STREAMY_LEASE_ID_LEN) != STREAMY_LEASE_ID_LEN)
                test_child_exit(2);
            streamy_close(h);
            test_child_exit(0);
        }
    }
    close(go[0]);
    close(out[1]);
    close(go[1]);
    for (int i = 0; i < N; i++) {
        char id[STREAMY_LEASE_ID_LEN + 1] = "";
        ck_assert_int_eq(read(out[0], id, STREAMY_LEASE_ID_LEN), STREAMY_LEASE_ID_LEN);
        ck_assert_msg(is_lease_id(id), "%s", id);
        if (i == 0)
            strcpy(first, id);
        ck_assert_str_eq(id, first);
    }
    for (int i = 0; i < N; i++) {
        int status;
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "child %d: status %d", i, status);
    }
    close(out[0]);
}
END_TEST

void pg_migration_cases(Suite *s)
{
    TCase *tc = test_add_case(s, "migration", NULL, NULL, test_timeout_scale(30));

    tcase_add_test(tc, version_1_schema_is_migrated);
    tcase_add_test(tc, release_0_2_0_database_is_migrated);
    tcase_add_test(tc, release_0_2_0_database_is_migrated_once_by_many);
}
