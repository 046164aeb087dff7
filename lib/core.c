/* SPDX-License-Identifier: MIT */
/* core.c: the handle: options, opening by URI, validation, counters and the observer. */
#include "schemes.h"
#include "streamy_int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COUNT(h, field, n)                                                               \
    __atomic_fetch_add(&(h)->field, (uint64_t)(n), __ATOMIC_RELAXED)

/* streamy_decision is allocated by callers built against any release: `degraded`
 * lives in what was the tail padding of the version-1 struct, whose size must never
 * change. */
struct decision_v1 {
    int created, removed, shadow_refused;
    unsigned int active, limit, expired;
    int64_t since_ms, expires_ms, retry_ms;
    char evicted[STREAMY_ID_MAX + 1];
};
_Static_assert(sizeof(streamy_decision) == sizeof(struct decision_v1),
               "streamy_decision changed size: an ABI break");
_Static_assert(offsetof(streamy_decision, degraded) >=
                   offsetof(struct decision_v1, evicted) + STREAMY_ID_MAX + 1,
               "streamy_decision: degraded must follow the version-1 fields");

/* The size of each version of streamy_options: a caller built against an older
 * header passes a smaller struct, and nothing past it may be read or written. */
static size_t options_size(unsigned int version)
{
    return version == 1 ? offsetof(streamy_options, on_store_error)
                        : sizeof(streamy_options);
}

const char *streamy_version(void)
{
    return STREAMY_VERSION;
}

int streamy_options_init(streamy_options *opts, unsigned int version)
{
    static const streamy_options defaults = STREAMY_OPTIONS_INIT;

    streamy__error_begin(NULL);
    if (opts == NULL)
        return streamy__error(STREAMY_EINVAL, "options pointer is NULL");
    if (version == 0 || version > STREAMY_OPTIONS_VERSION)
        return streamy__error(
            STREAMY_EINVAL, "options version %u is unknown (this library knows 1 to %d)",
            version, STREAMY_OPTIONS_VERSION);
    memcpy(opts, &defaults, options_size(version));
    opts->version = version;
    return STREAMY_OK;
}

/* Copy the caller's options (or the defaults) into `o`, refusing bad values. Only
 * the fields of the caller's version are read; later ones keep their defaults. */
static int check_options(streamy_options *o, const streamy_options *in)
{
    static const streamy_options defaults = STREAMY_OPTIONS_INIT;

    *o = defaults;
    if (in == NULL)
        return STREAMY_OK;
    if (in->version == 0 || in->version > STREAMY_OPTIONS_VERSION)
        return streamy__error(
            STREAMY_EINVAL, "options version %u is unknown (this library knows 1 to %d)",
            in->version, STREAMY_OPTIONS_VERSION);
    if (in->version >= 2 && in->on_store_error != STREAMY_ON_STORE_ERROR_DENY &&
        in->on_store_error != STREAMY_ON_STORE_ERROR_ALLOW)
        return streamy__error(
            STREAMY_EINVAL,
            "on_store_error %d is unknown (use "
            "STREAMY_ON_STORE_ERROR_DENY or STREAMY_ON_STORE_ERROR_ALLOW)",
            (int)in->on_store_error);
    if (in->limit > STREAMY_LIMIT_MAX)
        return streamy__error(STREAMY_EINVAL, "limit %u is larger than %u", in->limit,
                              STREAMY_LIMIT_MAX);
    if (in->ttl_ms < 0 || in->ttl_ms > STREAMY_TTL_MAX_MS)
        return streamy__error(STREAMY_EINVAL,
                              "ttl of %lld ms is out of range (0 to one year)",
                              (long long)in->ttl_ms);
    if (streamy_policy_name(in->policy) == NULL)
        return streamy__error(STREAMY_EINVAL, "policy %d is unknown", (int)in->policy);
    if (in->busy_timeout_ms < 0 || in->busy_timeout_ms > STREAMY_BUSY_TIMEOUT_MAX_MS)
        return streamy__error(STREAMY_EINVAL,
                              "busy timeout of %d ms is out of range (0 to one hour)",
                              in->busy_timeout_ms);
    memcpy(o, in, options_size(in->version));
    o->version = STREAMY_OPTIONS_VERSION;
    o->shadow = !!in->shadow;
    o->require_uuid = !!in->require_uuid;
    o->synchronous_full = !!in->synchronous_full;
    return STREAMY_OK;
}

/* Whether the store keeps sessions: lease ids and device labels (vtable version 2). */
static int has_sessions(const streamy_store *st)
{
    return st->version >= 2 && st->decide != NULL;
}

int streamy_open_store(streamy **out, streamy_store *st, const streamy_options *opts)
{
    streamy_options o;
    streamy *h;
    int rc;

    streamy__error_begin(NULL);
    if (out != NULL)
        *out = NULL;
    if (st == NULL)
        return streamy__error(STREAMY_EINVAL, "store is NULL");
    if (out == NULL) {
        rc = streamy__error(STREAMY_EINVAL, "output handle pointer is NULL");
        goto fail;
    }
    if (st->version == 0 || st->version > STREAMY_STORE_VERSION) {
        rc = streamy__error(
            STREAMY_EINVAL,
            "store vtable version %u is unknown (this library knows 1 to %d)",
            st->version, STREAMY_STORE_VERSION);
        goto fail;
    }
    if (((st->acquire == NULL || st->release == NULL || st->renew == NULL) &&
         !has_sessions(st)) ||
        st->list == NULL || st->free == NULL) {
        rc = streamy__error(
            STREAMY_EINVAL,
            "store \"%s\" lacks a required method (acquire, release, renew, "
            "list and free are required; decide may stand for the first three)",
            st->name ? st->name : "?");
        goto fail;
    }
    if ((rc = check_options(&o, opts)) != STREAMY_OK)
        goto fail;
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        rc = streamy__error(STREAMY_ENOMEM, "cannot allocate the handle");
        goto fail;
    }
    h->store = st;
    h->opts = o;
    *out = h;
    return STREAMY_OK;
fail:
    if (st->free != NULL)
        st->free(st);
    return rc;
}

int streamy_open(streamy **out, const char *uri, const streamy_options *opts)
{
    const streamy__scheme *scheme;
    streamy_store *st = NULL;
    streamy_options o;
    int rc;

    streamy__error_begin(NULL);
    if (out == NULL)
        return streamy__error(STREAMY_EINVAL, "output handle pointer is NULL");
    *out = NULL;
    if ((rc = check_options(&o, opts)) != STREAMY_OK)
        return rc;
    if (uri == NULL)
        uri = "streamy.db";
    if ((rc = streamy__scheme_find(&scheme, uri)) != STREAMY_OK)
        return rc;
    if ((rc = scheme->open(&st, uri, &o)) != STREAMY_OK)
        return rc;
    return streamy_open_store(out, st, &o);
}

void streamy_close(streamy *h)
{
    if (h == NULL)
        return;
    h->store->free(h->store);
    free(h);
}

const char *streamy_store_name(const streamy *h)
{
    return h && h->store->name ? h->store->name : "";
}

static int64_t now_ms(const streamy *h)
{
    return h->opts.clock ? h->opts.clock(h->opts.clock_payload) : streamy__now_ms();
}

static void fill_req(streamy_store_req *req, const streamy *h)
{
    req->now_ms = now_ms(h);
    req->ttl_ms = h->opts.ttl_ms;
    req->limit = h->opts.limit;
    req->policy = h->opts.policy;
    req->shadow = h->opts.shadow;
    req->injected_clock = h->opts.clock != NULL;
}

/* Validate the handle and identifiers of one call into `req`. */
static int prepare(streamy_store_req *req, char ubuf[STREAMY_ID_MAX + 1],
                   char sbuf[STREAMY_ID_MAX + 1], const streamy *h, const char *user,
                   const char *stream, int need_stream)
{
    int rc;

    streamy__error_begin(h);
    if (h == NULL)
        return streamy__error(STREAMY_EINVAL, "handle is NULL");
    memset(req, 0, sizeof(*req));
    if ((rc = streamy__id_check(ubuf, &req->user, "user", user, h->opts.require_uuid)) !=
        0)
        return rc;
    if (need_stream && (rc = streamy__id_check(sbuf, &req->stream, "stream", stream,
                                               h->opts.require_uuid)) != 0)
        return rc;
    fill_req(req, h);
    return STREAMY_OK;
}

static void emit(const streamy *h, streamy_event_kind kind, const streamy_store_req *req,
                 const char *stream, unsigned count, const streamy_decision *d)
{
    streamy_event ev;

    if (h->opts.observer == NULL)
        return;
    ev.kind = kind;
    ev.user = req ? req->user : NULL;
    ev.stream = stream;
    ev.count = count;
    ev.active = d ? d->active : 0;
    ev.limit = d ? d->limit : 0;
    ev.shadow_refused = d ? d->shadow_refused : 0;
    ev.at_ms = req ? req->now_ms : now_ms(h);
    h->opts.observer(&ev, h->opts.observer_payload);
}

/* Count one store answer and tell the observer about it. */
static void account(streamy *h, streamy_op_kind kind, const streamy_store_req *req,
                    int rc, const streamy_decision *d)
{
    if (rc < 0)
        return;
    if (d->expired) {
        COUNT(h, expired, d->expired);
        emit(h, STREAMY_EVENT_EXPIRED, req, NULL, d->expired, NULL);
    }
    switch (kind) {
    case STREAMY_OP_SUBSCRIBE:
        if (rc == STREAMY_OK) {
            if (d->evicted[0]) {
                COUNT(h, evicted, 1);
                emit(h, STREAMY_EVENT_EVICTED, req, d->evicted, 1, NULL);
            }
            COUNT(h, allowed, 1);
            if (d->shadow_refused)
                COUNT(h, shadow_refused, 1);
            emit(h, STREAMY_EVENT_ALLOWED, req, req->stream, 1, d);
        } else if (rc == STREAMY_LIMIT_REACHED) {
            COUNT(h, refused, 1);
            emit(h, STREAMY_EVENT_REFUSED, req, req->stream, 1, d);
        }
        break;
    case STREAMY_OP_UNSUBSCRIBE:
        if (d->removed) {
            COUNT(h, released, 1);
            emit(h, STREAMY_EVENT_RELEASED, req, req->stream, 1, NULL);
        }
        break;
    case STREAMY_OP_RENEW:
        if (rc == STREAMY_OK) {
            COUNT(h, renewed, 1);
            emit(h, STREAMY_EVENT_RENEWED, req, req->stream, 1, d);
        }
        break;
    }
}

/* A store that answered with an error but gave no details still gets a message. */
static int store_result(const streamy *h, int rc)
{
    if (rc < 0 && !streamy__error_is_set())
        streamy__error(rc, "%s store: %s", h->store->name ? h->store->name : "custom",
                       streamy_strerror(rc));
    return rc;
}

static int call_store(streamy *h, streamy_op_kind kind, const streamy_store_req *req,
                      streamy_decision *d)
{
    streamy_store *st = h->store;

    switch (kind) {
    case STREAMY_OP_SUBSCRIBE:
        return st->acquire(st, req, d);
    case STREAMY_OP_UNSUBSCRIBE:
        return st->release(st, req, d);
    case STREAMY_OP_RENEW:
        return st->renew(st, req, d);
    }
    return streamy__error(STREAMY_EINVAL, "operation %d is unknown", (int)kind);
}

/* Whether the handle fails open on `rc`: the store could not decide (bad input, no
 * memory or an unsupported operation are never a reason to allow). */
static int fails_open(const streamy *h, int rc)
{
    return h->opts.on_store_error == STREAMY_ON_STORE_ERROR_ALLOW &&
           (rc == STREAMY_ESTORE || rc == STREAMY_EBUSY);
}

/* Whether an operation `kind` that failed with `rc` is answered OK degraded: only
 * subscribe and renew have something to allow. */
static int degrades(const streamy *h, streamy_op_kind kind, int rc)
{
    return fails_open(h, rc) &&
           (kind == STREAMY_OP_SUBSCRIBE || kind == STREAMY_OP_RENEW);
}

/* Answer OK degraded: nothing was recorded, so nothing is known but the default
 * limit. The store's error message stays for streamy_errmsg(). */
static int degrade(streamy *h, const streamy_store_req *req, streamy_decision *d)
{
    memset(d, 0, sizeof(*d));
    d->degraded = 1;
    d->limit = h->opts.limit;
    COUNT(h, degraded, 1);
    emit(h, STREAMY_EVENT_DEGRADED, req, req->stream, 1, d);
    return STREAMY_OK;
}

static const char *op_name(streamy_op_kind kind)
{
    return kind == STREAMY_OP_SUBSCRIBE ? "subscribe"
           : kind == STREAMY_OP_RENEW   ? "renew"
                                        : "unsubscribe";
}

/* One call, validated: its store operation and the buffers of its canonical ids. */
typedef struct prepared {
    streamy_store_call sc;
    char user[STREAMY_ID_MAX + 1], stream[STREAMY_ID_MAX + 1];
    char lease_id[STREAMY_LEASE_ID_LEN + 1];
} prepared;

/* Validate `call` for an operation `kind` into `p`, from the request `base` (the
 * handle's settings and the instant). Nothing the store cannot honour gets through:
 * a lease id or a device label for a store that keeps none is refused. */
static int check_call(prepared *p, const streamy *h, streamy_op_kind kind,
                      const streamy_call *call, const streamy_store_req *base)
{
    const char *op = op_name(kind);
    int rc;

    if (kind != STREAMY_OP_SUBSCRIBE && kind != STREAMY_OP_UNSUBSCRIBE &&
        kind != STREAMY_OP_RENEW)
        return streamy__error(STREAMY_EINVAL, "operation kind %d is unknown", (int)kind);
    if (call == NULL)
        return streamy__error(STREAMY_EINVAL, "call is NULL");
    if (call->version == 0 || call->version > STREAMY_CALL_VERSION)
        return streamy__error(STREAMY_EINVAL,
                              "call version %u is unknown (this library knows 1 to %d)",
                              call->version, STREAMY_CALL_VERSION);
    p->sc.kind = kind;
    p->sc.req = *base;
    p->sc.lease_id = NULL;
    p->sc.device = NULL;
    p->sc.result = STREAMY_OK;
    p->sc.out = NULL;
    if ((rc = streamy__id_check(p->user, &p->sc.req.user, "user", call->user,
                                h->opts.require_uuid)) != STREAMY_OK ||
        (rc = streamy__id_check(p->stream, &p->sc.req.stream, "stream", call->stream,
                                h->opts.require_uuid)) != STREAMY_OK)
        return rc;
    if (call->lease_id != NULL) {
        if (kind == STREAMY_OP_SUBSCRIBE)
            return streamy__error(STREAMY_EINVAL, "subscribe takes no lease id (renew "
                                                  "and unsubscribe do)");
        if ((rc = streamy__lease_id_check(p->lease_id, call->lease_id)) != STREAMY_OK)
            return rc;
        p->sc.lease_id = p->lease_id;
    }
    if (call->device != NULL) {
        if (kind != STREAMY_OP_SUBSCRIBE)
            return streamy__error(STREAMY_EINVAL,
                                  "%s takes no device label (subscribe does)", op);
        if ((rc = streamy__device_check(call->device)) != STREAMY_OK)
            return rc;
        p->sc.device = call->device;
    }
    if (call->max_streams != STREAMY_MAX_STREAMS_NONE) {
        if (kind != STREAMY_OP_SUBSCRIBE)
            return streamy__error(STREAMY_EINVAL,
                                  "%s takes no max_streams (subscribe does)", op);
        if (call->max_streams < 0 || (unsigned)call->max_streams > STREAMY_LIMIT_MAX)
            return streamy__error(STREAMY_EINVAL,
                                  "max_streams %d is out of range (0 to %u)",
                                  call->max_streams, STREAMY_LIMIT_MAX);
        p->sc.req.limit = (unsigned)call->max_streams;
    }
    if ((p->sc.lease_id != NULL || p->sc.device != NULL) && !has_sessions(h->store))
        return streamy__error(
            STREAMY_EUNSUPPORTED,
            "store \"%s\" keeps no %s (storage vtable version %u): "
            "the %s cannot be honoured",
            streamy_store_name(h), p->sc.lease_id ? "lease ids" : "device labels",
            h->store->version, p->sc.lease_id ? "lease id" : "device label");
    return STREAMY_OK;
}

/* The library's own answer before a call: nothing known. */
static void answer_reset(streamy_answer *a)
{
    a->version = STREAMY_CALL_VERSION;
    memset(&a->decision, 0, sizeof(a->decision));
    a->lease_id[0] = a->device[0] = '\0';
    a->evicted_lease_id[0] = a->evicted_device[0] = '\0';
    a->stale = 0;
}

/* Copy the library's answer into the caller's, whose version has been checked. */
static void answer_copy(streamy_answer *out, const streamy_answer *a)
{
    out->decision = a->decision;
    memcpy(out->lease_id, a->lease_id, strlen(a->lease_id) + 1);
    memcpy(out->device, a->device, strlen(a->device) + 1);
    memcpy(out->evicted_lease_id, a->evicted_lease_id, strlen(a->evicted_lease_id) + 1);
    memcpy(out->evicted_device, a->evicted_device, strlen(a->evicted_device) + 1);
    out->stale = a->stale;
}

static int answer_version_ok(const streamy_answer *out)
{
    if (out != NULL && (out->version == 0 || out->version > STREAMY_CALL_VERSION))
        return streamy__error(STREAMY_EINVAL,
                              "answer version %u is unknown (this library knows 1 to %d)",
                              out->version, STREAMY_CALL_VERSION);
    return STREAMY_OK;
}

/* Decide one prepared call into `a`. */
static int run_one(streamy *h, prepared *p, streamy_answer *a)
{
    streamy_store *st = h->store;
    int rc;

    if (!has_sessions(st))
        return call_store(h, p->sc.kind, &p->sc.req, &a->decision);
    p->sc.out = a;
    rc = st->decide(st, &p->sc, 1);
    return rc < 0 ? rc : p->sc.result;
}

static int decide_call(streamy_answer *a, streamy *h, streamy_op_kind kind,
                       const streamy_call *call)
{
    streamy_store_req base;
    prepared p;
    int rc;

    answer_reset(a);
    streamy__error_begin(h);
    if (h == NULL)
        return streamy__error(STREAMY_EINVAL, "handle is NULL");
    memset(&base, 0, sizeof(base));
    fill_req(&base, h);
    if ((rc = check_call(&p, h, kind, call, &base)) != STREAMY_OK)
        return rc;
    rc = store_result(h, run_one(h, &p, a));
    if (rc < 0) {
        answer_reset(a);
        if (degrades(h, kind, rc))
            return degrade(h, &p.sc.req, &a->decision);
    }
    account(h, kind, &p.sc.req, rc, &a->decision);
    return rc;
}

static int decide(streamy_decision *out, streamy *h, streamy_op_kind kind,
                  const char *user, const char *stream)
{
    streamy_call call = STREAMY_CALL_INIT;
    streamy_answer a;
    int rc;

    call.user = user;
    call.stream = stream;
    rc = decide_call(&a, h, kind, &call);
    if (out != NULL)
        *out = a.decision;
    return rc;
}

static int decide_ex(streamy_answer *out, streamy *h, streamy_op_kind kind,
                     const streamy_call *call)
{
    streamy_answer a;
    int rc;

    streamy__error_begin(h);
    if ((rc = answer_version_ok(out)) != STREAMY_OK)
        return rc;
    rc = decide_call(&a, h, kind, call);
    if (out != NULL)
        answer_copy(out, &a);
    return rc;
}

int streamy_subscribe(streamy_decision *out, streamy *h, const char *user,
                      const char *stream)
{
    return decide(out, h, STREAMY_OP_SUBSCRIBE, user, stream);
}

int streamy_unsubscribe(streamy_decision *out, streamy *h, const char *user,
                        const char *stream)
{
    return decide(out, h, STREAMY_OP_UNSUBSCRIBE, user, stream);
}

int streamy_renew(streamy_decision *out, streamy *h, const char *user, const char *stream)
{
    return decide(out, h, STREAMY_OP_RENEW, user, stream);
}

int streamy_subscribe_ex(streamy_answer *out, streamy *h, const streamy_call *call)
{
    return decide_ex(out, h, STREAMY_OP_SUBSCRIBE, call);
}

int streamy_renew_ex(streamy_answer *out, streamy *h, const streamy_call *call)
{
    return decide_ex(out, h, STREAMY_OP_RENEW, call);
}

int streamy_unsubscribe_ex(streamy_answer *out, streamy *h, const streamy_call *call)
{
    return decide_ex(out, h, STREAMY_OP_UNSUBSCRIBE, call);
}

int streamy_call_init(streamy_call *call, unsigned int version)
{
    static const streamy_call blank = STREAMY_CALL_INIT;

    streamy__error_begin(NULL);
    if (call == NULL)
        return streamy__error(STREAMY_EINVAL, "call pointer is NULL");
    if (version == 0 || version > STREAMY_CALL_VERSION)
        return streamy__error(STREAMY_EINVAL,
                              "call version %u is unknown (this library knows 1 to %d)",
                              version, STREAMY_CALL_VERSION);
    *call = blank;
    call->version = version;
    return STREAMY_OK;
}

int streamy_answer_init(streamy_answer *answer, unsigned int version)
{
    streamy__error_begin(NULL);
    if (answer == NULL)
        return streamy__error(STREAMY_EINVAL, "answer pointer is NULL");
    if (version == 0 || version > STREAMY_CALL_VERSION)
        return streamy__error(STREAMY_EINVAL,
                              "answer version %u is unknown (this library knows 1 to %d)",
                              version, STREAMY_CALL_VERSION);
    memset(answer, 0, sizeof(*answer));
    answer->version = version;
    return STREAMY_OK;
}

/* A batch of either entry point: each operation prepared (or refused with its own
 * error in `rc`), then decided together, the answers in the library's own structs. */
typedef struct batch {
    size_t n;
    prepared *p;
    streamy_answer *a;
    int *rc;
    streamy_store_req base;
} batch;

static int batch_init(batch *b, streamy *h, size_t n)
{
    size_t one = sizeof(*b->p) + sizeof(*b->a) + sizeof(*b->rc);

    b->n = n;
    b->p = NULL;
    b->a = NULL;
    b->rc = NULL;
    if (n > SIZE_MAX / (one + sizeof(streamy_store_call) + sizeof(streamy_store_op)))
        return streamy__error(STREAMY_EINVAL, "batch of %zu operations is too large", n);
    b->p = malloc(n * sizeof(*b->p));
    b->a = malloc(n * sizeof(*b->a));
    b->rc = malloc(n * sizeof(*b->rc));
    if (b->p == NULL || b->a == NULL || b->rc == NULL)
        return streamy__error(STREAMY_ENOMEM, "cannot allocate a batch of %zu operations",
                              n);
    /* One instant for the whole batch: it is one transaction. */
    memset(&b->base, 0, sizeof(b->base));
    fill_req(&b->base, h);
    return STREAMY_OK;
}

static void batch_free(batch *b)
{
    free(b->p);
    free(b->a);
    free(b->rc);
}

static void batch_prepare(batch *b, streamy *h, size_t i, streamy_op_kind kind,
                          const streamy_call *call)
{
    answer_reset(&b->a[i]);
    if (kind != STREAMY_OP_SUBSCRIBE && kind != STREAMY_OP_UNSUBSCRIBE &&
        kind != STREAMY_OP_RENEW)
        b->rc[i] = streamy__error(STREAMY_EINVAL, "operation %zu: kind %d is unknown", i,
                                  (int)kind);
    else
        b->rc[i] = check_call(&b->p[i], h, kind, call, &b->base);
}

/* A version-1 store decides a batch with one limit for all: operations with a
 * max_streams of their own are refused when there are others. */
static void batch_v1_limits(batch *b, streamy *h)
{
    size_t i, m = 0;

    for (i = 0; i < b->n; i++)
        m += b->rc[i] == STREAMY_OK;
    if (m < 2)
        return;
    for (i = 0; i < b->n; i++)
        if (b->rc[i] == STREAMY_OK && b->p[i].sc.req.limit != b->base.limit)
            b->rc[i] = streamy__error(
                STREAMY_EUNSUPPORTED,
                "operation %zu: store \"%s\" (storage vtable version %u) decides a batch "
                "with one limit: max_streams works in single calls only",
                i, streamy_store_name(h), h->store->version);
}

static int batch_run(batch *b, streamy *h)
{
    streamy_store *st = h->store;
    streamy_store_call *scs = NULL;
    streamy_store_op *sops = NULL;
    size_t i, m = 0;
    int rc;

    if (!has_sessions(st))
        batch_v1_limits(b, h);
    for (i = 0; i < b->n; i++)
        m += b->rc[i] == STREAMY_OK;
    if (m == 0)
        return STREAMY_OK;
    if (has_sessions(st) ? (scs = malloc(m * sizeof(*scs))) == NULL
                         : (sops = malloc(m * sizeof(*sops))) == NULL) {
        rc = streamy__error(STREAMY_ENOMEM, "cannot allocate a batch of %zu operations",
                            m);
        goto fail;
    }
    for (i = 0, m = 0; i < b->n; i++) {
        if (b->rc[i] != STREAMY_OK)
            continue;
        if (scs != NULL) {
            scs[m] = b->p[i].sc;
            scs[m].out = &b->a[i];
        } else {
            sops[m].kind = b->p[i].sc.kind;
            sops[m].req = b->p[i].sc.req;
            sops[m].result = STREAMY_OK;
            sops[m].out = &b->a[i].decision;
        }
        m++;
    }
    if (scs != NULL) {
        rc = st->decide(st, scs, m);
    } else if (st->apply != NULL) {
        rc = st->apply(st, sops, m);
    } else if (m == 1) {
        rc = call_store(h, sops[0].kind, &sops[0].req, sops[0].out);
        sops[0].result = rc;
    } else {
        rc = streamy__error(STREAMY_EUNSUPPORTED,
                            "store \"%s\" cannot decide a batch in one transaction",
                            st->name ? st->name : "custom");
    }
    rc = store_result(h, rc);
    if (rc < 0 && fails_open(h, rc)) {
        /* Nothing was written: each operation gets what the single call would
         * have answered, and the batch still reports the error. */
        for (i = 0; i < b->n; i++) {
            if (b->rc[i] != STREAMY_OK)
                continue; /* invalid: keeps its own error */
            answer_reset(&b->a[i]);
            if (degrades(h, b->p[i].sc.kind, rc))
                b->rc[i] = degrade(h, &b->p[i].sc.req, &b->a[i].decision);
            else
                b->rc[i] = rc;
        }
        goto out;
    }
    if (rc < 0)
        goto fail;
    for (i = 0, m = 0; i < b->n; i++) {
        if (b->rc[i] != STREAMY_OK)
            continue; /* refused before reaching the store */
        b->rc[i] = scs != NULL ? scs[m].result : sops[m].result;
        account(h, b->p[i].sc.kind, &b->p[i].sc.req, b->rc[i], &b->a[i].decision);
        m++;
    }
    rc = STREAMY_OK;
    goto out;
fail:
    for (i = 0; i < b->n; i++) {
        b->rc[i] = rc;
        answer_reset(&b->a[i]);
    }
out:
    free(scs);
    free(sops);
    return rc;
}

int streamy_apply(streamy *h, streamy_op *ops, size_t n)
{
    batch b;
    size_t i;
    int rc;

    streamy__error_begin(h);
    if (h == NULL)
        return streamy__error(STREAMY_EINVAL, "handle is NULL");
    if (ops == NULL && n > 0)
        return streamy__error(STREAMY_EINVAL, "operations array is NULL");
    if (n == 0)
        return STREAMY_OK;
    if ((rc = batch_init(&b, h, n)) == STREAMY_OK) {
        for (i = 0; i < n; i++) {
            streamy_call call = STREAMY_CALL_INIT;

            call.user = ops[i].user;
            call.stream = ops[i].stream;
            batch_prepare(&b, h, i, ops[i].kind, &call);
        }
        rc = batch_run(&b, h);
    }
    for (i = 0; i < n; i++) {
        ops[i].result = b.rc ? b.rc[i] : rc;
        if (b.a != NULL && b.rc != NULL)
            ops[i].decision = b.a[i].decision;
        else
            memset(&ops[i].decision, 0, sizeof(ops[i].decision));
    }
    batch_free(&b);
    return rc;
}

int streamy_apply_ex(streamy *h, streamy_batch_op *ops, size_t n)
{
    batch b;
    size_t i;
    int rc;

    streamy__error_begin(h);
    if (h == NULL)
        return streamy__error(STREAMY_EINVAL, "handle is NULL");
    if (ops == NULL && n > 0)
        return streamy__error(STREAMY_EINVAL, "operations array is NULL");
    if (n == 0)
        return STREAMY_OK;
    for (i = 0; i < n; i++)
        if (answer_version_ok(ops[i].answer) != STREAMY_OK)
            return streamy__error(STREAMY_EINVAL,
                                  "operation %zu: answer version %u is unknown", i,
                                  ops[i].answer->version);
    if ((rc = batch_init(&b, h, n)) == STREAMY_OK) {
        for (i = 0; i < n; i++)
            batch_prepare(&b, h, i, ops[i].kind, ops[i].call);
        rc = batch_run(&b, h);
    }
    for (i = 0; i < n; i++) {
        ops[i].result = b.rc ? b.rc[i] : rc;
        if (ops[i].answer == NULL)
            continue;
        if (b.a != NULL && b.rc != NULL) {
            answer_copy(ops[i].answer, &b.a[i]);
        } else {
            streamy_answer blank;
            answer_reset(&blank);
            answer_copy(ops[i].answer, &blank);
        }
    }
    batch_free(&b);
    return rc;
}

struct lease_vec {
    streamy_lease *items;
    size_t len, cap;
    int sessions; /* the store fills lease_id and device (vtable version 2) */
    int failed;
};

/* Each lease is copied into one allocation: stream, lease id and device. */
static int collect_lease(const streamy_lease *lease, void *payload)
{
    struct lease_vec *v = payload;
    const char *id = v->sessions && lease->lease_id ? lease->lease_id : "";
    const char *dev = v->sessions && lease->device ? lease->device : "";
    size_t ls = strlen(lease->stream) + 1, li = strlen(id) + 1, ld = strlen(dev) + 1;
    char *copy;

    if (v->len == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 8;
        streamy_lease *items = realloc(v->items, cap * sizeof(*items));
        if (items == NULL)
            goto nomem;
        v->items = items;
        v->cap = cap;
    }
    copy = malloc(ls + li + ld);
    if (copy == NULL)
        goto nomem;
    memcpy(copy, lease->stream, ls);
    memcpy(copy + ls, id, li);
    memcpy(copy + ls + li, dev, ld);
    v->items[v->len].stream = copy;
    v->items[v->len].since_ms = lease->since_ms;
    v->items[v->len].renewed_ms = lease->renewed_ms;
    v->items[v->len].expires_ms = lease->expires_ms;
    v->items[v->len].lease_id = copy + ls;
    v->items[v->len++].device = copy + ls + li;
    return 0;
nomem:
    v->failed = 1;
    return 1;
}

int streamy_list(streamy *h, const char *user, streamy_lease_cb cb, void *payload)
{
    char ubuf[STREAMY_ID_MAX + 1];
    struct lease_vec v = {NULL, 0, 0, 0, 0};
    streamy_store_req req;
    size_t i;
    int rc;

    if ((rc = prepare(&req, ubuf, NULL, h, user, NULL, 0)) != STREAMY_OK)
        return rc;
    if (cb == NULL)
        return streamy__error(STREAMY_EINVAL, "lease callback is NULL");
    v.sessions = has_sessions(h->store);
    rc = store_result(h, h->store->list(h->store, &req, collect_lease, &v));
    if (rc == STREAMY_OK && v.failed)
        rc = streamy__error(STREAMY_ENOMEM, "cannot allocate the list of leases");
    for (i = 0; i < v.len; i++) {
        if (rc == STREAMY_OK && cb(&v.items[i], payload) != 0)
            rc = 1; /* stopped by the caller: free the rest, answer OK */
        free((char *)v.items[i].stream);
    }
    free(v.items);
    return rc > 0 ? STREAMY_OK : rc;
}

static int count_lease(const streamy_lease *lease, void *payload)
{
    STREAMY_UNUSED(lease);
    (*(unsigned int *)payload)++;
    return 0;
}

int streamy_count(unsigned int *out, streamy *h, const char *user)
{
    char ubuf[STREAMY_ID_MAX + 1];
    streamy_store_req req;
    unsigned int n = 0;
    int rc;

    if ((rc = prepare(&req, ubuf, NULL, h, user, NULL, 0)) != STREAMY_OK)
        return rc;
    if (out == NULL)
        return streamy__error(STREAMY_EINVAL, "count output pointer is NULL");
    if (h->store->count != NULL)
        rc = h->store->count(h->store, &req, &n);
    else
        rc = h->store->list(h->store, &req, count_lease, &n);
    if ((rc = store_result(h, rc)) == STREAMY_OK)
        *out = n;
    return rc;
}

int streamy_set_limit(streamy *h, const char *user, unsigned int limit)
{
    char ubuf[STREAMY_ID_MAX + 1];
    streamy_store_req req;
    int rc;

    if ((rc = prepare(&req, ubuf, NULL, h, user, NULL, 0)) != STREAMY_OK)
        return rc;
    if (limit > STREAMY_LIMIT_MAX)
        return streamy__error(STREAMY_EINVAL, "limit %u is larger than %u", limit,
                              STREAMY_LIMIT_MAX);
    if (h->store->set_limit == NULL)
        return streamy__error(STREAMY_EUNSUPPORTED,
                              "store \"%s\" keeps no per-user limits",
                              streamy_store_name(h));
    return store_result(h, h->store->set_limit(h->store, req.user, limit));
}

int streamy_clear_limit(streamy *h, const char *user)
{
    char ubuf[STREAMY_ID_MAX + 1];
    streamy_store_req req;
    int rc;

    if ((rc = prepare(&req, ubuf, NULL, h, user, NULL, 0)) != STREAMY_OK)
        return rc;
    if (h->store->clear_limit == NULL)
        return streamy__error(STREAMY_EUNSUPPORTED,
                              "store \"%s\" keeps no per-user limits",
                              streamy_store_name(h));
    return store_result(h, h->store->clear_limit(h->store, req.user));
}

int streamy_get_limit(unsigned int *out, int *is_override, streamy *h, const char *user)
{
    char ubuf[STREAMY_ID_MAX + 1];
    streamy_store_req req;
    unsigned int limit = 0;
    int rc, found = 0;

    if ((rc = prepare(&req, ubuf, NULL, h, user, NULL, 0)) != STREAMY_OK)
        return rc;
    if (out == NULL)
        return streamy__error(STREAMY_EINVAL, "limit output pointer is NULL");
    if (h->store->get_limit != NULL &&
        (rc = store_result(h, h->store->get_limit(h->store, req.user, &limit, &found))) !=
            STREAMY_OK)
        return rc;
    *out = found ? limit : h->opts.limit;
    if (is_override != NULL)
        *is_override = found;
    return STREAMY_OK;
}

int streamy_purge(uint64_t *removed, streamy *h)
{
    streamy_store_req req;
    uint64_t n = 0;
    int rc;

    streamy__error_begin(h);
    if (h == NULL)
        return streamy__error(STREAMY_EINVAL, "handle is NULL");
    if (h->store->purge == NULL)
        return streamy__error(STREAMY_EUNSUPPORTED, "store \"%s\" cannot purge",
                              streamy_store_name(h));
    memset(&req, 0, sizeof(req));
    fill_req(&req, h);
    rc = store_result(h, h->store->purge(h->store, &req, &n));
    if (rc != STREAMY_OK)
        return rc;
    if (n > 0) {
        COUNT(h, expired, n);
        if (h->opts.observer != NULL) {
            streamy_event ev = {
                STREAMY_EVENT_EXPIRED, NULL, NULL, 0, 0, 0, 0, req.now_ms};
            ev.count = n > UINT32_MAX ? UINT32_MAX : (unsigned)n;
            h->opts.observer(&ev, h->opts.observer_payload);
        }
    }
    if (removed != NULL)
        *removed = n;
    return STREAMY_OK;
}

int streamy_health(streamy *h)
{
    streamy__error_begin(h);
    if (h == NULL)
        return streamy__error(STREAMY_EINVAL, "handle is NULL");
    if (h->store->health == NULL)
        return STREAMY_OK;
    return store_result(h, h->store->health(h->store));
}

int streamy_stats(streamy_counters *out, const streamy *h)
{
    streamy__error_begin(h);
    if (out == NULL || h == NULL)
        return streamy__error(STREAMY_EINVAL, "%s is NULL",
                              h == NULL ? "handle" : "counters pointer");
#define LOAD(field) out->field = __atomic_load_n(&h->field, __ATOMIC_RELAXED)
    LOAD(allowed);
    LOAD(refused);
    LOAD(evicted);
    LOAD(expired);
    LOAD(renewed);
    LOAD(released);
    LOAD(shadow_refused);
#undef LOAD
    return STREAMY_OK;
}

int streamy_statistics_get(streamy_statistics *out, const streamy *h)
{
    streamy__error_begin(h);
    if (out == NULL || h == NULL)
        return streamy__error(STREAMY_EINVAL, "%s is NULL",
                              h == NULL ? "handle" : "statistics pointer");
    if (out->version == 0 || out->version > STREAMY_STATISTICS_VERSION)
        return streamy__error(
            STREAMY_EINVAL,
            "statistics version %u is unknown (this library knows 1 to %d)", out->version,
            STREAMY_STATISTICS_VERSION);
    streamy_stats(&out->counters, h);
    out->degraded = __atomic_load_n(&h->degraded, __ATOMIC_RELAXED);
    return STREAMY_OK;
}
