/* SPDX-License-Identifier: MIT */
/* redis.c: the Redis store: one Lua script a decision, keys hash-tagged by user; a single
 * Redis, or a Redis Cluster whose slots it routes itself (redis_cluster.h). */
#include "stores.h"

#include "answer.h"
#include "redis_cluster.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <uuid/uuid.h>

/*
 * Keys, for a user U and the URI's prefix P (empty by default):
 *   P streamy:{U}:leases  a hash: stream -> "since:renewed:expires:id:device" (ms in
 *                         hex; 0: never; id: WIRE_ID_LEN characters; release 0.2.0
 *                         wrote "since:renewed:expires" in decimal, still read)
 *   P streamy:{U}:limit   a string: the user's own limit, when one is set
 * The braces are a Redis Cluster hash tag: both keys of a user share one slot, so one
 * script may touch both.
 *
 * Every decision is one EVALSHA of the script, redis.lua, embedded at build time: it
 * reads the user's leases and limit, decides and writes inside Redis, which runs a script
 * alone. Its first argument is the operation (OP_* below, the same characters as the
 * script's); a decision answers with an array in the order of answer.h. Lua has no good
 * randomness: every acquire and renew draws a lease id here and hands it to the script,
 * which keeps it only for a new lease or one that has none yet. Lease ids travel to and
 * from the script, and are stored, as the 22 base64url characters of the UUID's 16
 * bytes, and times in hex: a lease without a device (or with a short one) then stays
 * within the 64 bytes up to which Redis keeps a small hash as a listpack
 * (hash-max-listpack-value), which takes half the memory of a hash table.
 *
 * A Redis Cluster is found at open (INFO cluster says cluster_enabled:1). The store then
 * reads the slot map (CLUSTER SLOTS) and keeps one connection per node, opened when first
 * needed. A command goes to the node of its key's slot. MOVED updates the map and sends
 * the command again; ASK sends ASKING and the command to the named node once; TRYAGAIN,
 * CLUSTERDOWN and a connection that cannot be opened mean the command did not run: it is
 * tried again with a growing pause, until the handle's timeout. An answer lost after
 * sending is an error for a decision (it may have run), never a second try.
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

/* prefix + "streamy:{" + user + "}:leases" + NUL */
#define KEY_MAX (PREFIX_MAX + STREAMY_ID_MAX + 32)
#define DEFAULT_CONNECT_TIMEOUT_MS 2000
#define DEFAULT_TIMEOUT_MS 5000
/* Largest wait= (replicas a write waits for). */
#define WAIT_MAX 16
/* Redirections one command follows before it gives up (a map that keeps changing). */
#define REDIRECTS_MAX 16
#define HOST_MAX 256
/* A lease id as the script sees it (wire_id()). */
#define WIRE_ID_LEN 22
/* The pause before trying again a command that did not run, doubling up to the most. */
#define BACKOFF_FIRST_MS 10
#define BACKOFF_MOST_MS 200

/* One command being built: its arguments live here, or in the call it was built from. */
typedef struct rcmd {
    const char *argv[15];
    size_t len[15];
    int argc;
    char leases[KEY_MAX], limit[KEY_MAX];
    char op[2], now[24], ttl[24], lim[16], policy[4];
    char id[WIRE_ID_LEN + 1], held[WIRE_ID_LEN + 1];
} rcmd;

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* A lease id (a UUID as text) in the script's form: its 16 bytes in base64url, without
 * padding. -1 if `text` is not a UUID. */
static int wire_id(char out[WIRE_ID_LEN + 1], const char *text)
{
    uuid_t u;
    size_t o = 0;

    if (uuid_parse(text, u) != 0)
        return -1;
    for (size_t i = 0; i < 15; i += 3) {
        unsigned long v =
            (unsigned long)u[i] << 16 | (unsigned long)u[i + 1] << 8 | u[i + 2];
        for (int k = 18; k >= 0; k -= 6)
            out[o++] = b64url[(v >> k) & 63];
    }
    out[o++] = b64url[u[15] >> 2];
    out[o++] = b64url[(u[15] & 3) << 4];
    out[o] = '\0';
    return 0;
}

static int b64url_value(char c)
{
    const char *p = c != '\0' ? strchr(b64url, c) : NULL;

    return p != NULL ? (int)(p - b64url) : -1;
}

/* The text of a lease id in the script's form (`len` 0: none, ""); -1 if malformed. */
static int text_id(char out[STREAMY_LEASE_ID_LEN + 1], const char *w, size_t len)
{
    int d[WIRE_ID_LEN];
    uuid_t u;

    out[0] = '\0';
    if (len == 0)
        return 0;
    if (len != WIRE_ID_LEN)
        return -1;
    for (size_t i = 0; i < WIRE_ID_LEN; i++)
        if ((d[i] = b64url_value(w[i])) < 0)
            return -1;
    for (size_t i = 0, j = 0; i < 15; i += 3, j += 4) {
        unsigned long v = (unsigned long)d[j] << 18 | (unsigned long)d[j + 1] << 12 |
                          (unsigned long)d[j + 2] << 6 | (unsigned long)d[j + 3];
        u[i] = (unsigned char)(v >> 16);
        u[i + 1] = (unsigned char)(v >> 8);
        u[i + 2] = (unsigned char)v;
    }
    if ((d[21] & 15) != 0)
        return -1;
    u[15] = (unsigned char)(d[20] << 2 | d[21] >> 4);
    uuid_unparse_lower(u, out);
    return 0;
}

/* How exec_cmd() may treat a command. */
#define X_SCRIPT 1 /* EVALSHA: after NOSCRIPT, send it as EVAL */
#define X_RESEND                                                                         \
    2            /* reads or idempotent writes: may be sent again after a lost answer    \
                  */
#define X_WAIT 4 /* a write: WAIT for the URI's replicas */

static struct timeval ms_tv(int ms)
{
    struct timeval tv;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return tv;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Report a failure of a node's connection and drop it: the next call reconnects. */
int streamy__redis_conn_error(redis_store *r, rnode *n, const char *what)
{
    int timed_out = n->c != NULL && n->c->err == REDIS_ERR_IO &&
                    (errno == EAGAIN || errno == EWOULDBLOCK);

    if (n->c == NULL)
        streamy_store_set_error(&r->base, "%s: %s: not connected", n->where, what);
    else if (timed_out)
        streamy_store_set_error(&r->base, "%s: %s: no answer within %d ms", n->where,
                                what, r->timeout_ms);
    else
        streamy_store_set_error(&r->base, "%s: %s: %s", n->where, what,
                                n->c->errstr[0] ? n->c->errstr : "connection lost");
    if (n->c != NULL) {
        redisFree(n->c);
        n->c = NULL;
    }
    return STREAMY_ESTORE;
}

/* An error reply from Redis: BUSY (a script runs too long) and LOADING are transient. */
int streamy__redis_reply_error(redis_store *r, const char *where, const redisReply *rep,
                               const char *what)
{
    streamy_store_set_error(&r->base, "%s: %s: %.*s", where, what, (int)rep->len,
                            rep->str);
    if (strncmp(rep->str, "BUSY", 4) == 0 || strncmp(rep->str, "LOADING", 7) == 0)
        return STREAMY_EBUSY;
    return STREAMY_ESTORE;
}

int streamy__redis_bad_reply(redis_store *r, const char *what)
{
    streamy_store_set_error(&r->base, "%s: %s: unexpected reply from Redis", r->where,
                            what);
    return STREAMY_ESTORE;
}

/* One command on a fresh connection, during connect; NULL on failure (error set). */
static redisReply *setup_command(redis_store *r, rnode *n, const char *what, int argc,
                                 const char **argv)
{
    redisReply *rep = redisCommandArgv(n->c, argc, argv, NULL);

    if (rep == NULL) {
        streamy__redis_conn_error(r, n, what);
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        streamy__redis_reply_error(r, n->where, rep, what);
        freeReplyObject(rep);
        redisFree(n->c);
        n->c = NULL;
        return NULL;
    }
    return rep;
}

/* Connect to a node and authenticate. */
static int node_connect(redis_store *r, rnode *n)
{
    redisReply *rep;
    struct timeval ctv = ms_tv(r->connect_timeout_ms);

    n->c = n->host == NULL ? redisConnectUnixWithTimeout(r->path, ctv)
                           : redisConnectWithTimeout(n->host, n->port, ctv);
    if (n->c == NULL) {
        streamy_store_set_error(&r->base, "%s: cannot allocate a connection", n->where);
        return STREAMY_ENOMEM;
    }
    if (n->c->err) {
        streamy_store_set_error(&r->base, "%s: cannot connect: %s", n->where,
                                n->c->errstr);
        redisFree(n->c);
        n->c = NULL;
        return STREAMY_ESTORE;
    }
    if (redisSetTimeout(n->c, ms_tv(r->timeout_ms)) != REDIS_OK)
        return streamy__redis_conn_error(r, n, "set the timeout");
    if (n->host != NULL)
        redisEnableKeepAlive(n->c);
    if (r->pass != NULL) {
        const char *argv[3] = {"AUTH", r->user ? r->user : r->pass, r->pass};
        if ((rep = setup_command(r, n, "AUTH", r->user ? 3 : 2, argv)) == NULL)
            return STREAMY_ESTORE;
        freeReplyObject(rep);
    }
    return STREAMY_OK;
}

/* On a connected node: select the database (a cluster has only 0) and load the script. */
static int node_prepare(redis_store *r, rnode *n)
{
    char dbtext[24];
    redisReply *rep;

    if (r->db != 0 && !r->cluster) {
        const char *argv[2] = {"SELECT", dbtext};
        snprintf(dbtext, sizeof(dbtext), "%ld", r->db);
        if ((rep = setup_command(r, n, "SELECT", 2, argv)) == NULL)
            return STREAMY_ESTORE;
        freeReplyObject(rep);
    }
    {
        const char *argv[3] = {"SCRIPT", "LOAD", streamy__redis_lua};
        if ((rep = setup_command(r, n, "SCRIPT LOAD", 3, argv)) == NULL)
            return STREAMY_ESTORE;
        if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
            freeReplyObject(rep);
            redisFree(n->c);
            n->c = NULL;
            return streamy__redis_bad_reply(r, "SCRIPT LOAD");
        }
        memcpy(r->sha, rep->str, 40);
        r->sha[40] = '\0';
        freeReplyObject(rep);
    }
    return STREAMY_OK;
}

static int connect_node(redis_store *r, rnode *n)
{
    int rc = node_connect(r, n);

    return rc != STREAMY_OK ? rc : node_prepare(r, n);
}

/* Whether the connection can carry a command that has not been sent yet. A server
 * that restarted or closed an idle client has closed the socket: seen here, before
 * anything is sent, so reconnecting and sending is safe. */
static int conn_alive(const rnode *n)
{
    char b;
    ssize_t got;

    if (n->c == NULL || n->c->err)
        return 0;
    got = recv(n->c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Make sure a node has a live connection: reconnect once if needed. */
int streamy__redis_ensure_conn(redis_store *r, rnode *n)
{
    if (conn_alive(n))
        return STREAMY_OK;
    if (n->c != NULL) {
        redisFree(n->c);
        n->c = NULL;
    }
    return connect_node(r, n);
}

/* --- commands --------------------------------------------------------------------- */

static void make_key(char out[KEY_MAX], const redis_store *r, const char *user,
                     const char *what)
{
    snprintf(out, KEY_MAX,
             "%s"
             "streamy:{%s}:%s",
             r->prefix, user, what);
}

static unsigned int user_slot(const redis_store *r, const char *key)
{
    return r->cluster ? streamy__redis_key_slot(key, strlen(key)) : 0;
}

/* EVALSHA sha 2 leases limit op now, then for a decision (`call` not NULL) in
 * redis.lua's order: acquire and renew: ttl limit policy shadow stream new-id [held-id
 * [device]]; release: stream [held-id]. Arguments that say nothing are left out from
 * the end. Draws the new id. */
static int build(rcmd *c, redis_store *r, char op, const streamy_store_req *req,
                 const streamy_store_call *call)
{
    int rc;

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
    if (call == NULL) {
        c->argc = 7;
    } else {
        char text[STREAMY_LEASE_ID_LEN + 1];
        c->held[0] = '\0';
        if (call->lease_id != NULL && wire_id(c->held, call->lease_id) != 0) {
            streamy_store_set_error(&r->base, "%s: lease id \"%.40s\" is not a UUID",
                                    r->where, call->lease_id);
            return STREAMY_EINVAL;
        }
        if (op == OP_RELEASE) {
            c->argv[7] = c->argv[11];
            c->argv[8] = c->held;
            c->argc = call->lease_id != NULL ? 9 : 8;
        } else {
            if ((rc = streamy_lease_id_generate(text)) != STREAMY_OK)
                return rc;
            if (wire_id(c->id, text) != 0) {
                streamy_store_set_error(&r->base, "%s: a new lease id is not a UUID",
                                        r->where);
                return STREAMY_ESTORE;
            }
            c->argv[12] = c->id;
            c->argv[13] = c->held;
            c->argv[14] = call->device;
            c->argc = call->device != NULL ? 15 : call->lease_id != NULL ? 14 : 13;
        }
    }
    for (int i = 0; i < c->argc; i++)
        c->len[i] = strlen(c->argv[i]);
    return STREAMY_OK;
}

static int is_noscript(const redisReply *rep)
{
    return rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0;
}

/* The script command as EVALSHA, or as EVAL: after a NOSCRIPT answer, which means the
 * script did not run (a flushed script cache, a new node); EVAL also caches it again. */
static void script_form(redis_store *r, rcmd *c, int eval)
{
    c->argv[0] = eval ? "EVAL" : "EVALSHA";
    c->len[0] = eval ? 4 : 7;
    c->argv[1] = eval ? streamy__redis_lua : r->sha;
    c->len[1] = eval ? streamy__redis_lua_len : 40;
}

/* The answer of WAIT after a write: fewer replicas than asked is an error, since the
 * write could be lost by a failover; it may have been applied on the primary, like a
 * decision whose answer was lost. */
static int check_wait(redis_store *r, const rnode *n, const redisReply *w,
                      const char *what)
{
    if (w->type == REDIS_REPLY_ERROR)
        return streamy__redis_reply_error(r, n->where, w, what);
    if (w->type != REDIS_REPLY_INTEGER)
        return streamy__redis_bad_reply(r, what);
    if (w->integer >= r->wait)
        return STREAMY_OK;
    streamy_store_set_error(&r->base,
                            "%s: %s: acknowledged by %lld of %d replicas within %d ms "
                            "(wait=%d): the write may have been applied on the primary "
                            "alone",
                            n->where, what, w->integer, r->wait, r->timeout_ms / 2,
                            r->wait);
    return STREAMY_ESTORE;
}

static void append_wait(redis_store *r, rnode *n)
{
    char nrep[8], ms[16];
    const char *argv[3] = {"WAIT", nrep, ms};

    snprintf(nrep, sizeof(nrep), "%d", r->wait);
    snprintf(ms, sizeof(ms), "%d", r->timeout_ms / 2 > 0 ? r->timeout_ms / 2 : 1);
    redisAppendCommandArgv(n->c, 3, argv, NULL);
}

/*
 * One command for a key's slot, under the lock, and its reply (the caller frees it),
 * following the cluster: MOVED (update the map, send again), ASK (ASKING and the command
 * to the named node, once), TRYAGAIN / CLUSTERDOWN / no connection (it did not run: try
 * again after a pause, within the timeout). An answer lost after sending ends the call
 * with an error unless X_RESEND says sending twice is harmless; for a single Redis that
 * is one more try, as the store always did.
 */
static int exec_cmd(redis_store *r, unsigned int slot, rcmd *c, int flags,
                    redisReply **out, const char *what)
{
    int64_t deadline = mono_ms() + r->timeout_ms;
    int backoff = BACKOFF_FIRST_MS, redirects = 0, resent = 0, eval = 0, rc;
    int do_wait = (flags & X_WAIT) && r->wait > 0;
    rnode *ask = NULL;

    for (;;) {
        rnode *n = ask != NULL ? ask : streamy__redis_route(r, slot);
        int asking = ask != NULL, ok;
        redisReply *a = NULL, *rep = NULL, *w = NULL;
        char host[HOST_MAX];
        unsigned int moved_slot;
        int port, idx;
        redir_kind k;

        ask = NULL;
        if (n == NULL) {
            streamy_store_set_error(&r->base, "%s: %s: no node serves slot %u", r->where,
                                    what, slot);
            goto later;
        }
        if ((rc = streamy__redis_ensure_conn(r, n)) != STREAMY_OK) {
            if (!r->cluster || rc == STREAMY_ENOMEM)
                return rc;
            streamy__redis_refresh_map(r); /* a failover may have promoted a replica */
            goto later;
        }
        if (flags & X_SCRIPT)
            script_form(r, c, eval);
        if (asking)
            redisAppendCommand(n->c, "ASKING");
        redisAppendCommandArgv(n->c, c->argc, c->argv, c->len);
        if (do_wait)
            append_wait(r, n);
        ok = (!asking || redisGetReply(n->c, (void **)&a) == REDIS_OK) &&
             redisGetReply(n->c, (void **)&rep) == REDIS_OK && rep != NULL &&
             (!do_wait || (redisGetReply(n->c, (void **)&w) == REDIS_OK && w != NULL));
        if (a != NULL)
            freeReplyObject(a);
        if (!ok) {
            if (rep != NULL)
                freeReplyObject(rep);
            rc = streamy__redis_conn_error(r, n, what);
            if (!(flags & X_RESEND))
                return rc;
            if (!r->cluster) {
                if (resent++ > 0)
                    return rc;
                continue;
            }
            goto later;
        }
        if ((flags & X_SCRIPT) && !eval && is_noscript(rep)) {
            eval = 1;
            freeReplyObject(rep);
            if (w != NULL)
                freeReplyObject(w);
            continue;
        }
        k = rep->type != REDIS_REPLY_ERROR || !r->cluster
                ? REDIR_NONE
                : streamy__redis_redirection(rep->str, rep->len, &moved_slot, host,
                                             sizeof(host), &port);
        if (k != REDIR_NONE) {
            streamy__redis_reply_error(r, n->where, rep, what);
            freeReplyObject(rep);
            if (w != NULL)
                freeReplyObject(w);
            if (k == REDIR_TRYAGAIN || k == REDIR_DOWN)
                goto later;
            if (redirects++ == REDIRECTS_MAX)
                return STREAMY_ESTORE;
            idx = host[0]
                      ? streamy__redis_find_node(r, host, strlen(host), port)
                      : streamy__redis_find_node(r, n->host ? n->host : LOCALHOST,
                                                 strlen(n->host ? n->host : LOCALHOST),
                                                 port);
            if (idx < 0)
                return STREAMY_ESTORE;
            if (k == REDIR_ASK) {
                ask = r->nodes[idx];
            } else {
                r->slots[moved_slot] = (uint16_t)idx;
                streamy__redis_refresh_map(r);
            }
            continue;
        }
        if (rep->type == REDIS_REPLY_ERROR) {
            rc = streamy__redis_reply_error(r, n->where, rep, what);
        } else if (do_wait && (rc = check_wait(r, n, w, what)) == STREAMY_OK) {
            *out = rep;
            rep = NULL;
        } else if (!do_wait) {
            rc = STREAMY_OK;
            *out = rep;
            rep = NULL;
        }
        if (rep != NULL)
            freeReplyObject(rep);
        if (w != NULL)
            freeReplyObject(w);
        return rc;
    later:
        if (mono_ms() + backoff > deadline)
            return STREAMY_ESTORE;
        nap_ms(backoff);
        backoff = backoff * 2 > BACKOFF_MOST_MS ? BACKOFF_MOST_MS : backoff * 2;
    }
}

/* A plain command on a user's key (reads, SET, DEL: sending twice is harmless). */
static int plain(redis_store *r, const char *key, int argc, const char **argv, int flags,
                 redisReply **out, const char *what)
{
    rcmd c;
    int rc;

    c.argc = argc;
    for (int i = 0; i < argc; i++) {
        c.argv[i] = argv[i];
        c.len[i] = strlen(argv[i]);
    }
    pthread_mutex_lock(&r->lock);
    rc = exec_cmd(r, user_slot(r, key), &c, flags | X_RESEND, out, what);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

static int int_at(const redisReply *rep, size_t i, long long *v)
{
    if (i >= rep->elements || rep->element[i]->type != REDIS_REPLY_INTEGER)
        return -1;
    *v = rep->element[i]->integer;
    return 0;
}

/* A text of a reply: "" for a field left out. */
typedef struct text {
    const char *str;
    size_t len;
} text;

/* Text field i of a reply into `out`: a string of a length that fits `max` (`exact`: of
 * exactly that length, or empty), or "" when the reply ends before it; -1 otherwise. */
static int text_at(text *out, const redisReply *rep, size_t i, size_t max, int exact)
{
    const redisReply *t = i < rep->elements ? rep->element[i] : NULL;

    out->str = "";
    out->len = 0;
    if (t == NULL)
        return 0;
    if (t->type != REDIS_REPLY_STRING || t->len > max ||
        (exact && t->len != 0 && t->len != max))
        return -1;
    out->str = t->str;
    out->len = t->len;
    return 0;
}

static void copy_text(char *out, const text *t)
{
    memcpy(out, t->str, t->len);
    out[t->len] = '\0';
}

/* A decision reply (answer.h) into `out`, written only once the whole reply is known to
 * be well formed; returns the answer or an error. The script leaves out the session
 * fields from the end that are not set. */
static int read_answer(redis_store *r, const redisReply *rep, streamy_answer *out,
                       const char *what)
{
    long long v[ANSWER_EVICTED], stale = 0;
    text ev, id, dev, ev_id, ev_dev;
    char lease_id[STREAMY_LEASE_ID_LEN + 1], evicted_id[STREAMY_LEASE_ID_LEN + 1];
    streamy_decision *d = &out->decision;

    if (rep->type != REDIS_REPLY_ARRAY || rep->elements <= ANSWER_EVICTED ||
        rep->elements > ANSWER_FIELDS)
        return streamy__redis_bad_reply(r, what);
    for (size_t i = 0; i < ANSWER_EVICTED; i++)
        if (int_at(rep, i, &v[i]) != 0)
            return streamy__redis_bad_reply(r, what);
    if ((rep->elements > ANSWER_STALE && int_at(rep, ANSWER_STALE, &stale) != 0) ||
        text_at(&ev, rep, ANSWER_EVICTED, STREAMY_ID_MAX, 0) != 0 ||
        text_at(&id, rep, ANSWER_LEASE_ID, WIRE_ID_LEN, 1) != 0 ||
        text_at(&dev, rep, ANSWER_DEVICE, STREAMY_DEVICE_MAX, 0) != 0 ||
        text_at(&ev_id, rep, ANSWER_EVICTED_LEASE_ID, WIRE_ID_LEN, 1) != 0 ||
        text_at(&ev_dev, rep, ANSWER_EVICTED_DEVICE, STREAMY_DEVICE_MAX, 0) != 0 ||
        (v[ANSWER_RC] != STREAMY_OK && v[ANSWER_RC] != STREAMY_LIMIT_REACHED &&
         v[ANSWER_RC] != STREAMY_NOT_FOUND) ||
        text_id(lease_id, id.str, id.len) != 0 ||
        text_id(evicted_id, ev_id.str, ev_id.len) != 0)
        return streamy__redis_bad_reply(r, what);
    d->created = (int)v[ANSWER_CREATED];
    d->removed = (int)v[ANSWER_REMOVED];
    d->shadow_refused = (int)v[ANSWER_SHADOW_REFUSED];
    d->active = (unsigned int)v[ANSWER_ACTIVE];
    d->limit = (unsigned int)v[ANSWER_LIMIT];
    d->expired = (unsigned int)v[ANSWER_EXPIRED];
    d->since_ms = v[ANSWER_SINCE];
    d->expires_ms = v[ANSWER_EXPIRES];
    d->retry_ms = v[ANSWER_RETRY];
    copy_text(d->evicted, &ev);
    memcpy(out->lease_id, lease_id, sizeof(lease_id));
    copy_text(out->device, &dev);
    memcpy(out->evicted_lease_id, evicted_id, sizeof(evicted_id));
    copy_text(out->evicted_device, &ev_dev);
    out->stale = stale != 0;
    return (int)v[ANSWER_RC];
}

static char op_of(streamy_op_kind kind)
{
    return kind == STREAMY_OP_SUBSCRIBE     ? OP_ACQUIRE
           : kind == STREAMY_OP_UNSUBSCRIBE ? OP_RELEASE
                                            : OP_RENEW;
}

static const char *what_of(streamy_op_kind kind)
{
    return kind == STREAMY_OP_SUBSCRIBE     ? "subscribe"
           : kind == STREAMY_OP_UNSUBSCRIBE ? "unsubscribe"
                                            : "renew";
}

/* One decision: one EVALSHA. */
static int decide_one(redis_store *r, streamy_store_call *call)
{
    const char *what = what_of(call->kind);
    redisReply *rep = NULL;
    rcmd c;
    int rc;

    if ((rc = build(&c, r, op_of(call->kind), &call->req, call)) != STREAMY_OK)
        return rc;
    pthread_mutex_lock(&r->lock);
    rc = exec_cmd(r, user_slot(r, c.leases), &c, X_SCRIPT | X_WAIT, &rep, what);
    pthread_mutex_unlock(&r->lock);
    if (rc != STREAMY_OK)
        return rc;
    rc = read_answer(r, rep, call->out, what);
    freeReplyObject(rep);
    if (rc < 0)
        return rc;
    call->result = rc;
    return STREAMY_OK;
}

/* Whether an answer in a batch means the operation did not run, and is to be sent again
 * by itself: NOSCRIPT, or (cluster) a redirection or a transient refusal. */
static int did_not_run(const redis_store *r, const redisReply *rep)
{
    unsigned int s;
    char host[HOST_MAX];
    int port;

    if (rep == NULL || is_noscript(rep))
        return 1;
    return r->cluster && rep->type == REDIS_REPLY_ERROR &&
           streamy__redis_redirection(rep->str, rep->len, &s, host, sizeof(host),
                                      &port) != REDIR_NONE;
}

/* Route a batch: the node of each operation (its index in r->nodes), every node
 * connected (used[] = 1). A cluster whose node cannot be reached, or whose slot has no
 * node, is asked again for its map after a pause, until the handle's timeout. */
static int route_batch(redis_store *r, const unsigned int *slot, uint16_t *node,
                       unsigned char *used, size_t n)
{
    int64_t deadline = mono_ms() + r->timeout_ms;
    int backoff = BACKOFF_FIRST_MS;

    for (;;) {
        int missing = 0, rc = STREAMY_OK;
        memset(used, 0, NODES_MAX);
        for (size_t i = 0; i < n; i++) {
            rnode *nd = streamy__redis_route(r, slot[i]);
            int idx;
            node[i] = NO_NODE;
            if (nd == NULL) {
                streamy_store_set_error(&r->base, "%s: batch: no node serves slot %u",
                                        r->where, slot[i]);
                missing = 1;
                continue;
            }
            idx = streamy__redis_node_index(r, nd);
            if (used[idx] == 0) {
                rc = streamy__redis_ensure_conn(r, nd);
                used[idx] = rc == STREAMY_OK ? 1 : 2;
            }
            if (used[idx] == 1)
                node[i] = (uint16_t)idx;
            else
                missing = 1;
        }
        if (!missing)
            return STREAMY_OK;
        if (!r->cluster || rc == STREAMY_ENOMEM)
            return rc == STREAMY_OK ? STREAMY_ESTORE : rc;
        if (mono_ms() + backoff > deadline)
            return STREAMY_ESTORE;
        nap_ms(backoff);
        backoff = backoff * 2 > BACKOFF_MOST_MS ? BACKOFF_MOST_MS : backoff * 2;
        streamy__redis_refresh_map(r);
    }
}

/*
 * A batch is split by node: one pipeline per node (a single Redis: one), every node's
 * pipeline written before any answer is read, so all are in flight at once; the answers
 * are read back and put in input order. Redis runs each script alone, so each decision is
 * atomic and a user's decisions (one slot, one node) take effect in the batch's order;
 * there is no transaction across them (MULTI/EXEC would not roll back either). If a
 * connection fails while answers are read, the batch fails and no decision is
 * acknowledged, yet the decisions that had reached Redis may have taken effect: like an
 * answer lost on the way. The caller then sees an error, never a wrong answer; a later
 * subscribe of the same stream simply finds its lease. Nothing is sent before every
 * operation has a reachable node (route_batch()). An operation answered NOSCRIPT,
 * MOVED, ASK, TRYAGAIN or CLUSTERDOWN did not run: it is sent again alone, in order,
 * through exec_cmd(), unless a later operation of the same slot did run (the order would
 * change): then the batch fails.
 */
static int decide_batch(redis_store *r, streamy_store_call *calls, size_t n)
{
    streamy_store *st = &r->base;
    redisReply **reps = calloc(n, sizeof(*reps));
    rcmd *cmds = malloc(n * sizeof(*cmds));
    uint16_t *node = malloc(n * sizeof(*node));
    unsigned int *slot = malloc(n * sizeof(*slot));
    redisReply *waits[NODES_MAX] = {NULL};
    unsigned char used[NODES_MAX] = {0}; /* 1: in the batch, 2: could not connect */
    size_t i, j;
    int rc = STREAMY_OK, drained = 0;

    if (reps == NULL || cmds == NULL || node == NULL || slot == NULL) {
        free(reps);
        free(cmds);
        free(node);
        free(slot);
        streamy_store_set_error(st, "%s: cannot allocate a batch of %zu operations",
                                r->where, n);
        return STREAMY_ENOMEM;
    }
    /* Every id is drawn before anything is sent. */
    for (i = 0; i < n; i++) {
        if ((rc = build(&cmds[i], r, op_of(calls[i].kind), &calls[i].req, &calls[i])) !=
            STREAMY_OK) {
            pthread_mutex_lock(&r->lock);
            drained = 1;
            goto out;
        }
        slot[i] = user_slot(r, cmds[i].leases);
    }
    pthread_mutex_lock(&r->lock);
    if (!r->cluster && (rc = streamy__redis_ensure_conn(r, r->nodes[0])) != STREAMY_OK)
        goto out;
    /* Route every operation, and connect to every node, before anything is written:
     * reading the map again uses a connection, which must not hold a half-sent
     * pipeline then; and a batch for a node that cannot be reached (a primary just
     * killed, before its replica is promoted) waits within the timeout, then fails
     * whole with nothing sent, rather than half-applied. */
    if ((rc = route_batch(r, slot, node, used, n)) != STREAMY_OK) {
        drained = 1; /* nothing written */
        goto out;
    }
    for (i = 0; i < n; i++) {
        rnode *nd = node[i] == NO_NODE ? NULL : r->nodes[node[i]];
        int done;
        if (nd == NULL)
            continue;
        if (redisAppendCommandArgv(nd->c, cmds[i].argc, cmds[i].argv, cmds[i].len) !=
            REDIS_OK) {
            rc = streamy__redis_conn_error(r, nd, "batch");
            goto out;
        }
        /* Hand Redis the first commands while the rest are formatted. */
        if (i % 8 == 7 && redisBufferWrite(nd->c, &done) != REDIS_OK) {
            rc = streamy__redis_conn_error(r, nd, "batch");
            goto out;
        }
    }
    for (j = 0; j < r->n_nodes; j++) {
        int done = 0;
        if (used[j] != 1)
            continue;
        if (r->wait > 0)
            append_wait(r, r->nodes[j]);
        while (!done && r->nodes[j]->c != NULL)
            if (redisBufferWrite(r->nodes[j]->c, &done) != REDIS_OK)
                rc = streamy__redis_conn_error(r, r->nodes[j], "batch");
    }
    /* Every answer is read, also after a failure, so that the connections stay usable. */
    for (i = 0; i < n; i++) {
        rnode *nd = node[i] == NO_NODE ? NULL : r->nodes[node[i]];
        if (nd == NULL || nd->c == NULL)
            continue;
        if (redisGetReply(nd->c, (void **)&reps[i]) != REDIS_OK || reps[i] == NULL) {
            reps[i] = NULL;
            rc = streamy__redis_conn_error(r, nd, "batch");
        }
    }
    for (j = 0; j < r->n_nodes && r->wait > 0; j++)
        if (used[j] == 1 && r->nodes[j]->c != NULL &&
            (redisGetReply(r->nodes[j]->c, (void **)&waits[j]) != REDIS_OK ||
             waits[j] == NULL)) {
            waits[j] = NULL;
            rc = streamy__redis_conn_error(r, r->nodes[j], "batch");
        }
    drained = 1;
    if (rc != STREAMY_OK)
        goto out;
    for (i = 0; i < n; i++) {
        if (!did_not_run(r, reps[i]))
            continue;
        for (j = i + 1; j < n; j++)
            if (slot[j] == slot[i] && !did_not_run(r, reps[j])) {
                streamy_store_set_error(st,
                                        "%s: batch: the script cache was flushed or the "
                                        "slot moved during the batch",
                                        r->where);
                rc = STREAMY_ESTORE;
                goto out;
            }
    }
    for (i = 0; i < n; i++) {
        if (!did_not_run(r, reps[i]))
            continue;
        if (reps[i] != NULL)
            freeReplyObject(reps[i]);
        reps[i] = NULL;
        if ((rc = exec_cmd(r, slot[i], &cmds[i], X_SCRIPT | X_WAIT, &reps[i], "batch")) !=
            STREAMY_OK)
            goto out;
    }
    for (j = 0; j < r->n_nodes; j++)
        if (waits[j] != NULL &&
            (rc = check_wait(r, r->nodes[j], waits[j], "batch")) != STREAMY_OK)
            goto out;
    for (i = 0; i < n && rc >= 0; i++) {
        if (reps[i]->type == REDIS_REPLY_ERROR)
            rc = streamy__redis_reply_error(
                r, node[i] == NO_NODE ? r->where : r->nodes[node[i]]->where, reps[i],
                "batch");
        else
            rc = calls[i].result = read_answer(r, reps[i], calls[i].out, "batch");
    }
    if (rc > 0)
        rc = STREAMY_OK;
out:
    /* A pipeline that was written but not read would answer the next call: drop it. */
    for (j = 0; j < r->n_nodes && !drained; j++)
        if (used[j] == 1 && r->nodes[j]->c != NULL) {
            redisFree(r->nodes[j]->c);
            r->nodes[j]->c = NULL;
        }
    pthread_mutex_unlock(&r->lock);
    for (i = 0; i < n; i++)
        if (reps[i] != NULL)
            freeReplyObject(reps[i]);
    for (j = 0; j < NODES_MAX; j++)
        if (waits[j] != NULL)
            freeReplyObject(waits[j]);
    free(reps);
    free(cmds);
    free(node);
    free(slot);
    return rc;
}

/* Version 2: every decision, single or batch. */
static int redis_decide(streamy_store *st, streamy_store_call *calls, size_t n)
{
    redis_store *r = (redis_store *)st;

    return n == 1 ? decide_one(r, &calls[0]) : decide_batch(r, calls, n);
}

typedef struct lease_row {
    const char *stream;
    streamy_lease lease;
    char id[STREAMY_LEASE_ID_LEN + 1];
} lease_row;

static int by_since(const void *a, const void *b)
{
    const lease_row *x = a, *y = b;

    if (x->lease.since_ms != y->lease.since_ms)
        return x->lease.since_ms < y->lease.since_ms ? -1 : 1;
    return strcmp(x->stream, y->stream);
}

/* A reading script call (list, count): sending it twice is harmless. */
static int read_call(redis_store *r, char op, const streamy_store_req *req,
                     redisReply **rep, const char *what)
{
    rcmd c;
    int rc;

    if ((rc = build(&c, r, op, req, NULL)) != STREAMY_OK)
        return rc;
    pthread_mutex_lock(&r->lock);
    rc = exec_cmd(r, user_slot(r, c.leases), &c, X_SCRIPT | X_RESEND, rep, what);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

static int redis_list(streamy_store *st, const streamy_store_req *req,
                      streamy_lease_cb cb, void *payload)
{
    redis_store *r = (redis_store *)st;
    redisReply *rep = NULL;
    lease_row *rows = NULL;
    size_t n, i;
    int rc;

    if ((rc = read_call(r, OP_LIST, req, &rep, "list")) != STREAMY_OK)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 6 != 0) {
        rc = streamy__redis_bad_reply(r, "list");
        goto out;
    }
    n = rep->elements / 6;
    if (n > 0 && (rows = malloc(n * sizeof(*rows))) == NULL) {
        streamy_store_set_error(st, "%s: cannot allocate the list", r->where);
        rc = STREAMY_ENOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) {
        text id, dev;
        long long v[3];
        if (rep->element[6 * i]->type != REDIS_REPLY_STRING ||
            int_at(rep, 6 * i + 1, &v[0]) || int_at(rep, 6 * i + 2, &v[1]) ||
            int_at(rep, 6 * i + 3, &v[2]) ||
            text_at(&id, rep, 6 * i + 4, WIRE_ID_LEN, 1) != 0 ||
            text_at(&dev, rep, 6 * i + 5, STREAMY_DEVICE_MAX, 0) != 0 ||
            text_id(rows[i].id, id.str, id.len) != 0) {
            rc = streamy__redis_bad_reply(r, "list");
            goto out;
        }
        rows[i].stream = rep->element[6 * i]->str;
        rows[i].lease.stream = rows[i].stream;
        rows[i].lease.since_ms = v[0];
        rows[i].lease.renewed_ms = v[1];
        rows[i].lease.expires_ms = v[2];
        rows[i].lease.device = dev.str; /* hiredis ends every string with a NUL */
    }
    if (n > 1)
        qsort(rows, n, sizeof(*rows), by_since);
    for (i = 0; i < n; i++) {
        rows[i].lease.lease_id = rows[i].id; /* the row's own, now it has moved */
        if (cb(&rows[i].lease, payload) != 0)
            break;
    }
out:
    free(rows);
    freeReplyObject(rep);
    return rc;
}

static int redis_count(streamy_store *st, const streamy_store_req *req, unsigned int *out)
{
    redis_store *r = (redis_store *)st;
    redisReply *rep = NULL;
    int rc;

    if ((rc = read_call(r, OP_COUNT, req, &rep, "count")) != STREAMY_OK)
        return rc;
    if (rep->type != REDIS_REPLY_INTEGER || rep->integer < 0)
        rc = streamy__redis_bad_reply(r, "count");
    else
        *out = (unsigned int)rep->integer;
    freeReplyObject(rep);
    return rc;
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
    if ((rc = plain(r, key, 3, argv, X_WAIT, &rep, "set limit")) == STREAMY_OK)
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
    if ((rc = plain(r, key, 2, argv, X_WAIT, &rep, "clear limit")) == STREAMY_OK)
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
    if ((rc = plain(r, key, 2, argv, 0, &rep, "read limit")) != STREAMY_OK)
        return rc;
    *found = 0;
    if (rep->type == REDIS_REPLY_STRING &&
        streamy__parse_uint(&v, rep->str, STREAMY_LIMIT_MAX) == STREAMY_OK) {
        *found = 1;
        *limit = (unsigned int)v;
    } else if (rep->type != REDIS_REPLY_NIL) {
        rc = streamy__redis_bad_reply(r, "read limit");
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

/* Add an answer of the purge script to `*total`. A redirection means the key left this
 * node between SCAN and the script (a resharding): its new node purges it. */
static int purge_count(redis_store *r, const rnode *n, const redisReply *rep,
                       uint64_t *total)
{
    if (did_not_run(r, rep) && !is_noscript(rep))
        return STREAMY_OK;
    if (rep->type == REDIS_REPLY_ERROR)
        return streamy__redis_reply_error(r, n->where, rep, "purge");
    if (rep->type != REDIS_REPLY_INTEGER || rep->integer < 0)
        return streamy__redis_bad_reply(r, "purge");
    *total += (uint64_t)rep->integer;
    return STREAMY_OK;
}

/* Drop the expired leases of each key of a SCAN page, one pipeline for the page. A
 * NOSCRIPT answer means that key's script did not run: it runs again as EVAL (dropping
 * expired leases is the same whether done once or twice). */
static int purge_page(redis_store *r, rnode *n, const redisReply *keys, const char *now,
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
            return streamy__redis_bad_reply(r, "purge");
        if (redisAppendCommandArgv(n->c, 6, a, l) != REDIS_OK)
            return streamy__redis_conn_error(r, n, "purge");
    }
    for (i = 0; i < keys->elements; i++) {
        redisReply *rep;
        if (redisGetReply(n->c, (void **)&rep) != REDIS_OK || rep == NULL) {
            free(again);
            return streamy__redis_conn_error(r, n, "purge");
        }
        if (is_noscript(rep)) {
            if (again == NULL && (again = calloc(keys->elements, 1)) == NULL)
                rc = STREAMY_ENOMEM;
            else
                again[i] = 1;
        } else if (rc == STREAMY_OK) {
            rc = purge_count(r, n, rep, total);
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
        if ((rep = redisCommandArgv(n->c, 6, a, l)) == NULL) {
            rc = streamy__redis_conn_error(r, n, "purge");
            break;
        }
        rc = purge_count(r, n, rep, total);
        freeReplyObject(rep);
    }
    free(again);
    if (rc == STREAMY_ENOMEM)
        streamy_store_set_error(&r->base, "%s: purge: out of memory", r->where);
    return rc;
}

/* SCAN one node's keys of this prefix and drop each user's expired leases with the
 * script; then WAIT for the replicas, when asked. Purging twice is harmless, so a lost
 * connection is retried once, from the start. */
static int purge_node(redis_store *r, rnode *n, const char *now, uint64_t *removed)
{
    char pattern[2 * PREFIX_MAX + 32], cursor[32];
    const char *argv[6] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
    uint64_t total = 0;
    int rc = STREAMY_OK, tries = 0;

    scan_pattern(pattern, sizeof(pattern), r);
again:
    total = 0;
    strcpy(cursor, "0");
    do {
        redisReply *page;

        if ((rc = streamy__redis_ensure_conn(r, n)) != STREAMY_OK)
            break;
        if ((page = redisCommandArgv(n->c, 6, argv, NULL)) == NULL) {
            rc = streamy__redis_conn_error(r, n, "purge");
            break;
        }
        if (page->type == REDIS_REPLY_ERROR)
            rc = streamy__redis_reply_error(r, n->where, page, "purge");
        else if (page->type != REDIS_REPLY_ARRAY || page->elements != 2 ||
                 page->element[0]->type != REDIS_REPLY_STRING ||
                 page->element[0]->len >= sizeof(cursor) ||
                 page->element[1]->type != REDIS_REPLY_ARRAY)
            rc = streamy__redis_bad_reply(r, "purge");
        else {
            memcpy(cursor, page->element[0]->str, page->element[0]->len + 1);
            rc = purge_page(r, n, page->element[1], now, &total);
        }
        freeReplyObject(page);
    } while (rc == STREAMY_OK && strcmp(cursor, "0") != 0);
    if (rc == STREAMY_ESTORE && n->c == NULL && tries++ == 0)
        goto again;
    if (rc == STREAMY_OK && r->wait > 0) {
        redisReply *w;
        append_wait(r, n);
        if (redisGetReply(n->c, (void **)&w) != REDIS_OK || w == NULL)
            return streamy__redis_conn_error(r, n, "purge");
        rc = check_wait(r, n, w, "purge");
        freeReplyObject(w);
    }
    if (rc == STREAMY_OK)
        *removed += total;
    return rc;
}

/* Purge covers every primary of a cluster (the map read again first). */
static int redis_purge(streamy_store *st, const streamy_store_req *req, uint64_t *removed)
{
    redis_store *r = (redis_store *)st;
    unsigned char used[NODES_MAX];
    char now[24];
    uint64_t total = 0;
    int rc = STREAMY_OK;

    snprintf(now, sizeof(now), "%lld",
             req->injected_clock ? (long long)req->now_ms : -1LL);
    pthread_mutex_lock(&r->lock);
    if (r->cluster && (rc = streamy__redis_refresh_map(r)) != STREAMY_OK)
        goto out;
    streamy__redis_primaries(r, used);
    for (size_t j = 0; j < r->n_nodes && rc == STREAMY_OK; j++)
        if (used[j])
            rc = purge_node(r, r->nodes[j], now, &total);
out:
    pthread_mutex_unlock(&r->lock);
    if (rc == STREAMY_OK)
        *removed = total;
    return rc;
}

/* PING one node; a lost connection is tried once more. */
static int ping(redis_store *r, rnode *n)
{
    const char *argv[1] = {"PING"};
    redisReply *rep = NULL;
    int rc;

    for (int tries = 0;; tries++) {
        if ((rc = streamy__redis_ensure_conn(r, n)) != STREAMY_OK)
            return rc;
        if ((rep = redisCommandArgv(n->c, 1, argv, NULL)) != NULL)
            break;
        rc = streamy__redis_conn_error(r, n, "health check");
        if (tries > 0)
            return rc;
    }
    if (rep->type == REDIS_REPLY_ERROR)
        rc = streamy__redis_reply_error(r, n->where, rep, "health check");
    else if (rep->type != REDIS_REPLY_STATUS || strcmp(rep->str, "PONG") != 0)
        rc = streamy__redis_bad_reply(r, "health check");
    freeReplyObject(rep);
    return rc;
}

/* Healthy when every primary answers (a cluster: with the map read again, so that a
 * promoted replica is asked, not the primary it replaced). */
static int redis_health(streamy_store *st)
{
    redis_store *r = (redis_store *)st;
    unsigned char used[NODES_MAX];
    int rc = STREAMY_OK;

    pthread_mutex_lock(&r->lock);
    if (r->cluster && (rc = streamy__redis_refresh_map(r)) != STREAMY_OK)
        goto out;
    streamy__redis_primaries(r, used);
    for (size_t j = 0; j < r->n_nodes && rc == STREAMY_OK; j++)
        if (used[j])
            rc = ping(r, r->nodes[j]);
    if (rc == STREAMY_OK && r->cluster) {
        for (size_t s = 0; s < CLUSTER_SLOTS && rc == STREAMY_OK; s++)
            if (r->slots[s] == NO_NODE) {
                streamy_store_set_error(st, "%s: health check: no node serves slot %zu",
                                        r->where, s);
                rc = STREAMY_ESTORE;
            }
    }
out:
    pthread_mutex_unlock(&r->lock);
    return rc;
}

static void redis_free(streamy_store *st)
{
    redis_store *r = (redis_store *)st;

    for (size_t i = 0; i < r->n_nodes; i++) {
        if (r->nodes[i]->c != NULL)
            redisFree(r->nodes[i]->c);
        free(r->nodes[i]->host);
        free(r->nodes[i]);
    }
    free(r->slots);
    pthread_mutex_destroy(&r->lock);
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

/* The query string: prefix=, connect_timeout=, timeout=, wait=, and for unix:// db=,
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
        } else if (KEY_IS("wait")) {
            unsigned long long w;
            if (streamy__parse_uint(&w, val, WAIT_MAX) != STREAMY_OK)
                rc = streamy__error(STREAMY_EINVAL,
                                    "redis URI parameter wait=\"%.32s\" is not a number "
                                    "of replicas from 0 to %d",
                                    val, WAIT_MAX);
            else
                r->wait = (int)w;
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
                                "connect_timeout, timeout, wait%s)",
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

/* Add a seed node from host[:port] (an IPv6 host in brackets). */
static int parse_seed(redis_store *r, const char *p, const char *end)
{
    const char *hostend, *portstart = NULL;
    unsigned long long v;
    rnode *n;

    if (r->n_nodes == NODES_MAX)
        return streamy__error(STREAMY_EINVAL, "redis URI lists more than %d hosts",
                              NODES_MAX);
    if ((n = calloc(1, sizeof(*n))) == NULL)
        return nomem();
    r->nodes[r->n_nodes++] = n;
    r->n_seeds = r->n_nodes;
    n->port = 6379;
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (close == NULL || close == p + 1)
            return streamy__error(
                STREAMY_EINVAL, "redis URI host \"%.*s\" is not a bracketed IPv6 address",
                (int)(end - p), p);
        n->host = strndup(p + 1, (size_t)(close - p - 1));
        hostend = close + 1;
        if (hostend < end && *hostend != ':')
            return streamy__error(STREAMY_EINVAL,
                                  "redis URI has \"%.*s\" after the IPv6 address",
                                  (int)(end - hostend), hostend);
    } else {
        hostend = memchr(p, ':', (size_t)(end - p));
        if (hostend == NULL)
            hostend = end;
        n->host = strndup(p, (size_t)(hostend - p));
    }
    if (n->host == NULL)
        return nomem();
    if (n->host[0] == '\0')
        return streamy__error(STREAMY_EINVAL,
                              r->n_seeds > 1 ? "redis URI host %zu of the list is empty "
                                               "(use redis://HOST:PORT,HOST:PORT)"
                                             : "redis URI has no host (use "
                                               "redis://HOST[:PORT][/DB])",
                              r->n_seeds);
    if (hostend < end && *hostend == ':') {
        char port[8];
        size_t plen;
        portstart = hostend + 1;
        plen = (size_t)(end - portstart);
        if (plen == 0 || plen >= sizeof(port))
            goto bad_port;
        memcpy(port, portstart, plen);
        port[plen] = '\0';
        if (streamy__parse_uint(&v, port, 65535) != STREAMY_OK || v == 0)
            goto bad_port;
        n->port = (int)v;
    }
    streamy__redis_node_where(n, NULL);
    return STREAMY_OK;
bad_port:
    return streamy__error(
        STREAMY_EINVAL,
        "redis URI port \"%.*s\" of host \"%.*s\" is not a number from 1 to 65535",
        (int)((size_t)(end - portstart) > 16 ? 16 : (size_t)(end - portstart)), portstart,
        (int)(hostend - p > 64 ? 64 : hostend - p), p);
}

/* redis://[[user]:pass@]host[:port][,host[:port]...][/db][?params]: several hosts are
 * seeds of one Redis Cluster. */
static int parse_tcp(redis_store *r, const char *uri)
{
    const char *p = uri + 8, *end, *at, *q = strchr(p, '?');
    unsigned long long v;
    int rc;

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
        for (;;) {
            const char *comma = memchr(p, ',', (size_t)(auth_end - p));
            if ((rc = parse_seed(r, p, comma ? comma : auth_end)) != STREAMY_OK)
                return rc;
            if (comma == NULL)
                break;
            p = comma + 1;
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
    if ((r->nodes[0] = calloc(1, sizeof(*r->nodes[0]))) == NULL)
        return nomem();
    r->n_nodes = r->n_seeds = 1;
    streamy__redis_node_where(r->nodes[0], r->path);
    if (q != NULL)
        return parse_query(r, q + 1, 1);
    return STREAMY_OK;
}

/* Find out what the URI's hosts are: the first that answers says whether it is a Redis
 * Cluster node. A single Redis is the store's one node, as always; a cluster's slot map
 * is read, and the seeds stay in the table as places to read it again. */
static int open_nodes(redis_store *r)
{
    char tried[512] = "";
    size_t o = 0;
    int rc = STREAMY_ESTORE;

    for (size_t i = 0; i < r->n_seeds; i++) {
        rnode *n = r->nodes[i];
        redisReply *rep;
        int enabled;

        if ((rc = node_connect(r, n)) != STREAMY_OK) {
            if (r->n_seeds == 1 || rc == STREAMY_ENOMEM)
                return rc;
            o += (size_t)snprintf(tried + o, o < sizeof(tried) ? sizeof(tried) - o : 0,
                                  "%s%s", o ? ", " : "", n->where + 6);
            if (o >= sizeof(tried))
                o = sizeof(tried) - 1;
            continue;
        }
        rep = redisCommand(n->c, "INFO cluster");
        if (rep == NULL)
            return streamy__redis_conn_error(r, n, "INFO cluster");
        enabled = rep->type == REDIS_REPLY_STRING &&
                  strstr(rep->str, "cluster_enabled:1") != NULL;
        freeReplyObject(rep);
        if (!enabled) {
            if (r->n_seeds > 1)
                return streamy__error(STREAMY_EINVAL,
                                      "redis URI lists %zu hosts, but %s is not a Redis "
                                      "Cluster node (cluster_enabled:0): name one host "
                                      "for a single Redis",
                                      r->n_seeds, n->where + 6);
            snprintf(r->where, sizeof(r->where), "%s", n->where);
            return node_prepare(r, n);
        }
        if (r->db != 0)
            return streamy__error(STREAMY_EINVAL,
                                  "redis URI database %ld: %s is a Redis Cluster node, "
                                  "and a cluster has only database 0",
                                  r->db, n->where + 6);
        r->cluster = 1;
        o = (size_t)snprintf(r->where, sizeof(r->where), "redis cluster");
        for (size_t j = 0; j < r->n_seeds && o < sizeof(r->where); j++)
            o += (size_t)snprintf(r->where + o, sizeof(r->where) - o, "%s%s",
                                  j ? "," : " ", r->nodes[j]->where + 6);
        if ((r->slots = malloc(CLUSTER_SLOTS * sizeof(*r->slots))) == NULL)
            return nomem();
        for (size_t s = 0; s < CLUSTER_SLOTS; s++)
            r->slots[s] = NO_NODE;
        if ((rc = node_prepare(r, n)) != STREAMY_OK)
            return rc;
        return streamy__redis_read_map(r, n);
    }
    streamy_store_set_error(&r->base, "redis: cannot connect to any of the %zu hosts: %s",
                            r->n_seeds, tried);
    return STREAMY_ESTORE;
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
    r->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    r->timeout_ms = DEFAULT_TIMEOUT_MS;
    rc = strncmp(uri, "unix://", 7) == 0 ? parse_unix(r, uri) : parse_tcp(r, uri);
    if (rc != STREAMY_OK)
        goto fail;
    if (r->user != NULL && r->pass == NULL) {
        rc = streamy__error(STREAMY_EINVAL, "redis URI gives a user without a password");
        goto fail;
    }
    if ((rc = open_nodes(r)) != STREAMY_OK)
        goto fail;
    r->base.list = redis_list;
    r->base.count = redis_count;
    r->base.set_limit = redis_set_limit;
    r->base.clear_limit = redis_clear_limit;
    r->base.get_limit = redis_get_limit;
    r->base.purge = redis_purge;
    r->base.health = redis_health;
    r->base.decide = redis_decide;
    *out = &r->base;
    return STREAMY_OK;
fail:
    redis_free(&r->base);
    return rc;
}
