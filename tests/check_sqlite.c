/* SPDX-License-Identifier: MIT */
/* check_sqlite.c: what only the SQLite store promises: files, schema, locks, faults,
 * plans. */
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stores/sqlite.h"
#include "test_util.h"

static char *dir;
static char path[4096];
static streamy *h;

static void setup(void)
{
    dir = test_tmpdir();
    snprintf(path, sizeof(path), "%s/t.db", dir);
    h = NULL;
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

static void raw_exec(sqlite3 *db, const char *q)
{
    char *err = NULL;
    ck_assert_msg(sqlite3_exec(db, q, NULL, NULL, &err) == SQLITE_OK, "%s: %s", q, err);
}

static int64_t raw_int(sqlite3 *db, const char *q)
{
    sqlite3_stmt *st;
    int64_t v;

    ck_assert_int_eq(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static char *slurp(const char *p, size_t *len)
{
    FILE *fp = fopen(p, "rb");
    char *buf = malloc(1 << 16);

    ck_assert_ptr_nonnull(fp);
    *len = fread(buf, 1, 1 << 16, fp);
    fclose(fp);
    return buf;
}

static void open_default(void)
{
    ck_assert_rc(streamy_open(&h, path, NULL), STREAMY_OK);
}

START_TEST(new_file_is_private_wal_and_versioned)
{
    struct stat st;
    char wal[4200];
    sqlite3 *db;

    umask(022);
    open_default();
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "s"), STREAMY_OK);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    ck_assert_int_eq(stat(wal, &st), 0); /* WAL mode, and the WAL is private too */
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    db = raw_open();
    ck_assert_int_eq(raw_int(db, "PRAGMA application_id"), 0x5354524D);
    ck_assert_int_eq(raw_int(db, "PRAGMA user_version"), 2);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM leases"), 1);
    sqlite3_close(db);
}
END_TEST

START_TEST(foreign_files_are_left_untouched)
{
    static const char text[] = "this is not a database, it is a shopping list\n";
    size_t len;
    char *after;
    sqlite3 *db;
    int fd = open(path, O_CREAT | O_WRONLY, 0644);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(fd);
    ck_assert_rc(streamy_open(&h, path, NULL), STREAMY_ESTORE);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "not a Streamy database"));
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "file is not a database"));
    after = slurp(path, &len);
    ck_assert_uint_eq(len, sizeof(text) - 1);
    ck_assert_int_eq(memcmp(after, text, len), 0);
    free(after);

    /* Someone else's SQLite database. */
    unlink(path);
    db = raw_open();
    raw_exec(db,
             "CREATE TABLE orders(id INTEGER PRIMARY KEY); INSERT INTO orders VALUES(1)");
    sqlite3_close(db);
    ck_assert_rc(streamy_open(&h, path, NULL), STREAMY_ESTORE);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "not a Streamy database"));
    db = raw_open();
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM sqlite_master"), 1);
    ck_assert_int_eq(raw_int(db, "PRAGMA journal_mode") == 0, 1); /* still "delete" */
    sqlite3_close(db);
}
END_TEST

START_TEST(newer_schema_is_refused)
{
    sqlite3 *db;

    open_default();
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "s"), STREAMY_OK);
    streamy_close(h);
    h = NULL;
    db = raw_open();
    raw_exec(db, "PRAGMA user_version = 3");
    sqlite3_close(db);
    ck_assert_rc(streamy_open(&h, path, NULL), STREAMY_ESTORE);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "newer"));
    db = raw_open();
    ck_assert_int_eq(raw_int(db, "PRAGMA user_version"), 3);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM leases"), 1);
    sqlite3_close(db);
}
END_TEST

START_TEST(locked_past_the_timeout_is_busy)
{
    streamy_options o;
    streamy_op ops[2] = {{STREAMY_OP_SUBSCRIBE, "u", "a", 0, {0}},
                         {STREAMY_OP_SUBSCRIBE, "u", "b", 0, {0}}};
    struct timespec t0, t1;
    unsigned int n = 9;
    sqlite3 *db;
    double waited;

    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    o.busy_timeout_ms = 200;
    ck_assert_rc(streamy_open(&h, path, &o), STREAMY_OK);
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "s"), STREAMY_OK);
    db = raw_open();
    raw_exec(db, "BEGIN IMMEDIATE");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "t"), STREAMY_EBUSY);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    waited = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(waited >= 0.19, "gave up after %.3f s", waited);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "locked"));
    ck_assert_rc(streamy_unsubscribe(NULL, h, "u", "s"), STREAMY_EBUSY);
    ck_assert_rc(streamy_apply(h, ops, 2), STREAMY_EBUSY);
    ck_assert_int_eq(ops[0].result, STREAMY_EBUSY);
    ck_assert_int_eq(ops[1].result, STREAMY_EBUSY);
    /* Reads still work under a writer in WAL mode. */
    ck_assert_rc(streamy_count(&n, h, "u"), STREAMY_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_rc(streamy_health(h), STREAMY_OK);
    raw_exec(db, "COMMIT");
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "t"), STREAMY_OK);
    ck_assert_rc(streamy_count(&n, h, "u"), STREAMY_OK);
    ck_assert_uint_eq(n, 2);
    sqlite3_close(db);
}
END_TEST

/* A trigger makes the store fail part-way through; nothing may be half-written. */
START_TEST(failed_batches_write_nothing)
{
    streamy_op ops[4] = {{STREAMY_OP_SUBSCRIBE, "u", "a", 0, {0}},
                         {STREAMY_OP_UNSUBSCRIBE, "u", "old", 0, {0}},
                         {STREAMY_OP_SUBSCRIBE, "u", "boom", 0, {0}},
                         {STREAMY_OP_SUBSCRIBE, "u", "c", 0, {0}}};
    streamy_counters c;
    unsigned int n = 0;
    sqlite3 *db;

    open_default();
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "old"), STREAMY_OK);
    db = raw_open();
    raw_exec(db, "CREATE TRIGGER boom BEFORE INSERT ON leases WHEN NEW.stream = 'boom' "
                 "BEGIN SELECT RAISE(ABORT, 'boom refused'); END");
    sqlite3_close(db);
    ck_assert_rc(streamy_apply(h, ops, 4), STREAMY_ESTORE);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "boom refused"));
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(ops[i].result, STREAMY_ESTORE);
    ck_assert_rc(streamy_count(&n, h, "u"), STREAMY_OK);
    ck_assert_uint_eq(n, 1); /* "old" is still there, "a" never was */
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "boom"), STREAMY_ESTORE);
    ck_assert_rc(streamy_stats(&c, h), STREAMY_OK);
    ck_assert_uint_eq(c.allowed, 1);
    ck_assert_uint_eq(c.released, 0);
    /* The handle keeps working after the failure. */
    ops[2].stream = "fine";
    ck_assert_rc(streamy_apply(h, ops, 4), STREAMY_OK);
    ck_assert_rc(streamy_count(&n, h, "u"), STREAMY_OK);
    ck_assert_uint_eq(n, 3);
}
END_TEST

static void check_read_only(const char *uri)
{
    unsigned int n = 0;
    size_t len1, len2;
    char *before, *after;

    before = slurp(path, &len1);
    ck_assert_rc(streamy_open(&h, uri, NULL), STREAMY_OK);
    ck_assert_rc(streamy_count(&n, h, "u"), STREAMY_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_rc(streamy_health(h), STREAMY_OK);
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "t"), STREAMY_ESTORE);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "read-only"));
    ck_assert_rc(streamy_unsubscribe(NULL, h, "u", "s"), STREAMY_ESTORE);
    ck_assert_rc(streamy_set_limit(h, "u", 1), STREAMY_ESTORE);
    ck_assert_rc(streamy_count(&n, h, "u"), STREAMY_OK);
    ck_assert_uint_eq(n, 1);
    streamy_close(h);
    h = NULL;
    after = slurp(path, &len2);
    ck_assert_uint_eq(len1, len2);
    ck_assert_int_eq(memcmp(before, after, len1), 0);
    free(before);
    free(after);
}

/* Leave one lease in a checkpointed file with no WAL beside it. */
static void one_lease_file(void)
{
    sqlite3 *db;

    open_default();
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "s"), STREAMY_OK);
    streamy_close(h);
    h = NULL;
    db = raw_open();
    raw_exec(db, "PRAGMA journal_mode=DELETE");
    sqlite3_close(db);
}

START_TEST(read_only_uri_reads_and_refuses_writes)
{
    char uri[4200];

    one_lease_file();
    snprintf(uri, sizeof(uri), "sqlite:%s?mode=ro", path);
    check_read_only(uri);
}
END_TEST

/* A file the process may not write: as root, drop to nobody first. */
START_TEST(read_only_file_reads_and_refuses_writes)
{
    pid_t pid;
    int status;

    one_lease_file();
    ck_assert_int_eq(chmod(path, 0444), 0);
    ck_assert_int_eq(chmod(dir, 0755), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(3);
        if (access(path, W_OK) == 0)
            _exit(4); /* the test would prove nothing */
        check_read_only(path);
        test_child_exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d",
                  status);
}
END_TEST

/* Many processes creating the same new database at once all succeed. */
START_TEST(concurrent_creation)
{
    enum { KIDS = 8 };
    int go[2], i, status, ok = 0;
    pid_t pids[KIDS];
    sqlite3 *db;

    ck_assert_int_eq(pipe(go), 0);
    for (i = 0; i < KIDS; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            char c;
            streamy *x;
            char stream[16];
            close(go[1]);
            if (read(go[0], &c, 1) != 0)
                _exit(5);
            snprintf(stream, sizeof(stream), "s%d", i);
            if (streamy_open(&x, path, NULL) != STREAMY_OK) {
                fprintf(stderr, "child %d: open: %s\n", i, streamy_errmsg(NULL));
                _exit(1);
            }
            if (streamy_subscribe(NULL, x, "u", stream) < 0) {
                fprintf(stderr, "child %d: subscribe: %s\n", i, streamy_errmsg(x));
                _exit(2);
            }
            streamy_close(x);
            test_child_exit(0);
        }
    }
    close(go[0]);
    close(go[1]); /* everyone starts now */
    for (i = 0; i < KIDS; i++) {
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    ck_assert_int_eq(ok, KIDS);
    db = raw_open();
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM leases"),
                     3); /* the default limit */
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE type='table'"),
                     2);
    sqlite3_close(db);
}
END_TEST

/* The store's own SQL function, for plans on a raw connection: it keeps nothing. */
static void stand_in(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_int(ctx, 1);
}

/* Every statement finds its rows through an index, so a decision costs the same
 * whatever the number of users and leases. */
START_TEST(every_statement_uses_an_index)
{
    sqlite3 *db;
    const char *q;
    int i;

    open_default();
    db = raw_open();
    ck_assert_int_eq(sqlite3_create_function(db, "streamy_release", 5, SQLITE_UTF8, NULL,
                                             stand_in, NULL, NULL),
                     SQLITE_OK);
    for (i = 0; (q = streamy__sqlite_sql(i)) != NULL; i++) {
        char plan[4096] = "";
        char *eqp;
        sqlite3_stmt *st;

        if (strncmp(q, "BEGIN", 5) == 0 || strcmp(q, "COMMIT") == 0 ||
            strcmp(q, "ROLLBACK") == 0)
            continue;
        eqp = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", q);
        ck_assert_msg(sqlite3_prepare_v2(db, eqp, -1, &st, NULL) == SQLITE_OK, "%s: %s",
                      q, sqlite3_errmsg(db));
        while (sqlite3_step(st) == SQLITE_ROW) {
            size_t len = strlen(plan);
            snprintf(plan + len, sizeof(plan) - len, "%s; ", sqlite3_column_text(st, 3));
        }
        sqlite3_finalize(st);
        sqlite3_free(eqp);
        if (strstr(q, "LIMIT 1") != NULL)
            continue; /* the health check reads one row, whatever the plan */
        ck_assert_msg(strstr(plan, "SCAN") == NULL, "statement scans: %s\nplan: %s", q,
                      plan);
        if (strncmp(q, "INSERT", 6) != 0)
            ck_assert_msg(strstr(plan, "SEARCH") != NULL, "no index: %s\nplan: %s", q,
                          plan);
    }
    ck_assert_int_gt(i, 10);
    sqlite3_close(db);
}
END_TEST

START_TEST(synchronous_full_and_uri_parameters)
{
    char uri[4200];

    snprintf(uri, sizeof(uri), "sqlite:%s?synchronous=full", path);
    ck_assert_rc(streamy_open(&h, uri, NULL), STREAMY_OK);
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "s"), STREAMY_OK);
    streamy_close(h);
    h = NULL;
    snprintf(uri, sizeof(uri), "sqlite:%s?synchronous=sometimes", path);
    ck_assert_rc(streamy_open(&h, uri, NULL), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "synchronous=sometimes"));
}
END_TEST

/* Sessions on a file: what the rows hold, and the release paths of a single call (no
 * transaction) and of a batch (one transaction). */
static void open_with_clock(test_clock *clk, int64_t ttl_ms, unsigned int limit,
                            streamy_policy policy)
{
    streamy_options o;

    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    o.clock = test_clock_cb;
    o.clock_payload = clk;
    o.ttl_ms = ttl_ms;
    o.limit = limit;
    o.policy = policy;
    ck_assert_rc(streamy_open(&h, path, &o), STREAMY_OK);
}

static void call_for(streamy_call *c, streamy_answer *a, const char *stream,
                     const char *lease_id, const char *device)
{
    streamy_call_init(c, STREAMY_CALL_VERSION);
    streamy_answer_init(a, STREAMY_CALL_VERSION);
    c->user = "u";
    c->stream = stream;
    c->lease_id = lease_id;
    c->device = device;
}

static void raw_text(sqlite3 *db, const char *q, char *out, size_t size)
{
    sqlite3_stmt *st;

    ck_assert_int_eq(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, size, "%s",
             sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0)
                                        : "(null)");
    sqlite3_finalize(st);
}

typedef struct two_leases {
    char id[2][STREAMY_LEASE_ID_LEN + 1], device[2][STREAMY_DEVICE_MAX + 1];
    int n;
} two_leases;

static int keep_lease(const streamy_lease *l, void *payload)
{
    two_leases *t = payload;

    if (t->n < 2) {
        snprintf(t->id[t->n], sizeof(t->id[0]), "%s", l->lease_id);
        snprintf(t->device[t->n], sizeof(t->device[0]), "%s", l->device);
    }
    t->n++;
    return 0;
}

START_TEST(lease_ids_are_16_bytes_and_devices_nullable)
{
    test_clock clk = {1000};
    streamy_answer a, b;
    streamy_call c;
    char id_s[STREAMY_LEASE_ID_LEN + 1], hex[64], want[64], text[128];
    two_leases t = {0};
    sqlite3 *db;
    size_t i, j;

    open_with_clock(&clk, 0, 3, STREAMY_POLICY_REJECT);
    call_for(&c, &a, "s", NULL, "Living-room TV");
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_uint_eq(strlen(a.lease_id), STREAMY_LEASE_ID_LEN);
    snprintf(id_s, sizeof(id_s), "%s", a.lease_id);
    clk.now++;
    call_for(&c, &b, "t", NULL, NULL);
    ck_assert_rc(streamy_subscribe_ex(&b, h, &c), STREAMY_OK);
    ck_assert_str_ne(b.lease_id, id_s);
    ck_assert_str_eq(b.device, "");

    db = raw_open();
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM leases WHERE typeof(id) = 'blob' "
                                 "AND length(id) = 16"),
                     2);
    raw_text(db, "SELECT lower(hex(id)) FROM leases WHERE stream = 's'", hex,
             sizeof(hex));
    for (i = j = 0; id_s[i]; i++)
        if (id_s[i] != '-')
            want[j++] = id_s[i];
    want[j] = '\0';
    ck_assert_str_eq(hex, want);
    raw_text(db, "SELECT device FROM leases WHERE stream = 's'", text, sizeof(text));
    ck_assert_str_eq(text, "Living-room TV");
    ck_assert_int_eq(raw_int(db, "SELECT device IS NULL FROM leases WHERE stream = 't'"),
                     1);

    /* list shows them; a refresh keeps the id, and the device unless it names one. */
    ck_assert_rc(streamy_list(h, "u", keep_lease, &t), STREAMY_OK);
    ck_assert_int_eq(t.n, 2);
    ck_assert_str_eq(t.id[0], id_s);
    ck_assert_str_eq(t.device[0], "Living-room TV");
    ck_assert_str_eq(t.id[1], b.lease_id);
    ck_assert_str_eq(t.device[1], "");
    call_for(&c, &a, "s", NULL, NULL);
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_str_eq(a.lease_id, id_s);
    ck_assert_str_eq(a.device, "Living-room TV");
    call_for(&c, &a, "s", NULL, "Phone");
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_str_eq(a.lease_id, id_s);
    ck_assert_str_eq(a.device, "Phone");
    raw_text(db, "SELECT device FROM leases WHERE stream = 's'", text, sizeof(text));
    ck_assert_str_eq(text, "Phone");
    /* A renew keeps both. */
    call_for(&c, &a, "s", id_s, NULL);
    ck_assert_rc(streamy_renew_ex(&a, h, &c), STREAMY_OK);
    ck_assert_str_eq(a.lease_id, id_s);
    ck_assert_str_eq(a.device, "Phone");
    sqlite3_close(db);
}
END_TEST

START_TEST(fenced_release_alone_and_in_a_batch)
{
    static const char other[] = "0b5c2a1e-0000-4000-8000-000000000001";
    test_clock clk = {1000};
    streamy_answer a, b;
    streamy_call c, d;
    streamy_batch_op ops[2];
    char id_s[STREAMY_LEASE_ID_LEN + 1];
    unsigned int n = 0;

    open_with_clock(&clk, 0, 3, STREAMY_POLICY_REJECT);
    call_for(&c, &a, "s", NULL, "TV");
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    snprintf(id_s, sizeof(id_s), "%s", a.lease_id);

    /* Alone: a stale id removes nothing. */
    call_for(&c, &a, "s", other, NULL);
    ck_assert_rc(streamy_unsubscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_int_eq(a.decision.removed, 0);
    ck_assert_int_eq(a.stale, 1);
    ck_assert_str_eq(a.lease_id, "");
    /* In a batch, the same, beside a subscribe that goes through. */
    call_for(&c, &a, "s", other, NULL);
    call_for(&d, &b, "x", NULL, NULL);
    ops[0] = (streamy_batch_op){STREAMY_OP_UNSUBSCRIBE, &c, 0, &a};
    ops[1] = (streamy_batch_op){STREAMY_OP_SUBSCRIBE, &d, 0, &b};
    ck_assert_rc(streamy_apply_ex(h, ops, 2), STREAMY_OK);
    ck_assert_int_eq(ops[0].result, STREAMY_OK);
    ck_assert_int_eq(a.decision.removed, 0);
    ck_assert_int_eq(a.stale, 1);
    ck_assert_int_eq(ops[1].result, STREAMY_OK);
    ck_assert_int_eq(b.decision.created, 1);
    ck_assert_rc(streamy_count(&n, h, "u"), STREAMY_OK);
    ck_assert_uint_eq(n, 2);
    /* The holder's id removes it, in a batch, and says which lease went. */
    call_for(&c, &a, "s", id_s, NULL);
    ops[0] = (streamy_batch_op){STREAMY_OP_UNSUBSCRIBE, &c, 0, &a};
    ck_assert_rc(streamy_apply_ex(h, ops, 1), STREAMY_OK);
    ck_assert_int_eq(a.decision.removed, 1);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_str_eq(a.lease_id, id_s);
    ck_assert_str_eq(a.device, "TV");
    /* Alone, by its id, and again: nothing left, and not stale. */
    call_for(&c, &a, "x", b.lease_id, NULL);
    ck_assert_rc(streamy_unsubscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_int_eq(a.decision.removed, 1);
    ck_assert_str_eq(a.lease_id, c.lease_id);
    ck_assert_rc(streamy_unsubscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_int_eq(a.decision.removed, 0);
    ck_assert_int_eq(a.stale, 0);
    /* A new lease of the same stream gets a new id. */
    call_for(&c, &a, "s", NULL, NULL);
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_str_ne(a.lease_id, id_s);
}
END_TEST

/* An expired lease is nobody's: a fenced renew or release treats it as unfenced. */
START_TEST(expired_leases_are_not_stale)
{
    static const char other[] = "0b5c2a1e-0000-4000-8000-000000000001";
    test_clock clk = {1000};
    streamy_answer a;
    streamy_call c;

    open_with_clock(&clk, 1000, 3, STREAMY_POLICY_REJECT);
    call_for(&c, &a, "s", NULL, NULL);
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    call_for(&c, &a, "t", NULL, NULL);
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    clk.now += 1000;
    /* The release first: a renew drops every expired lease of the user. */
    call_for(&c, &a, "t", other, NULL);
    ck_assert_rc(streamy_unsubscribe_ex(&a, h, &c), STREAMY_OK);
    ck_assert_int_eq(a.stale, 0);
    ck_assert_int_eq(a.decision.removed, 0);
    ck_assert_int_eq(a.decision.expired, 1);
    call_for(&c, &a, "s", other, NULL);
    ck_assert_rc(streamy_renew_ex(&a, h, &c), STREAMY_NOT_FOUND);
    ck_assert_int_eq(a.stale, 0);
}
END_TEST

START_TEST(eviction_names_the_evicted_lease)
{
    test_clock clk = {1000};
    streamy_answer a, b;
    streamy_call c;

    open_with_clock(&clk, 0, 1, STREAMY_POLICY_EVICT_OLDEST);
    call_for(&c, &a, "a", NULL, "Kitchen");
    ck_assert_rc(streamy_subscribe_ex(&a, h, &c), STREAMY_OK);
    clk.now++;
    call_for(&c, &b, "b", NULL, "Phone");
    ck_assert_rc(streamy_subscribe_ex(&b, h, &c), STREAMY_OK);
    ck_assert_str_eq(b.decision.evicted, "a");
    ck_assert_str_eq(b.evicted_lease_id, a.lease_id);
    ck_assert_str_eq(b.evicted_device, "Kitchen");
    ck_assert_str_ne(b.lease_id, a.lease_id);
    ck_assert_str_eq(b.device, "Phone");
    /* The evicted player's heartbeat is stale. */
    call_for(&c, &b, "a", a.lease_id, NULL);
    ck_assert_rc(streamy_renew_ex(&b, h, &c), STREAMY_NOT_FOUND);
    ck_assert_int_eq(b.stale, 0); /* no lease of "a" any more: not found, not stale */
}
END_TEST

/* The release's SQL function is the store's own: a trigger or view in the file cannot
 * call it. */
START_TEST(files_cannot_call_the_release_function)
{
    unsigned int n = 0;
    sqlite3 *db;

    open_default();
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "s"), STREAMY_OK);
    db = raw_open();
    raw_exec(db, "CREATE TRIGGER sneaky AFTER INSERT ON leases BEGIN SELECT "
                 "streamy_release(NEW.user, 's', NEW.id, NEW.device, NEW.expires); END");
    sqlite3_close(db);
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "t"), STREAMY_ESTORE);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "streamy_release"));
    ck_assert_rc(streamy_count(&n, h, "u"), STREAMY_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_rc(streamy_unsubscribe(NULL, h, "u", "s"), STREAMY_OK);
    ck_assert_rc(streamy_count(&n, h, "u"), STREAMY_OK);
    ck_assert_uint_eq(n, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sqlite");
    TCase *tc = tcase_create("sqlite");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, test_timeout_scale(30));
    tcase_add_test(tc, new_file_is_private_wal_and_versioned);
    tcase_add_test(tc, foreign_files_are_left_untouched);
    tcase_add_test(tc, newer_schema_is_refused);
    tcase_add_test(tc, locked_past_the_timeout_is_busy);
    tcase_add_test(tc, failed_batches_write_nothing);
    tcase_add_test(tc, read_only_uri_reads_and_refuses_writes);
    tcase_add_test(tc, read_only_file_reads_and_refuses_writes);
    tcase_add_test(tc, concurrent_creation);
    tcase_add_test(tc, every_statement_uses_an_index);
    tcase_add_test(tc, synchronous_full_and_uri_parameters);
    tcase_add_test(tc, lease_ids_are_16_bytes_and_devices_nullable);
    tcase_add_test(tc, fenced_release_alone_and_in_a_batch);
    tcase_add_test(tc, expired_leases_are_not_stale);
    tcase_add_test(tc, eviction_names_the_evicted_lease);
    tcase_add_test(tc, files_cannot_call_the_release_function);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
