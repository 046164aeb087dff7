/* SPDX-License-Identifier: MIT */
/* redis.c: the Redis store: one Lua script a decision, keys hash-tagged by user. */
#include "stores.h"

#include "answer.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

/*
 * Keys, for a user U and the URI's prefix P (empty by default):
 *   P streamy:{U}:leases  a hash: stream -> "since:renewed:expires" (ms; 0: never)
 *   P streamy:{U}:limit   a string: the user's own limit, when one is set
 * The braces are a Redis Cluster hash tag: both keys of a user share one slot, so one
 * script may touch both.
 *
 * Every decision is one EVALSHA of the script, redis.lua, embedded at build time: it
 * reads the user's leases and limit, decides and writes inside Redis, which runs a script
 * alone. Its first argument is the operation (OP_* below, the same characters as the
 * script's); a decision answers with an array in the order of answer.h.
 */
extern const char *const streamy__redis_lua;
extern const size_t streamy__redis_lua_len;

/* The script's operations. */
#define OP_ACQUIRE 'a'
#define OP_RENEW 'n'
#define OP_RELEASE 'u'
#define OP_LIST 'l'
#define OP_COUNT 'c'
#define OP_PURGE 'p'

/* The script's text, for the benchmark that runs it beside the library. */
const char *streamy__redis_script(void);

const char *streamy__redis_script(void)
{
    return streamy__redis_lua;
}

/* Longest key prefix from the URI, in bytes. */
#define PREFIX_MAX 256
/* prefix + "streamy:{" + user + "}:leases" + NUL */
#define KEY_MAX (PREFIX_MAX + STREAMY_ID_MAX + 32)
#define DEFAULT_CONNECT_TIMEOUT_MS 2000
#define DEFAULT_TIMEOUT_MS 5000

typedef struct redis_store {
    streamy_store base;
    pthread_mutex_t lock; /* one connection, used by one thread at a time */
    redisContext *c;      /* NULL while disconnected */
    char sha[41];         /* the script's SHA1, from SCRIPT LOAD */
    /* Where and how to connect. */
    char *host, *path; /* exactly one is set: TCP host, or Unix socket path */
    int port;
    char *user, *pass; /* AUTH, when pass is set */
    long db;
    int connect_timeout_ms, timeout_ms;
    char prefix[PREFIX_MAX + 1];
    size_t prefix_len;
    char where[300]; /* "redis 127.0.0.1:6379" or "redis unix:/path", for messages */
} redis_store;

/* One EVALSHA/EVAL being built: its arguments live here. */
typedef struct rcmd {
    const char *argv[12];
    size_t len[12];
    int argc;
    char leases[KEY_MAX], limit[KEY_MAX];
    char op[2], now[24], ttl[24], lim[16], policy[4];
} rcmd;

static struct timeval ms_tv(int ms)
{
    struct timeval tv;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return tv;
}

/* Report a failure of the connection and drop it: the next call reconnects. */
static int conn_error(redis_store *r, const char *what)
{
    int timed_out = r->c != NULL && r->c->err == REDIS_ERR_IO &&
                    (errno == EAGAIN || errno == EWOULDBLOCK);

    if (r->c == NULL)
        streamy_store_set_error(&r->base, "%s: %s: not connected", r->where, what);
    else if (timed_out)
        streamy_store_set_error(&r->base, "%s: %s: no answer within %d ms", r->where,
                                what, r->timeout_ms);
    else
        streamy_store_set_error(&r->base, "%s: %s: %s", r->where, what,
                                r->c->errstr[0] ? r->c->errstr : "connection lost");
    if (r->c != NULL) {
        redisFree(r->c);
        r->c = NULL;
    }
    return STREAMY_ESTORE;
}

/* An error reply from Redis: BUSY (a script runs too long) and LOADING are transient. */
static int reply_error(redis_store *r, const redisReply *rep, const char *what)
{
    streamy_store_set_error(&r->base, "%s: %s: %.*s", r->where, what, (int)rep->len,
                            rep->str);
    if (strncmp(rep->str, "BUSY", 4) == 0 || strncmp(rep->str, "LOADING", 7) == 0)
        return STREAMY_EBUSY;
    return STREAMY_ESTORE;
}

/* Hand a reply to the caller (who frees it), or make an error reply the store's error. */
static int take_reply(redis_store *r, redisReply *rep, redisReply **out, const char *what)
{
    int rc;

    if (rep->type == REDIS_REPLY_ERROR) {
        rc = reply_error(r, rep, what);
        freeReplyObject(rep);
        return rc;
    }
    *out = rep;
    return STREAMY_OK;
}

static int bad_reply(redis_store *r, const char *what)
{
    streamy_store_set_error(&r->base, "%s: %s: unexpected reply from Redis", r->where,
                            what);
    return STREAMY_ESTORE;
}

/* One command on a fresh connection, during connect; NULL on failure (error set). */
static redisReply *setup_command(redis_store *r, const char *what, int argc,
                                 const char **argv)
{
    redisReply *rep = redisCommandArgv(r->c, argc, argv, NULL);

    if (rep == NULL) {
        conn_error(r, what);
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        reply_error(r, rep, what);
        freeReplyObject(rep);
        redisFree(r->c);
        r->c = NULL;
        return NULL;
    }
    return rep;
}

/* Connect, authenticate, select the database and load the script. */
static int connect_store(redis_store *r)
{
    char dbtext[24];
    redisReply *rep;
    struct timeval ctv = ms_tv(r->connect_timeout_ms);

    r->c = r->path ? redisConnectUnixWithTimeout(r->path, ctv)
                   : redisConnectWithTimeout(r->host, r->port, ctv);
    if (r->c == NULL) {
        streamy_store_set_error(&r->base, "%s: cannot allocate a connection", r->where);
        return STREAMY_ENOMEM;
    }
    if (r->c->err) {
        streamy_store_set_error(&r->base, "%s: cannot connect: %s", r->where,
                                r->c->errstr);
        redisFree(r->c);
        r->c = NULL;
        return STREAMY_ESTORE;
    }
    if (redisSetTimeout(r->c, ms_tv(r->timeout_ms)) != REDIS_OK)
        return conn_error(r, "set the timeout");
    if (r->path == NULL)
        redisEnableKeepAlive(r->c);
    if (r->pass != NULL) {
        const char *argv[3] = {"AUTH", r->user ? r->user : r->pass, r->pass};
        if ((rep = setup_command(r, "AUTH", r->user ? 3 : 2, argv)) == NULL)
            return STREAMY_ESTORE;
        freeReplyObject(rep);
    }
    if (r->db != 0) {
        const char *argv[2] = {"SELECT", dbtext};
        snprintf(dbtext, sizeof(dbtext), "%ld", r->db);
        if ((rep = setup_command(r, "SELECT", 2, argv)) == NULL)
            return STREAMY_ESTORE;
        freeReplyObject(rep);
    }
    {
        const char *argv[3] = {"SCRIPT", "LOAD", streamy__redis_lua};
        if ((rep = setup_command(r, "SCRIPT LOAD", 3, argv)) == NULL)
            return STREAMY_ESTORE;
        if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
            freeReplyObject(rep);
            redisFree(r->c);
            r->c = NULL;
            return bad_reply(r, "SCRIPT LOAD");
        }
        memcpy(r->sha, rep->str, 40);
        r->sha[40] = '\0';
        freeReplyObject(rep);
    }
    return STREAMY_OK;
}

/* Whether the connection can carry a command that has not been sent yet. A server
 * that restarted or closed an idle client has closed the socket: seen here, before
 * anything is sent, so reconnecting and sending is safe. */
static int conn_alive(const redis_store *r)
{
    char b;
    ssize_t n;

    if (r->c == NULL || r->c->err)
        return 0;
    n = recv(r->c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Make sure there is a live connection: reconnect once if needed. */
static int ensure_conn(redis_store *r)
{
    if (conn_alive(r))
        return STREAMY_OK;
    if (r->c != NULL) {
        redisFree(r->c);
        r->c = NULL;
    }
    return connect_store(r);
}

static void make_key(char out[KEY_MAX], const redis_store *r, const char *user,
                     const char *what)
{
    snprintf(out, KEY_MAX,
             "%s"
             "streamy:{%s}:%s",
             r->prefix, user, what);
}

/* EVALSHA sha 2 leases limit op now ttl limit policy shadow stream. */
static void build(rcmd *c, const redis_store *r, char op, const streamy_store_req *req)
{
    c->op[0] = op;
    c->op[1] = '\0';
    make_key(c->leases, r, req->user, "leases");
    make_key(c->limit, r, req->user, "limit");
    snprintf(c->now, sizeof(c->now), "%lld",
             req->injected_clock ? (long long)req->now_ms : -1LL);
    snprintf(c->ttl, sizeof(c->ttl), "%lld", (long long)req->ttl_ms);
    snprintf(c->lim, sizeof(c->lim), "%u", req->limit);
    snprintf(c->policy, sizeof(c->policy), "%d", (int)req->policy);
    c->argv[0] = "EVALSHA";
    c->argv[1] = r->sha;
    c->argv[2] = "2";
    c->argv[3] = c->leases;
    c->argv[4] = c->limit;
    c->argv[5] = c->op;
    c->argv[6] = c->now;
    c->argv[7] = c->ttl;
    c->argv[8] = c->lim;
    c->argv[9] = c->policy;
    c->argv[10] = req->shadow ? "1" : "0";
    c->argv[11] = req->stream ? req->stream : "";
    c->argc = 12;
    for (int i = 0; i < c->argc; i++)
        c->len[i] = strlen(c->argv[i]);
    /* The release script reads the stream as its third argument. */
    if (op == OP_RELEASE) {
        c->argv[7] = c->argv[11];
        c->len[7] = c->len[11];
        c->argc = 8;
    }
}

static int is_noscript(const redisReply *rep)
{
    return rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0;
}

/* Send the EVAL form of a command: after a NOSCRIPT answer, which means the script
 * did not run (a flushed script cache); EVAL also caches the script again. */
static redisReply *eval_fallback(redis_store *r, rcmd *c)
{
    c->argv[0] = "EVAL";
    c->argv[1] = streamy__redis_lua;
    c->len[0] = 4;
    c->len[1] = streamy__redis_lua_len;
    return redisCommandArgv(r->c, c->argc, c->argv, c->len);
}

/* One script call, under the lock. `retry_sent`: the operation only reads, or writes
 * the same whether it runs once or twice, so it may be sent again on a new connection
 * when the first one failed after sending it. Decisions never are: their first try
 * may have taken effect, and a second answer could differ from the first. */
static int call(redis_store *r, rcmd *c, redisReply **out, int retry_sent,
                const char *what)
{
    redisReply *rep = NULL;
    int rc, tries = 0;

    for (;;) {
        if ((rc = ensure_conn(r)) != STREAMY_OK)
            return rc;
        c->argv[1] = r->sha;
        rep = redisCommandArgv(r->c, c->argc, c->argv, c->len);
        if (rep != NULL && is_noscript(rep)) {
            freeReplyObject(rep);
            rep = eval_fallback(r, c);
            c->argv[0] = "EVALSHA";
            c->len[0] = 7;
            c->len[1] = 40;
        }
        if (rep != NULL)
            break;
        rc = conn_error(r, what);
        if (!retry_sent || tries++ > 0)
            return rc;
    }
    return take_reply(r, rep, out, what);
}

static int int_at(const redisReply *rep, size_t i, long long *v)
{
    if (i >= rep->elements || rep->element[i]->type != REDIS_REPLY_INTEGER)
        return -1;
    *v = rep->element[i]->integer;
    return 0;
}

/* A decision reply (answer.h) into `out`; returns the answer or an error. */
static int read_decision(redis_store *r, const redisReply *rep, streamy_decision *out,
                         const char *what)
{
    long long v[ANSWER_EVICTED];
    const redisReply *ev;

    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != ANSWER_FIELDS)
        return bad_reply(r, what);
    for (size_t i = 0; i < ANSWER_EVICTED; i++)
        if (int_at(rep, i, &v[i]) != 0)
            return bad_reply(r, what);
    ev = rep->element[ANSWER_EVICTED];
    if (ev->type != REDIS_REPLY_STRING || ev->len > STREAMY_ID_MAX ||
        (v[ANSWER_RC] != STREAMY_OK && v[ANSWER_RC] != STREAMY_LIMIT_REACHED &&
         v[ANSWER_RC] != STREAMY_NOT_FOUND))
        return bad_reply(r, what);
    out->created = (int)v[ANSWER_CREATED];
    out->removed = (int)v[ANSWER_REMOVED];
    out->shadow_refused = (int)v[ANSWER_SHADOW_REFUSED];
    out->active = (unsigned int)v[ANSWER_ACTIVE];
    out->limit = (unsigned int)v[ANSWER_LIMIT];
    out->expired = (unsigned int)v[ANSWER_EXPIRED];
    out->since_ms = v[ANSWER_SINCE];
    out->expires_ms = v[ANSWER_EXPIRES];
    out->retry_ms = v[ANSWER_RETRY];
    memcpy(out->evicted, ev->str, ev->len);
    out->evicted[ev->len] = '\0';
    return (int)v[ANSWER_RC];
}

static int decide(streamy_store *st, char op, const streamy_store_req *req,
                  streamy_decision *out, const char *what)
{
    redis_store *r = (redis_store *)st;
    redisReply *rep = NULL;
    rcmd c;
    int rc;

    build(&c, r, op, req);
    pthread_mutex_lock(&r->lock);
    rc = call(r, &c, &rep, 0, what);
    pthread_mutex_unlock(&r->lock);
    if (rc != STREAMY_OK)
        return rc;
    rc = read_decision(r, rep, out, what);
    freeReplyObject(rep);
    return rc;
}

static int redis_acquire(streamy_store *st, const streamy_store_req *req,
                         streamy_decision *out)
{
    return decide(st, OP_ACQUIRE, req, out, "subscribe");
}

static int redis_release(streamy_store *st, const streamy_store_req *req,
                         streamy_decision *out)
{
    return decide(st, OP_RELEASE, req, out, "unsubscribe");
}

static int redis_renew(streamy_store *st, const streamy_store_req *req,
                       streamy_decision *out)
{
    return decide(st, OP_RENEW, req, out, "renew");
}

static char op_of(streamy_op_kind kind)
{
    return kind == STREAMY_OP_SUBSCRIBE     ? OP_ACQUIRE
           : kind == STREAMY_OP_UNSUBSCRIBE ? OP_RELEASE
                                            : OP_RENEW;
}

/*
 * A batch is ONE pipeline: every EVALSHA is written at once, in order, and the answers
 * are read back in order: one round trip. Redis runs each script alone, so each
 * decision is atomic and they take effect in the batch's order; but Redis has no
 * transaction across them (MULTI/EXEC would not roll back either). If the connection
 * fails while the answers are read, the batch fails and no decision is acknowledged,
 * yet the decisions that had reached Redis may have taken effect: like an answer lost
 * on the way. The caller then sees an error, never a wrong answer; a later subscribe
 * of the same stream simply finds its lease.
 */
static int redis_apply(streamy_store *st, streamy_store_op *ops, size_t n)
{
    redis_store *r = (redis_store *)st;
    redisReply **reps = calloc(n, sizeof(*reps));
    rcmd *cmds = malloc(n * sizeof(*cmds));
    size_t i, got = 0, first_noscript = n;
    int rc = STREAMY_OK;

    if (reps == NULL || cmds == NULL) {
        free(reps);
        free(cmds);
        streamy_store_set_error(st, "%s: cannot allocate a batch of %zu operations",
                                r->where, n);
        return STREAMY_ENOMEM;
    }
    pthread_mutex_lock(&r->lock);
    if ((rc = ensure_conn(r)) != STREAMY_OK)
        goto out;
    for (i = 0; i < n; i++) {
        int done;
        build(&cmds[i], r, op_of(ops[i].kind), &ops[i].req);
        cmds[i].argv[1] = r->sha;
        if (redisAppendCommandArgv(r->c, cmds[i].argc, cmds[i].argv, cmds[i].len) !=
            REDIS_OK) {
            rc = conn_error(r, "batch");
            goto out;
        }
        /* Hand Redis the first commands while the rest are formatted: still one
         * pipeline, whose answers are read once all is sent. */
        if (i % 8 == 7 && redisBufferWrite(r->c, &done) != REDIS_OK) {
            rc = conn_error(r, "batch");
            goto out;
        }
    }
    for (got = 0; got < n; got++) {
        if (redisGetReply(r->c, (void **)&reps[got]) != REDIS_OK || reps[got] == NULL) {
            rc = conn_error(r, "batch");
            goto out;
        }
        if (is_noscript(reps[got]) && first_noscript == n)
            first_noscript = got;
    }
    /* NOSCRIPT: those scripts did not run. Only a tail of the batch may be sent again
     * (as EVAL), or the order would change. */
    if (first_noscript < n) {
        for (i = first_noscript; i < n; i++)
            if (!is_noscript(reps[i])) {
                streamy_store_set_error(st,
                                        "%s: batch: the script cache was flushed during "
                                        "the batch",
                                        r->where);
                rc = STREAMY_ESTORE;
                goto out;
            }
        for (i = first_noscript; i < n; i++) {
            freeReplyObject(reps[i]);
            reps[i] = eval_fallback(r, &cmds[i]);
            if (reps[i] == NULL) {
                rc = conn_error(r, "batch");
                goto out;
            }
        }
    }
    for (i = 0; i < n && rc >= 0; i++) {
        if (reps[i]->type == REDIS_REPLY_ERROR)
            rc = reply_error(r, reps[i], "batch");
        else
            rc = ops[i].result = read_decision(r, reps[i], ops[i].out, "batch");
    }
    if (rc > 0)
        rc = STREAMY_OK;
out:
    pthread_mutex_unlock(&r->lock);
    for (i = 0; i < n; i++)
        if (reps[i] != NULL)
            freeReplyObject(reps[i]);
    free(reps);
    free(cmds);
    return rc;
}

typedef struct lease_row {
    const char *stream;
    streamy_lease lease;
} lease_row;

static int by_since(const void *a, const void *b)
{
    const lease_row *x = a, *y = b;

    if (x->lease.since_ms != y->lease.since_ms)
        return x->lease.since_ms < y->lease.since_ms ? -1 : 1;
    return strcmp(x->stream, y->stream);
}

static int redis_list(streamy_store *st, const streamy_store_req *req,
                      streamy_lease_cb cb, void *payload)
{
    redis_store *r = (redis_store *)st;
    redisReply *rep = NULL;
    lease_row *rows = NULL;
    size_t n, i;
    rcmd c;
    int rc;

    build(&c, r, OP_LIST, req);
    pthread_mutex_lock(&r->lock);
    rc = call(r, &c, &rep, 1, "list");
    pthread_mutex_unlock(&r->lock);
    if (rc != STREAMY_OK)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 4 != 0) {
        rc = bad_reply(r, "list");
        goto out;
    }
    n = rep->elements / 4;
    if (n > 0 && (rows = malloc(n * sizeof(*rows))) == NULL) {
        streamy_store_set_error(st, "%s: cannot allocate the list", r->where);
        rc = STREAMY_ENOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) {
        long long v[3];
        if (rep->element[4 * i]->type != REDIS_REPLY_STRING ||
            int_at(rep, 4 * i + 1, &v[0]) || int_at(rep, 4 * i + 2, &v[1]) ||
            int_at(rep, 4 * i + 3, &v[2])) {
            rc = bad_reply(r, "list");
            goto out;
        }
        rows[i].stream = rep->element[4 * i]->str;
        rows[i].lease.stream = rows[i].stream;
        rows[i].lease.since_ms = v[0];
        rows[i].lease.renewed_ms = v[1];
        rows[i].lease.expires_ms = v[2];
    }
    if (n > 1)
        qsort(rows, n, sizeof(*rows), by_since);
    for (i = 0; i < n; i++)
        if (cb(&rows[i].lease, payload) != 0)
            break;
out:
    free(rows);
    freeReplyObject(rep);
    return rc;
}

static int redis_count(streamy_store *st, const streamy_store_req *req, unsigned int *out)
{
    redis_store *r = (redis_store *)st;
    redisReply *rep = NULL;
    rcmd c;
    int rc;

    build(&c, r, OP_COUNT, req);
    pthread_mutex_lock(&r->lock);
    rc = call(r, &c, &rep, 1, "count");
    pthread_mutex_unlock(&r->lock);
    if (rc != STREAMY_OK)
        return rc;
    if (rep->type != REDIS_REPLY_INTEGER || rep->integer < 0)
        rc = bad_reply(r, "count");
    else
        *out = (unsigned int)rep->integer;
    freeReplyObject(rep);
    return rc;
}

/* A plain command that may be sent twice (reads, SET, DEL), under the lock. */
static int plain(redis_store *r, int argc, const char **argv, redisReply **out,
                 const char *what)
{
    redisReply *rep = NULL;
    int rc;

    pthread_mutex_lock(&r->lock);
    for (int tries = 0;; tries++) {
        if ((rc = ensure_conn(r)) != STREAMY_OK)
            break;
        if ((rep = redisCommandArgv(r->c, argc, argv, NULL)) != NULL)
            break;
        rc = conn_error(r, what);
        if (tries > 0)
            break;
    }
    pthread_mutex_unlock(&r->lock);
    if (rep == NULL)
        return rc;
    return take_reply(r, rep, out, what);
}

static int redis_set_limit(streamy_store *st, const char *user, unsigned int limit)
{
    redis_store *r = (redis_store *)st;
    char key[KEY_MAX], val[16];
    const char *argv[3] = {"SET", key, val};
    redisReply *rep;
    int rc;

    make_key(key, r, user, "limit");
    snprintf(val, sizeof(val), "%u", limit);
    if ((rc = plain(r, 3, argv, &rep, "set limit")) == STREAMY_OK)
        freeReplyObject(rep);
    return rc;
}

static int redis_clear_limit(streamy_store *st, const char *user)
{
    redis_store *r = (redis_store *)st;
    char key[KEY_MAX];
    const char *argv[2] = {"DEL", key};
    redisReply *rep;
    int rc;

    make_key(key, r, user, "limit");
    if ((rc = plain(r, 2, argv, &rep, "clear limit")) == STREAMY_OK)
        freeReplyObject(rep);
    return rc;
}

static int redis_get_limit(streamy_store *st, const char *user, unsigned int *limit,
                           int *found)
{
    redis_store *r = (redis_store *)st;
    char key[KEY_MAX];
    const char *argv[2] = {"GET", key};
    unsigned long long v;
    redisReply *rep;
    int rc;

    make_key(key, r, user, "limit");
    if ((rc = plain(r, 2, argv, &rep, "read limit")) != STREAMY_OK)
        return rc;
    *found = 0;
    if (rep->type == REDIS_REPLY_STRING &&
        streamy__parse_uint(&v, rep->str, STREAMY_LIMIT_MAX) == STREAMY_OK) {
        *found = 1;
        *limit = (unsigned int)v;
    } else if (rep->type != REDIS_REPLY_NIL) {
        rc = bad_reply(r, "read limit");
    }
    freeReplyObject(rep);
    return rc;
}

/* The SCAN pattern of every leases key: the prefix with glob characters escaped. */
static void scan_pattern(char *out, size_t size, const redis_store *r)
{
    size_t o = 0;

    for (const char *p = r->prefix; *p && o + 2 < size; p++) {
        if (strchr("*?[]\\", *p) != NULL)
            out[o++] = '\\';
        out[o++] = *p;
    }
    snprintf(out + o, size - o, "streamy:{*}:leases");
}

/* Add an answer of the purge script to `*total`. */
static int purge_count(redis_store *r, const redisReply *rep, uint64_t *total)
{
    if (rep->type == REDIS_REPLY_ERROR)
        return reply_error(r, rep, "purge");
    if (rep->type != REDIS_REPLY_INTEGER || rep->integer < 0)
        return bad_reply(r, "purge");
    *total += (uint64_t)rep->integer;
    return STREAMY_OK;
}

/* Drop the expired leases of each key of a SCAN page, one pipeline for the page. A
 * NOSCRIPT answer means that key's script did not run: it runs again as EVAL (dropping
 * expired leases is the same whether done once or twice). */
static int purge_page(redis_store *r, const redisReply *keys, const char *now,
                      uint64_t *total)
{
    static const char op[] = {OP_PURGE, '\0'};
    size_t i, nlen = strlen(now);
    unsigned char *again = NULL;
    int rc = STREAMY_OK;

    for (i = 0; i < keys->elements; i++) {
        const char *a[6] = {"EVALSHA", r->sha, "1", keys->element[i]->str, op, now};
        size_t l[6] = {7, 40, 1, keys->element[i]->len, 1, nlen};
        if (keys->element[i]->type != REDIS_REPLY_STRING)
            return bad_reply(r, "purge");
        if (redisAppendCommandArgv(r->c, 6, a, l) != REDIS_OK)
            return conn_error(r, "purge");
    }
    for (i = 0; i < keys->elements; i++) {
        redisReply *rep;
        if (redisGetReply(r->c, (void **)&rep) != REDIS_OK || rep == NULL) {
            free(again);
            return conn_error(r, "purge");
        }
        if (is_noscript(rep)) {
            if (again == NULL && (again = calloc(keys->elements, 1)) == NULL)
                rc = STREAMY_ENOMEM;
            else
                again[i] = 1;
        } else if (rc == STREAMY_OK) {
            rc = purge_count(r, rep, total);
        }
        freeReplyObject(rep);
    }
    for (i = 0; again != NULL && i < keys->elements && rc == STREAMY_OK; i++) {
        const char *a[6] = {"EVAL", streamy__redis_lua, "1", keys->element[i]->str, op,
                            now};
        size_t l[6] = {4, streamy__redis_lua_len, 1, keys->element[i]->len, 1, nlen};
        redisReply *rep;
        if (!again[i])
            continue;
        if ((rep = redisCommandArgv(r->c, 6, a, l)) == NULL) {
            rc = conn_error(r, "purge");
            break;
        }
        rc = purge_count(r, rep, total);
        freeReplyObject(rep);
    }
    free(again);
    if (rc == STREAMY_ENOMEM)
        streamy_store_set_error(&r->base, "%s: purge: out of memory", r->where);
    return rc;
}

/* SCAN the keyspace of this prefix on the node this handle is connected to, and drop
 * each user's expired leases with the script. Purging twice is harmless, so a lost
 * connection is retried once, from the start. */
static int redis_purge(streamy_store *st, const streamy_store_req *req, uint64_t *removed)
{
    redis_store *r = (redis_store *)st;
    char pattern[2 * PREFIX_MAX + 32], cursor[32], now[24];
    const char *argv[6] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
    uint64_t total = 0;
    int rc = STREAMY_OK, tries = 0;

    scan_pattern(pattern, sizeof(pattern), r);
    snprintf(now, sizeof(now), "%lld",
             req->injected_clock ? (long long)req->now_ms : -1LL);
    pthread_mutex_lock(&r->lock);
again:
    strcpy(cursor, "0");
    do {
        redisReply *page;

        if ((rc = ensure_conn(r)) != STREAMY_OK)
            break;
        if ((page = redisCommandArgv(r->c, 6, argv, NULL)) == NULL) {
            rc = conn_error(r, "purge");
            break;
        }
        if (page->type == REDIS_REPLY_ERROR)
            rc = reply_error(r, page, "purge");
        else if (page->type != REDIS_REPLY_ARRAY || page->elements != 2 ||
                 page->element[0]->type != REDIS_REPLY_STRING ||
                 page->element[0]->len >= sizeof(cursor) ||
                 page->element[1]->type != REDIS_REPLY_ARRAY)
            rc = bad_reply(r, "purge");
        else {
            memcpy(cursor, page->element[0]->str, page->element[0]->len + 1);
            rc = purge_page(r, page->element[1], now, &total);
        }
        freeReplyObject(page);
    } while (rc == STREAMY_OK && strcmp(cursor, "0") != 0);
    if (rc == STREAMY_ESTORE && r->c == NULL && tries++ == 0)
        goto again;
    pthread_mutex_unlock(&r->lock);
    if (rc == STREAMY_OK)
        *removed = total;
    return rc;
}

static int redis_health(streamy_store *st)
{
    redis_store *r = (redis_store *)st;
    const char *argv[1] = {"PING"};
    redisReply *rep;
    int rc;

    if ((rc = plain(r, 1, argv, &rep, "health check")) != STREAMY_OK)
        return rc;
    if (rep->type != REDIS_REPLY_STATUS || strcmp(rep->str, "PONG") != 0)
        rc = bad_reply(r, "health check");
    freeReplyObject(rep);
    return rc;
}

static void redis_free(streamy_store *st)
{
    redis_store *r = (redis_store *)st;

    if (r->c != NULL)
        redisFree(r->c);
    pthread_mutex_destroy(&r->lock);
    free(r->host);
    free(r->path);
    free(r->user);
    free(r->pass);
    free(r);
}

/* --- the URI ------------------------------------------------------------------------ */

static int parse_ms(int *out, const char *name, const char *text)
{
    int64_t ms;

    if (streamy_parse_duration(&ms, text) != STREAMY_OK || ms <= 0 || ms > 3600 * 1000)
        return streamy__error(
            STREAMY_EINVAL,
            "redis URI parameter %s=\"%.32s\" is not a duration from 1ms to "
            "1h (e.g. 500ms, 2s)",
            name, text);
    *out = (int)ms;
    return STREAMY_OK;
}

/* The query string: prefix=, connect_timeout=, timeout=, and for unix:// db=,
 * user=, password=. */
static int parse_query(redis_store *r, const char *q, int is_unix)
{
    while (q != NULL && *q != '\0') {
        const char *amp = strchr(q, '&'), *eq;
        size_t len = amp ? (size_t)(amp - q) : strlen(q), klen;
        char *val;
        int rc = STREAMY_OK;

        eq = memchr(q, '=', len);
        klen = eq ? (size_t)(eq - q) : len;
        if (eq == NULL)
            return streamy__error(
                STREAMY_EINVAL,
                "redis URI parameter \"%.*s\" has no value (use name=value)",
                (int)(len > 64 ? 64 : len), q);
        if ((val = streamy__percent_decode(eq + 1, len - klen - 1, NULL)) == NULL)
            return streamy__error(STREAMY_EINVAL,
                                  "redis URI parameter \"%.*s\" has a bad %%-escape",
                                  (int)(klen > 64 ? 64 : klen), q);
#define KEY_IS(name) (klen == sizeof(name) - 1 && strncmp(q, name, klen) == 0)
        if (KEY_IS("prefix")) {
            if (strlen(val) > PREFIX_MAX)
                rc = streamy__error(STREAMY_EINVAL,
                                    "redis URI prefix is longer than %d bytes",
                                    PREFIX_MAX);
            else if (strpbrk(val, "{}") != NULL)
                rc = streamy__error(
                    STREAMY_EINVAL,
                    "redis URI prefix \"%.64s\" holds a brace: the keys' hash "
                    "tag must be the user",
                    val);
            else {
                snprintf(r->prefix, sizeof(r->prefix), "%s", val);
                r->prefix_len = strlen(val);
            }
        } else if (KEY_IS("connect_timeout")) {
            rc = parse_ms(&r->connect_timeout_ms, "connect_timeout", val);
        } else if (KEY_IS("timeout")) {
            rc = parse_ms(&r->timeout_ms, "timeout", val);
        } else if (is_unix && KEY_IS("db")) {
            unsigned long long db;
            if (streamy__parse_uint(&db, val, 1000000) != STREAMY_OK)
                rc = streamy__error(STREAMY_EINVAL,
                                    "redis URI database \"%.32s\" is not a number", val);
            else
                r->db = (long)db;
        } else if (is_unix && KEY_IS("user")) {
            free(r->user);
            r->user = val;
            val = NULL;
        } else if (is_unix && KEY_IS("password")) {
            free(r->pass);
            r->pass = val;
            val = NULL;
        } else {
            rc = streamy__error(STREAMY_EINVAL,
                                "redis URI parameter \"%.*s\" is unknown (use prefix, "
                                "connect_timeout, timeout%s)",
                                (int)(klen > 64 ? 64 : klen), q,
                                is_unix ? ", db, user, password" : "");
        }
#undef KEY_IS
        free(val);
        if (rc != STREAMY_OK)
            return rc;
        q = amp ? amp + 1 : NULL;
    }
    return STREAMY_OK;
}

static int nomem(void)
{
    return streamy__error(STREAMY_ENOMEM, "cannot allocate the redis store");
}

/* redis://[[user]:pass@]host[:port][/db][?params] */
static int parse_tcp(redis_store *r, const char *uri)
{
    const char *p = uri + 8, *end, *at, *q = strchr(p, '?');
    const char *hostend, *portstart = NULL;
    unsigned long long v;

    end = q ? q : p + strlen(p);
    /* The authority ends at the first '/'. */
    {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *auth_end = slash ? slash : end;
        at = NULL;
        for (const char *s = p; s < auth_end; s++)
            if (*s == '@')
                at = s;
        if (at != NULL) {
            const char *colon = memchr(p, ':', (size_t)(at - p));
            if (colon == NULL)
                return streamy__error(
                    STREAMY_EINVAL,
                    "redis URI gives a user without a password (use "
                    "redis://user:password@host or redis://:password@host)");
            if (colon > p &&
                (r->user = streamy__percent_decode(p, (size_t)(colon - p), NULL)) == NULL)
                return streamy__error(STREAMY_EINVAL,
                                      "redis URI user has a bad %%-escape");
            if ((r->pass = streamy__percent_decode(colon + 1, (size_t)(at - colon - 1),
                                                   NULL)) == NULL)
                return streamy__error(STREAMY_EINVAL,
                                      "redis URI password has a bad %%-escape");
            p = at + 1;
        }
        if (*p == '[') {
            const char *close = memchr(p, ']', (size_t)(auth_end - p));
            if (close == NULL || close == p + 1)
                return streamy__error(
                    STREAMY_EINVAL,
                    "redis URI host \"%.*s\" is not a bracketed IPv6 address",
                    (int)(auth_end - p), p);
            r->host = strndup(p + 1, (size_t)(close - p - 1));
            hostend = close + 1;
            if (hostend < auth_end && *hostend != ':')
                return streamy__error(STREAMY_EINVAL,
                                      "redis URI has \"%.*s\" after the IPv6 address",
                                      (int)(auth_end - hostend), hostend);
        } else {
            hostend = memchr(p, ':', (size_t)(auth_end - p));
            if (hostend == NULL)
                hostend = auth_end;
            r->host = strndup(p, (size_t)(hostend - p));
        }
        if (r->host == NULL)
            return nomem();
        if (r->host[0] == '\0')
            return streamy__error(STREAMY_EINVAL, "redis URI has no host (use "
                                                  "redis://HOST[:PORT][/DB])");
        if (hostend < auth_end && *hostend == ':') {
            char port[8];
            size_t plen;
            portstart = hostend + 1;
            plen = (size_t)(auth_end - portstart);
            if (plen == 0 || plen >= sizeof(port))
                goto bad_port;
            memcpy(port, portstart, plen);
            port[plen] = '\0';
            if (streamy__parse_uint(&v, port, 65535) != STREAMY_OK || v == 0)
                goto bad_port;
            r->port = (int)v;
        }
        if (slash != NULL && slash + 1 < end) {
            char db[16];
            size_t dlen = (size_t)(end - slash - 1);
            if (dlen >= sizeof(db) ||
                (memcpy(db, slash + 1, dlen), db[dlen] = '\0',
                 streamy__parse_uint(&v, db, 1000000)) != STREAMY_OK)
                return streamy__error(STREAMY_EINVAL,
                                      "redis URI database \"%.*s\" is not a number (use "
                                      "redis://HOST[:PORT]/DB)",
                                      (int)(dlen > 32 ? 32 : dlen), slash + 1);
            r->db = (long)v;
        }
    }
    if (q != NULL)
        return parse_query(r, q + 1, 0);
    return STREAMY_OK;
bad_port:
    return streamy__error(
        STREAMY_EINVAL, "redis URI port \"%.*s\" is not a number from 1 to 65535",
        (int)((size_t)(end - portstart) > 16 ? 16 : (size_t)(end - portstart)),
        portstart);
}

/* unix:///path/to/redis.sock[?params] */
static int parse_unix(redis_store *r, const char *uri)
{
    const char *p = uri + 7, *q = strchr(p, '?');
    size_t len = q ? (size_t)(q - p) : strlen(p);

    if (len == 0 || p[0] != '/')
        return streamy__error(STREAMY_EINVAL,
                              "unix URI wants an absolute socket path (unix:///path/to/"
                              "redis.sock)");
    if ((r->path = streamy__percent_decode(p, len, NULL)) == NULL)
        return streamy__error(STREAMY_EINVAL, "unix URI path has a bad %%-escape");
    if (q != NULL)
        return parse_query(r, q + 1, 1);
    return STREAMY_OK;
}

int streamy__store_redis_open(streamy_store **out, const char *uri,
                              const streamy_options *o)
{
    redis_store *r;
    int rc;

    STREAMY_UNUSED(o);
    *out = NULL;
    if (strncmp(uri, "rediss://", 9) == 0)
        return streamy__error(
            STREAMY_EUNSUPPORTED,
            "redis over TLS (rediss://) is not supported: this libstreamy's "
            "hiredis has no TLS; use a local TLS tunnel and redis://");
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return nomem();
    pthread_mutex_init(&r->lock, NULL);
    streamy_store_init(&r->base, STREAMY_STORE_VERSION);
    r->base.name = "redis";
    r->base.free = redis_free;
    r->port = 6379;
    r->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    r->timeout_ms = DEFAULT_TIMEOUT_MS;
    rc = strncmp(uri, "unix://", 7) == 0 ? parse_unix(r, uri) : parse_tcp(r, uri);
    if (rc != STREAMY_OK)
        goto fail;
    if (r->user != NULL && r->pass == NULL) {
        rc = streamy__error(STREAMY_EINVAL, "redis URI gives a user without a password");
        goto fail;
    }
    if (r->path != NULL)
        snprintf(r->where, sizeof(r->where), "redis unix:%.200s", r->path);
    else
        snprintf(r->where, sizeof(r->where),
                 strchr(r->host, ':') ? "redis [%.200s]:%d" : "redis %.200s:%d", r->host,
                 r->port);
    if ((rc = connect_store(r)) != STREAMY_OK)
        goto fail;
    r->base.acquire = redis_acquire;
    r->base.release = redis_release;
    r->base.renew = redis_renew;
    r->base.list = redis_list;
    r->base.count = redis_count;
    r->base.set_limit = redis_set_limit;
    r->base.clear_limit = redis_clear_limit;
    r->base.get_limit = redis_get_limit;
    r->base.purge = redis_purge;
    r->base.health = redis_health;
    r->base.apply = redis_apply;
    *out = &r->base;
    return STREAMY_OK;
fail:
    redis_free(&r->base);
    return rc;
}
