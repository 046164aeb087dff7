/* SPDX-License-Identifier: MIT */
/* sqlite.c: the default store: one SQLite file in WAL mode, one transaction a
 * decision. */
#include "stores.h"
#include "stores/sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

/* 0x5354524D, "STRM": marks a file as a Streamy database. */
#define STREAMY_APPLICATION_ID 1398035021
/* Bump when the schema changes, and teach open_schema() to migrate. Version 2 gave
 * each lease its id and device label. */
#define SCHEMA_VERSION 2
#define STR_(x) #x
#define STR(x) STR_(x)

/* The leases table of schema version 2, for a new file and for the migration. */
#define LEASES_COLUMNS                                                                   \
    " user TEXT NOT NULL,"                                                               \
    " stream TEXT NOT NULL,"                                                             \
    " since INTEGER NOT NULL,"                                                           \
    " renewed INTEGER NOT NULL,"                                                         \
    " expires INTEGER NOT NULL," /* 0: never */                                          \
    " id BLOB NOT NULL,"         /* the lease id: a UUID's 16 bytes */                   \
    " device TEXT,"              /* NULL: none */                                        \
    " PRIMARY KEY (user, stream)"
/* Only leases that can expire are indexed, for purge. */
#define LEASES_EXPIRY_INDEX                                                              \
    "CREATE INDEX leases_expiry ON leases (expires) WHERE expires > 0;"

static const char schema[] =
    "CREATE TABLE leases (" LEASES_COLUMNS ") WITHOUT ROWID;" LEASES_EXPIRY_INDEX
    "CREATE TABLE limits ("
    " user TEXT PRIMARY KEY NOT NULL,"
    " max INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "PRAGMA application_id = " STR(STREAMY_APPLICATION_ID) ";"
                                                           "PRAGMA user_version = " STR(
                                                               SCHEMA_VERSION) ";";

/* Version 1 (release 0.2) to 2: a new table, filled by migrate_v1() with an id for
 * each lease, then put in the old one's place. */
static const char migrate_v1_begin[] =
    "CREATE TABLE leases_v2 (" LEASES_COLUMNS ") WITHOUT ROWID;";
static const char migrate_v1_end[] =
    "DROP TABLE leases;"
    "ALTER TABLE leases_v2 RENAME TO leases;" LEASES_EXPIRY_INDEX
    "PRAGMA user_version = 2;";

static const char *const sql[ST_COUNT_] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    /* One statement reads everything a decision needs: the user's leases,
     * then the user's limit as a row whose stream is NULL. */
    [ST_SCAN] =
        "SELECT stream, since, renewed, expires, id, device FROM leases "
        "WHERE user = ?1 "
        "UNION ALL SELECT NULL, max, 0, 0, NULL, NULL FROM limits WHERE user = ?1",
    [ST_INSERT] =
        "INSERT INTO leases (user, stream, since, renewed, expires, id, device) "
        "VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)",
    /* A refresh without a device keeps the lease's own; a renew gives none. */
    [ST_REFRESH] = "UPDATE leases SET renewed = ?3, expires = ?4, "
                   "device = coalesce(?6, device) WHERE user = ?1 AND stream = ?2",
    [ST_DROP_EXPIRED] =
        "DELETE FROM leases WHERE user = ?1 AND expires > 0 AND expires <= ?2",
    /* An eviction reads the victim's id and device, then deletes it. */
    [ST_LEASE] = "SELECT id, device FROM leases WHERE user = ?1 AND stream = ?2",
    [ST_EVICT] = "DELETE FROM leases WHERE user = ?1 AND stream = ?2",
    /* A release in one statement: streamy_release() sees the lease (user, stream),
     * decides in C whether it goes (release_fn()) and keeps its id and device. */
    [ST_RELEASE] = "DELETE FROM leases WHERE user = ?1 AND stream = ?2 "
                   "AND streamy_release(user, stream, id, device, expires)",
    [ST_LIST] =
        "SELECT stream, since, renewed, expires, id, device FROM leases "
        "WHERE user = ?1 AND (expires = 0 OR expires > ?2) ORDER BY since, stream",
    [ST_COUNT] =
        "SELECT count(*) FROM leases WHERE user = ?1 AND (expires = 0 OR expires > ?2)",
    [ST_GET_LIMIT] = "SELECT max FROM limits WHERE user = ?1",
    [ST_SET_LIMIT] = "INSERT INTO limits (user, max) VALUES (?1, ?2) "
                     "ON CONFLICT (user) DO UPDATE SET max = excluded.max",
    [ST_CLEAR_LIMIT] = "DELETE FROM limits WHERE user = ?1",
    [ST_PURGE] = "DELETE FROM leases WHERE expires > 0 AND expires <= ?1",
    [ST_HEALTH] = "SELECT count(*) FROM (SELECT 1 FROM leases LIMIT 1)",
};

/* The statements' text, for tests that check their query plans. */
const char *streamy__sqlite_sql(int i)
{
    return i >= 0 && i < ST_COUNT_ ? sql[i] : NULL;
}

typedef struct sqlite_store {
    streamy_store base;
    sqlite3 *db;
    /* One connection is used by one thread at a time. */
    pthread_mutex_t lock;
    sqlite3_stmt *stmt[ST_COUNT_];
    int busy_timeout_ms;
    int64_t busy_since_us;
    struct release_visit *visit; /* the release in progress, for streamy_release() */
    char path[];
} sqlite_store;

/* What one scan of a user's rows found, before anything is changed. */
typedef struct scan {
    unsigned int active, expired, limit;
    int has_limit, exists;
    int64_t since;
    unsigned char id[16];                /* the existing lease's id */
    int has_id;                          /* it has one of 16 bytes */
    char device[STREAMY_DEVICE_MAX + 1]; /* and its device, "" for none */
    streamy__expiries expiries;          /* of the active leases; freed by the caller */
    int64_t oldest_since, idlest_renewed;
    char oldest[STREAMY_ID_MAX + 1], idlest[STREAMY_ID_MAX + 1];
} scan;

/* Map a SQLite failure to a result code, keeping SQLite's own words. */
static int db_error(sqlite_store *s, int code, const char *what)
{
    int primary = code & 0xff;
    const char *why = sqlite3_errmsg(s->db);

    if (sqlite3_extended_errcode(s->db) == SQLITE_READONLY_DIRECTORY)
        why = "the directory is not writable: SQLite keeps the -wal and -shm files there";
    else if (primary == SQLITE_READONLY)
        why = "the database is read-only";
    streamy_store_set_error(&s->base, "sqlite %s: %s: %s", s->path, what, why);
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
        return STREAMY_EBUSY;
    if (primary == SQLITE_NOMEM)
        return STREAMY_ENOMEM;
    return STREAMY_ESTORE;
}

/* Retry quickly at first, then back off to 1 ms, until the timeout: SQLite's own
 * handler sleeps whole milliseconds, far longer than a decision takes. */
static int busy_handler(void *arg, int count)
{
    sqlite_store *s = arg;
    int64_t now = streamy__monotonic_us();
    struct timespec ts = {0, 0};

    if (count == 0)
        s->busy_since_us = now;
    if (now - s->busy_since_us >= (int64_t)s->busy_timeout_ms * 1000)
        return 0;
    if (count < 4) {
        sched_yield();
        return 1;
    }
    ts.tv_nsec = (count < 50 ? 20L * (count - 3) : 1000L) * 1000L;
    nanosleep(&ts, NULL);
    return 1;
}

static int step_done(sqlite_store *s, int id, const char *what)
{
    sqlite3_stmt *st = s->stmt[id];
    int rc = sqlite3_step(st);

    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        rc = db_error(s, rc, what);
        sqlite3_reset(st);
        return rc;
    }
    sqlite3_reset(st);
    return STREAMY_OK;
}

static sqlite3_stmt *bind_user(sqlite_store *s, int id, const char *user)
{
    sqlite3_stmt *st = s->stmt[id];

    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    return st;
}

static int txn_begin(sqlite_store *s)
{
    return step_done(s, ST_BEGIN, "begin");
}

/* Commit, or roll back if the work or the commit failed. */
static int txn_end(sqlite_store *s, int rc)
{
    if (rc >= 0) {
        int crc = step_done(s, ST_COMMIT, "commit");
        if (crc == STREAMY_OK)
            return rc;
        rc = crc;
    }
    if (!sqlite3_get_autocommit(s->db)) {
        sqlite3_step(s->stmt[ST_ROLLBACK]);
        sqlite3_reset(s->stmt[ST_ROLLBACK]);
    }
    return rc;
}

static int64_t expiry(const streamy_store_req *req)
{
    return req->ttl_ms ? req->now_ms + req->ttl_ms : 0;
}

/* Run a one-row, one-column query; `*found` says whether there was a row. */
static int query_int(sqlite_store *s, sqlite3_stmt *q, const char *what, int64_t *value,
                     int *found)
{
    int rc = sqlite3_step(q);

    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW)
        *value = sqlite3_column_int64(q, 0);
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? STREAMY_OK : db_error(s, rc, what);
    sqlite3_reset(q);
    return rc;
}

/* A lease id column: 1 and its bytes in `out` when it holds 16 bytes. */
static int column_id(sqlite3_stmt *st, int col, unsigned char out[16])
{
    if (sqlite3_column_type(st, col) != SQLITE_BLOB ||
        sqlite3_column_bytes(st, col) != 16)
        return 0;
    memcpy(out, sqlite3_column_blob(st, col), 16);
    return 1;
}

static void column_device(sqlite3_stmt *st, int col, char out[STREAMY_DEVICE_MAX + 1])
{
    const char *device = (const char *)sqlite3_column_text(st, col);

    snprintf(out, STREAMY_DEVICE_MAX + 1, "%s", device ? device : "");
}

/* A lease id's bytes into the answer's text; "" when the row had none. */
static void id_text(char out[STREAMY_LEASE_ID_LEN + 1], const unsigned char id[16],
                    int has_id)
{
    if (has_id)
        streamy__lease_id_text(out, id);
    else
        out[0] = '\0';
}

/* The 16 bytes of the lease id a call holds (the core gives it in canonical text). */
static int fence_bytes(unsigned char out[16], const char *lease_id)
{
    return lease_id != NULL && uuid_parse(lease_id, out) == 0;
}

static int scan_user(scan *sc, sqlite_store *s, const streamy_store_req *req)
{
    sqlite3_stmt *st = bind_user(s, ST_SCAN, req->user);
    int rc;

    memset(sc, 0, sizeof(*sc));
    streamy__expiries_init(&sc->expiries);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *stream = (const char *)sqlite3_column_text(st, 0);
        int64_t since = sqlite3_column_int64(st, 1);
        int64_t renewed = sqlite3_column_int64(st, 2);
        int64_t expires = sqlite3_column_int64(st, 3);

        if (stream == NULL) {
            sc->has_limit = 1;
            sc->limit = (unsigned int)since;
            continue;
        }
        if (expires != 0 && expires <= req->now_ms) {
            sc->expired++;
            continue;
        }
        sc->active++;
        if (req->stream != NULL && strcmp(stream, req->stream) == 0) {
            sc->exists = 1;
            sc->since = since;
            sc->has_id = column_id(st, 4, sc->id);
            column_device(st, 5, sc->device);
        }
        if (sc->active == 1 || since < sc->oldest_since) {
            sc->oldest_since = since;
            snprintf(sc->oldest, sizeof(sc->oldest), "%s", stream);
        }
        if (sc->active == 1 || renewed < sc->idlest_renewed) {
            sc->idlest_renewed = renewed;
            snprintf(sc->idlest, sizeof(sc->idlest), "%s", stream);
        }
        streamy__expiries_add(&sc->expiries, expires);
    }
    if (rc != SQLITE_DONE) {
        rc = db_error(s, rc, "read leases");
        sqlite3_reset(st);
        return rc;
    }
    sqlite3_reset(st);
    if (!sc->has_limit)
        sc->limit = req->limit;
    return STREAMY_OK;
}

static int drop_expired(sqlite_store *s, const streamy_store_req *req)
{
    sqlite3_stmt *st = bind_user(s, ST_DROP_EXPIRED, req->user);

    sqlite3_bind_int64(st, 2, req->now_ms);
    return step_done(s, ST_DROP_EXPIRED, "drop expired leases");
}

/* Insert (with the lease id `id`) or refresh (id NULL) the call's lease. A NULL
 * device is bound as NULL: no device, or the refreshed lease keeps its own. */
static int write_lease(sqlite_store *s, const streamy_store_req *req,
                       const unsigned char *id, const char *device, const char *what)
{
    int which = id != NULL ? ST_INSERT : ST_REFRESH;
    sqlite3_stmt *st = bind_user(s, which, req->user);

    sqlite3_bind_text(st, 2, req->stream, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, req->now_ms);
    sqlite3_bind_int64(st, 4, expiry(req));
    if (id != NULL)
        sqlite3_bind_blob(st, 5, id, 16, SQLITE_STATIC);
    if (device != NULL)
        sqlite3_bind_text(st, 6, device, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 6);
    return step_done(s, which, what);
}

/* The id (`*has_id` 0 when there is none) and device of the lease (user, stream). */
static int read_lease(sqlite_store *s, const char *user, const char *stream,
                      unsigned char id[16], int *has_id,
                      char device[STREAMY_DEVICE_MAX + 1])
{
    sqlite3_stmt *st = bind_user(s, ST_LEASE, user);
    int rc;

    sqlite3_bind_text(st, 2, stream, -1, SQLITE_STATIC);
    *has_id = 0;
    device[0] = '\0';
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *has_id = column_id(st, 0, id);
        column_device(st, 1, device);
        rc = SQLITE_DONE;
    }
    rc = rc == SQLITE_DONE ? STREAMY_OK : db_error(s, rc, "read lease");
    sqlite3_reset(st);
    return rc;
}

static int delete_lease(sqlite_store *s, const char *user, const char *stream,
                        const char *what)
{
    sqlite3_stmt *st = bind_user(s, ST_EVICT, user);

    sqlite3_bind_text(st, 2, stream, -1, SQLITE_STATIC);
    return step_done(s, ST_EVICT, what);
}

/* The decision itself; the caller holds the lock and an open transaction. */
static int decide_acquire(sqlite_store *s, streamy_store_call *c, scan *sc)
{
    const streamy_store_req *req = &c->req;
    streamy_answer *a = c->out;
    streamy__acquire_action action;
    streamy__acquire_scan in;
    unsigned char id[16];
    const char *victim;
    int rc;

    if ((rc = scan_user(sc, s, req)) != STREAMY_OK)
        return rc;
    in.active = sc->active;
    in.expired = sc->expired;
    in.limit = sc->limit;
    in.exists = sc->exists;
    in.since_ms = sc->since;
    in.oldest = sc->active ? sc->oldest : NULL;
    in.idlest = sc->active ? sc->idlest : NULL;
    in.expiries = &sc->expiries;
    action = streamy__acquire_decide(&a->decision, &victim, req, &in);
    if (sc->expired && (rc = drop_expired(s, req)) != STREAMY_OK)
        return rc;
    switch (action) {
    case STREAMY__ACQUIRE_REFRESH:
        if ((rc = write_lease(s, req, NULL, c->device, "refresh lease")) != STREAMY_OK)
            return rc;
        id_text(a->lease_id, sc->id, sc->has_id);
        snprintf(a->device, sizeof(a->device), "%s",
                 c->device != NULL ? c->device : sc->device);
        return STREAMY_OK;
    case STREAMY__ACQUIRE_REFUSE:
        return STREAMY_LIMIT_REACHED;
    case STREAMY__ACQUIRE_EVICT: {
        unsigned char vid[16];
        int has_id;
        if ((rc = read_lease(s, req->user, victim, vid, &has_id, a->evicted_device)) !=
                STREAMY_OK ||
            (rc = delete_lease(s, req->user, victim, "evict lease")) != STREAMY_OK)
            return rc;
        id_text(a->evicted_lease_id, vid, has_id);
        break;
    }
    case STREAMY__ACQUIRE_INSERT:
    case STREAMY__ACQUIRE_INSERT_SHADOW:
        break;
    }
    if ((rc = streamy__lease_id_new(id)) != STREAMY_OK)
        return rc; /* the message names the cause */
    if ((rc = write_lease(s, req, id, c->device, "insert lease")) != STREAMY_OK)
        return rc;
    streamy__lease_id_text(a->lease_id, id);
    snprintf(a->device, sizeof(a->device), "%s", c->device != NULL ? c->device : "");
    return STREAMY_OK;
}

static int do_acquire(sqlite_store *s, streamy_store_call *c)
{
    scan sc;
    int rc = decide_acquire(s, c, &sc);

    streamy__expiries_free(&sc.expiries);
    return rc;
}

static int do_renew(sqlite_store *s, streamy_store_call *c)
{
    const streamy_store_req *req = &c->req;
    streamy_decision *out = &c->out->decision;
    unsigned char fence[16];
    scan sc;
    int rc;

    rc = scan_user(&sc, s, req);
    streamy__expiries_free(&sc.expiries); /* a renew never reports when a slot frees */
    if (rc != STREAMY_OK)
        return rc;
    out->limit = sc.limit;
    out->expired = sc.expired;
    out->active = sc.active;
    if (sc.expired && (rc = drop_expired(s, req)) != STREAMY_OK)
        return rc;
    if (!sc.exists)
        return STREAMY_NOT_FOUND;
    if (c->lease_id != NULL && (!fence_bytes(fence, c->lease_id) || !sc.has_id ||
                                memcmp(fence, sc.id, 16) != 0)) {
        c->out->stale = 1;
        return STREAMY_NOT_FOUND;
    }
    if ((rc = write_lease(s, req, NULL, NULL, "renew lease")) != STREAMY_OK)
        return rc;
    out->since_ms = sc.since;
    out->expires_ms = expiry(req);
    id_text(c->out->lease_id, sc.id, sc.has_id);
    snprintf(c->out->device, sizeof(c->out->device), "%s", sc.device);
    return STREAMY_OK;
}

/* What a release is after, and what streamy_release() found: the lease of the
 * statement's (user, stream), of which there is at most one. */
typedef struct release_visit {
    const streamy_store_req *req;
    const unsigned char *fence; /* the lease id the call holds, or NULL */
    streamy_answer *out;
} release_visit;

/* streamy_release(user, stream, id, device, expires): 1 to delete the row. The
 * statement finds the row by its key, so this sees at most that one; it checks the key
 * all the same, so that no query plan could make it decide on another row. */
static void release_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite_store *s = sqlite3_user_data(ctx);
    const release_visit *v = s->visit;
    const char *user = (const char *)sqlite3_value_text(argv[0]);
    const char *stream = (const char *)sqlite3_value_text(argv[1]);
    const unsigned char *id = sqlite3_value_blob(argv[2]);
    int has_id = id != NULL && sqlite3_value_bytes(argv[2]) == 16;
    const char *device = (const char *)sqlite3_value_text(argv[3]);
    int64_t expires = sqlite3_value_int64(argv[4]);
    int drop = 1;

    STREAMY_UNUSED(argc);
    if (v == NULL || user == NULL || stream == NULL || strcmp(user, v->req->user) != 0 ||
        strcmp(stream, v->req->stream) != 0) {
        drop = 0; /* outside a release, or not its lease */
    } else if (expires != 0 && expires <= v->req->now_ms) {
        /* An expired lease is nobody's: it goes whatever id the call names. */
        v->out->decision.expired = 1;
    } else if (v->fence != NULL && (!has_id || memcmp(id, v->fence, 16) != 0)) {
        v->out->stale = 1;
        drop = 0;
    } else {
        v->out->decision.removed = 1;
        id_text(v->out->lease_id, id, has_id);
        snprintf(v->out->device, sizeof(v->out->device), "%s", device ? device : "");
    }
    sqlite3_result_int(ctx, drop);
}

/* One statement, atomic on its own: a single release needs no explicit transaction. */
static int do_release(sqlite_store *s, streamy_store_call *c)
{
    const streamy_store_req *req = &c->req;
    unsigned char fence[16];
    release_visit v = {req, NULL, c->out};
    sqlite3_stmt *st = bind_user(s, ST_RELEASE, req->user);
    int rc;

    if (c->lease_id != NULL) {
        /* A lease id that is no UUID (the core lets none through) names no lease. */
        if (!fence_bytes(fence, c->lease_id))
            memset(fence, 0, sizeof(fence));
        v.fence = fence;
    }
    sqlite3_bind_text(st, 2, req->stream, -1, SQLITE_STATIC);
    s->visit = &v;
    rc = step_done(s, ST_RELEASE, "remove lease");
    s->visit = NULL;
    return rc;
}

static int decide_one(sqlite_store *s, streamy_store_call *c)
{
    switch (c->kind) {
    case STREAMY_OP_SUBSCRIBE:
        return do_acquire(s, c);
    case STREAMY_OP_UNSUBSCRIBE:
        return do_release(s, c);
    case STREAMY_OP_RENEW:
        return do_renew(s, c);
    }
    streamy_store_set_error(&s->base, "sqlite %s: unknown operation %d", s->path,
                            (int)c->kind);
    return STREAMY_EINVAL;
}

/* One transaction for a subscribe, a renew or a batch; a single release is one
 * statement (do_release()). */
static int sqlite_decide(streamy_store *st, streamy_store_call *calls, size_t n)
{
    sqlite_store *s = (sqlite_store *)st;
    int rc;

    pthread_mutex_lock(&s->lock);
    if (n == 1 && calls[0].kind == STREAMY_OP_UNSUBSCRIBE) {
        if ((rc = do_release(s, &calls[0])) >= 0) {
            calls[0].result = rc;
            rc = STREAMY_OK;
        }
    } else if ((rc = txn_begin(s)) == STREAMY_OK) {
        for (size_t i = 0; i < n && rc >= 0; i++)
            rc = calls[i].result = decide_one(s, &calls[i]);
        rc = txn_end(s, rc < 0 ? rc : STREAMY_OK);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int sqlite_list(streamy_store *st, const streamy_store_req *req,
                       streamy_lease_cb cb, void *payload)
{
    sqlite_store *s = (sqlite_store *)st;
    sqlite3_stmt *q;
    int rc;

    pthread_mutex_lock(&s->lock);
    q = bind_user(s, ST_LIST, req->user);
    sqlite3_bind_int64(q, 2, req->now_ms);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        char id[STREAMY_LEASE_ID_LEN + 1];
        unsigned char bytes[16];
        streamy_lease lease;
        lease.stream = (const char *)sqlite3_column_text(q, 0);
        lease.since_ms = sqlite3_column_int64(q, 1);
        lease.renewed_ms = sqlite3_column_int64(q, 2);
        lease.expires_ms = sqlite3_column_int64(q, 3);
        id_text(id, bytes, column_id(q, 4, bytes));
        lease.lease_id = id;
        lease.device = (const char *)sqlite3_column_text(q, 5);
        if (lease.device == NULL)
            lease.device = "";
        if (lease.stream != NULL && cb(&lease, payload) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    rc = rc == SQLITE_DONE ? STREAMY_OK : db_error(s, rc, "list leases");
    sqlite3_reset(q);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int sqlite_count(streamy_store *st, const streamy_store_req *req,
                        unsigned int *out)
{
    sqlite_store *s = (sqlite_store *)st;
    int64_t n = 0;
    int rc, found;

    pthread_mutex_lock(&s->lock);
    sqlite3_bind_int64(bind_user(s, ST_COUNT, req->user), 2, req->now_ms);
    rc = query_int(s, s->stmt[ST_COUNT], "count leases", &n, &found);
    pthread_mutex_unlock(&s->lock);
    *out = (unsigned int)n;
    return rc;
}

static int sqlite_get_limit(streamy_store *st, const char *user, unsigned int *limit,
                            int *found)
{
    sqlite_store *s = (sqlite_store *)st;
    int64_t v = 0;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = query_int(s, bind_user(s, ST_GET_LIMIT, user), "read limit", &v, found);
    pthread_mutex_unlock(&s->lock);
    *limit = (unsigned int)v;
    return rc;
}

static int sqlite_set_limit(streamy_store *st, const char *user, unsigned int limit)
{
    sqlite_store *s = (sqlite_store *)st;
    int rc;

    pthread_mutex_lock(&s->lock);
    sqlite3_bind_int64(bind_user(s, ST_SET_LIMIT, user), 2, limit);
    rc = step_done(s, ST_SET_LIMIT, "set limit");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int sqlite_clear_limit(streamy_store *st, const char *user)
{
    sqlite_store *s = (sqlite_store *)st;
    int rc;

    pthread_mutex_lock(&s->lock);
    bind_user(s, ST_CLEAR_LIMIT, user);
    rc = step_done(s, ST_CLEAR_LIMIT, "clear limit");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int sqlite_purge(streamy_store *st, const streamy_store_req *req,
                        uint64_t *removed)
{
    int64_t now_ms = req->now_ms;
    sqlite_store *s = (sqlite_store *)st;
    int rc;

    pthread_mutex_lock(&s->lock);
    sqlite3_bind_int64(s->stmt[ST_PURGE], 1, now_ms);
    rc = step_done(s, ST_PURGE, "purge");
    *removed = rc == STREAMY_OK ? (uint64_t)sqlite3_changes64(s->db) : 0;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int sqlite_health(streamy_store *st)
{
    sqlite_store *s = (sqlite_store *)st;
    int64_t v;
    int rc, found;

    pthread_mutex_lock(&s->lock);
    rc = query_int(s, s->stmt[ST_HEALTH], "health check", &v, &found);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void sqlite_free(streamy_store *st)
{
    sqlite_store *s = (sqlite_store *)st;

    for (int i = 0; i < ST_COUNT_; i++)
        sqlite3_finalize(s->stmt[i]);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int pragma_int(sqlite_store *s, const char *pragma, int64_t *value)
{
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(s->db, pragma, -1, &q, NULL);
    int found;

    if (rc != SQLITE_OK)
        return db_error(s, rc, "read the database header");
    rc = sqlite3_step(q);
    found = rc == SQLITE_ROW;
    if (found)
        *value = sqlite3_column_int64(q, 0);
    rc = found || rc == SQLITE_DONE ? STREAMY_OK
                                    : db_error(s, rc, "read the database header");
    sqlite3_finalize(q);
    return rc;
}

static int exec(sqlite_store *s, const char *text, const char *what)
{
    int rc = sqlite3_exec(s->db, text, NULL, NULL, NULL);
    return rc == SQLITE_OK ? STREAMY_OK : db_error(s, rc, what);
}

/* Switching to WAL needs an exclusive lock, and SQLite answers BUSY at once
 * (without the busy handler) when another connection also waits to write, to
 * avoid a deadlock; so retry the whole statement until the busy timeout. */
static int exec_retry(sqlite_store *s, const char *text, const char *what)
{
    int64_t start = streamy__monotonic_us();
    struct timespec ts = {0, 200 * 1000};
    int rc;

    while ((rc = sqlite3_exec(s->db, text, NULL, NULL, NULL)) == SQLITE_BUSY &&
           streamy__monotonic_us() - start < (int64_t)s->busy_timeout_ms * 1000)
        nanosleep(&ts, NULL);
    return rc == SQLITE_OK ? STREAMY_OK : db_error(s, rc, what);
}

/* What the file holds: its schema version (>= 1) for a Streamy database, 0 when it
 * is empty, else an error. */
static int inspect(sqlite_store *s)
{
    int64_t app = 0, version = 0, objects = 0;
    int rc;

    /* One read transaction, so the three values come from one snapshot even while
     * another process creates the schema. Inside create_schema's write
     * transaction, the reads simply join it. */
    int own = sqlite3_get_autocommit(s->db);

    if (own && (rc = exec(s, "BEGIN", "read the database header")) != STREAMY_OK)
        return rc;
    if ((rc = pragma_int(s, "PRAGMA application_id", &app)) == STREAMY_OK &&
        (rc = pragma_int(s, "PRAGMA user_version", &version)) == STREAMY_OK)
        rc = pragma_int(s, "SELECT count(*) FROM sqlite_master", &objects);
    /* Only a file SQLite does not recognise is someone else's; a directory it cannot
     * write in, a lock or an I/O error keeps db_error()'s own words. */
    if (rc == STREAMY_ESTORE && sqlite3_errcode(s->db) == SQLITE_NOTADB)
        streamy_store_set_error(&s->base,
                                "sqlite %s: not a Streamy database (%s); left untouched",
                                s->path, sqlite3_errmsg(s->db));
    if (own)
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != STREAMY_OK)
        return rc;
    if (app == STREAMY_APPLICATION_ID) {
        if (version > SCHEMA_VERSION) {
            streamy_store_set_error(&s->base,
                                    "sqlite %s: schema version %lld is newer than this "
                                    "libstreamy knows (%d); upgrade libstreamy",
                                    s->path, (long long)version, SCHEMA_VERSION);
            return STREAMY_ESTORE;
        }
        if (version < 1) {
            streamy_store_set_error(
                &s->base, "sqlite %s: Streamy database without a schema version",
                s->path);
            return STREAMY_ESTORE;
        }
        return (int)version;
    }
    if (app == 0 && objects == 0 && version == 0)
        return 0;
    streamy_store_set_error(
        &s->base,
        "sqlite %s: not a Streamy database (application_id %lld, %lld "
        "schema objects); left untouched",
        s->path, (long long)app, (long long)objects);
    return STREAMY_ESTORE;
}

/* Create the schema of an empty file, checking again under the write lock in
 * case another process created it first. */
static int create_schema(sqlite_store *s)
{
    int rc;

    if ((rc = exec(s, "BEGIN IMMEDIATE", "create the schema")) != STREAMY_OK)
        return rc;
    rc = inspect(s);
    if (rc == 0)
        rc = exec(s, schema, "create the schema");
    if (rc >= 0)
        return exec(s, "COMMIT", "create the schema");
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Copy every lease of a version-1 table into leases_v2 with a new id; the caller
 * holds the write transaction. */
static int copy_leases_v1(sqlite_store *s)
{
    static const char select_v1[] = "SELECT user, stream, since, renewed, expires "
                                    "FROM leases";
    static const char insert_v2[] = "INSERT INTO leases_v2 "
                                    "(user, stream, since, renewed, expires, id) "
                                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    sqlite3_stmt *from = NULL, *to = NULL;
    unsigned char id[16];
    int rc;

    if ((rc = sqlite3_prepare_v2(s->db, select_v1, -1, &from, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(s->db, insert_v2, -1, &to, NULL)) != SQLITE_OK) {
        rc = db_error(s, rc, "migrate the schema from version 1");
        goto out;
    }
    while ((rc = sqlite3_step(from)) == SQLITE_ROW) {
        for (int col = 0; col < 5; col++)
            sqlite3_bind_value(to, col + 1, sqlite3_column_value(from, col));
        if ((rc = streamy__lease_id_new(id)) != STREAMY_OK)
            goto out; /* the message names the cause */
        sqlite3_bind_blob(to, 6, id, sizeof(id), SQLITE_STATIC);
        if ((rc = sqlite3_step(to)) != SQLITE_DONE) {
            rc = db_error(s, rc, "migrate the schema from version 1");
            goto out;
        }
        sqlite3_reset(to);
    }
    rc = rc == SQLITE_DONE ? STREAMY_OK
                           : db_error(s, rc, "migrate the schema from version 1");
out:
    sqlite3_finalize(from);
    sqlite3_finalize(to);
    return rc;
}

/* Migrate a file of schema version 1 (release 0.2) to version 2, where every lease
 * has an id: one write transaction, which checks the version again so that of two
 * processes opening the file at once only the first migrates. A crash or a failure
 * part-way leaves the file as it was (the transaction is rolled back). */
static int migrate_v1(sqlite_store *s)
{
    int rc;

    if ((rc = exec(s, "BEGIN IMMEDIATE", "migrate the schema from version 1")) !=
        STREAMY_OK)
        return rc;
    rc = inspect(s);
    if (rc == 1 &&
        (rc = exec(s, migrate_v1_begin, "migrate the schema from version 1")) ==
            STREAMY_OK &&
        (rc = copy_leases_v1(s)) == STREAMY_OK)
        rc = exec(s, migrate_v1_end, "migrate the schema from version 1");
    if (rc >= 0)
        return exec(s, "COMMIT", "migrate the schema from version 1");
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int open_schema(sqlite_store *s, int memory, int readonly, int sync_full)
{
    int rc = inspect(s);

    if (rc < 0)
        return rc;
    if (rc == 0 && readonly) {
        streamy_store_set_error(
            &s->base, "sqlite %s: no Streamy database here to open read-only", s->path);
        return STREAMY_ESTORE;
    }
    /* Migrating writes, and a version-1 file has no lease ids to show: a read-only
     * open refuses it rather than answer without them. */
    if (rc == 1 && readonly) {
        streamy_store_set_error(&s->base,
                                "sqlite %s: schema version 1 (release 0.2) must be "
                                "migrated to version %d: open it read-write once",
                                s->path, SCHEMA_VERSION);
        return STREAMY_ESTORE;
    }
    if (!memory && !readonly &&
        (rc = exec_retry(s, "PRAGMA journal_mode=WAL", "switch to WAL")) != STREAMY_OK)
        return rc;
    if ((rc = exec(s, sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                   "set synchronous")) != STREAMY_OK)
        return rc;
    if ((rc = inspect(s)) == 0)
        rc = create_schema(s);
    else if (rc == 1)
        rc = migrate_v1(s);
    return rc < 0 ? rc : STREAMY_OK;
}

/* A connection that could only read leaves the -shm file it created with the mode the
 * database had then; once the database is writable again, that file would keep every
 * later connection read-only. Give the -wal and -shm files the database's mode back, as
 * SQLite would have made them. */
static void side_files_writable(const char *path)
{
    size_t len = strlen(path);
    char *side = malloc(len + 5);
    struct stat st;

    if (side == NULL || access(path, W_OK) != 0 || stat(path, &st) != 0) {
        free(side);
        return;
    }
    for (int i = 0; i < 2; i++) {
        snprintf(side, len + 5, "%s%s", path, i ? "-wal" : "-shm");
        if (access(side, F_OK) == 0 && access(side, W_OK) != 0)
            chmod(side, st.st_mode & 0777); /* fails harmlessly if not ours */
    }
    free(side);
}

/* Create a new file with mode 0600 before SQLite sees it; the -wal and -shm
 * files inherit the database file's mode. */
static int create_private(sqlite_store *s, const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd >= 0) {
        close(fd);
        return STREAMY_OK;
    }
    if (errno == EEXIST)
        return STREAMY_OK;
    streamy_store_set_error(&s->base, "sqlite %s: cannot create the file: %s", path,
                            strerror(errno));
    return STREAMY_ESTORE;
}

int streamy_store_sqlite_new(streamy_store **out, const char *path, int readonly,
                             const streamy_options *opts)
{
    static const streamy_options defaults = STREAMY_OPTIONS_INIT;
    int memory, rc, flags;
    sqlite_store *s;
    size_t len;

    streamy__error_begin(NULL);
    if (out == NULL || path == NULL)
        return streamy__error(STREAMY_EINVAL, "%s is NULL",
                              out == NULL ? "output store pointer" : "sqlite path");
    *out = NULL;
    if (path[0] == '\0')
        return streamy__error(STREAMY_EINVAL, "sqlite path is empty");
    if (opts == NULL)
        opts = &defaults;
    memory = strcmp(path, ":memory:") == 0;
    len = strlen(path);
    s = calloc(1, sizeof(*s) + len + 1);
    if (s == NULL)
        return streamy__error(STREAMY_ENOMEM, "cannot allocate the sqlite store");
    memcpy(s->path, path, len + 1);
    pthread_mutex_init(&s->lock, NULL);
    s->busy_timeout_ms = opts->busy_timeout_ms;
    streamy_store_init(&s->base, STREAMY_STORE_VERSION);
    s->base.name = "sqlite";
    s->base.free = sqlite_free;

    if (!memory && !readonly && (rc = create_private(s, path)) != STREAMY_OK)
        goto fail;
    if (!memory && !readonly)
        side_files_writable(path);
    flags =
        (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX;
    rc = sqlite3_open_v2(path, &s->db, flags, NULL);
    if (rc != SQLITE_OK) {
        if (s->db == NULL) {
            rc = streamy__error(STREAMY_ENOMEM, "cannot allocate a sqlite connection");
            goto fail;
        }
        rc = db_error(s, rc, "open");
        goto fail;
    }
    sqlite3_busy_handler(s->db, busy_handler, s);
    if (!readonly && sqlite3_db_readonly(s->db, "main") == 1)
        readonly = 1; /* the file or its directory is not writable: reads still work */
    if ((rc = open_schema(s, memory, readonly, opts->synchronous_full)) != STREAMY_OK)
        goto fail;
    /* Direct-only: no view or trigger of the file can call it. */
    rc = sqlite3_create_function_v2(s->db, "streamy_release", 5,
                                    SQLITE_UTF8 | SQLITE_DIRECTONLY, s, release_fn, NULL,
                                    NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = db_error(s, rc, "register streamy_release()");
        goto fail;
    }
    for (int i = 0; i < ST_COUNT_; i++) {
        rc = sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                                NULL);
        if (rc != SQLITE_OK) {
            rc = db_error(s, rc, "prepare statements");
            goto fail;
        }
    }
    s->base.list = sqlite_list;
    s->base.count = sqlite_count;
    s->base.set_limit = sqlite_set_limit;
    s->base.clear_limit = sqlite_clear_limit;
    s->base.get_limit = sqlite_get_limit;
    s->base.purge = sqlite_purge;
    s->base.health = sqlite_health;
    s->base.decide = sqlite_decide;
    *out = &s->base;
    return STREAMY_OK;
fail:
    sqlite_free(&s->base);
    return rc;
}

/* `sqlite:PATH[?key=value&...]`: the path and the parameters. */
static int uri_params(streamy__sqlite_uri *u, const char *rest)
{
    const char *q = strchr(rest, '?');
    size_t plen = q ? (size_t)(q - rest) : strlen(rest);

    if (plen == 0)
        return streamy__error(STREAMY_EINVAL, "sqlite URI has no path (use sqlite:PATH)");
    if (plen >= sizeof(u->path))
        return streamy__error(STREAMY_EINVAL, "sqlite path is longer than %zu bytes",
                              sizeof(u->path) - 1);
    memcpy(u->path, rest, plen);
    u->path[plen] = '\0';
    while (q != NULL) {
        const char *key = q + 1, *amp = strchr(key, '&');
        size_t klen = amp ? (size_t)(amp - key) : strlen(key);

        if (klen == 7 && strncmp(key, "mode=ro", 7) == 0)
            u->readonly = 1;
        else if (klen == 7 && strncmp(key, "mode=rw", 7) == 0)
            u->readonly = 0;
        else if (klen == 16 && strncmp(key, "synchronous=full", 16) == 0)
            u->synchronous_full = 1;
        else if (klen == 18 && strncmp(key, "synchronous=normal", 18) == 0)
            u->synchronous_full = 0;
        else
            return streamy__error(
                STREAMY_EINVAL,
                "sqlite URI parameter \"%.*s\" is unknown (use mode=ro|rw, "
                "synchronous=normal|full)",
                (int)(klen > 64 ? 64 : klen), key);
        q = amp;
    }
    return STREAMY_OK;
}

int streamy__sqlite_uri_parse(streamy__sqlite_uri *out, const char *uri)
{
    memset(out, 0, sizeof(*out));
    out->synchronous_full = -1;
    if (strcmp(uri, "sqlite::memory:") == 0) {
        strcpy(out->path, ":memory:");
        return STREAMY_OK;
    }
    if (strncmp(uri, "sqlite:", 7) == 0)
        return uri_params(out, uri + 7);
    if (strlen(uri) >= sizeof(out->path))
        return streamy__error(STREAMY_EINVAL, "sqlite path is longer than %zu bytes",
                              sizeof(out->path) - 1);
    strcpy(out->path, uri);
    return STREAMY_OK;
}

int streamy__store_sqlite_open(streamy_store **out, const char *uri,
                               const streamy_options *o)
{
    static const streamy_options defaults = STREAMY_OPTIONS_INIT;
    streamy_options so = o != NULL ? *o : defaults;
    streamy__sqlite_uri u;
    int rc;

    if ((rc = streamy__sqlite_uri_parse(&u, uri)) != STREAMY_OK)
        return rc;
    if (u.synchronous_full >= 0)
        so.synchronous_full = u.synchronous_full;
    return streamy_store_sqlite_new(out, u.path, u.readonly, &so);
}
