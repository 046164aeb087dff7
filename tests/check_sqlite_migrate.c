/* SPDX-License-Identifier: MIT */
/* check_sqlite_migrate.c: a SQLite database made by release 0.2.0 (schema version 1)
 * is migrated in place on open, once, atomically, and keeps every lease and limit. */
#include <ctype.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

#ifndef STREAMY_FIXTURES_DIR
#error "STREAMY_FIXTURES_DIR must name tests/fixtures"
#endif

/* What tests/fixtures/streamy-0.2.0.db holds, as release 0.2.0 wrote it. */
typedef struct old_lease {
    const char *user, *stream;
    int64_t since, renewed, expires;
} old_lease;

static const old_lease fixture[] = {
    {"6f9619ff-8b86-d011-b42d-00c04fc964ff", "0b5c2a1e-0000-4000-8000-000000000001",
     1796408664295, 1796408664295, 0},
    {"alice", "laptop", 1796408664263, 1796408664263, 0},
    {"alice", "living-room-tv", 1796408664222, 1796408664222, 0},
    {"alice", "phone", 1796408664242, 1796408664242, 0},
    {"bob", "tablet", 1796408664285, 1796408664285, 0},
    {"dave", "expiring", 1796408664314, 1796408664314, 1796412264314},
};
#define NLEASES (sizeof(fixture) / sizeof(fixture[0]))
static const char *const users[] = {"6f9619ff-8b86-d011-b42d-00c04fc964ff", "alice",
                                    "bob", "dave"};
#define NUSERS (sizeof(users) / sizeof(users[0]))

/* A time after every lease started and before dave's expires, so all are listed. */
#define FIXTURE_NOW 1796408665000

static char *dir;
static char path[4096];
static streamy *h;
static test_clock clk;

/* Copy the fixture (its single file: release 0.2.0 left it checkpointed) into a
 * fresh directory, so the committed file is never written. */
static void setup(void)
{
    char src[4096], buf[1 << 14];
    FILE *in, *out;
    size_t n;

    dir = test_tmpdir();
    snprintf(path, sizeof(path), "%s/streamy-0.2.0.db", dir);
    snprintf(src, sizeof(src), "%s/streamy-0.2.0.db", STREAMY_FIXTURES_DIR);
    in = fopen(src, "rb");
    ck_assert_msg(in != NULL, "cannot read the fixture %s", src);
    out = fopen(path, "wb");
    ck_assert_ptr_nonnull(out);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
    h = NULL;
    clk.now = FIXTURE_NOW;
}

static void teardown(void)
{
    streamy_close(h);
    test_tmpdir_free(dir);
}

static sqlite3 *raw_open(void)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static int64_t raw_int(sqlite3 *db, const char *q)
{
    sqlite3_stmt *st;
    int64_t v;

    ck_assert_msg(sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK, "%s: %s", q,
                  sqlite3_errmsg(db));
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int open_fixture(streamy **out, const char *uri)
{
    streamy_options o;

    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    o.clock = test_clock_cb;
    o.clock_payload = &clk;
    return streamy_open(out, uri, &o);
}

/* Every listed lease of the fixture's users, in the fixture's order. */
typedef struct listed {
    char user[STREAMY_ID_MAX + 1], stream[STREAMY_ID_MAX + 1];
    char id[STREAMY_LEASE_ID_LEN + 1], device[STREAMY_DEVICE_MAX + 1];
    int64_t since, renewed, expires;
} listed;

typedef struct listing {
    listed v[16];
    size_t n;
    const char *user;
} listing;

static int collect(const streamy_lease *l, void *payload)
{
    listing *ls = payload;
    listed *x;

    if (ls->n == sizeof(ls->v) / sizeof(ls->v[0]))
        return 1;
    x = &ls->v[ls->n++];
    snprintf(x->user, sizeof(x->user), "%s", ls->user);
    snprintf(x->stream, sizeof(x->stream), "%s", l->stream);
    snprintf(x->id, sizeof(x->id), "%s", l->lease_id);
    snprintf(x->device, sizeof(x->device), "%s", l->device);
    x->since = l->since_ms;
    x->renewed = l->renewed_ms;
    x->expires = l->expires_ms;
    return 0;
}

/* Find (user, stream) in a listing; NULL when it is not there. */
static const listed *find(const listing *ls, const char *user, const char *stream)
{
    for (size_t i = 0; i < ls->n; i++)
        if (strcmp(ls->v[i].user, user) == 0 && strcmp(ls->v[i].stream, stream) == 0)
            return &ls->v[i];
    return NULL;
}

static int list_all(listing *ls, streamy *x)
{
    int rc = STREAMY_OK;

    ls->n = 0;
    for (size_t u = 0; u < NUSERS && rc == STREAMY_OK; u++) {
        ls->user = users[u];
        rc = streamy_list(x, users[u], collect, ls);
    }
    return rc;
}

/* A lease id as the library writes them: a lower-case, version-4, RFC 4122 UUID. */
static int is_v4_uuid(const char *s)
{
    if (strlen(s) != STREAMY_LEASE_ID_LEN)
        return 0;
    for (int i = 0; i < STREAMY_LEASE_ID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) {
            return 0;
        }
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

/* Every lease of the fixture is listed once, with its times, a device of "" and a
 * distinct lease id. */
static void check_listing(const listing *ls)
{
    ck_assert_uint_eq(ls->n, NLEASES);
    for (size_t i = 0; i < NLEASES; i++) {
        const old_lease *f = &fixture[i];
        const listed *l = find(ls, f->user, f->stream);

        ck_assert_msg(l != NULL, "lease %s/%s lost", f->user, f->stream);
        ck_assert_int_eq(l->since, f->since);
        ck_assert_int_eq(l->renewed, f->renewed);
        ck_assert_int_eq(l->expires, f->expires);
        ck_assert_str_eq(l->device, "");
        ck_assert_msg(is_v4_uuid(l->id), "%s/%s: lease id \"%s\"", f->user, f->stream,
                      l->id);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(l->id, find(ls, fixture[j].user, fixture[j].stream)->id);
    }
}

START_TEST(fixture_is_release_0_2_0)
{
    sqlite3 *db = raw_open();

    /* The test below proves nothing unless it starts from a version-1 file. */
    ck_assert_int_eq(raw_int(db, "PRAGMA user_version"), 1);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM leases"), NLEASES);
    ck_assert_int_eq(
        raw_int(db, "SELECT count(*) FROM pragma_table_info('leases') WHERE name = 'id'"),
        0);
    sqlite3_close(db);
}
END_TEST

START_TEST(leases_and_limits_survive_with_new_ids)
{
    streamy_answer a;
    streamy_call c = STREAMY_CALL_INIT;
    listing before, after;
    unsigned int limit = 0;
    int is_override = 0;
    const listed *phone;
    sqlite3 *db;

    streamy_answer_init(&a, STREAMY_CALL_VERSION);
    ck_assert_rc(open_fixture(&h, path), STREAMY_OK);
    ck_assert_rc(list_all(&before, h), STREAMY_OK);
    check_listing(&before);
    ck_assert_rc(streamy_get_limit(&limit, &is_override, h, "carol"), STREAMY_OK);
    ck_assert_uint_eq(limit, 5);
    ck_assert_int_eq(is_override, 1);
    streamy_close(h);
    h = NULL;

    /* Migrated once: the ids are the same after reopening. */
    db = raw_open();
    ck_assert_int_eq(raw_int(db, "PRAGMA user_version"), 2);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM leases"), NLEASES);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM leases WHERE typeof(id) = 'blob' "
                                 "AND length(id) = 16 AND device IS NULL"),
                     NLEASES);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE name = "
                                 "'leases_expiry'"),
                     1);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE name LIKE "
                                 "'leases_v%'"),
                     0);
    sqlite3_close(db);
    ck_assert_rc(open_fixture(&h, path), STREAMY_OK);
    ck_assert_rc(list_all(&after, h), STREAMY_OK);
    check_listing(&after);
    for (size_t i = 0; i < NLEASES; i++)
        ck_assert_str_eq(find(&after, fixture[i].user, fixture[i].stream)->id,
                         find(&before, fixture[i].user, fixture[i].stream)->id);

    /* The player holding a migrated lease renews it by its listed id. */
    phone = find(&after, "alice", "phone");
    c.user = "alice";
    c.stream = "phone";
    c.lease_id = phone->id;
    clk.now += 1000;
    ck_assert_rc(streamy_renew_ex(&a, h, &c), STREAMY_OK);
    ck_assert_str_eq(a.lease_id, phone->id);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_int_eq(a.decision.since_ms, fixture[3].since);
    /* Another id is stale, and a refresh keeps the migrated id. */
    c.lease_id = find(&after, "alice", "laptop")->id;
    ck_assert_rc(streamy_renew_ex(&a, h, &c), STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 1);
    c.lease_id = NULL;
    c.device = "Phone";
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_int_eq(a.decision.created, 0);
    ck_assert_str_eq(a.lease_id, phone->id);
    ck_assert_str_eq(a.device, "Phone");

    /* dave's lease still expires when it did. */
    clk.now = fixture[5].expires;
    ck_assert_rc(list_all(&after, h), STREAMY_OK);
    ck_assert_ptr_null(find(&after, "dave", "expiring"));
    ck_assert_uint_eq(after.n, NLEASES - 1);
}
END_TEST

/* A read-only open cannot migrate, and a version-1 file has no ids to list. */
START_TEST(read_only_open_of_version_1_is_refused)
{
    char uri[4200];
    sqlite3 *db;

    snprintf(uri, sizeof(uri), "sqlite:%s?mode=ro", path);
    ck_assert_rc(open_fixture(&h, uri), STREAMY_ESTORE);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "schema version 1"));
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "open it read-write once"));
    db = raw_open();
    ck_assert_int_eq(raw_int(db, "PRAGMA user_version"), 1);
    sqlite3_close(db);
    /* Once migrated, the read-only open works. */
    ck_assert_rc(open_fixture(&h, path), STREAMY_OK);
    streamy_close(h);
    h = NULL;
    ck_assert_rc(open_fixture(&h, uri), STREAMY_OK);
}
END_TEST

/* The migration fails after it has copied every lease (renaming the new table fails
 * on a view over the old one): its one transaction leaves the file as it was, as a
 * crash at that point would. */
START_TEST(failed_migration_changes_nothing)
{
    sqlite3 *db = raw_open();

    ck_assert_int_eq(sqlite3_exec(db,
                                  "CREATE VIEW lease_users AS SELECT user FROM leases",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    ck_assert_rc(open_fixture(&h, path), STREAMY_ESTORE);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "migrate"));
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "lease_users"));
    db = raw_open();
    ck_assert_int_eq(raw_int(db, "PRAGMA user_version"), 1);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM leases"), NLEASES);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM pragma_table_info('leases')"), 5);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE name = "
                                 "'leases_v2'"),
                     0);
    /* With the view gone the migration goes through. */
    ck_assert_int_eq(sqlite3_exec(db, "DROP VIEW lease_users", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    ck_assert_rc(open_fixture(&h, path), STREAMY_OK);
}
END_TEST

/* Many processes open the same version-1 file at once: all succeed, one migrates,
 * and every one lists the same ids. */
START_TEST(concurrent_opens_migrate_once)
{
    enum { KIDS = 12 };
    listing mine;
    int go[2], status;
    pid_t pids[KIDS];
    sqlite3 *db;

    ck_assert_int_eq(pipe(go), 0);
    for (int i = 0; i < KIDS; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            char c, out[4200];
            listing ls;
            streamy *x;
            FILE *fp;

            close(go[1]);
            if (read(go[0], &c, 1) != 0)
                _exit(5);
            if (open_fixture(&x, path) != STREAMY_OK) {
                fprintf(stderr, "child %d: open: %s\n", i, streamy_errmsg(NULL));
                _exit(1);
            }
            if (list_all(&ls, x) != STREAMY_OK) {
                fprintf(stderr, "child %d: list: %s\n", i, streamy_errmsg(x));
                _exit(2);
            }
            streamy_close(x);
            snprintf(out, sizeof(out), "%s/kid-%d", dir, i);
            if ((fp = fopen(out, "w")) == NULL)
                _exit(3);
            for (size_t j = 0; j < ls.n; j++)
                fprintf(fp, "%s %s %s\n", ls.v[j].user, ls.v[j].stream, ls.v[j].id);
            if (fclose(fp) != 0)
                _exit(4);
            test_child_exit(0);
        }
    }
    close(go[0]);
    close(go[1]); /* everyone starts now */
    for (int i = 0; i < KIDS; i++) {
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "child %d: status %d", i, status);
    }
    ck_assert_rc(open_fixture(&h, path), STREAMY_OK);
    ck_assert_rc(list_all(&mine, h), STREAMY_OK);
    check_listing(&mine);
    for (int i = 0; i < KIDS; i++) {
        char in[4200], user[256], stream[256], id[64];
        size_t n = 0;
        FILE *fp;

        snprintf(in, sizeof(in), "%s/kid-%d", dir, i);
        fp = fopen(in, "r");
        ck_assert_ptr_nonnull(fp);
        while (fscanf(fp, "%255s %255s %63s", user, stream, id) == 3) {
            const listed *l = find(&mine, user, stream);
            ck_assert_msg(l != NULL, "child %d listed %s/%s", i, user, stream);
            ck_assert_msg(strcmp(l->id, id) == 0, "child %d: %s/%s has id %s, not %s", i,
                          user, stream, id, l->id);
            n++;
        }
        fclose(fp);
        ck_assert_uint_eq(n, NLEASES);
    }
    db = raw_open();
    ck_assert_int_eq(raw_int(db, "PRAGMA user_version"), 2);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM leases"), NLEASES);
    sqlite3_close(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sqlite_migrate");
    TCase *tc = test_add_case(s, "migrate", setup, teardown, test_timeout_scale(60));

    tcase_add_test(tc, fixture_is_release_0_2_0);
    tcase_add_test(tc, leases_and_limits_survive_with_new_ids);
    tcase_add_test(tc, read_only_open_of_version_1_is_refused);
    tcase_add_test(tc, failed_migration_changes_nothing);
    tcase_add_test(tc, concurrent_opens_migrate_once);
    return test_run_suite(s);
}
