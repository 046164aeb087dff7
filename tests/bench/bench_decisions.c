/* SPDX-License-Identifier: MIT */
/* bench_decisions.c: decisions per second of every backend and of raw SQLite. */
#include <streamy.h>

#include "stores/sqlite.h" /* the SQLite store's statements, for --decompose */

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#ifndef STREAMY_BENCH_BUILD_TYPE
#define STREAMY_BENCH_BUILD_TYPE "unknown"
#endif
#ifndef STREAMY_BENCH_C_FLAGS
#define STREAMY_BENCH_C_FLAGS "unknown"
#endif

#define MAX_THREADS 16
#define MAX_WORLDS 4
#define MAX_ROUNDS 64
#define BATCH 100
#define PAIRS (BATCH / 2)
#define LIMIT 3
#define PREPOP_CHUNK 10000
#define UUID_LEN 36

/* Salts that keep user and stream identifiers apart. */
#define SALT_USER 1
#define SALT_FIRST 2
#define SALT_SECOND 3

enum target {
    T_MEMORY,
    T_SQLMEM,
    T_FILE,
    T_PERCONN,
    T_REDIS,
    T_PG,
    T_RAW,
    T_RAWLIB,
    T_COUNT_
};
enum mode { M_SINGLE, M_BATCH, M_COUNT_ };

static const char *const target_label[T_COUNT_] = {
    "memory", "sqlite-mem", "sqlite-file", "sqlite-file-perconn",
    "redis",  "postgresql", "raw-sqlite",  "raw-sqlite-libsql"};
static const char *const target_title[T_COUNT_] = {"memory:",
                                                   "sqlite::memory:",
                                                   "sqlite file, shared handle",
                                                   "sqlite file, handle per thread",
                                                   "redis, one shared handle",
                                                   "postgresql, one shared handle",
                                                   "raw sqlite3 on a file",
                                                   "raw sqlite3, the library's SQL"};
static const char *const mode_label[M_COUNT_] = {"single", "batch100"};

/* The raw ceiling: the statements of lib/store_sqlite.c, reduced to what this workload
 * needs, on a file with the same schema and settings. */
enum {
    R_BEGIN,
    R_COMMIT,
    R_ROLLBACK,
    R_COUNT,
    R_INSERT,
    R_DELETE,
    R_LSCAN,
    R_LINSERT,
    R_LRELEASE,
    R_COUNT_
};
static const char *const raw_sql[R_COUNT_] = {
    [R_BEGIN] = "BEGIN IMMEDIATE",
    [R_COMMIT] = "COMMIT",
    [R_ROLLBACK] = "ROLLBACK",
    [R_COUNT] = "SELECT count(*) FROM leases WHERE user = ?1",
    /* Parenthesised: one literal on two lines, not a missing comma. */
    [R_INSERT] = ("INSERT INTO leases (user, stream, since, renewed, expires, id) "
                  "VALUES (?1, ?2, ?3, ?3, 0, randomblob(16))"),
    [R_DELETE] = "DELETE FROM leases WHERE user = ?1 AND stream = ?2",
};

/* What a SQLite file holds after pre-population, measured after a checkpoint. */
typedef struct dbsize {
    int measured;
    long long pages, page_size, freelist, leases;
} dbsize;

/* Every store for one number of users, pre-populated once and kept for all rounds. */
typedef struct world {
    unsigned long users;
    char label[24];
    streamy *mem, *sqlmem, *redis, *pg;
    streamy *conn[MAX_THREADS]; /* conn[0] is the shared handle of the file */
    int nconn;
    sqlite3 *raw;
    sqlite3_stmt *rs[R_COUNT_];
    char file_path[PATH_MAX], raw_path[PATH_MAX];
    dbsize file_size, raw_size;
    double prepop_s[T_COUNT_];
} world;

typedef struct config {
    enum target target;
    enum mode mode;
    int threads;
    world *w;
    char label[80];
    int selected;
    double rate[MAX_ROUNDS];
    int nrate;
    uint64_t errors;
    char first_error[300];
} config;

typedef struct worker {
    const config *cfg;
    int tid;
    uint64_t done, errors;
    char first_error[300];
    pthread_t thread;
} worker;

static struct {
    double seconds;
    int rounds;
    int markdown;
    int list;
    int decompose;
    double warmup;
    const char *raw_pragma;
    const char *filter;
    const char *dir;
    const char *redis_uri;
    const char *pg_uri;
    unsigned long users[MAX_WORLDS];
    int nusers;
    int threads[MAX_THREADS];
    int nthreads;
    int sessions;
} opt = {1.5, 5,         0, 0, 0, 0.3, NULL, NULL, NULL, NULL, NULL, {1000, 1000000},
         2,   {1, 2, 4}, 3, 0};

static atomic_int stop_flag;
static pthread_barrier_t start_barrier;
static char second_stream[UUID_LEN + 1], first_stream[UUID_LEN + 1];

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "streamy_bench: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* splitmix64's finaliser: a bijection, so distinct indexes give distinct ids. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A canonical lower-case version-4 UUID for (idx, salt), computed on the fly so the
 * harness costs the same whatever the number of users (a table of 1M ids would add
 * cache misses to the large runs only). */
static void make_uuid(char out[UUID_LEN + 1], uint64_t idx, uint64_t salt)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = mix64(idx + salt * 0x9e3779b97f4a7c15ULL), b = mix64(a ^ salt);
    int k = 0, o = 0;

    for (int i = 0; i < 32; i++) {
        char c;
        if (i == 12)
            c = '4';
        else if (i == 16)
            c = hex[8 | (b & 3)];
        else if (k < 16)
            c = hex[(a >> (60 - 4 * k++)) & 15];
        else
            c = hex[(b >> (2 + 4 * (k++ - 16))) & 15];
        if (i == 8 || i == 12 || i == 16 || i == 20)
            out[o++] = '-';
        out[o++] = c;
    }
    out[o] = '\0';
}

/* xorshift64*: cheap enough not to show in a profile. */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* Each thread owns every T-th user, so threads never touch the same user and every
 * subscribe must create a lease and every unsubscribe must remove one. */
static uint64_t pick_user(uint64_t *seed, const config *c, int tid)
{
    uint64_t per = c->w->users / (uint64_t)c->threads;
    return (next_rand(seed) >> 11) % per * (uint64_t)c->threads + (uint64_t)tid;
}

static void fmt_count(char *buf, size_t size, double v)
{
    if (v >= 1e6)
        snprintf(buf, size, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(buf, size, "%.1fk", v / 1e3);
    else
        snprintf(buf, size, "%.0f", v);
}

static void fmt_users(char *buf, size_t size, unsigned long u)
{
    if (u % 1000000 == 0)
        snprintf(buf, size, "%luM", u / 1000000);
    else if (u % 1000 == 0)
        snprintf(buf, size, "%luk", u / 1000);
    else
        snprintf(buf, size, "%lu", u);
}

static void record_error(worker *wk, uint64_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Count failed decisions; keep the first message, which usually explains the rest. */
static void record_error(worker *wk, uint64_t n, const char *fmt, ...)
{
    va_list ap;

    wk->errors += n;
    if (wk->first_error[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(wk->first_error, sizeof(wk->first_error), fmt, ap);
    va_end(ap);
}

static void lib_error(worker *wk, uint64_t n, const streamy *h, const char *what, int rc)
{
    char msg[300];

    if (rc < 0)
        snprintf(msg, sizeof(msg), "%s: %s", streamy_strerror(rc), streamy_errmsg(h));
    else if (rc > 0)
        snprintf(msg, sizeof(msg), "answered %s", streamy_strerror(rc));
    else
        snprintf(msg, sizeof(msg), "answered OK without %s",
                 strcmp(what, "unsubscribe") == 0 ? "removing the lease"
                                                  : "creating a lease");
    record_error(wk, n, "%s: %s", what, msg);
}

static streamy *handle_of(const config *c, int tid)
{
    switch (c->target) {
    case T_MEMORY:
        return c->w->mem;
    case T_SQLMEM:
        return c->w->sqlmem;
    case T_PERCONN:
        return c->w->conn[tid];
    case T_REDIS:
        return c->w->redis;
    case T_PG:
        return c->w->pg;
    default:
        return c->w->conn[0];
    }
}

static void lib_single(worker *wk, streamy *h, uint64_t *seed)
{
    const config *c = wk->cfg;
    char user[UUID_LEN + 1];
    streamy_decision d;
    int rc;

    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        make_uuid(user, pick_user(seed, c, wk->tid), SALT_USER);
        rc = streamy_subscribe(&d, h, user, second_stream);
        if (rc != STREAMY_OK || !d.created)
            lib_error(wk, 1, h, "subscribe", rc);
        else
            wk->done++;
        rc = streamy_unsubscribe(&d, h, user, second_stream);
        if (rc != STREAMY_OK || !d.removed)
            lib_error(wk, 1, h, "unsubscribe", rc);
        else
            wk->done++;
    }
}

/* --sessions: the same work through the _ex calls, as a player uses them: subscribe
 * with a device label, unsubscribe naming the lease id it was given. */
static void lib_single_sessions(worker *wk, streamy *h, uint64_t *seed)
{
    const config *c = wk->cfg;
    char user[UUID_LEN + 1], lease[STREAMY_LEASE_ID_LEN + 1];
    streamy_call call = STREAMY_CALL_INIT;
    streamy_answer a = STREAMY_ANSWER_INIT;
    int rc;

    call.stream = second_stream;
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        make_uuid(user, pick_user(seed, c, wk->tid), SALT_USER);
        call.user = user;
        call.device = "living-room-tv";
        call.lease_id = NULL;
        rc = streamy_subscribe_ex(&a, h, &call);
        if (rc != STREAMY_OK || !a.decision.created || a.lease_id[0] == '\0')
            lib_error(wk, 1, h, "subscribe", rc);
        else
            wk->done++;
        memcpy(lease, a.lease_id, sizeof(lease));
        call.device = NULL;
        call.lease_id = lease;
        rc = streamy_unsubscribe_ex(&a, h, &call);
        if (rc != STREAMY_OK || !a.decision.removed)
            lib_error(wk, 1, h, "unsubscribe", rc);
        else
            wk->done++;
    }
}

/* --sessions in batches: subscribes with a device label; the unsubscribes cannot know
 * the ids of the same batch's leases, so they name none. */
static void lib_batch_sessions(worker *wk, streamy *h, uint64_t *seed)
{
    const config *c = wk->cfg;
    char users[PAIRS][UUID_LEN + 1];
    streamy_call calls[BATCH];
    streamy_answer answers[BATCH];
    streamy_batch_op ops[BATCH];
    int rc;

    for (int i = 0; i < BATCH; i++) {
        streamy_call_init(&calls[i], STREAMY_CALL_VERSION);
        streamy_answer_init(&answers[i], STREAMY_CALL_VERSION);
        calls[i].stream = second_stream;
        ops[i].call = &calls[i];
        ops[i].answer = &answers[i];
        ops[i].kind = i % 2 ? STREAMY_OP_UNSUBSCRIBE : STREAMY_OP_SUBSCRIBE;
        if (i % 2 == 0)
            calls[i].device = "living-room-tv";
    }
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        for (int p = 0; p < PAIRS; p++) {
            make_uuid(users[p], pick_user(seed, c, wk->tid), SALT_USER);
            calls[2 * p].user = calls[2 * p + 1].user = users[p];
        }
        rc = streamy_apply_ex(h, ops, BATCH);
        if (rc != STREAMY_OK) {
            lib_error(wk, BATCH, h, "apply", rc);
            continue;
        }
        for (int i = 0; i < BATCH; i++) {
            int sub = ops[i].kind == STREAMY_OP_SUBSCRIBE;
            if (ops[i].result != STREAMY_OK ||
                !(sub ? answers[i].decision.created : answers[i].decision.removed))
                lib_error(wk, 1, h, sub ? "apply subscribe" : "apply unsubscribe",
                          ops[i].result);
            else
                wk->done++;
        }
    }
}

static void lib_batch(worker *wk, streamy *h, uint64_t *seed)
{
    const config *c = wk->cfg;
    char users[PAIRS][UUID_LEN + 1];
    streamy_op ops[BATCH];
    int rc;

    memset(ops, 0, sizeof(ops));
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        for (int p = 0; p < PAIRS; p++) {
            make_uuid(users[p], pick_user(seed, c, wk->tid), SALT_USER);
            ops[2 * p].kind = STREAMY_OP_SUBSCRIBE;
            ops[2 * p + 1].kind = STREAMY_OP_UNSUBSCRIBE;
            ops[2 * p].user = ops[2 * p + 1].user = users[p];
            ops[2 * p].stream = ops[2 * p + 1].stream = second_stream;
        }
        rc = streamy_apply(h, ops, BATCH);
        if (rc != STREAMY_OK) {
            lib_error(wk, BATCH, h, "apply", rc);
            continue;
        }
        for (int i = 0; i < BATCH; i++) {
            int sub = ops[i].kind == STREAMY_OP_SUBSCRIBE;
            if (ops[i].result != STREAMY_OK ||
                !(sub ? ops[i].decision.created : ops[i].decision.removed))
                lib_error(wk, 1, h, sub ? "apply subscribe" : "apply unsubscribe",
                          ops[i].result);
            else
                wk->done++;
        }
    }
}

/* Step and reset one statement; SQLITE_ROW and SQLITE_DONE are both success. */
static int raw_step(sqlite3_stmt *st, sqlite3_int64 *col0)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW && col0 != NULL)
        *col0 = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int raw_error(worker *wk, uint64_t n, sqlite3 *db, const char *what)
{
    record_error(wk, n, "raw %s: %s", what, sqlite3_errmsg(db));
    return -1;
}

/* The subscribe of the ceiling: the count that enforces the limit, then the insert;
 * the caller holds the write transaction. */
static int raw_subscribe(worker *wk, world *w, const char *user, int libsql)
{
    /* A lease id's 16 bytes, as the library stores one (it draws each at random). */
    static const unsigned char lease_id[16] = {0x6f, 0x96, 0x19, 0xff, 0x8b, 0x86,
                                               0x40, 0x11, 0xb4, 0x2d, 0x00, 0xc0,
                                               0x4f, 0xc9, 0x64, 0xff};
    sqlite3_int64 n = 0;
    int rc;

    if (libsql) {
        /* Read every row as the library's scan does, then insert as it does. */
        sqlite3_stmt *st = w->rs[R_LSCAN];
        sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const unsigned char *stream = sqlite3_column_text(st, 0);
            n += stream != NULL && sqlite3_column_int64(st, 1) >= 0 &&
                 sqlite3_column_int64(st, 2) >= 0 && sqlite3_column_int64(st, 3) == 0;
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return raw_error(wk, 1, w->raw, "scan");
        if (n >= LIMIT) {
            record_error(wk, 1, "raw subscribe: limit reached");
            return -1;
        }
        st = w->rs[R_LINSERT];
        sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, second_stream, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, wall_ms());
        sqlite3_bind_int64(st, 4, 0);
        sqlite3_bind_blob(st, 5, lease_id, sizeof(lease_id),
                          SQLITE_STATIC); /* no device */
        if (raw_step(st, NULL) != SQLITE_OK)
            return raw_error(wk, 1, w->raw, "insert");
        return 0;
    }
    sqlite3_bind_text(w->rs[R_COUNT], 1, user, -1, SQLITE_STATIC);
    if (raw_step(w->rs[R_COUNT], &n) != SQLITE_OK)
        return raw_error(wk, 1, w->raw, "count");
    if (n >= LIMIT) {
        record_error(wk, 1, "raw subscribe: limit reached");
        return -1;
    }
    sqlite3_bind_text(w->rs[R_INSERT], 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_text(w->rs[R_INSERT], 2, second_stream, -1, SQLITE_STATIC);
    sqlite3_bind_int64(w->rs[R_INSERT], 3, wall_ms());
    if (raw_step(w->rs[R_INSERT], NULL) != SQLITE_OK)
        return raw_error(wk, 1, w->raw, "insert");
    return 0;
}

static int raw_unsubscribe(worker *wk, world *w, const char *user, int libsql)
{
    if (libsql) {
        /* The library's first release statement; its second runs only when the
         * first removed nothing, which never happens in this workload. */
        sqlite3_stmt *st = w->rs[R_LRELEASE];
        sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, second_stream, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, wall_ms());
        if (raw_step(st, NULL) != SQLITE_OK)
            return raw_error(wk, 1, w->raw, "release");
        if (sqlite3_changes(w->raw) != 1) {
            record_error(wk, 1, "raw release: removed no lease");
            return -1;
        }
        return 0;
    }
    sqlite3_bind_text(w->rs[R_DELETE], 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_text(w->rs[R_DELETE], 2, second_stream, -1, SQLITE_STATIC);
    if (raw_step(w->rs[R_DELETE], NULL) != SQLITE_OK)
        return raw_error(wk, 1, w->raw, "delete");
    if (sqlite3_changes(w->raw) != 1) {
        record_error(wk, 1, "raw delete: removed no lease");
        return -1;
    }
    return 0;
}

static void raw_rollback(world *w)
{
    if (!sqlite3_get_autocommit(w->raw))
        raw_step(w->rs[R_ROLLBACK], NULL);
}

static void raw_run(worker *wk, uint64_t *seed)
{
    const config *c = wk->cfg;
    world *w = c->w;
    char users[PAIRS][UUID_LEN + 1];
    int libsql = c->target == T_RAWLIB;

    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        if (c->mode == M_SINGLE) {
            make_uuid(users[0], pick_user(seed, c, wk->tid), SALT_USER);
            if (raw_step(w->rs[R_BEGIN], NULL) != SQLITE_OK) {
                raw_error(wk, 2, w->raw, "begin");
                continue;
            }
            if (raw_subscribe(wk, w, users[0], libsql) != 0) {
                raw_rollback(w);
                continue;
            }
            if (raw_step(w->rs[R_COMMIT], NULL) != SQLITE_OK) {
                raw_error(wk, 1, w->raw, "commit");
                raw_rollback(w);
                continue;
            }
            wk->done++;
            /* As in the library, the delete is one statement and its own transaction. */
            if (raw_unsubscribe(wk, w, users[0], libsql) == 0)
                wk->done++;
            continue;
        }
        for (int p = 0; p < PAIRS; p++)
            make_uuid(users[p], pick_user(seed, c, wk->tid), SALT_USER);
        if (raw_step(w->rs[R_BEGIN], NULL) != SQLITE_OK) {
            raw_error(wk, BATCH, w->raw, "begin");
            continue;
        }
        int ok = 1;
        for (int p = 0; p < PAIRS && ok; p++)
            ok = raw_subscribe(wk, w, users[p], libsql) == 0 &&
                 raw_unsubscribe(wk, w, users[p], libsql) == 0;
        if (ok && raw_step(w->rs[R_COMMIT], NULL) == SQLITE_OK) {
            wk->done += BATCH;
        } else {
            if (ok)
                raw_error(wk, BATCH, w->raw, "commit");
            raw_rollback(w);
        }
    }
}

static void *worker_main(void *arg)
{
    worker *wk = arg;
    const config *c = wk->cfg;
    uint64_t seed = mix64(0x5eedULL + (uint64_t)wk->tid * 7919 + c->w->users) | 1;

    pthread_barrier_wait(&start_barrier);
    if (c->target == T_RAW || c->target == T_RAWLIB)
        raw_run(wk, &seed);
    else if (c->mode == M_SINGLE)
        (opt.sessions ? lib_single_sessions : lib_single)(wk, handle_of(c, wk->tid),
                                                          &seed);
    else
        (opt.sessions ? lib_batch_sessions : lib_batch)(wk, handle_of(c, wk->tid), &seed);
    return NULL;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* One timed run of one configuration: decisions per second over the whole run. */
static double run_config(config *c, double seconds)
{
    worker wk[MAX_THREADS];
    uint64_t total = 0;
    double t0, t1;

    memset(wk, 0, sizeof(wk));
    atomic_store(&stop_flag, 0);
    pthread_barrier_init(&start_barrier, NULL, (unsigned)c->threads + 1);
    for (int i = 0; i < c->threads; i++) {
        wk[i].cfg = c;
        wk[i].tid = i;
        if (pthread_create(&wk[i].thread, NULL, worker_main, &wk[i]) != 0)
            die("cannot start a thread");
    }
    pthread_barrier_wait(&start_barrier);
    t0 = mono_s();
    sleep_s(seconds);
    atomic_store(&stop_flag, 1);
    for (int i = 0; i < c->threads; i++) {
        pthread_join(wk[i].thread, NULL);
        total += wk[i].done;
        c->errors += wk[i].errors;
        if (c->first_error[0] == '\0' && wk[i].first_error[0] != '\0')
            memcpy(c->first_error, wk[i].first_error, sizeof(c->first_error));
    }
    t1 = mono_s();
    pthread_barrier_destroy(&start_barrier);
    return (double)total / (t1 - t0);
}

/* Give every user of the store its first lease, 10 000 to a transaction. */
static void prepopulate(streamy *h, unsigned long users, const char *what)
{
    static streamy_op ops[PREPOP_CHUNK];
    static char ids[PREPOP_CHUNK][UUID_LEN + 1];

    for (unsigned long base = 0; base < users; base += PREPOP_CHUNK) {
        size_t n = users - base < PREPOP_CHUNK ? users - base : PREPOP_CHUNK;
        int rc;

        memset(ops, 0, n * sizeof(ops[0]));
        for (size_t i = 0; i < n; i++) {
            make_uuid(ids[i], base + i, SALT_USER);
            ops[i].kind = STREAMY_OP_SUBSCRIBE;
            ops[i].user = ids[i];
            ops[i].stream = first_stream;
        }
        if ((rc = streamy_apply(h, ops, n)) != STREAMY_OK)
            die("pre-populating %s: %s", what, streamy_errmsg(h));
        for (size_t i = 0; i < n; i++)
            if (ops[i].result != STREAMY_OK || !ops[i].decision.created)
                die("pre-populating %s: a subscribe answered %s", what,
                    streamy_strerror(ops[i].result));
    }
}

static streamy *open_or_die(const char *uri)
{
    streamy_options o;
    streamy *h;

    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    o.limit = LIMIT;
    if (streamy_open(&h, uri, &o) != STREAMY_OK)
        die("cannot open %s: %s", uri, streamy_errmsg(NULL));
    return h;
}

static void raw_exec(sqlite3 *db, const char *sql, const char *what)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        die("raw sqlite: %s: %s", what, sqlite3_errmsg(db));
}

static sqlite3_int64 raw_query(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    sqlite3_int64 v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die("raw sqlite: %s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Bytes of database per lease, after a checkpoint folded the WAL into the file. */
static void measure(dbsize *out, const char *path, unsigned long users)
{
    sqlite3 *db;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        die("cannot open %s: %s", path, sqlite3_errmsg(db));
    if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) !=
        SQLITE_OK)
        die("checkpoint of %s: %s", path, sqlite3_errmsg(db));
    out->leases = raw_query(db, "SELECT count(*) FROM leases");
    out->pages = raw_query(db, "PRAGMA page_count");
    out->page_size = raw_query(db, "PRAGMA page_size");
    out->freelist = raw_query(db, "PRAGMA freelist_count");
    out->measured = 1;
    sqlite3_close(db);
    if (out->leases != (long long)users)
        die("%s holds the wrong number of leases", path);
}

/* The statement texts: the ceiling's own, or for --decompose the library's, read
 * from the library itself so the two can never drift apart. */
static const char *raw_text(int i)
{
    switch (i) {
    case R_LSCAN:
        return streamy__sqlite_sql(ST_SCAN);
    case R_LINSERT:
        return streamy__sqlite_sql(ST_INSERT);
    case R_LRELEASE:
        return streamy__sqlite_sql(ST_RELEASE);
    }
    return raw_sql[i];
}

static void raw_release_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_int(ctx, 1);
}

/* The ceiling's file has the library's schema: the library creates it. */
static void raw_schema(const char *path)
{
    char uri[PATH_MAX + 16];
    streamy *h;

    snprintf(uri, sizeof(uri), "sqlite:%s", path);
    if (streamy_open(&h, uri, NULL) != STREAMY_OK)
        die("cannot create %s: %s", path, streamy_errmsg(NULL));
    streamy_close(h);
}

static void raw_open(world *w)
{
    static char ids[PREPOP_CHUNK][UUID_LEN + 1];
    sqlite3_int64 now = wall_ms();

    raw_schema(w->raw_path);
    if (sqlite3_open_v2(w->raw_path, &w->raw,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK)
        die("cannot open %s: %s", w->raw_path, sqlite3_errmsg(w->raw));
    sqlite3_busy_timeout(w->raw, 5000);
    raw_exec(w->raw, "PRAGMA journal_mode=WAL", "journal mode");
    raw_exec(w->raw, "PRAGMA synchronous=NORMAL", "synchronous");
    if (opt.raw_pragma != NULL)
        raw_exec(w->raw, opt.raw_pragma, "--raw-pragma");
    /* The library's release calls its own SQL function; this one deletes, as the
     * library's does for a lease it may release. */
    if (sqlite3_create_function(w->raw, "streamy_release", 5, SQLITE_UTF8, NULL,
                                raw_release_fn, NULL, NULL) != SQLITE_OK)
        die("raw sqlite: streamy_release: %s", sqlite3_errmsg(w->raw));
    for (int i = 0; i < R_COUNT_; i++) {
        const char *text = raw_text(i);
        if (sqlite3_prepare_v3(w->raw, text, -1, SQLITE_PREPARE_PERSISTENT, &w->rs[i],
                               NULL) != SQLITE_OK)
            die("raw sqlite: %s: %s", text, sqlite3_errmsg(w->raw));
    }
    /* The same users, in the same order, as the library's file, so both B-trees grow
     * through the same random-order inserts. */
    for (unsigned long base = 0; base < w->users; base += PREPOP_CHUNK) {
        unsigned long n = w->users - base < PREPOP_CHUNK ? w->users - base : PREPOP_CHUNK;
        raw_exec(w->raw, "BEGIN IMMEDIATE", "pre-populate");
        for (unsigned long i = 0; i < n; i++) {
            sqlite3_stmt *st = w->rs[R_INSERT];
            make_uuid(ids[i], base + i, SALT_USER);
            sqlite3_bind_text(st, 1, ids[i], -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, first_stream, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, now);
            if (raw_step(st, NULL) != SQLITE_OK)
                die("raw sqlite: pre-populate: %s", sqlite3_errmsg(w->raw));
        }
        raw_exec(w->raw, "COMMIT", "pre-populate");
    }
}

static void remove_db(const char *path)
{
    char p[PATH_MAX + 8];

    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

static int parse_list(unsigned long *out, int max, const char *text, unsigned long lo,
                      unsigned long hi)
{
    int n = 0;
    const char *p = text;

    while (*p) {
        char *end;
        unsigned long v;
        errno = 0;
        v = strtoul(p, &end, 10);
        if (end == p || errno || v < lo || v > hi || n == max || (*end && *end != ','))
            return -1;
        out[n++] = v;
        p = *end ? end + 1 : end;
    }
    return n;
}

static void usage(FILE *f)
{
    fputs(
        "usage: streamy_bench [options]\n"
        "Decisions per second of libstreamy's backends, with the raw SQLite ceiling.\n"
        "  --seconds S     wall time of one run of one configuration (default 1.5;\n"
        "                  env STREAMY_BENCH_SECONDS)\n"
        "  --rounds N      rounds; configurations are interleaved within each round\n"
        "                  (default 5; env STREAMY_BENCH_ROUNDS)\n"
        "  --warmup S      an unrecorded run of every configuration before round 1\n"
        "                  (default 0.3; 0 for none)\n"
        "  --quick         smoke run: 0.2 s, 2 rounds, 1000 and 20000 users\n"
        "  --users LIST    user counts, comma-separated (default 1000,1000000)\n"
        "  --threads LIST  thread counts, comma-separated (default 1,2,4)\n"
        "  --filter GLOBS  run only configurations whose label matches one of the\n"
        "                  comma-separated globs, e.g. 'sqlite-file/*,raw-sqlite/*'\n"
        "  --list          print the labels of the selected configurations and exit\n"
        "  --markdown      also print the results as Markdown tables\n"
        "  --decompose     also run raw-sqlite-libsql: the library's own statements\n"
        "                  driven the raw way, which splits the library's distance\n"
        "                  to the ceiling into its SQL and its C\n"
        "  --sessions      the library's calls through the _ex functions: subscribe\n"
        "                  with a device label, unsubscribe naming its lease id\n"
        "                  (batches: subscribe with a device label)\n"
        "  --raw-pragma S  run the SQL S on the raw connections after the settings\n"
        "                  (experiments only, e.g. 'PRAGMA mmap_size=268435456')\n"
        "  --redis URI     also run the redis backend on URI (redis://HOST:PORT/DB);\n"
        "                  each user count gets key prefix sb<pid>-<users>: there, and\n"
        "                  the keys are left behind (use a throwaway server)\n"
        "  --pg URI        also run the postgresql backend on URI (postgresql://...;\n"
        "                  env STREAMY_BENCH_PG); each user count gets the schema\n"
        "                  sb<pid>_<users>, left behind (use a throwaway server);\n"
        "                  env STREAMY_BENCH_PG_SETTLE: a shell command run after\n"
        "                  pre-populating (e.g. psql -c 'VACUUM ANALYZE')\n"
        "  --dir DIR       where the SQLite files go (default: a new directory\n"
        "                  under $TMPDIR or /tmp, removed at exit)\n"
        "Env STREAMY_BENCH_ROUND_HOOK: a shell command run after the warm-up and\n"
        "after every round, with STREAMY_BENCH_ROUND=0, 1, ... (an outside ceiling\n"
        "measured in turn with the library, as tests/pg/bench_pg.sh does).\n"
        "Labels are BACKEND/MODE/tTHREADS/uUSERS, e.g. memory/single/t1/u1k.\n"
        "Exit status: 0, 1 if any decision failed, 2 on a usage or setup error.\n",
        f);
}

static void parse_args(int argc, char **argv)
{
    const char *env;
    unsigned long tmp[MAX_THREADS];
    int n;

    if ((env = getenv("STREAMY_BENCH_SECONDS")) != NULL)
        opt.seconds = atof(env);
    if ((env = getenv("STREAMY_BENCH_ROUNDS")) != NULL)
        opt.rounds = atoi(env);
    if ((env = getenv("STREAMY_BENCH_PG")) != NULL && *env)
        opt.pg_uri = env;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--quick") == 0) {
            opt.seconds = 0.2;
            opt.rounds = 2;
            opt.users[0] = 1000;
            opt.users[1] = 20000;
            opt.nusers = 2;
        } else if (strcmp(a, "--markdown") == 0) {
            opt.markdown = 1;
        } else if (strcmp(a, "--list") == 0) {
            opt.list = 1;
        } else if (strcmp(a, "--sessions") == 0) {
            opt.sessions = 1;
        } else if (strcmp(a, "--decompose") == 0) {
            opt.decompose = 1;
        } else if (v == NULL) {
            usage(stderr);
            exit(2);
        } else if (strcmp(a, "--seconds") == 0) {
            opt.seconds = atof(v);
            i++;
        } else if (strcmp(a, "--rounds") == 0) {
            opt.rounds = atoi(v);
            i++;
        } else if (strcmp(a, "--filter") == 0) {
            opt.filter = v;
            i++;
        } else if (strcmp(a, "--warmup") == 0) {
            opt.warmup = atof(v);
            i++;
        } else if (strcmp(a, "--raw-pragma") == 0) {
            opt.raw_pragma = v;
            i++;
        } else if (strcmp(a, "--redis") == 0) {
            opt.redis_uri = v;
            i++;
        } else if (strcmp(a, "--pg") == 0) {
            opt.pg_uri = v;
            i++;
        } else if (strcmp(a, "--dir") == 0) {
            opt.dir = v;
            i++;
        } else if (strcmp(a, "--users") == 0) {
            if ((n = parse_list(opt.users, MAX_WORLDS, v, 16, 100000000)) <= 0)
                die("--users wants up to 4 counts from 16 to 100000000, not \"%s\"", v);
            opt.nusers = n;
            i++;
        } else if (strcmp(a, "--threads") == 0) {
            if ((n = parse_list(tmp, MAX_THREADS, v, 1, MAX_THREADS)) <= 0)
                die("--threads wants counts from 1 to 16, not \"%s\"", v);
            for (int k = 0; k < n; k++)
                opt.threads[k] = (int)tmp[k];
            opt.nthreads = n;
            i++;
        } else {
            usage(stderr);
            exit(2);
        }
    }
    if (!(opt.seconds > 0 && opt.seconds <= 3600) || !(opt.warmup >= 0) ||
        opt.rounds < 1 || opt.rounds > MAX_ROUNDS)
        die("--seconds must be in (0, 3600], --warmup >= 0 and --rounds in [1, 64]");
}

static int selected(const char *label)
{
    char pat[256];
    const char *p = opt.filter;

    if (p == NULL)
        return 1;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n < sizeof(pat)) {
            memcpy(pat, p, n);
            pat[n] = '\0';
            if (fnmatch(pat, label, 0) == 0)
                return 1;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

static world worlds[MAX_WORLDS];
static config *configs;
static int nconfigs;

static void add_config(enum target t, enum mode m, int threads, world *w)
{
    config *c = &configs[nconfigs++];

    memset(c, 0, sizeof(*c));
    c->target = t;
    c->mode = m;
    c->threads = threads;
    c->w = w;
    snprintf(c->label, sizeof(c->label), "%s/%s/t%d/u%s", target_label[t], mode_label[m],
             threads, w->label);
    c->selected = selected(c->label);
}

/* The order of rows in the tables: backend, then mode, then threads. */
static void build_configs(void)
{
    configs = calloc((size_t)(opt.nusers * T_COUNT_ * M_COUNT_ * opt.nthreads),
                     sizeof(*configs));
    if (configs == NULL)
        die("out of memory");
    for (int u = 0; u < opt.nusers; u++) {
        worlds[u].users = opt.users[u];
        fmt_users(worlds[u].label, sizeof(worlds[u].label), opt.users[u]);
    }
    for (int t = 0; t < T_COUNT_; t++)
        for (int m = 0; m < M_COUNT_; m++)
            for (int k = 0; k < opt.nthreads; k++)
                for (int u = 0; u < opt.nusers; u++) {
                    int th = opt.threads[k];
                    /* The raw ceiling is single-threaded; a handle per thread only
                     * differs from the shared handle with several threads. */
                    if ((t >= T_RAW && th != 1) || (t == T_PERCONN && th == 1) ||
                        (t == T_RAWLIB && !opt.decompose) ||
                        (t == T_REDIS && opt.redis_uri == NULL) ||
                        (t == T_PG && opt.pg_uri == NULL))
                        continue;
                    add_config((enum target)t, (enum mode)m, th, &worlds[u]);
                }
}

static config *find_config(enum target t, enum mode m, int threads, const world *w)
{
    for (int i = 0; i < nconfigs; i++) {
        config *c = &configs[i];
        if (c->target == t && c->mode == m && c->threads == threads && c->w == w &&
            c->nrate > 0)
            return c;
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const config *c, double *lo, double *hi)
{
    double v[MAX_ROUNDS];
    int n = c->nrate;

    memcpy(v, c->rate, sizeof(double) * (size_t)n);
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    if (lo)
        *lo = v[0];
    if (hi)
        *hi = v[n - 1];
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void setup_world(world *w, const char *dir)
{
    int need[T_COUNT_] = {0};
    int maxthreads = 1;
    double t0;
    char uri[PATH_MAX + 16];

    for (int i = 0; i < nconfigs; i++) {
        if (!configs[i].selected || configs[i].w != w)
            continue;
        need[configs[i].target] = 1;
        if (configs[i].target == T_PERCONN && configs[i].threads > maxthreads)
            maxthreads = configs[i].threads;
    }
    if (need[T_MEMORY]) {
        t0 = mono_s();
        w->mem = open_or_die("memory:");
        prepopulate(w->mem, w->users, "memory:");
        w->prepop_s[T_MEMORY] = mono_s() - t0;
    }
    if (need[T_SQLMEM]) {
        t0 = mono_s();
        w->sqlmem = open_or_die("sqlite::memory:");
        prepopulate(w->sqlmem, w->users, "sqlite::memory:");
        w->prepop_s[T_SQLMEM] = mono_s() - t0;
    }
    if (need[T_REDIS]) {
        /* A key space of its own for each user count and run. */
        snprintf(uri, sizeof(uri), "%s%cprefix=sb%ld-%s:", opt.redis_uri,
                 strchr(opt.redis_uri, '?') ? '&' : '?', (long)getpid(), w->label);
        t0 = mono_s();
        w->redis = open_or_die(uri);
        prepopulate(w->redis, w->users, uri);
        w->prepop_s[T_REDIS] = mono_s() - t0;
    }
    if (need[T_PG]) {
        /* A schema of its own for each user count and run. */
        snprintf(uri, sizeof(uri), "%s%cstreamy_schema=sb%ld_%s", opt.pg_uri,
                 strchr(opt.pg_uri, '?') ? '&' : '?', (long)getpid(), w->label);
        t0 = mono_s();
        w->pg = open_or_die(uri);
        prepopulate(w->pg, w->users, uri);
        w->prepop_s[T_PG] = mono_s() - t0;
        /* A command that lets the server settle after the load (VACUUM ANALYZE,
         * CHECKPOINT), so that the runs do not measure its aftermath. */
        const char *settle = getenv("STREAMY_BENCH_PG_SETTLE");
        if (settle != NULL && *settle && system(settle) != 0)
            die("STREAMY_BENCH_PG_SETTLE failed: %s", settle);
    }
    if (need[T_FILE] || need[T_PERCONN]) {
        if (snprintf(w->file_path, sizeof(w->file_path), "%s/bench-%s.db", dir,
                     w->label) >= (int)sizeof(w->file_path))
            die("directory name too long: %s", dir);
        snprintf(uri, sizeof(uri), "sqlite:%s", w->file_path);
        remove_db(w->file_path);
        t0 = mono_s();
        w->conn[0] = open_or_die(uri);
        prepopulate(w->conn[0], w->users, uri);
        w->prepop_s[T_FILE] = mono_s() - t0;
        measure(&w->file_size, w->file_path, w->users);
        for (w->nconn = 1; w->nconn < maxthreads; w->nconn++)
            w->conn[w->nconn] = open_or_die(uri);
    }
    if (need[T_RAW] || need[T_RAWLIB]) {
        if (snprintf(w->raw_path, sizeof(w->raw_path), "%s/raw-%s.db", dir, w->label) >=
            (int)sizeof(w->raw_path))
            die("directory name too long: %s", dir);
        remove_db(w->raw_path);
        t0 = mono_s();
        raw_open(w);
        w->prepop_s[T_RAW] = mono_s() - t0;
        measure(&w->raw_size, w->raw_path, w->users);
    }
}

static void teardown_world(world *w)
{
    streamy_close(w->mem);
    streamy_close(w->sqlmem);
    streamy_close(w->redis);
    streamy_close(w->pg);
    for (int i = 0; i < w->nconn; i++)
        streamy_close(w->conn[i]);
    for (int i = 0; i < R_COUNT_; i++)
        sqlite3_finalize(w->rs[i]);
    sqlite3_close(w->raw);
    if (w->file_path[0])
        remove_db(w->file_path);
    if (w->raw_path[0])
        remove_db(w->raw_path);
}

static void cpu_model(char *buf, size_t size)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];

    snprintf(buf, size, "unknown");
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
            colon += 2;
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(buf, size, "%s", colon);
            break;
        }
    }
    fclose(f);
}

static void print_machine(FILE *f, const char *dir, const char *pre)
{
    struct utsname u;
    char cpu[256];

    cpu_model(cpu, sizeof(cpu));
    uname(&u);
    fprintf(f, "%smachine: %ld CPUs online, %s, %s %s %s\n", pre,
            sysconf(_SC_NPROCESSORS_ONLN), cpu, u.sysname, u.release, u.machine);
    fprintf(f, "%slibstreamy %s, SQLite %s, compiler %s\n", pre, streamy_version(),
            sqlite3_libversion(),
#ifdef __VERSION__
            __VERSION__
#else
            "unknown"
#endif
    );
    fprintf(f, "%sbuild type %s, C flags \"%s\"\n", pre, STREAMY_BENCH_BUILD_TYPE,
            STREAMY_BENCH_C_FLAGS);
    fprintf(f, "%sSQLite files in %s; %d round(s) of %.2f s per configuration\n", pre,
            dir, opt.rounds, opt.seconds);
    if (opt.raw_pragma != NULL)
        fprintf(f, "%sEXPERIMENT: the raw connections also ran \"%s\"\n", pre,
                opt.raw_pragma);
}

/* One cell: "median (min..max)" or "median (min–max)" for Markdown. */
static void fmt_cell(char *buf, size_t size, const config *c, int md)
{
    char m[32], l[32], h[32];
    double lo, hi, med;

    if (c == NULL) {
        snprintf(buf, size, "-");
        return;
    }
    med = median(c, &lo, &hi);
    fmt_count(m, sizeof(m), med);
    fmt_count(l, sizeof(l), lo);
    fmt_count(h, sizeof(h), hi);
    if (snprintf(buf, size, md ? "**%s** (%s–%s)" : "%s (%s..%s)", m, l, h) < 0)
        buf[0] = '\0';
}

static void print_table(int md)
{
    char cell[96], title[96];

    if (md) {
        printf("| backend | mode | threads |");
        for (int u = 0; u < opt.nusers; u++)
            printf(" %s users |", worlds[u].label);
        printf(" time/decision %s vs %s |\n| --- | --- | ---: |",
               worlds[opt.nusers - 1].label, worlds[0].label);
        for (int u = 0; u < opt.nusers; u++)
            printf(" ---: |");
        printf(" ---: |\n");
    } else {
        printf("%-32s %-9s %3s", "backend", "mode", "thr");
        for (int u = 0; u < opt.nusers; u++) {
            snprintf(title, sizeof(title), "users=%s", worlds[u].label);
            printf("  %-28s", title);
        }
        printf("  %s/%s\n", worlds[opt.nusers - 1].label, worlds[0].label);
    }
    for (int t = 0; t < T_COUNT_; t++)
        for (int m = 0; m < M_COUNT_; m++)
            for (int k = 0; k < opt.nthreads; k++) {
                config *first =
                    find_config((enum target)t, (enum mode)m, opt.threads[k], &worlds[0]);
                config *last = find_config((enum target)t, (enum mode)m, opt.threads[k],
                                           &worlds[opt.nusers - 1]);
                int any = 0;
                for (int u = 0; u < opt.nusers; u++)
                    any |= find_config((enum target)t, (enum mode)m, opt.threads[k],
                                       &worlds[u]) != NULL;
                if (!any)
                    continue;
                const char *ml = t >= T_RAW ? (m == M_SINGLE ? "1/txn" : "100/txn")
                                            : (m == M_SINGLE ? "single" : "batch100");
                if (md)
                    printf("| %s | %s | %d |", target_title[t], ml, opt.threads[k]);
                else
                    printf("%-32s %-9s %3d", target_title[t], ml, opt.threads[k]);
                for (int u = 0; u < opt.nusers; u++) {
                    fmt_cell(cell, sizeof(cell),
                             find_config((enum target)t, (enum mode)m, opt.threads[k],
                                         &worlds[u]),
                             md);
                    printf(md ? " %s |" : "  %-28s", cell);
                }
                if (first && last && first != last)
                    printf(md ? " %.2f× |\n" : "  %.2fx\n",
                           median(first, NULL, NULL) / median(last, NULL, NULL));
                else
                    printf(md ? " - |\n" : "  -\n");
            }
}

static void print_sizes(int md)
{
    if (md)
        printf("| file | users (= leases) | pages × page size | free pages | bytes per "
               "lease "
               "|\n| --- | ---: | ---: | ---: | ---: |\n");
    else
        printf("%-28s %10s %22s %10s %16s\n", "file", "leases", "pages x page size",
               "free", "bytes/lease");
    for (int u = 0; u < opt.nusers; u++)
        for (int r = 0; r < 2; r++) {
            const dbsize *s = r ? &worlds[u].raw_size : &worlds[u].file_size;
            char what[64], pages[64];
            if (!s->measured)
                continue;
            snprintf(what, sizeof(what), "%s, %s users",
                     r ? "raw ceiling's" : "library's", worlds[u].label);
            snprintf(pages, sizeof(pages), "%lld x %lld", s->pages, s->page_size);
            printf(md ? "| %s | %lld | %s | %lld | %.1f |\n"
                      : "%-28s %10lld %22s %10lld %16.1f\n",
                   what, s->leases, pages, s->freelist,
                   (double)(s->pages * s->page_size) / (double)s->leases);
        }
}

/* One ratio line: value, the aim, and whether the aim is met. */
static void ratio_line(int md, const char *name, const char *users, const config *num,
                       const config *den, int time_ratio, double aim, int at_most)
{
    double v;
    int ok;

    if (num == NULL || den == NULL) {
        printf(md ? "| %s | %s | not measured | | |\n" : "  %-58s %-5s not measured\n",
               name, users);
        return;
    }
    /* Throughput ratio num/den; a time ratio is its inverse. */
    v = median(num, NULL, NULL) / median(den, NULL, NULL);
    if (time_ratio)
        v = 1 / v;
    if (aim <= 0) {
        printf(md ? "| %s | %s | %.2f× | | |\n" : "  %-58s %-5s %6.2fx\n", name, users,
               v);
        return;
    }
    ok = at_most ? v <= aim : v >= aim;
    printf(md ? "| %s | %s | %.2f× | %s %.1f× | %s |\n"
              : "  %-58s %-5s %6.2fx  aim %s %.1fx  %s\n",
           name, users, v, at_most ? (md ? "≤" : "<=") : (md ? "≥" : ">="), aim,
           ok ? "met" : "MISSED");
}

static void print_ratios(int md)
{
    world *small = &worlds[0], *big = &worlds[opt.nusers - 1];

    if (md)
        printf("| ratio (medians) | users | value | aim | |\n| --- | --- | ---: | --- | "
               "--- |\n");
    for (int u = 0; u < opt.nusers; u++)
        ratio_line(md, "(a) time: library single call, file / raw 1 per txn",
                   worlds[u].label, find_config(T_FILE, M_SINGLE, 1, &worlds[u]),
                   find_config(T_RAW, M_SINGLE, 1, &worlds[u]), 1, 1.3, 1);
    for (int u = 0; u < opt.nusers; u++)
        ratio_line(md, "(b) throughput: library batch100, file / raw 100 per txn",
                   worlds[u].label, find_config(T_FILE, M_BATCH, 1, &worlds[u]),
                   find_config(T_RAW, M_BATCH, 1, &worlds[u]), 0, 0.5, 0);
    for (int u = 0; u < opt.nusers; u++)
        ratio_line(md, "(c) throughput: memory: / sqlite::memory:, single, 1 thr",
                   worlds[u].label, find_config(T_MEMORY, M_SINGLE, 1, &worlds[u]),
                   find_config(T_SQLMEM, M_SINGLE, 1, &worlds[u]), 0, 6.0, 0);
    for (int u = 0; u < opt.nusers && opt.decompose; u++)
        for (int m = 0; m < M_COUNT_; m++) {
            char name[128];
            snprintf(name, sizeof(name), "split %s: library / raw with library's SQL",
                     mode_label[m]);
            ratio_line(md, name, worlds[u].label,
                       find_config(T_FILE, (enum mode)m, 1, &worlds[u]),
                       find_config(T_RAWLIB, (enum mode)m, 1, &worlds[u]), 1, 0, 1);
            snprintf(name, sizeof(name), "split %s: raw with library's SQL / raw ceiling",
                     mode_label[m]);
            ratio_line(md, name, worlds[u].label,
                       find_config(T_RAWLIB, (enum mode)m, 1, &worlds[u]),
                       find_config(T_RAW, (enum mode)m, 1, &worlds[u]), 1, 0, 1);
        }
    if (small == big)
        return;
    for (int t = 0; t < T_COUNT_; t++) {
        if (t == T_PERCONN || (t == T_RAWLIB && !opt.decompose) ||
            (t == T_REDIS && opt.redis_uri == NULL) || (t == T_PG && opt.pg_uri == NULL))
            continue;
        for (int m = 0; m < M_COUNT_; m++) {
            char name[128], users[64];
            snprintf(name, sizeof(name), "(d) time: %s %s, 1 thr, %s vs %s users",
                     target_label[t], mode_label[m], big->label, small->label);
            snprintf(users, sizeof(users), "%s/%s", big->label, small->label);
            ratio_line(md, name, users, find_config((enum target)t, (enum mode)m, 1, big),
                       find_config((enum target)t, (enum mode)m, 1, small), 1, 1.2, 1);
        }
    }
}

/* STREAMY_BENCH_ROUND_HOOK: a shell command run after the warm-up (round 0) and after
 * every round, with STREAMY_BENCH_ROUND set: an outside measurement, such as a ceiling
 * that another program measures (tests/pg/bench_pg.sh runs pgbench), alternates with
 * the library's rounds without pre-populating again. */
static void round_hook(int round)
{
    const char *hook = getenv("STREAMY_BENCH_ROUND_HOOK");
    char n[16];

    if (hook == NULL || *hook == '\0' || round < 0)
        return;
    snprintf(n, sizeof(n), "%d", round);
    setenv("STREAMY_BENCH_ROUND", n, 1);
    fflush(NULL);
    if (system(hook) != 0)
        die("STREAMY_BENCH_ROUND_HOOK failed in round %d", round);
}

int main(int argc, char **argv)
{
    char tmpl[PATH_MAX];
    const char *dir;
    int made_dir = 0, selected_count = 0;
    uint64_t errors = 0;

    parse_args(argc, argv);
    make_uuid(first_stream, 0, SALT_FIRST);
    make_uuid(second_stream, 0, SALT_SECOND);
    build_configs();
    for (int i = 0; i < nconfigs; i++)
        selected_count += configs[i].selected;
    if (opt.list) {
        for (int i = 0; i < nconfigs; i++)
            if (configs[i].selected)
                printf("%s\n", configs[i].label);
        return 0;
    }
    if (selected_count == 0)
        die("--filter \"%s\" selects no configuration (see --list)", opt.filter);

    if (opt.dir != NULL) {
        dir = opt.dir;
    } else {
        const char *t = getenv("TMPDIR");
        snprintf(tmpl, sizeof(tmpl), "%s/streamy-bench.XXXXXX", t && *t ? t : "/tmp");
        if (mkdtemp(tmpl) == NULL)
            die("cannot create a directory from %s: %s", tmpl, strerror(errno));
        dir = tmpl;
        made_dir = 1;
    }
    print_machine(stdout, dir, "# ");
    fflush(stdout);

    for (int u = 0; u < opt.nusers; u++) {
        world *w = &worlds[u];
        setup_world(w, dir);
        for (int t = 0; t < T_COUNT_; t++)
            if (w->prepop_s[t] > 0)
                fprintf(stderr, "pre-populated %s with %s leases in %.1f s\n",
                        target_label[t], w->label, w->prepop_s[t]);
    }

    for (int k = 0; k < nconfigs && opt.warmup > 0; k++)
        if (configs[k].selected)
            run_config(&configs[k], opt.warmup);

    round_hook(opt.warmup > 0 ? 0 : -1);
    /* Interleave: every round runs every configuration once, alternately forwards and
     * backwards, so slow drift of a shared machine spreads over all of them. */
    for (int r = 0; r < opt.rounds; r++) {
        for (int k = 0; k < nconfigs; k++) {
            config *c = &configs[r % 2 ? nconfigs - 1 - k : k];
            char rate[32];
            if (!c->selected)
                continue;
            c->rate[c->nrate] = run_config(c, opt.seconds);
            fmt_count(rate, sizeof(rate), c->rate[c->nrate]);
            fprintf(stderr, "round %d/%d  %-40s %10s decisions/s%s\n", r + 1, opt.rounds,
                    c->label, rate, c->errors ? "  (errors)" : "");
            c->nrate++;
        }
        round_hook(r + 1);
    }

    printf("\nDecisions per second: median (min..max) of %d rounds of %.2f s; "
           "last column: time per decision at %s users / at %s users\n\n",
           opt.rounds, opt.seconds, worlds[opt.nusers - 1].label, worlds[0].label);
    print_table(0);
    printf("\nSQLite file size after pre-populating (checkpointed)\n\n");
    print_sizes(0);
    printf("\nRatios from the medians above\n\n");
    print_ratios(0);
    for (int i = 0; i < nconfigs; i++) {
        if (configs[i].errors == 0)
            continue;
        if (errors == 0)
            printf("\nERRORS\n");
        errors += configs[i].errors;
        printf("  %s: %llu failed decisions; first: %s\n", configs[i].label,
               (unsigned long long)configs[i].errors, configs[i].first_error);
    }
    if (opt.markdown) {
        printf("\n<!-- streamy_bench --markdown -->\n\n");
        print_machine(stdout, dir, "- ");
        printf("\n");
        print_table(1);
        printf("\n");
        print_sizes(1);
        printf("\n");
        print_ratios(1);
    }
    for (int u = 0; u < opt.nusers; u++)
        teardown_world(&worlds[u]);
    if (made_dir)
        rmdir(dir);
    free(configs);
    if (errors) {
        fprintf(stderr,
                "streamy_bench: %llu decisions failed; the figures are not valid\n",
                (unsigned long long)errors);
        return 1;
    }
    return 0;
}
