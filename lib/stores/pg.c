/* SPDX-License-Identifier: MIT */
/* pg.c: the PostgreSQL store: one prepared server-side function call a decision. */
#include "stores.h"

#include "answer.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bump when the schema changes, and teach pg_schema.sql's MIGRATE the way from every
 * older version. 1: the first; 2: the decision functions answer in answer.h's order;
 * 3: leases have an id and a device label, renew and unsubscribe take a fence. */
#define SCHEMA_VERSION 3
#define DEFAULT_SCHEMA "streamy"
#define SCHEMA_MAX 63 /* PostgreSQL's NAMEDATALEN - 1 */
/* After a reconnection failed, calls fail at once for this long instead of each
 * waiting for a connection attempt of its own. */
#define RECONNECT_BACKOFF_US (250 * 1000)
/* Defaults the URI may override: a server that vanished without a word (a partition,
 * a dead host) fails a call within about half a minute instead of hanging it. */
/* Every call (waiting for the connection's lock aside) ends within the handle's
 * deadline: busy_timeout_ms, at least MIN_DEADLINE_MS. The server's lock_timeout (at
 * most 9/10 of it) and statement_timeout (19/20 of it) end first where they can; past
 * the deadline the client cancels (PQcancel, from a thread of its own, since libpq's
 * PQcancel can block) and waits CANCEL_GRACE_MS more for the server to answer, then
 * drops the connection; the next call connects again. */
#define MIN_DEADLINE_MS 1000
#define CANCEL_GRACE_MS 500
/* A health check queued behind a call that has not finished for this long, while no
 * other call finished either, answers EBUSY at once instead of waiting its turn. */
#define HEALTH_STALL_MS 1000
#define DEFAULT_TCP_USER_TIMEOUT_MS "30000"
#define DEFAULT_KEEPALIVES_IDLE_S "10"
#define DEFAULT_KEEPALIVES_INTERVAL_S "5"

/* The schema and its functions: pg_schema.sql, embedded at build time. Its sections
 * (CREATE, MIGRATE, ...) are expanded by expand() below. */
extern const char *const streamy__pg_schema_sql;

/* The prepared statements. A NULL clock parameter means the server's clock. */
enum {
    Q_ACQUIRE,
    Q_RELEASE,
    Q_RELEASE_FENCED,
    Q_RENEW,
    Q_APPLY,
    Q_LIST,
    Q_COUNT,
    Q_GET_LIMIT,
    Q_SET_LIMIT,
    Q_CLEAR_LIMIT,
    Q_PURGE,
    Q_HEALTH,
    Q_COUNT_
};

static const struct {
    const char *name;
    int nparams;
    const char *text;
} queries[Q_COUNT_] = {
    [Q_ACQUIRE] =
        {"streamy_acquire", 9,
         "SELECT * FROM @S@.acquire($1::text, $2::text, $3::bigint, $4::bigint, "
         "$5::integer, $6::integer, $7::boolean, $8::uuid, $9::text)"},
    /* Unsubscribe: a row (live, id, device) for the lease removed, else none. */
    [Q_RELEASE] = {"streamy_release", 3,
                   "DELETE FROM @S@.leases WHERE user_id = $1::text AND stream_id = "
                   "$2::text RETURNING expires_ms = 0 OR expires_ms > "
                   "(SELECT coalesce($3::bigint, @S@.now_ms())), lease_id, device"},
    /* Unsubscribe fenced by the lease id $4, in one statement: the same row for the
     * lease removed (of that id, or expired), a row of NULLs when an unexpired lease of
     * another id stays (stale), else none. */
    [Q_RELEASE_FENCED] =
        {"streamy_release_fenced", 4,
         "WITH t AS (SELECT coalesce($3::bigint, @S@.now_ms()) AS now), "
         "d AS (DELETE FROM @S@.leases l USING t "
         "WHERE l.user_id = $1::text AND l.stream_id = $2::text AND (l.lease_id = "
         "$4::uuid OR (l.expires_ms > 0 AND l.expires_ms <= t.now)) "
         "RETURNING l.expires_ms = 0 OR l.expires_ms > t.now, l.lease_id, l.device) "
         "SELECT * FROM d UNION ALL SELECT NULL, NULL, NULL FROM @S@.leases l, t "
         "WHERE l.user_id = $1::text AND l.stream_id = $2::text "
         "AND l.lease_id <> $4::uuid AND (l.expires_ms = 0 OR l.expires_ms > t.now) "
         "AND NOT EXISTS (SELECT FROM d)"},
    [Q_RENEW] = {"streamy_renew", 6,
                 "SELECT * FROM @S@.renew($1::text, $2::text, $3::bigint, $4::bigint, "
                 "$5::integer, $6::uuid)"},
    [Q_APPLY] = {"streamy_apply", 11,
                 "SELECT * FROM @S@.apply($1::integer[], $2::text[], $3::text[], "
                 "$4::bigint, $5::bigint, $6::integer[], $7::integer, $8::boolean, "
                 "$9::uuid[], $10::uuid[], $11::text[])"},
    [Q_LIST] =
        {"streamy_list", 2,
         "SELECT stream_id, since_ms, renewed_ms, expires_ms, lease_id, device "
         "FROM @S@.leases WHERE user_id = $1::text AND (expires_ms = 0 OR expires_ms > "
         "(SELECT coalesce($2::bigint, @S@.now_ms()))) ORDER BY since_ms, stream_id"},
    [Q_COUNT] =
        {"streamy_count", 2,
         "SELECT count(*) FROM @S@.leases WHERE user_id = $1::text AND "
         "(expires_ms = 0 OR expires_ms > (SELECT coalesce($2::bigint, @S@.now_ms())))"},
    [Q_GET_LIMIT] = {"streamy_get_limit", 1,
                     "SELECT max_streams FROM @S@.users WHERE user_id = $1::text"},
    [Q_SET_LIMIT] = {"streamy_set_limit", 2,
                     "INSERT INTO @S@.users (user_id, max_streams) VALUES ($1::text, "
                     "$2::integer) ON CONFLICT (user_id) DO UPDATE SET max_streams = "
                     "excluded.max_streams"},
    [Q_CLEAR_LIMIT] =
        {"streamy_clear_limit", 1,
         "UPDATE @S@.users SET max_streams = NULL WHERE user_id = $1::text"},
    [Q_PURGE] = {"streamy_purge", 1, "SELECT @S@.purge($1::bigint)"},
    [Q_HEALTH] = {"streamy_health", 0, "SELECT 1"},
};

typedef struct pg_store {
    streamy_store base;
    /* One connection, used by one thread at a time. */
    pthread_mutex_t lock;
    PGconn *conn;
    int ready;             /* the connection is set up (setup_session) */
    unsigned int prepared; /* bit q: queries[q] is prepared on this connection */
    int lock_timeout_ms;
    int deadline_ms; /* of every call: see MIN_DEADLINE_MS */
    char *conninfo;  /* what libpq reads, to connect again */
    char connect_timeout[16];
    char warning[300];        /* a WARNING the server sent during the current call */
    int64_t last_done_us;     /* when the last call ended (atomic: read unlocked) */
    int64_t backoff_until_us; /* after a failed reconnection */
    char backoff_msg[256];
    char errmsg[STREAMY_ERRMSG_SIZE]; /* the last failure of the connection (keep_error())
                                       */
    char schema[SCHEMA_MAX + 1];
    char quoted[SCHEMA_MAX + 3];
    char where[200]; /* "host:port/db", for messages */
    char *sql[Q_COUNT_];
} pg_store;

/* --- text -------------------------------------------------------------------------- */

/* Section `name` of pg_schema.sql: its text from the line after "--@ NAME" to the next
 * such line, without the blank lines that end it; NULL if there is none. */
static const char *section(const char *name, size_t nlen, size_t *len)
{
    const char *p = streamy__pg_schema_sql, *end;

    while ((p = strstr(p, "\n--@ ")) != NULL) {
        p += 5;
        if (strncmp(p, name, nlen) != 0 || p[nlen] != '\n')
            continue;
        p += nlen + 1;
        if ((end = strstr(p, "\n--@ ")) == NULL)
            end = p + strlen(p);
        while (end > p && (end[-1] == '\n' || end[-1] == ' '))
            end--;
        *len = (size_t)(end - p);
        return p;
    }
    return NULL;
}

/* Append `len` bytes of SQL text, expanding its tokens: @S@ (the quoted schema name),
 * @VERSION@, @RANDOM_UUID@ (section RANDOM_UUID_13 or _11, for the server's version)
 * and @NAME@ (section NAME of pg_schema.sql, each of its lines indented as the token
 * is). `indent` spaces start every line after the first. */
static void expand(streamy__buf *b, const char *t, size_t len, size_t indent,
                   const pg_store *s)
{
    size_t col = indent; /* where the line's text starts, while it is only spaces */
    int spaces = 1;

    for (size_t i = 0; i < len;) {
        const char *name = t + i + 1, *sec;
        size_t n = 0, slen;

        if (t[i] == '@')
            while (i + 1 + n < len &&
                   ((name[n] >= 'A' && name[n] <= 'Z') || name[n] == '_' ||
                    (n > 0 && name[n] >= '0' && name[n] <= '9')))
                n++;
        if (n == 0 || i + 1 + n == len || name[n] != '@') {
            streamy__buf_put(b, t + i, 1);
            if (t[i] == '\n') {
                if (i + 1 < len && t[i + 1] != '\n')
                    streamy__buf_printf(b, "%*s", (int)indent, "");
                col = indent;
                spaces = 1;
            } else if (spaces && t[i] == ' ') {
                col++;
            } else {
                spaces = 0;
            }
            i++;
            continue;
        }
        if (n == 1 && name[0] == 'S')
            streamy__buf_puts(b, s->quoted);
        else if (n == 7 && strncmp(name, "VERSION", 7) == 0)
            streamy__buf_printf(b, "%d", SCHEMA_VERSION);
        else if (n == 11 && strncmp(name, "RANDOM_UUID", 11) == 0 &&
                 (sec = s->conn && PQserverVersion(s->conn) >= 130000
                            ? section("RANDOM_UUID_13", 14, &slen)
                            : section("RANDOM_UUID_11", 14, &slen)) != NULL)
            expand(b, sec, slen, spaces ? col : indent, s);
        else if ((sec = section(name, n, &slen)) != NULL)
            expand(b, sec, slen, spaces ? col : indent, s);
        else
            streamy__buf_put(b, t + i, n + 2);
        spaces = 0;
        i += n + 2;
    }
}

/* One line of a libpq message: runs of newlines, tabs and spaces become one space. */
static void one_line(char *dst, size_t size, const char *src)
{
    size_t n = 0;

    for (; src != NULL && *src && n + 1 < size; src++) {
        int space = *src == '\n' || *src == '\t' || *src == '\r' || *src == ' ';
        if (!space)
            dst[n++] = *src;
        else if (n > 0 && dst[n - 1] != ' ')
            dst[n++] = ' ';
    }
    while (n > 0 && dst[n - 1] == ' ')
        n--;
    dst[n] = '\0';
}

/* --- errors ------------------------------------------------------------------------ */

/* A failure of the connection or of a statement, on the connection's thread (under the
 * lock, or while opening): kept in the store too, where a failed reconnection finds it
 * to repeat while it backs off. */
static int keep_error(pg_store *s, int rc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int keep_error(pg_store *s, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
    va_end(ap);
    streamy_store_set_error(&s->base, "%s", s->errmsg);
    return rc;
}

static int conn_error(pg_store *s, const char *what)
{
    char msg[300];

    one_line(msg, sizeof(msg), s->conn ? PQerrorMessage(s->conn) : "not connected");
    return keep_error(s, STREAMY_ESTORE, "postgresql %s: %s: %s", s->where, what,
                      msg[0] ? msg : "the connection is broken");
}

/* Map a failed result to a code, keeping PostgreSQL's own words and SQLSTATE:
 * serialization failures, deadlocks, lock and statement timeouts are EBUSY. */
static int result_error(pg_store *s, const PGresult *r, const char *what)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char msg[300];
    int busy;

    if (r == NULL || primary == NULL || state == NULL)
        return conn_error(s, what);
    one_line(msg, sizeof(msg), primary);
    busy = strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
           strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0;
    return keep_error(s, busy ? STREAMY_EBUSY : STREAMY_ESTORE,
                      "postgresql %s: %s: %s (SQLSTATE %s)", s->where, what, msg, state);
}

/* --- the connection ---------------------------------------------------------------- */

/* Notices are swallowed, but a WARNING during a call is kept: the one that matters is
 * "canceling wait for synchronous replication" (the commit happened here, and may not
 * be on the standby), which turns the call's success into an error. */
static void keep_warnings(void *arg, const PGresult *r)
{
    pg_store *s = arg;
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

    if (sev != NULL && strcmp(sev, "WARNING") == 0 && s->warning[0] == '\0')
        one_line(s->warning, sizeof(s->warning), msg ? msg : "a warning");
}

static void set_where(pg_store *s)
{
    const char *host = PQhost(s->conn), *port = PQport(s->conn), *db = PQdb(s->conn);

    snprintf(s->where, sizeof(s->where), "%s:%s/%s", host && *host ? host : "localhost",
             port && *port ? port : "5432", db ? db : "");
}

/* --- calls with a deadline ------------------------------------------------------- */

/* Cancel threads still running (a stopped server keeps PQcancel waiting): pg_free waits
 * a little for them. Shared by every store, since a thread may outlive its store. */
static int cancels_running;

static void *cancel_main(void *arg)
{
    char err[256];

    PQcancel(arg, err, sizeof(err));
    PQfreeCancel(arg);
    __atomic_sub_fetch(&cancels_running, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Ask the server to cancel the connection's statement, without waiting for it. */
static void cancel_async(pg_store *s)
{
    PGcancel *c = PQgetCancel(s->conn);
    pthread_attr_t attr;
    pthread_t t;

    if (c == NULL)
        return;
    __atomic_add_fetch(&cancels_running, 1, __ATOMIC_SEQ_CST);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, cancel_main, c) != 0) {
        __atomic_sub_fetch(&cancels_running, 1, __ATOMIC_SEQ_CST);
        PQfreeCancel(c);
    }
    pthread_attr_destroy(&attr);
}

/* Wait until the connection's socket is ready for `events` or `deadline` (monotonic
 * microseconds) passes: 1 ready, 0 the deadline passed, -1 the socket is gone. */
static int wait_socket(PGconn *c, short events, int64_t deadline)
{
    struct pollfd p;

    if ((p.fd = PQsocket(c)) < 0)
        return -1;
    for (;;) {
        int64_t left = deadline - streamy__monotonic_us();
        int n;

        if (left <= 0)
            return 0;
        p.events = events;
        p.revents = 0;
        n = poll(&p, 1, (int)((left + 999) / 1000));
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/* Drop the connection: the next call makes a new one. */
static void drop(pg_store *s)
{
    PQfinish(s->conn);
    s->conn = NULL;
    s->ready = 0;
    s->prepared = 0;
}

/* Read the answers of what was sent until none is left, or `deadline` passes (0 and
 * `*out` NULL). `*out` is the first failed result, else the last one. */
static int collect(pg_store *s, int64_t deadline, PGresult **out)
{
    PGresult *keep = NULL, *r;
    int f;

    *out = NULL;
    while ((f = PQflush(s->conn)) == 1)
        if (wait_socket(s->conn, POLLIN | POLLOUT, deadline) <= 0 ||
            !PQconsumeInput(s->conn))
            break;
    for (;;) {
        ExecStatusType st;

        while (PQisBusy(s->conn)) {
            int w = wait_socket(s->conn, POLLIN, deadline);

            if (w == 0) {
                PQclear(keep);
                return 0;
            }
            if (w < 0 || !PQconsumeInput(s->conn))
                break; /* PQgetResult says how */
        }
        if ((r = PQgetResult(s->conn)) == NULL)
            break;
        st = PQresultStatus(r);
        if (keep != NULL && (PQresultStatus(keep) == PGRES_FATAL_ERROR ||
                             (st != PGRES_FATAL_ERROR && st != PGRES_NONFATAL_ERROR))) {
            PQclear(r);
            continue;
        }
        PQclear(keep);
        keep = r;
        if (PQstatus(s->conn) == CONNECTION_BAD)
            break;
    }
    *out = keep;
    return 1;
}

/*
 * One statement on the connection, ended by `deadline` (monotonic microseconds): `q`
 * prepared (prepare true: prepare it), or `sql` text when q < 0. Returns the result
 * (its status says success or the server's error; NULL: the connection failed), or
 * NULL with `*late` set when the deadline passed: the statement was cancelled and, if
 * the server did not answer the cancel within CANCEL_GRACE_MS, the connection dropped.
 * A WARNING the server sent meanwhile is in s->warning (run() makes a success that
 * came with one an error).
 */
static PGresult *call(pg_store *s, int q, int prepare, const char *sql,
                      const char *const *values, int64_t deadline, int *late)
{
    PGresult *r = NULL;
    int sent;

    *late = 0;
    s->warning[0] = '\0';
    if (q < 0)
        sent = PQsendQuery(s->conn, sql);
    else if (prepare)
        sent =
            PQsendPrepare(s->conn, queries[q].name, s->sql[q], queries[q].nparams, NULL);
    else
        sent = PQsendQueryPrepared(s->conn, queries[q].name, queries[q].nparams, values,
                                   NULL, NULL, 0);
    if (!sent)
        return NULL;
    if (collect(s, deadline, &r))
        return r;
    *late = 1;
    cancel_async(s);
    if (!collect(s, streamy__monotonic_us() + CANCEL_GRACE_MS * 1000, &r))
        drop(s);
    PQclear(r); /* an answer past the deadline is no answer */
    return NULL;
}

static int late_error(pg_store *s, const char *what)
{
    return keep_error(s, STREAMY_EBUSY,
                      "postgresql %s: %s: no answer within %d ms (the deadline: "
                      "busy_timeout_ms); cancelled%s",
                      s->where, what, s->deadline_ms,
                      s->conn == NULL ? ", and the connection dropped" : "");
}

/* Settings of a fresh connection: what the library needs of every session. */
static int setup_session(pg_store *s, int64_t deadline)
{
    const char *enc = PQparameterStatus(s->conn, "server_encoding");
    char sql[256];
    PGresult *r;
    int rc = STREAMY_OK, late;

    PQsetNoticeReceiver(s->conn, keep_warnings, s);
    set_where(s);
    if (PQserverVersion(s->conn) < 110000)
        return keep_error(
            s, STREAMY_ESTORE,
            "postgresql %s: server version %d is too old (11 or later is needed)",
            s->where, PQserverVersion(s->conn));
    /* Identifiers are UTF-8: a database that cannot hold every one is refused. */
    if (enc == NULL || (strcmp(enc, "UTF8") != 0 && strcmp(enc, "SQL_ASCII") != 0))
        return keep_error(
            s, STREAMY_ESTORE,
            "postgresql %s: the database encoding is %s; Streamy needs UTF8", s->where,
            enc ? enc : "unknown");
    /* The session must not block the calls' deadline: a non-blocking connection. */
    if (PQsetnonblocking(s->conn, 1) != 0)
        return conn_error(s, "set up the session");
    snprintf(sql, sizeof(sql),
             "SET lock_timeout = %d; SET statement_timeout = %d; "
             "SET default_transaction_isolation = 'read committed'",
             s->lock_timeout_ms, s->deadline_ms * 19 / 20);
    r = call(s, -1, 0, sql, NULL, deadline, &late);
    if (late)
        return late_error(s, "set up the session");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = result_error(s, r, "set up the session");
    PQclear(r);
    return rc;
}

/* Whether an idle connection is known to be gone: the server closed it (a restart,
 * pg_terminate_backend) and the socket says so without our sending anything. */
static int conn_gone(PGconn *c)
{
    struct pollfd p;
    PGnotify *n;

    if (c == NULL || PQstatus(c) != CONNECTION_OK || (p.fd = PQsocket(c)) < 0)
        return 1;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, 0) <= 0)
        return 0;
    if (!PQconsumeInput(c))
        return 1;
    while ((n = PQnotifies(c)) != NULL)
        PQfreemem(n);
    return PQstatus(c) != CONNECTION_OK;
}

/* What libpq is given to connect: defaults before the URI (which overrides them), then
 * what Streamy requires. connect_timeout (libpq's, per host, in whole seconds, at least
 * 2) defaults to the deadline. */
#define CONN_PARAMS 8
static void conn_params(pg_store *s, const char **keys, const char **vals)
{
    snprintf(s->connect_timeout, sizeof(s->connect_timeout), "%d",
             (s->deadline_ms + 999) / 1000 < 2 ? 2 : (s->deadline_ms + 999) / 1000);
    keys[0] = "connect_timeout", vals[0] = s->connect_timeout;
    keys[1] = "tcp_user_timeout", vals[1] = DEFAULT_TCP_USER_TIMEOUT_MS;
    keys[2] = "keepalives_idle", vals[2] = DEFAULT_KEEPALIVES_IDLE_S;
    keys[3] = "keepalives_interval", vals[3] = DEFAULT_KEEPALIVES_INTERVAL_S;
    keys[4] = "fallback_application_name", vals[4] = "streamy";
    keys[5] = "dbname", vals[5] = s->conninfo;
    keys[6] = "client_encoding", vals[6] = "UTF8";
    keys[7] = NULL, vals[7] = NULL;
}

/* A new connection, made by `deadline`; libpq tries the URI's hosts in turn. */
static int connect_by(pg_store *s, int64_t deadline)
{
    const char *keys[CONN_PARAMS], *vals[CONN_PARAMS];
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;

    drop(s);
    conn_params(s, keys, vals);
    if ((s->conn = PQconnectStartParams(keys, vals, 1)) == NULL)
        return keep_error(s, STREAMY_ENOMEM, "postgresql: cannot allocate a connection");
    while (PQstatus(s->conn) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
           st != PGRES_POLLING_FAILED) {
        int w = wait_socket(s->conn, st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                            deadline);
        if (w == 0) {
            drop(s);
            return keep_error(s, STREAMY_ESTORE,
                              "postgresql %s: reconnect: no connection within %d ms",
                              s->where, s->deadline_ms);
        }
        st = PQconnectPoll(s->conn);
    }
    if (PQstatus(s->conn) != CONNECTION_OK)
        return conn_error(s, "reconnect");
    return setup_session(s, deadline);
}

/* Make a new connection in place of a broken one. Statements are prepared again on
 * first use. */
static int reconnect(pg_store *s, int64_t deadline)
{
    int rc;

    if (streamy__monotonic_us() < s->backoff_until_us) {
        streamy_store_set_error(&s->base, "%s", s->backoff_msg);
        return STREAMY_ESTORE;
    }
    if ((rc = connect_by(s, deadline)) != STREAMY_OK) {
        snprintf(s->backoff_msg, sizeof(s->backoff_msg), "%.*s",
                 (int)sizeof(s->backoff_msg) - 1, s->errmsg);
        s->backoff_until_us = streamy__monotonic_us() + RECONNECT_BACKOFF_US;
        return rc;
    }
    s->ready = 1;
    return STREAMY_OK;
}

/*
 * Run prepared query `q`, all of it (a reconnection included) within the handle's
 * deadline. A broken connection is made again once per call: before the statement (it
 * died while idle) or after the statement failed because it broke. Running a decision
 * again is safe: if the first run committed before its answer was lost, the second
 * finds the lease and answers as a refresh; nothing is answered that is not in the
 * store. If the new connection fails too: ESTORE. Past the deadline: EBUSY.
 */
static int run(pg_store *s, int q, const char *const *values, PGresult **out,
               const char *what)
{
    int64_t deadline = streamy__monotonic_us() + (int64_t)s->deadline_ms * 1000;
    int reconnected = 0;

    for (;;) {
        PGresult *r;
        ExecStatusType st;
        int rc, late, prepare = !(s->prepared & (1u << q));

        if (!s->ready || conn_gone(s->conn)) {
            if (reconnected)
                return conn_error(s, what);
            reconnected = 1;
            if ((rc = reconnect(s, deadline)) != STREAMY_OK)
                return rc;
            prepare = 1;
        }
        r = call(s, q, prepare, NULL, values, deadline, &late);
        if (late)
            return late_error(s, what);
        st = PQresultStatus(r);
        if (r != NULL && s->warning[0] != '\0' &&
            (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)) {
            PQclear(r);
            return keep_error(s, STREAMY_ESTORE,
                              "postgresql %s: %s: %s; the outcome is unknown", s->where,
                              what, s->warning);
        }
        if (!prepare && r != NULL && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)) {
            *out = r;
            return STREAMY_OK;
        }
        if (prepare && r != NULL && st == PGRES_COMMAND_OK) { /* prepared: now run it */
            PQclear(r);
            s->prepared |= 1u << q;
            continue;
        }
        if ((s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK) && !reconnected) {
            PQclear(r);
            s->ready = 0;
            continue;
        }
        rc = result_error(s, r, what);
        PQclear(r);
        return rc;
    }
}

/* --- the connection's lock --------------------------------------------------------- */

/* Take the connection's lock, waiting at most the deadline (EBUSY then). A health check
 * gives up sooner: once it has waited HEALTH_STALL_MS while no call ended. */
static int lock_store(pg_store *s, int health, const char *what)
{
    int64_t start = streamy__monotonic_us(), now = start;
    int64_t end = start + (int64_t)s->deadline_ms * 1000;

    while (pthread_mutex_trylock(&s->lock) != 0) {
        int64_t done = __atomic_load_n(&s->last_done_us, __ATOMIC_RELAXED);
        struct timespec ts;

        now = streamy__monotonic_us();
        if (now >= end || (health && now - start >= HEALTH_STALL_MS * 1000LL &&
                           now - done >= HEALTH_STALL_MS * 1000LL)) {
            streamy_store_set_error(&s->base,
                                    "postgresql %s: %s: the connection is busy with a "
                                    "call that has not ended for %lld ms",
                                    s->where, what, (long long)((now - done) / 1000));
            return STREAMY_EBUSY;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (pthread_mutex_timedlock(&s->lock, &ts) == 0)
            break;
    }
    return STREAMY_OK;
}

static void unlock_store(pg_store *s)
{
    __atomic_store_n(&s->last_done_us, streamy__monotonic_us(), __ATOMIC_RELAXED);
    pthread_mutex_unlock(&s->lock);
}

/* --- answers ----------------------------------------------------------------------- */

static int64_t col_int(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static int col_bool(const PGresult *r, int row, int col)
{
    return PQgetvalue(r, row, col)[0] == 't';
}

static int bad_answer(pg_store *s, const PGresult *r, const char *what)
{
    streamy_store_set_error(
        &s->base,
        "postgresql %s: %s: unexpected answer (%d rows of %d columns); "
        "is the schema \"%s\" Streamy's?",
        s->where, what, PQntuples(r), PQnfields(r), s->schema);
    return STREAMY_ESTORE;
}

/* One decision row (answer.h) into `a`; returns its result code. */
static int decode(const PGresult *r, int row, streamy_answer *a)
{
    streamy_decision *out = &a->decision;
    int rc = (int)col_int(r, row, ANSWER_RC);

    out->created = col_bool(r, row, ANSWER_CREATED);
    out->removed = col_bool(r, row, ANSWER_REMOVED);
    out->shadow_refused = col_bool(r, row, ANSWER_SHADOW_REFUSED);
    out->active = (unsigned int)col_int(r, row, ANSWER_ACTIVE);
    out->limit = (unsigned int)col_int(r, row, ANSWER_LIMIT);
    out->expired = (unsigned int)col_int(r, row, ANSWER_EXPIRED);
    out->since_ms = col_int(r, row, ANSWER_SINCE);
    out->expires_ms = col_int(r, row, ANSWER_EXPIRES);
    out->retry_ms = col_int(r, row, ANSWER_RETRY);
    snprintf(out->evicted, sizeof(out->evicted), "%s",
             PQgetvalue(r, row, ANSWER_EVICTED));
    /* NULL reads as "": no id, no label. */
    snprintf(a->lease_id, sizeof(a->lease_id), "%s", PQgetvalue(r, row, ANSWER_LEASE_ID));
    snprintf(a->device, sizeof(a->device), "%s", PQgetvalue(r, row, ANSWER_DEVICE));
    snprintf(a->evicted_lease_id, sizeof(a->evicted_lease_id), "%s",
             PQgetvalue(r, row, ANSWER_EVICTED_LEASE_ID));
    snprintf(a->evicted_device, sizeof(a->evicted_device), "%s",
             PQgetvalue(r, row, ANSWER_EVICTED_DEVICE));
    a->stale = col_bool(r, row, ANSWER_STALE);
    return rc == STREAMY_LIMIT_REACHED || rc == STREAMY_NOT_FOUND ? rc : STREAMY_OK;
}

/* --- the methods ------------------------------------------------------------------- */

typedef struct params {
    char now[24], ttl[24], limit[16], policy[8];
} params;

/* The clock parameter is NULL (the server's clock) unless the caller injected one. */
static const char *fill_params(params *p, const streamy_store_req *req)
{
    snprintf(p->now, sizeof(p->now), "%lld", (long long)req->now_ms);
    snprintf(p->ttl, sizeof(p->ttl), "%lld", (long long)req->ttl_ms);
    snprintf(p->limit, sizeof(p->limit), "%u", req->limit);
    snprintf(p->policy, sizeof(p->policy), "%d", (int)req->policy);
    return req->injected_clock ? p->now : NULL;
}

/* The answer of Q_RELEASE and Q_RELEASE_FENCED: no row, or one (removed or expired, id,
 * device; or NULLs: stale). */
static int decode_release(pg_store *s, const PGresult *r, streamy_answer *a)
{
    if (PQntuples(r) == 0)
        return STREAMY_OK;
    if (PQntuples(r) != 1 || PQnfields(r) != 3)
        return bad_answer(s, r, "unsubscribe");
    if (PQgetisnull(r, 0, 0)) {
        a->stale = 1;
    } else if (col_bool(r, 0, 0)) {
        a->decision.removed = 1;
        snprintf(a->lease_id, sizeof(a->lease_id), "%s", PQgetvalue(r, 0, 1));
        snprintf(a->device, sizeof(a->device), "%s", PQgetvalue(r, 0, 2));
    } else {
        a->decision.expired = 1;
    }
    return STREAMY_OK;
}

static int decide_locked(pg_store *s, const streamy_store_call *c, const char *id)
{
    static const char *const what[] = {"", "subscribe", "unsubscribe", "renew"};
    const streamy_store_req *req = &c->req;
    PGresult *r = NULL;
    params p;
    const char *now = fill_params(&p, req);
    int rc;

    if (c->kind == STREAMY_OP_SUBSCRIBE) {
        const char *v[9] = {req->user,
                            req->stream,
                            now,
                            p.ttl,
                            p.limit,
                            p.policy,
                            req->shadow ? "t" : "f",
                            id,
                            c->device};
        rc = run(s, Q_ACQUIRE, v, &r, what[c->kind]);
    } else if (c->kind == STREAMY_OP_RENEW) {
        const char *v[6] = {req->user, req->stream, now, p.ttl, p.limit, c->lease_id};
        rc = run(s, Q_RENEW, v, &r, what[c->kind]);
    } else {
        const char *v[4] = {req->user, req->stream, now, c->lease_id};
        int q = c->lease_id != NULL ? Q_RELEASE_FENCED : Q_RELEASE;
        if ((rc = run(s, q, v, &r, what[c->kind])) == STREAMY_OK)
            rc = decode_release(s, r, c->out);
        PQclear(r);
        return rc;
    }
    if (rc != STREAMY_OK)
        return rc;
    if (PQntuples(r) != 1 || PQnfields(r) != ANSWER_FIELDS)
        rc = bad_answer(s, r, what[c->kind]);
    else
        rc = decode(r, 0, c->out);
    PQclear(r);
    return rc;
}

/* One decision: one statement. */
static int decide_one(pg_store *s, streamy_store_call *c)
{
    char id[STREAMY_LEASE_ID_LEN + 1];
    int rc = STREAMY_OK;

    /* A new lease's id is made before anything is sent (the message says why it could
     * not be); the server keeps it only if the subscribe creates a lease. */
    if (c->kind == STREAMY_OP_SUBSCRIBE)
        rc = streamy_lease_id_generate(id);
    if (rc == STREAMY_OK && (rc = lock_store(s, 0, "decide")) == STREAMY_OK) {
        rc = decide_locked(s, c, id);
        unlock_store(s);
    }
    if (rc < 0) {
        memset(&c->out->decision, 0, sizeof(c->out->decision));
        c->out->lease_id[0] = c->out->device[0] = '\0';
        c->out->evicted_lease_id[0] = c->out->evicted_device[0] = '\0';
        c->out->stale = 0;
        return rc;
    }
    c->result = rc;
    return STREAMY_OK;
}

/* An element of an array literal: NULL, or always quoted, with " and \ escaped. */
static void array_elem(streamy__buf *b, const char *s, int first)
{
    streamy__buf_puts(b, first ? "{" : ",");
    if (s == NULL) {
        streamy__buf_puts(b, "NULL");
        return;
    }
    streamy__buf_puts(b, "\"");
    for (const char *p = s; *p;) {
        size_t n = strcspn(p, "\"\\");
        streamy__buf_put(b, p, n);
        p += n;
        if (*p) {
            char esc[2] = {'\\', *p++};
            streamy__buf_put(b, esc, 2);
        }
    }
    streamy__buf_puts(b, "\"");
}

/* What a batch shares: one instant and one set of options (the limit aside, which is
 * each operation's). */
static int same_instant(const streamy_store_req *a, const streamy_store_req *b)
{
    return a->now_ms == b->now_ms && a->ttl_ms == b->ttl_ms && a->policy == b->policy &&
           a->shadow == b->shadow && a->injected_clock == b->injected_clock;
}

/* The batch's arrays: one element an operation. Fences and devices are sent as NULL
 * (every element NULL) when no operation has one, which spares the server their parsing.
 */
enum {
    ARR_KINDS,
    ARR_USERS,
    ARR_STREAMS,
    ARR_LIMITS,
    ARR_IDS,
    ARR_FENCES,
    ARR_DEVICES,
    ARR_
};

static int apply_batch(pg_store *s, streamy_store_call *calls, size_t n)
{
    streamy__buf a[ARR_];
    PGresult *r = NULL;
    params p;
    const char *now;
    int rc = STREAMY_OK, failed = 0, fences = 0, devices = 0;
    size_t i, k;

    for (k = 0; k < ARR_; k++) {
        static const streamy__buf empty = STREAMY__BUF_INIT;
        a[k] = empty;
    }
    for (i = 0; i < n && rc == STREAMY_OK; i++) {
        const streamy_store_call *c = &calls[i];
        char id[STREAMY_LEASE_ID_LEN + 1], num[24];

        snprintf(num, sizeof(num), "%d", (int)c->kind);
        array_elem(&a[ARR_KINDS], num, i == 0);
        array_elem(&a[ARR_USERS], c->req.user, i == 0);
        array_elem(&a[ARR_STREAMS], c->req.stream, i == 0);
        snprintf(num, sizeof(num), "%u", c->req.limit);
        array_elem(&a[ARR_LIMITS], num, i == 0);
        if (c->kind == STREAMY_OP_SUBSCRIBE &&
            (rc = streamy_lease_id_generate(id)) != STREAMY_OK)
            break;
        array_elem(&a[ARR_IDS], c->kind == STREAMY_OP_SUBSCRIBE ? id : NULL, i == 0);
        fences |= c->kind != STREAMY_OP_SUBSCRIBE && c->lease_id != NULL;
        devices |= c->kind == STREAMY_OP_SUBSCRIBE && c->device != NULL;
        array_elem(&a[ARR_FENCES], c->kind == STREAMY_OP_SUBSCRIBE ? NULL : c->lease_id,
                   i == 0);
        array_elem(&a[ARR_DEVICES], c->kind == STREAMY_OP_SUBSCRIBE ? c->device : NULL,
                   i == 0);
    }
    for (k = 0; k < ARR_; k++) {
        streamy__buf_puts(&a[k], "}");
        failed |= a[k].failed;
    }
    if (rc != STREAMY_OK)
        goto out;
    if (failed) {
        streamy_store_set_error(
            &s->base, "postgresql: cannot allocate a batch of %zu operations", n);
        rc = STREAMY_ENOMEM;
        goto out;
    }
    now = fill_params(&p, &calls[0].req);
    {
        const char *v[11] = {a[ARR_KINDS].p,
                             a[ARR_USERS].p,
                             a[ARR_STREAMS].p,
                             now,
                             p.ttl,
                             a[ARR_LIMITS].p,
                             p.policy,
                             calls[0].req.shadow ? "t" : "f",
                             a[ARR_IDS].p,
                             fences ? a[ARR_FENCES].p : NULL,
                             devices ? a[ARR_DEVICES].p : NULL};
        if ((rc = lock_store(s, 0, "batch")) == STREAMY_OK) {
            rc = run(s, Q_APPLY, v, &r, "batch");
            unlock_store(s);
        }
    }
    if (rc != STREAMY_OK)
        goto out;
    if ((size_t)PQntuples(r) != n || PQnfields(r) != ANSWER_FIELDS) {
        rc = bad_answer(s, r, "batch");
        goto out;
    }
    for (i = 0; i < n; i++)
        calls[i].result = decode(r, (int)i, calls[i].out);
out:
    PQclear(r);
    for (k = 0; k < ARR_; k++)
        streamy__buf_free(&a[k]);
    return rc;
}

static int pg_decide(streamy_store *st, streamy_store_call *calls, size_t n)
{
    pg_store *s = (pg_store *)st;

    if (n == 0)
        return STREAMY_OK;
    for (size_t i = 1; i < n; i++)
        if (!same_instant(&calls[0].req, &calls[i].req)) {
            streamy_store_set_error(st,
                                    "postgresql: the operations of a batch must share "
                                    "one instant and one set of options");
            return STREAMY_EINVAL;
        }
    return n == 1 ? decide_one(s, &calls[0]) : apply_batch(s, calls, n);
}

static int pg_list(streamy_store *st, const streamy_store_req *req, streamy_lease_cb cb,
                   void *payload)
{
    pg_store *s = (pg_store *)st;
    PGresult *r = NULL;
    params p;
    const char *v[2] = {req->user, fill_params(&p, req)};
    int rc;

    if ((rc = lock_store(s, 0, "list")) == STREAMY_OK) {
        rc = run(s, Q_LIST, v, &r, "list");
        unlock_store(s);
    }
    if (rc != STREAMY_OK)
        return rc;
    if (PQnfields(r) != 6) {
        rc = bad_answer(s, r, "list");
        PQclear(r);
        return rc;
    }
    /* The result is ours, apart from the connection: the callback runs unlocked. */
    for (int i = 0; i < PQntuples(r); i++) {
        streamy_lease lease;
        lease.stream = PQgetvalue(r, i, 0);
        lease.since_ms = col_int(r, i, 1);
        lease.renewed_ms = col_int(r, i, 2);
        lease.expires_ms = col_int(r, i, 3);
        lease.lease_id = PQgetvalue(r, i, 4);
        lease.device = PQgetvalue(r, i, 5); /* "" for NULL */
        if (cb(&lease, payload) != 0)
            break;
    }
    PQclear(r);
    return STREAMY_OK;
}

/* A one-row, one-column query; `*found` says whether there was a non-NULL value. */
static int query_int(pg_store *s, int q, const char *const *values, const char *what,
                     int64_t *value, int *found)
{
    PGresult *r = NULL;
    int rc;

    if ((rc = lock_store(s, 0, what)) == STREAMY_OK) {
        rc = run(s, q, values, &r, what);
        unlock_store(s);
    }
    if (rc != STREAMY_OK)
        return rc;
    *found = 0;
    if (PQntuples(r) > 0 && PQnfields(r) == 1 && !PQgetisnull(r, 0, 0)) {
        *found = 1;
        *value = col_int(r, 0, 0);
    } else if (PQntuples(r) > 1 || PQnfields(r) != 1) {
        rc = bad_answer(s, r, what);
    }
    PQclear(r);
    return rc;
}

static int pg_count(streamy_store *st, const streamy_store_req *req, unsigned int *out)
{
    params p;
    const char *v[2] = {req->user, fill_params(&p, req)};
    int64_t n = 0;
    int found, rc = query_int((pg_store *)st, Q_COUNT, v, "count", &n, &found);

    *out = (unsigned int)n;
    return rc;
}

static int pg_get_limit(streamy_store *st, const char *user, unsigned int *limit,
                        int *found)
{
    const char *v[1] = {user};
    int64_t n = 0;
    int rc = query_int((pg_store *)st, Q_GET_LIMIT, v, "read limit", &n, found);

    *limit = (unsigned int)n;
    return rc;
}

static int exec_simple(pg_store *s, int q, const char *const *values, const char *what)
{
    PGresult *r = NULL;
    int rc;

    if ((rc = lock_store(s, q == Q_HEALTH, what)) == STREAMY_OK) {
        rc = run(s, q, values, &r, what);
        unlock_store(s);
    }
    PQclear(r);
    return rc;
}

static int pg_set_limit(streamy_store *st, const char *user, unsigned int limit)
{
    char n[16];
    const char *v[2] = {user, n};

    snprintf(n, sizeof(n), "%u", limit);
    return exec_simple((pg_store *)st, Q_SET_LIMIT, v, "set limit");
}

static int pg_clear_limit(streamy_store *st, const char *user)
{
    const char *v[1] = {user};
    return exec_simple((pg_store *)st, Q_CLEAR_LIMIT, v, "clear limit");
}

static int pg_purge(streamy_store *st, const streamy_store_req *req, uint64_t *removed)
{
    params p;
    const char *v[1] = {fill_params(&p, req)};
    int64_t n = 0;
    int found, rc = query_int((pg_store *)st, Q_PURGE, v, "purge", &n, &found);

    *removed = rc == STREAMY_OK && n > 0 ? (uint64_t)n : 0;
    return rc;
}

static int pg_health(streamy_store *st)
{
    return exec_simple((pg_store *)st, Q_HEALTH, NULL, "health check");
}

static void pg_free(streamy_store *st)
{
    pg_store *s = (pg_store *)st;

    PQfinish(s->conn);
    for (int i = 0; i < Q_COUNT_; i++)
        free(s->sql[i]);
    free(s->conninfo);
    /* Cancels in flight hold nothing of ours; give them a moment to end all the same. */
    for (int i = 0; i < 100 && __atomic_load_n(&cancels_running, __ATOMIC_SEQ_CST); i++) {
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* --- the schema -------------------------------------------------------------------- */

/* Run SQL text with at most two text parameters; `*out` may be NULL. */
static int exec_text(pg_store *s, const char *sql, const char *p1, const char *p2,
                     PGresult **out, const char *what)
{
    const char *v[2] = {p1, p2};
    int n = p2 ? 2 : p1 ? 1 : 0;
    PGresult *r =
        n ? PQexecParams(s->conn, sql, n, NULL, v, NULL, NULL, 0) : PQexec(s->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc;

    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        if (out != NULL)
            *out = r;
        else
            PQclear(r);
        return STREAMY_OK;
    }
    rc = result_error(s, r, what);
    PQclear(r);
    return rc;
}

/* The schema's version: 0 when there is no schema (or an empty one), else its
 * version; a negative code (message set) when it is not Streamy's or too new. */
static int schema_version(pg_store *s)
{
    char table[SCHEMA_MAX + 64];
    PGresult *r = NULL;
    long long objects, version;
    int rc;

    snprintf(table, sizeof(table), "%s.schema_version", s->quoted);
    rc = exec_text(
        s,
        "SELECT to_regclass($2) IS NOT NULL, "
        "(SELECT count(*) FROM pg_class WHERE relnamespace = to_regnamespace($1)) "
        "+ (SELECT count(*) FROM pg_proc WHERE pronamespace = to_regnamespace($1))",
        s->quoted, table, &r, "read the schema");
    if (rc != STREAMY_OK)
        return rc;
    objects = col_int(r, 0, 1);
    if (!col_bool(r, 0, 0)) {
        PQclear(r);
        if (objects == 0)
            return 0;
        streamy_store_set_error(
            &s->base,
            "postgresql %s: schema \"%s\" holds %lld objects and is not "
            "Streamy's (no schema_version table); left untouched: "
            "choose another with ?streamy_schema=NAME",
            s->where, s->schema, objects);
        return STREAMY_ESTORE;
    }
    PQclear(r);
    snprintf(table, sizeof(table), "SELECT max(version) FROM %s.schema_version",
             s->quoted);
    if ((rc = exec_text(s, table, NULL, NULL, &r, "read the schema version")) !=
        STREAMY_OK)
        return rc;
    version = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) ? col_int(r, 0, 0) : -1;
    PQclear(r);
    if (version < 1) {
        streamy_store_set_error(
            &s->base,
            "postgresql %s: schema \"%s\" has no schema version; left "
            "untouched",
            s->where, s->schema);
        return STREAMY_ESTORE;
    }
    if (version > SCHEMA_VERSION) {
        streamy_store_set_error(
            &s->base,
            "postgresql %s: schema \"%s\" is version %lld, newer than this "
            "libstreamy knows (%d); upgrade libstreamy",
            s->where, s->schema, version, SCHEMA_VERSION);
        return STREAMY_ESTORE;
    }
    return (int)version;
}

/* Create the schema, or migrate one of an older version, in one transaction under a
 * transaction-wide advisory lock, so that processes opening at the same time do it once.
 */
static int ensure_schema(pg_store *s)
{
    char key[SCHEMA_MAX + 32];
    streamy__buf ddl = STREAMY__BUF_INIT;
    int rc = schema_version(s);

    if (rc == SCHEMA_VERSION || rc < 0)
        return rc < 0 ? rc : STREAMY_OK;
    if ((rc = exec_text(s, "BEGIN", NULL, NULL, NULL, "create the schema")) != STREAMY_OK)
        return rc;
    /* Creating or migrating the schema is not a call: no statement_timeout for it (its
     * lock waits keep the lock_timeout). */
    if ((rc = exec_text(s, "SET LOCAL statement_timeout = 0", NULL, NULL, NULL,
                        "create the schema")) != STREAMY_OK) {
        PQclear(PQexec(s->conn, "ROLLBACK"));
        return rc;
    }
    snprintf(key, sizeof(key), "streamy schema %s", s->schema);
    rc = exec_text(s, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key, NULL,
                   NULL, "lock the schema");
    if (rc == STREAMY_OK)
        rc = schema_version(s);
    if (rc >= 0 && rc < SCHEMA_VERSION) {
        const char *what = rc == 0 ? "create the schema" : "migrate the schema";

        expand(&ddl, rc == 0 ? "@CREATE@" : "@MIGRATE@", rc == 0 ? 8 : 9, 0, s);
        if (ddl.failed) {
            streamy_store_set_error(&s->base, "postgresql: cannot allocate the schema");
            rc = STREAMY_ENOMEM;
        } else {
            rc = exec_text(s, ddl.p, NULL, NULL, NULL, what);
        }
        streamy__buf_free(&ddl);
    }
    if (rc >= 0)
        return exec_text(s, "COMMIT", NULL, NULL, NULL, "create the schema");
    PQclear(PQexec(s->conn, "ROLLBACK"));
    return rc;
}

/* --- opening ----------------------------------------------------------------------- */

/* Our own parameter: decode, check and keep it. */
static int own_param(pg_store *s, const char *key, size_t klen, const char *val,
                     size_t vlen)
{
    char *v;
    size_t n = 0;
    int bad, ok;

    if (!(klen == 14 && strncmp(key, "streamy_schema", 14) == 0))
        return streamy__error(
            STREAMY_EINVAL,
            "postgresql URI parameter \"%.*s\" is unknown (Streamy's own: "
            "streamy_schema)",
            (int)(klen > 64 ? 64 : klen), key);
    /* A bad %-escape or an escaped NUL is no name either. */
    if ((v = streamy__percent_decode(val, vlen, &bad)) == NULL && !bad)
        return streamy__error(STREAMY_ENOMEM, "cannot allocate the postgresql URI");
    ok = v != NULL && (n = strlen(v)) <= SCHEMA_MAX;
    for (size_t i = 0; ok && i < n; i++) {
        int c = (unsigned char)v[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
             (i > 0 && c >= '0' && c <= '9');
    }
    if (ok && n > 0)
        memcpy(s->schema, v, n + 1);
    free(v);
    if (!ok)
        return streamy__error(
            STREAMY_EINVAL,
            "postgresql URI parameter streamy_schema: \"%.*s\" is not a "
            "schema name Streamy accepts (1 to %d letters, digits and "
            "underscores, not starting with a digit)",
            (int)(vlen > 80 ? 80 : vlen), val, SCHEMA_MAX);
    if (n == 0)
        return streamy__error(STREAMY_EINVAL,
                              "postgresql URI parameter streamy_schema is "
                              "empty");
    return STREAMY_OK;
}

/* Split `uri` into what libpq reads (into `out`, allocated) and Streamy's own
 * parameters (streamy_*), which libpq would refuse. */
static int split_uri(pg_store *s, const char *uri, char **out)
{
    const char *q = strchr(uri, '?');
    size_t len = strlen(uri);
    char *conninfo = malloc(len + 1);
    size_t n;
    int rc;

    if (conninfo == NULL)
        return streamy__error(STREAMY_ENOMEM, "cannot allocate the postgresql URI");
    n = q ? (size_t)(q - uri) : len;
    memcpy(conninfo, uri, n);
    conninfo[n] = '\0';
    while (q != NULL) {
        const char *key = q + 1, *amp = strchr(key, '&');
        size_t plen = amp ? (size_t)(amp - key) : strlen(key);
        const char *eq = memchr(key, '=', plen);
        size_t klen = eq ? (size_t)(eq - key) : plen;

        if (klen >= 8 && strncmp(key, "streamy_", 8) == 0) {
            const char *val = eq ? eq + 1 : key + plen;
            if ((rc = own_param(s, key, klen, val, (size_t)(key + plen - val))) !=
                STREAMY_OK) {
                free(conninfo);
                return rc;
            }
        } else if (plen > 0) {
            conninfo[n++] = strchr(conninfo, '?') ? '&' : '?';
            memcpy(conninfo + n, key, plen);
            n += plen;
            conninfo[n] = '\0';
        }
        q = amp;
    }
    *out = conninfo;
    return STREAMY_OK;
}

/* Replace every occurrence of the URI's password in `msg` by "***". */
static void scrub(char *msg, size_t size, const char *uri)
{
    const char *auth = strstr(uri, "://"), *at, *colon, *end;
    char pw[256], *hit, *from = msg;
    size_t plen;

    if (auth == NULL)
        return;
    auth += 3;
    end = auth + strcspn(auth, "/?");
    at = memchr(auth, '@', (size_t)(end - auth));
    if (at == NULL)
        return;
    colon = memchr(auth, ':', (size_t)(at - auth));
    if (colon == NULL || at - colon < 2 || (size_t)(at - colon) > sizeof(pw))
        return;
    plen = (size_t)(at - colon - 1);
    memcpy(pw, colon + 1, plen);
    pw[plen] = '\0';
    while ((hit = strstr(from, pw)) != NULL && strlen(msg) + 3 < size) {
        memmove(hit + 3, hit + plen, strlen(hit + plen) + 1);
        memcpy(hit, "***", 3);
        from = hit + 3;
    }
}

int streamy__store_pg_open(streamy_store **out, const char *uri, const streamy_options *o)
{
    static const streamy_options defaults = STREAMY_OPTIONS_INIT;
    const char *keys[CONN_PARAMS], *vals[CONN_PARAMS];
    char *conninfo = NULL, *err = NULL;
    PQconninfoOption *parsed;
    char msg[400];
    pg_store *s;
    int rc, i;

    if (out == NULL || uri == NULL)
        return streamy__error(STREAMY_EINVAL, "%s is NULL",
                              out == NULL ? "output store pointer" : "postgresql URI");
    *out = NULL;
    if (o == NULL)
        o = &defaults;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return streamy__error(STREAMY_ENOMEM, "cannot allocate the postgresql store");
    pthread_mutex_init(&s->lock, NULL);
    streamy_store_init(&s->base, STREAMY_STORE_VERSION);
    s->base.name = "postgresql";
    s->base.free = pg_free;
    snprintf(s->schema, sizeof(s->schema), "%s", DEFAULT_SCHEMA);
    snprintf(s->where, sizeof(s->where), "(not connected)");
    /* A lock_timeout of 0 would wait for ever; a busy timeout of 0 means do not wait. */
    s->lock_timeout_ms = o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 1;
    s->deadline_ms =
        o->busy_timeout_ms > MIN_DEADLINE_MS ? o->busy_timeout_ms : MIN_DEADLINE_MS;
    /* The server's own timeouts end first, with their own words (a lock wait, a
     * statement), and leave the connection usable; the deadline is the client's. */
    if (s->lock_timeout_ms > s->deadline_ms * 9 / 10)
        s->lock_timeout_ms = s->deadline_ms * 9 / 10;

    if ((rc = split_uri(s, uri, &conninfo)) != STREAMY_OK)
        goto fail;
    snprintf(s->quoted, sizeof(s->quoted), "\"%s\"", s->schema);
    /* libpq's own check of the rest: its words, without the password. */
    if ((parsed = PQconninfoParse(conninfo, &err)) == NULL) {
        one_line(msg, sizeof(msg), err ? err : "out of memory");
        scrub(msg, sizeof(msg), uri);
        rc = streamy__error(err ? STREAMY_EINVAL : STREAMY_ENOMEM, "postgresql URI: %s",
                            msg);
        PQfreemem(err);
        goto fail;
    }
    PQconninfoFree(parsed);
    for (i = 0; i < Q_COUNT_; i++) {
        streamy__buf b = STREAMY__BUF_INIT;

        expand(&b, queries[i].text, strlen(queries[i].text), 0, s);
        if ((s->sql[i] = b.p) == NULL || b.failed) {
            rc = streamy__error(STREAMY_ENOMEM,
                                "cannot allocate the postgresql statements");
            goto fail;
        }
    }
    s->conninfo = conninfo;
    conninfo = NULL;
    conn_params(s, keys, vals);
    s->conn = PQconnectdbParams(keys, vals, 1);
    if (s->conn == NULL) {
        rc = streamy__error(STREAMY_ENOMEM, "cannot allocate a postgresql connection");
        goto fail;
    }
    if (PQstatus(s->conn) != CONNECTION_OK) {
        one_line(msg, sizeof(msg), PQerrorMessage(s->conn));
        scrub(msg, sizeof(msg), uri);
        rc = streamy__error(STREAMY_ESTORE, "postgresql: cannot connect: %s", msg);
        goto fail;
    }
    rc = setup_session(s, streamy__monotonic_us() + (int64_t)s->deadline_ms * 1000);
    if (rc != STREAMY_OK || (rc = ensure_schema(s)) != STREAMY_OK)
        goto fail;
    s->ready = 1;
    /* Prepare everything now, so that a schema that does not fit fails the open. */
    for (i = 0; i < Q_COUNT_; i++) {
        PGresult *r =
            PQprepare(s->conn, queries[i].name, s->sql[i], queries[i].nparams, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            rc = result_error(s, r, "prepare statements");
            PQclear(r);
            goto fail;
        }
        PQclear(r);
        s->prepared |= 1u << i;
    }
    free(conninfo);
    s->base.decide = pg_decide;
    s->base.list = pg_list;
    s->base.count = pg_count;
    s->base.set_limit = pg_set_limit;
    s->base.clear_limit = pg_clear_limit;
    s->base.get_limit = pg_get_limit;
    s->base.purge = pg_purge;
    s->base.health = pg_health;
    *out = &s->base;
    return STREAMY_OK;
fail:
    free(conninfo);
    pg_free(&s->base);
    return rc;
}
