/* SPDX-License-Identifier: MIT */
/* http.c: the HTTP API of the original service, over libmicrohttpd and jansson. */
#include "serve_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

/* The original service's words, byte for byte. */
#define MSG_LIMIT "You've reached the maximum number of concurrent video streams"
/* Marks an answer given without the store (--on-store-error allow). */
#define HEADER_DEGRADED "X-Streamy-Degraded"
#define DEGRADED_STORE "store-unavailable"

typedef struct request {
    serve_route route;
    const char *method, *url; /* MHD's, valid until the request completes */
    const char *allow;        /* for a 405 */
    int64_t start_us;
    streamy__buf body;
    int responded; /* a response was queued */
    int too_large; /* the body passed --max-body: the rest is read and dropped */
    int late;      /* began after shutdown started: refused */
    size_t dropped;
    int suspended;                 /* waiting for the group commit */
    int rich;                      /* Accept asked for SERVE_TYPE_RICH */
    unsigned int status;           /* for the metrics and the log */
    char user[STREAMY_ID_MAX + 2]; /* from the path; one byte more to tell "too long" */
    serve_pending pending;
    char error[SERVE_ERROR_SIZE]; /* the store's words, when it failed */
} request;

/* --- responses ---------------------------------------------------------------------- */

static enum MHD_Result send_response(request *r, struct MHD_Connection *conn,
                                     unsigned int status, char *body, size_t len,
                                     const char *type, const char *const *headers)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    if (type != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    for (; headers != NULL && headers[0] != NULL; headers += 2)
        MHD_add_response_header(resp, headers[0], headers[1]);
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    r->responded = 1;
    r->status = status;
    return ret;
}

/* A JSON document of media type `type`, dumped compactly in key order: the bodies
 * are a contract. */
static enum MHD_Result send_typed(request *r, struct MHD_Connection *conn,
                                  unsigned int status, json_t *doc, const char *type,
                                  const char *const *headers)
{
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;

    json_decref(doc);
    if (body == NULL)
        return MHD_NO;
    return send_response(r, conn, status, body, strlen(body), type, headers);
}

static enum MHD_Result send_json(request *r, struct MHD_Connection *conn,
                                 unsigned int status, json_t *doc,
                                 const char *const *headers)
{
    return send_typed(r, conn, status, doc, "application/json", headers);
}

static enum MHD_Result send_error(request *r, struct MHD_Connection *conn,
                                  unsigned int status, const char *msg,
                                  const char *const *headers)
{
    return send_json(r, conn, status,
                     json_pack("{s:i, s:s}", "status", (int)status, "error", msg),
                     headers);
}

static enum MHD_Result send_empty(request *r, struct MHD_Connection *conn,
                                  unsigned int status)
{
    return send_response(r, conn, status, NULL, 0, NULL, NULL);
}

/* A store that failed: 503 with Retry-After; never an answer it did not record. */
static enum MHD_Result send_store_error(serve_server *s, request *r,
                                        struct MHD_Connection *conn, int rc,
                                        const char *detail)
{
    static const char *const retry[] = {MHD_HTTP_HEADER_RETRY_AFTER, "1", NULL};

    serve_metrics_store_error(&s->metrics, rc);
    serve_log_event(&s->log, "error", streamy_strerror(rc), detail);
    if (rc == STREAMY_EINVAL)
        return send_error(r, conn, MHD_HTTP_BAD_REQUEST, detail, NULL);
    return send_error(r, conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                      rc == STREAMY_EBUSY ? "store busy, retry later"
                                          : "store unavailable, retry later",
                      retry);
}

/* --- routing --------------------------------------------------------------------------
 */

static int is_get(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* `/users/{userId}/<suffix>`: the user is everything between, so an id may hold
 * an (escaped) slash. */
static int user_path(char *user, const char *url, const char *suffix)
{
    size_t len = strlen(url), slen = strlen(suffix), ulen;

    if (strncmp(url, "/users/", 7) != 0 || len <= 7 + slen ||
        strcmp(url + len - slen, suffix) != 0)
        return 0;
    ulen = len - 7 - slen;
    if (ulen > STREAMY_ID_MAX + 1)
        ulen = STREAMY_ID_MAX + 1; /* still too long: the library refuses it */
    memcpy(user, url + 7, ulen);
    user[ulen] = '\0';
    return 1;
}

static serve_route route_of(request *r, const char *url, const char *method)
{
    if (strcmp(url, "/video-streams/subscription") == 0) {
        r->allow = "POST, DELETE";
        if (strcmp(method, "POST") == 0)
            return ROUTE_SUBSCRIBE;
        if (strcmp(method, "DELETE") == 0)
            return ROUTE_UNSUBSCRIBE;
    } else if (strcmp(url, "/video-streams/subscription/renew") == 0) {
        r->allow = "POST";
        if (strcmp(method, "POST") == 0)
            return ROUTE_RENEW;
    } else if (strcmp(url, "/health") == 0) {
        r->allow = "GET, HEAD";
        if (is_get(method))
            return ROUTE_HEALTH;
    } else if (strcmp(url, "/metrics") == 0) {
        r->allow = "GET, HEAD";
        if (is_get(method))
            return ROUTE_METRICS;
    } else if (user_path(r->user, url, "/video-streams")) {
        r->allow = "GET, HEAD";
        if (is_get(method))
            return ROUTE_LEASES;
    } else if (user_path(r->user, url, "/limit")) {
        r->allow = "GET, HEAD, PUT, DELETE";
        if (is_get(method))
            return ROUTE_LIMIT_GET;
        if (strcmp(method, "PUT") == 0)
            return ROUTE_LIMIT_PUT;
        if (strcmp(method, "DELETE") == 0)
            return ROUTE_LIMIT_DELETE;
    }
    return ROUTE_OTHER;
}

/* --- request bodies ------------------------------------------------------------------
 */

static int takes_body(serve_route route)
{
    return route == ROUTE_SUBSCRIBE || route == ROUTE_UNSUBSCRIBE ||
           route == ROUTE_RENEW || route == ROUTE_LIMIT_PUT;
}

/* `application/json` or a `+json` type, in any case, with or without parameters. A
 * body of any other type is not read as JSON: a browser may send text/plain or a form
 * across origins without asking first, and such a request must decide nothing. */
static int is_json_type(const char *type)
{
    size_t n, slash;

    if (type == NULL)
        return 0;
    type += strspn(type, " \t");
    n = strcspn(type, ";");
    while (n > 0 && (type[n - 1] == ' ' || type[n - 1] == '\t'))
        n--;
    slash = strcspn(type, "/");
    if (slash == 0 || slash + 1 >= n)
        return 0;
    if (n == 16 && strncasecmp(type, "application/json", 16) == 0)
        return 1;
    return n - slash - 1 > 5 && strncasecmp(type + n - 5, "+json", 5) == 0;
}

/* --- the bearer token ------------------------------------------------------------------
 */

/* Compare in time that depends only on the expected token's length. */
static int token_matches(const serve_server *s, const char *given)
{
    size_t glen = given ? strlen(given) : 0, i;
    volatile unsigned char diff = (unsigned char)(glen != s->token_len);

    for (i = 0; i < s->token_len; i++)
        diff |= (unsigned char)(s->token[i] ^ (i < glen ? given[i] : 0));
    return given != NULL && diff == 0;
}

static int authorized(const serve_server *s, struct MHD_Connection *conn)
{
    const char *auth;

    if (s->token == NULL)
        return 1;
    auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
        return token_matches(s, NULL);
    return token_matches(s, auth + 7);
}

/* --- request bodies
 * ---------------------------------------------------------------------- */

/* Parse the body as a JSON object (an empty body is an empty object, as in the
 * original service). On failure, the 400 has been sent and NULL is returned. */
static json_t *parse_body(request *r, struct MHD_Connection *conn, enum MHD_Result *ret)
{
    json_error_t err;
    json_t *doc;
    char msg[256];

    if (r->body.len == 0)
        return json_object();
    /* JSON text holds no raw NUL byte (RFC 8259), yet jansson skips one after a number.
     */
    if (memchr(r->body.p, '\0', r->body.len) != NULL) {
        *ret =
            send_error(r, conn, MHD_HTTP_BAD_REQUEST, "malformed JSON: a NUL byte", NULL);
        return NULL;
    }
    doc = json_loadb(r->body.p, r->body.len,
                     JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (doc == NULL) {
        snprintf(msg, sizeof(msg), "malformed JSON: %s", err.text);
        *ret = send_error(r, conn, MHD_HTTP_BAD_REQUEST, msg, NULL);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        *ret = send_error(r, conn, MHD_HTTP_BAD_REQUEST, "the body must be a JSON object",
                          NULL);
        return NULL;
    }
    return doc;
}

/* A required string field, checked as the original service did; then the
 * library's own checks, which canonicalise it into `out`. */
static int string_field(serve_server *s, request *r, struct MHD_Connection *conn,
                        json_t *doc, const char *name, const char *what, char *out,
                        enum MHD_Result *ret)
{
    json_t *v = json_object_get(doc, name);
    char msg[320];
    const char *text;

    if (v == NULL) {
        snprintf(msg, sizeof(msg), "\"%s\" is required", name);
        *ret = send_error(r, conn, MHD_HTTP_BAD_REQUEST, msg, NULL);
        return 0;
    }
    if (!json_is_string(v)) {
        snprintf(msg, sizeof(msg), "\"%s\" must be a string", name);
        *ret = send_error(r, conn, MHD_HTTP_BAD_REQUEST, msg, NULL);
        return 0;
    }
    text = json_string_value(v);
    if (strlen(text) != json_string_length(v)) {
        snprintf(msg, sizeof(msg), "%s id contains a control character (NUL)", what);
        *ret = send_error(r, conn, MHD_HTTP_BAD_REQUEST, msg, NULL);
        return 0;
    }
    if (streamy_normalize_id(out, STREAMY_ID_MAX + 1, s->h, what, text) != STREAMY_OK) {
        *ret = send_error(r, conn, MHD_HTTP_BAD_REQUEST, streamy_errmsg(s->h), NULL);
        return 0;
    }
    return 1;
}

/* --- the decisions: queued for the group commit
 * ------------------------------------------ */

static enum MHD_Result start_decision(serve_server *s, request *r,
                                      struct MHD_Connection *conn, streamy_op_kind kind)
{
    enum MHD_Result ret = MHD_NO;
    serve_pending *p = &r->pending;
    json_t *doc = parse_body(r, conn, &ret);
    char msg[128];
    int ok;

    if (doc == NULL)
        return ret;
    if (!string_field(s, r, conn, doc, "userId", "user", p->user, &ret) ||
        !string_field(s, r, conn, doc, "videoStreamId", "stream", p->stream, &ret)) {
        json_decref(doc);
        return ret;
    }
    ok = serve_session_fields(p, doc, kind, msg, sizeof(msg));
    json_decref(doc);
    if (!ok)
        return send_error(r, conn, MHD_HTTP_BAD_REQUEST, msg, NULL);
    streamy_answer_init(&p->answer, STREAMY_CALL_VERSION);
    memset(&p->op, 0, sizeof(p->op));
    p->op.kind = kind;
    p->op.call = &p->call;
    p->op.answer = &p->answer;
    p->conn = conn;
    p->error = r->error;
    r->rich = kind != STREAMY_OP_UNSUBSCRIBE && serve_wants_rich(conn);
    r->suspended = 1;
    /* Suspend before queueing, so the resume can never come first. */
    MHD_suspend_connection(conn);
    serve_group_commit_submit(&s->group_commit, p);
    return MHD_YES;
}

/* The richer 429: the original body, the limit, and the user's leases as listed just
 * after the refusal. */
static enum MHD_Result send_refusal(serve_server *s, request *r,
                                    struct MHD_Connection *conn,
                                    const char *const *headers)
{
    const streamy_decision *d = &r->pending.answer.decision;
    json_t *leases = json_array();
    int rc;

    if (leases == NULL)
        return MHD_NO;
    rc = streamy_list(s->h, r->pending.user, serve_add_active, leases);
    if (rc != STREAMY_OK) {
        json_decref(leases);
        return send_store_error(s, r, conn, rc, streamy_errmsg(s->h));
    }
    return send_typed(r, conn, MHD_HTTP_TOO_MANY_REQUESTS,
                      json_pack("{s:i, s:s, s:i, s:i, s:o}", "status", 429, "error",
                                MSG_LIMIT, "limit", (int)d->limit, "active",
                                (int)d->active, "activeLeases", leases),
                      SERVE_TYPE_RICH, headers);
}

static enum MHD_Result finish_decision(serve_server *s, request *r,
                                       struct MHD_Connection *conn)
{
    const serve_pending *p = &r->pending;
    const streamy_answer *a = &p->answer;
    const streamy_decision *d = &a->decision;
    char limit[16], active[16], retry[24];
    const char *headers[20];
    json_t *data;
    int n = 0, rc = p->op.result;

    /* Inputs that this store cannot honour (a device label or a lease id for a store
     * that keeps none): the request's fault, nothing was decided. */
    if (rc < 0 && p->refused && (rc == STREAMY_EINVAL || rc == STREAMY_EUNSUPPORTED))
        return send_error(r, conn, MHD_HTTP_BAD_REQUEST, r->error, NULL);
    if (rc < 0)
        return send_store_error(s, r, conn, rc,
                                r->error[0] ? r->error : streamy_strerror(rc));
    switch (p->op.kind) {
    case STREAMY_OP_SUBSCRIBE:
        snprintf(limit, sizeof(limit), "%u", d->limit);
        snprintf(active, sizeof(active), "%u", d->active);
        headers[n++] = "X-Streamy-Limit";
        headers[n++] = limit;
        headers[n++] = "X-Streamy-Active";
        headers[n++] = active;
        headers[n++] = MHD_HTTP_HEADER_VARY;
        headers[n++] = MHD_HTTP_HEADER_ACCEPT;
        if (rc == STREAMY_LIMIT_REACHED) {
            if (d->retry_ms > 0) {
                int64_t wait_ms = d->retry_ms - streamy__now_ms();
                snprintf(retry, sizeof(retry), "%lld",
                         (long long)(wait_ms <= 0 ? 1 : (wait_ms + 999) / 1000));
                headers[n++] = MHD_HTTP_HEADER_RETRY_AFTER;
                headers[n++] = retry;
            }
            headers[n] = NULL;
            if (r->rich)
                return send_refusal(s, r, conn, headers);
            return send_error(r, conn, MHD_HTTP_TOO_MANY_REQUESTS, MSG_LIMIT, headers);
        }
        if (d->evicted[0]) {
            headers[n++] = "X-Streamy-Evicted";
            headers[n++] = d->evicted;
        }
        if (d->shadow_refused) {
            headers[n++] = "X-Streamy-Shadow";
            headers[n++] = "would-refuse";
        }
        break;
    case STREAMY_OP_UNSUBSCRIBE:
        headers[n++] = "X-Streamy-Removed";
        headers[n++] = d->removed ? "true" : "false";
        if (a->stale) {
            headers[n++] = "X-Streamy-Lease-Stale";
            headers[n++] = "true";
        }
        headers[n] = NULL;
        return send_response(r, conn, MHD_HTTP_NO_CONTENT, NULL, 0, NULL, headers);
    case STREAMY_OP_RENEW:
        if (rc == STREAMY_NOT_FOUND) {
            if (a->stale) {
                headers[n++] = "X-Streamy-Lease-Stale";
                headers[n++] = "true";
            }
            headers[n] = NULL;
            return send_error(r, conn, MHD_HTTP_NOT_FOUND,
                              "no active lease for this stream; subscribe again",
                              headers);
        }
        headers[n++] = MHD_HTTP_HEADER_VARY;
        headers[n++] = MHD_HTTP_HEADER_ACCEPT;
        break;
    default:
        return send_error(r, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "unknown operation",
                          NULL);
    }
    /* An answer of subscribe or renew: allowed, renewed, or degraded. */
    if (d->degraded) {
        headers[n++] = HEADER_DEGRADED;
        headers[n++] = DEGRADED_STORE;
    }
    if (a->lease_id[0]) {
        headers[n++] = "X-Streamy-Lease";
        headers[n++] = a->lease_id;
    }
    headers[n] = NULL;
    if (p->op.kind == STREAMY_OP_SUBSCRIBE)
        data = json_pack("{s:s, s:s}", "userId", p->user, "videoStreamId", p->stream);
    else
        data = json_pack("{s:s, s:s, s:o}", "userId", p->user, "videoStreamId", p->stream,
                         "expiresAt",
                         d->expires_ms ? json_integer(d->expires_ms) : json_null());
    if (r->rich)
        return send_typed(r, conn, MHD_HTTP_OK, serve_rich_ok(p, data), SERVE_TYPE_RICH,
                          headers);
    return send_json(r, conn, MHD_HTTP_OK,
                     json_pack("{s:i, s:o}", "status", 200, "data", data), headers);
}

/* --- the other routes: answered on the spot
 * --------------------------------------------- */

static int add_lease(const streamy_lease *lease, void *payload)
{
    json_t *o = json_pack(
        "{s:s, s:I, s:I, s:o, s:o, s:o}", "videoStreamId", lease->stream, "since",
        (json_int_t)lease->since_ms, "renewedAt", (json_int_t)lease->renewed_ms,
        "expiresAt", lease->expires_ms ? json_integer(lease->expires_ms) : json_null(),
        "leaseId",
        lease->lease_id && lease->lease_id[0] ? json_string(lease->lease_id)
                                              : json_null(),
        "device",
        lease->device && lease->device[0] ? json_string(lease->device) : json_null());
    return o == NULL || json_array_append_new(payload, o) != 0;
}

static enum MHD_Result path_user(serve_server *s, request *r, struct MHD_Connection *conn,
                                 char *canon, int *ok)
{
    *ok = streamy_normalize_id(canon, STREAMY_ID_MAX + 1, s->h, "user", r->user) == 0;
    return *ok ? MHD_YES
               : send_error(r, conn, MHD_HTTP_BAD_REQUEST, streamy_errmsg(s->h), NULL);
}

static enum MHD_Result send_limit(serve_server *s, request *r,
                                  struct MHD_Connection *conn, const char *user)
{
    unsigned int limit = 0;
    int over = 0, rc = streamy_get_limit(&limit, &over, s->h, user);

    if (rc != STREAMY_OK)
        return send_store_error(s, r, conn, rc, streamy_errmsg(s->h));
    return send_json(r, conn, MHD_HTTP_OK,
                     json_pack("{s:i, s:{s:s, s:i, s:b}}", "status", 200, "data",
                               "userId", user, "limit", (int)limit, "override", over),
                     NULL);
}

static enum MHD_Result user_route(serve_server *s, request *r,
                                  struct MHD_Connection *conn)
{
    char user[STREAMY_ID_MAX + 1];
    enum MHD_Result ret;
    json_t *doc, *leases, *v;
    unsigned int limit = 0;
    int rc, ok;

    ret = path_user(s, r, conn, user, &ok);
    if (!ok)
        return ret;
    switch (r->route) {
    case ROUTE_LEASES:
        leases = json_array();
        if (leases == NULL)
            return MHD_NO;
        rc = streamy_list(s->h, user, add_lease, leases);
        if (rc == STREAMY_OK)
            rc = streamy_get_limit(&limit, NULL, s->h, user);
        if (rc != STREAMY_OK) {
            json_decref(leases);
            return send_store_error(s, r, conn, rc, streamy_errmsg(s->h));
        }
        return send_json(r, conn, MHD_HTTP_OK,
                         json_pack("{s:i, s:{s:s, s:i, s:i, s:o}}", "status", 200, "data",
                                   "userId", user, "limit", (int)limit, "count",
                                   (int)json_array_size(leases), "leases", leases),
                         NULL);
    case ROUTE_LIMIT_GET:
        return send_limit(s, r, conn, user);
    case ROUTE_LIMIT_PUT:
        if ((doc = parse_body(r, conn, &ret)) == NULL)
            return ret;
        v = json_object_get(doc, "limit");
        if (v == NULL || !json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > STREAMY_LIMIT_MAX) {
            json_decref(doc);
            return send_error(r, conn, MHD_HTTP_BAD_REQUEST,
                              v == NULL ? "\"limit\" is required"
                                        : "\"limit\" must be an integer from 0 to 100000",
                              NULL);
        }
        rc = streamy_set_limit(s->h, user, (unsigned int)json_integer_value(v));
        json_decref(doc);
        if (rc != STREAMY_OK)
            return send_store_error(s, r, conn, rc, streamy_errmsg(s->h));
        return send_limit(s, r, conn, user);
    case ROUTE_LIMIT_DELETE:
        if ((rc = streamy_clear_limit(s->h, user)) != STREAMY_OK)
            return send_store_error(s, r, conn, rc, streamy_errmsg(s->h));
        return send_empty(r, conn, MHD_HTTP_NO_CONTENT);
    default:
        break;
    }
    return send_error(r, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "unknown route", NULL);
}

static enum MHD_Result health(serve_server *s, request *r, struct MHD_Connection *conn)
{
    static const char *const retry[] = {MHD_HTTP_HEADER_RETRY_AFTER, "1", NULL};
    int rc = streamy_health(s->h);

    if (rc != STREAMY_OK) {
        serve_log_event(&s->log, "error", "health check failed", streamy_errmsg(s->h));
        return send_json(r, conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                         json_pack("{s:i, s:s, s:s}", "status", 503, "error",
                                   "store unavailable", "store",
                                   streamy_store_name(s->h)),
                         retry);
    }
    return send_json(r, conn, MHD_HTTP_OK,
                     json_pack("{s:i, s:{s:s, s:s}}", "status", 200, "data", "status",
                               "ok", "store", streamy_store_name(s->h)),
                     NULL);
}

static enum MHD_Result metrics(serve_server *s, request *r, struct MHD_Connection *conn)
{
    size_t len = 0;
    char *text = serve_metrics_render(&s->metrics, s->h, &s->group_commit, &len);

    if (text == NULL)
        return send_error(r, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
    return send_response(r, conn, MHD_HTTP_OK, text, len,
                         "text/plain; version=0.0.4; charset=utf-8", NULL);
}

/* --- the access handler
 * --------------------------------------------------------------------- */

static enum MHD_Result dispatch(serve_server *s, request *r, struct MHD_Connection *conn)
{
    static const char *const bearer[] = {MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer",
                                         NULL};
    static const char *const retry[] = {MHD_HTTP_HEADER_RETRY_AFTER, "1", NULL};
    const char *allow[] = {MHD_HTTP_HEADER_ALLOW, r->allow, NULL};

    /* Shutting down: what was in flight finishes, nothing new is started. */
    if (r->late) {
        json_t *doc = json_pack("{s:i, s:s}", "status", 503, "error", "shutting down");
        if (doc != NULL && r->route == ROUTE_HEALTH)
            json_object_set_new(doc, "store", json_string(streamy_store_name(s->h)));
        return send_json(r, conn, MHD_HTTP_SERVICE_UNAVAILABLE, doc, retry);
    }

    if (r->route != ROUTE_HEALTH && r->route != ROUTE_METRICS && !authorized(s, conn))
        return send_error(r, conn, MHD_HTTP_UNAUTHORIZED,
                          "missing or invalid bearer token", bearer);
    if (r->body.len > 0 && takes_body(r->route) &&
        !is_json_type(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_CONTENT_TYPE)))
        return send_error(r, conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                          "the body must be JSON: send Content-Type: application/json",
                          NULL);
    switch (r->route) {
    case ROUTE_SUBSCRIBE:
        return start_decision(s, r, conn, STREAMY_OP_SUBSCRIBE);
    case ROUTE_UNSUBSCRIBE:
        return start_decision(s, r, conn, STREAMY_OP_UNSUBSCRIBE);
    case ROUTE_RENEW:
        return start_decision(s, r, conn, STREAMY_OP_RENEW);
    case ROUTE_LEASES:
    case ROUTE_LIMIT_GET:
    case ROUTE_LIMIT_PUT:
    case ROUTE_LIMIT_DELETE:
        return user_route(s, r, conn);
    case ROUTE_HEALTH:
        return health(s, r, conn);
    case ROUTE_METRICS:
        return metrics(s, r, conn);
    default:
        break;
    }
    if (r->allow != NULL)
        return send_error(r, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
                          allow);
    return send_error(r, conn, MHD_HTTP_NOT_FOUND, "not found", NULL);
}

static enum MHD_Result too_large(serve_server *s, request *r, struct MHD_Connection *conn)
{
    char msg[96];

    snprintf(msg, sizeof(msg), "the body is larger than %zu bytes", s->cfg.max_body);
    return send_error(r, conn, MHD_HTTP_CONTENT_TOO_LARGE, msg, NULL);
}

static const char *const close_after[] = {MHD_HTTP_HEADER_CONNECTION, "close", NULL};

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    serve_server *s = cls;
    request *r = *con_cls;
    (void)version;

    if (r == NULL) {
        const char *cl;
        r = calloc(1, sizeof(*r));
        if (r == NULL)
            return MHD_NO;
        r->start_us = streamy__monotonic_us();
        r->method = method;
        r->url = url;
        r->route = route_of(r, url, method);
        *con_cls = r;
        r->late = __atomic_load_n(&s->draining, __ATOMIC_RELAXED);
        __atomic_fetch_add(&s->in_flight, 1, __ATOMIC_RELAXED);
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
        /* Framed two ways, a request is read one way here and maybe the other by a
         * proxy in front, which would then take what follows for a request of its
         * own (RFC 9112 section 6.1): refuse it, and close the connection. */
        if (cl != NULL && MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_TRANSFER_ENCODING))
            return send_error(r, conn, MHD_HTTP_BAD_REQUEST,
                              "a request may not carry both Content-Length and "
                              "Transfer-Encoding",
                              close_after);
        /* Refuse an announced oversized body before reading any of it. */
        if (cl != NULL && strtoull(cl, NULL, 10) > s->cfg.max_body)
            return too_large(s, r, conn);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->responded)
            return MHD_YES;
        /* MHD takes no answer in the middle of an upload (a chunked one has no
         * length to refuse up front): drop the rest and answer at its end, or
         * close a connection that goes on sending far past the limit. */
        if (r->too_large || r->body.len + n > s->cfg.max_body) {
            r->too_large = 1;
            r->dropped += n;
            return r->dropped > 64 * s->cfg.max_body + (1 << 20) ? MHD_NO : MHD_YES;
        }
        return streamy__buf_put(&r->body, upload_data, n) == 0 ? MHD_YES : MHD_NO;
    }
    if (r->responded)
        return MHD_YES;
    serve_deadline_received(conn); /* whole: the deadline no longer applies */
    if (r->too_large)
        return too_large(s, r, conn);
    if (r->suspended) {
        if (!__atomic_load_n(&r->pending.done, __ATOMIC_ACQUIRE))
            return MHD_YES; /* resumed early (shutdown): wait on */
        return finish_decision(s, r, conn);
    }
    return dispatch(s, r, conn);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    serve_server *s = cls;
    request *r = *con_cls;
    int64_t latency;
    char remote[INET6_ADDRSTRLEN] = "";
    (void)why;

    if (r == NULL)
        return;
    latency = streamy__monotonic_us() - r->start_us;
    if (s->log.access) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = ci ? ci->client_addr : NULL;
        if (sa != NULL && sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
                      remote, sizeof(remote));
        else if (sa != NULL && sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6,
                      &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, remote,
                      sizeof(remote));
        serve_log_request(&s->log, r->method, r->url, r->status, latency, remote);
    }
    serve_metrics_request(&s->metrics, r->route, r->status, latency);
    serve_deadline_idle(conn);
    streamy__buf_free(&r->body);
    free(r);
    *con_cls = NULL;
    __atomic_fetch_sub(&s->in_flight, 1, __ATOMIC_RELEASE);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    serve_server *s = cls;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        __atomic_fetch_add(&s->metrics.connections, 1, __ATOMIC_RELAXED);
        *socket_context = serve_deadline_open(&s->deadline, conn);
    } else {
        serve_deadline_close(&s->deadline, *socket_context);
        __atomic_fetch_sub(&s->metrics.connections, 1, __ATOMIC_RELAXED);
        __atomic_sub_fetch(&s->admitted, 1, __ATOMIC_ACQ_REL);
    }
}

/* --max-connections for the whole server: a connection past it is closed at
 * once rather than left waiting in the backlog. The slot is taken here and
 * given back when the connection closes. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr,
                                 socklen_t addrlen)
{
    serve_server *s = cls;
    (void)addr;
    (void)addrlen;

    if (__atomic_add_fetch(&s->admitted, 1, __ATOMIC_ACQ_REL) > s->cfg.max_connections) {
        __atomic_sub_fetch(&s->admitted, 1, __ATOMIC_ACQ_REL);
        return MHD_NO;
    }
    return MHD_YES;
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    serve_server *s = cls;
    char msg[512];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    serve_log_event(&s->log, "warn", "http", msg);
}

int serve_http_start(serve_server *s)
{
    const struct sockaddr *addr = (const struct sockaddr *)&s->addr;
    /* poll(), not epoll: a request parked until its commit leaves and rejoins
     * the event loop, which costs two epoll_ctl calls in epoll mode and nothing
     * in poll mode (10-15% more requests a second, docs/PERFORMANCE.md); each
     * thread polls at most its share of --max-connections. */
    unsigned int flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                         MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_TURBO;

    if (addr->sa_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, 0, on_accept, s, on_request, s,
        /* First, so every message of MHD reaches our log. */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, s, MHD_OPTION_SOCK_ADDR, addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)s->cfg.threads,
        /* MHD shares its own limit out among the threads and stops accepting at
         * it; above ours, it leaves on_accept to refuse the one too many. */
        MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)((s->cfg.max_connections + 1) * s->cfg.threads),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)s->cfg.conn_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16 * 1024),
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_END);
    return s->daemon != NULL ? 0 : -1;
}

void serve_http_stop(serve_server *s, int grace_ms)
{
    struct timespec tick = {0, 10 * 1000 * 1000};
    MHD_socket fd;
    int waited = 0;

    __atomic_store_n(&s->draining, 1, __ATOMIC_RELAXED);
    fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    /* Requests in flight finish; their decisions commit and are answered. */
    while (__atomic_load_n(&s->in_flight, __ATOMIC_ACQUIRE) > 0 && waited < grace_ms) {
        nanosleep(&tick, NULL);
        waited += 10;
    }
    serve_group_commit_stop(&s->group_commit);
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
}
