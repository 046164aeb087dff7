/* SPDX-License-Identifier: MIT */
/* memory.c: the in-process memory store: a hash table of users under one mutex. */
#include "stores.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct mlease {
    struct mlease *next;
    int64_t since, renewed, expires;
    char *device;         /* NULL: none */
    unsigned char id[16]; /* the lease id, a UUID's bytes */
    char stream[];        /* NUL-terminated */
} mlease;

typedef struct muser {
    struct muser *next; /* hash chain */
    uint64_t hash;
    mlease *leases; /* in the order they were added */
    unsigned int limit;
    int has_limit;
    char name[];
} muser;

/* Nodes allocated before a batch takes the lock, so a batch never fails half-way. */
typedef struct mslot {
    muser *user;
    mlease *lease;
} mslot;

typedef struct memory_store {
    streamy_store base;
    pthread_mutex_t lock;
    muser **buckets;
    size_t mask; /* buckets - 1; a power of two minus one */
    size_t nusers;
} memory_store;

/* What one scan of a user's leases found, before anything is changed. */
typedef struct scan {
    mlease *existing;
    const mlease *oldest, *idlest;
    unsigned int active, expired;
} scan;

static uint64_t hash_id(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h ^ (h >> 29);
}

static int is_expired(const mlease *l, int64_t now)
{
    return l->expires != 0 && l->expires <= now;
}

static muser *find_user(const memory_store *m, const char *name, uint64_t hash)
{
    muser *u;

    for (u = m->buckets[hash & m->mask]; u != NULL; u = u->next)
        if (u->hash == hash && strcmp(u->name, name) == 0)
            return u;
    return NULL;
}

static muser *new_user(const char *name, uint64_t hash)
{
    size_t len = strlen(name);
    muser *u = malloc(sizeof(*u) + len + 1);

    if (u == NULL)
        return NULL;
    memset(u, 0, sizeof(*u));
    u->hash = hash;
    memcpy(u->name, name, len + 1);
    return u;
}

static mlease *new_lease(const char *stream)
{
    size_t len = strlen(stream);
    mlease *l = malloc(sizeof(*l) + len + 1);

    if (l != NULL)
        memcpy(l->stream, stream, len + 1);
    return l;
}

/* Double the table when it is full; on failure keep the longer chains. */
static void maybe_grow(memory_store *m)
{
    size_t n = m->mask + 1, i;
    muser **nb;

    if (m->nusers < n || n > SIZE_MAX / 2 / sizeof(*nb))
        return;
    nb = calloc(2 * n, sizeof(*nb));
    if (nb == NULL)
        return;
    for (i = 0; i < n; i++) {
        muser *u = m->buckets[i], *next;
        for (; u != NULL; u = next) {
            next = u->next;
            u->next = nb[u->hash & (2 * n - 1)];
            nb[u->hash & (2 * n - 1)] = u;
        }
    }
    free(m->buckets);
    m->buckets = nb;
    m->mask = 2 * n - 1;
}

static void insert_user(memory_store *m, muser *u)
{
    muser **b = &m->buckets[u->hash & m->mask];

    u->next = *b;
    *b = u;
    m->nusers++;
    maybe_grow(m);
}

/* Free a user that holds nothing any more. */
static void maybe_drop_user(memory_store *m, muser *u)
{
    muser **p;

    if (u == NULL || u->leases != NULL || u->has_limit)
        return;
    for (p = &m->buckets[u->hash & m->mask]; *p != u; p = &(*p)->next) {
    }
    *p = u->next;
    m->nusers--;
    free(u);
}

/* `expiries` (may be NULL) collects the active leases' expiries. */
static void scan_user(scan *sc, const muser *u, const char *stream, int64_t now,
                      streamy__expiries *expiries)
{
    mlease *l;

    memset(sc, 0, sizeof(*sc));
    for (l = u ? u->leases : NULL; l != NULL; l = l->next) {
        if (is_expired(l, now)) {
            sc->expired++;
            continue;
        }
        sc->active++;
        if (stream != NULL && strcmp(l->stream, stream) == 0)
            sc->existing = l;
        /* Ties (one batch decides at one instant) go to the smallest stream id,
         * the first that list() shows, as in the other stores. */
        if (sc->oldest == NULL || l->since < sc->oldest->since ||
            (l->since == sc->oldest->since && strcmp(l->stream, sc->oldest->stream) < 0))
            sc->oldest = l;
        if (sc->idlest == NULL || l->renewed < sc->idlest->renewed ||
            (l->renewed == sc->idlest->renewed &&
             strcmp(l->stream, sc->idlest->stream) < 0))
            sc->idlest = l;
        if (expiries != NULL)
            streamy__expiries_add(expiries, l->expires);
    }
}

static void free_lease(mlease *l)
{
    free(l->device);
    free(l);
}

/* Whether the call's lease id names another lease than `l`. */
static int is_stale(const mlease *l, const char *lease_id)
{
    char text[STREAMY_LEASE_ID_LEN + 1];

    if (lease_id == NULL)
        return 0;
    streamy__lease_id_text(text, l->id);
    return strcmp(text, lease_id) != 0;
}

/* The lease's id and device into the answer. */
static void tell_lease(streamy_answer *a, const mlease *l)
{
    streamy__lease_id_text(a->lease_id, l->id);
    snprintf(a->device, sizeof(a->device), "%s", l->device ? l->device : "");
}

/* Unlink and free every expired lease of `u`, and `victim` if given. */
static void drop_leases(muser *u, int64_t now, const mlease *victim)
{
    mlease **p = &u->leases, *l;

    while ((l = *p) != NULL) {
        if (l == victim || is_expired(l, now)) {
            *p = l->next;
            free_lease(l);
        } else {
            p = &l->next;
        }
    }
}

static void append_lease(muser *u, mlease *l)
{
    mlease **p = &u->leases;

    while (*p != NULL)
        p = &(*p)->next;
    l->next = NULL;
    *p = l;
}

static int64_t expiry(const streamy_store_req *req)
{
    return req->ttl_ms ? req->now_ms + req->ttl_ms : 0;
}

/* Only a refusal needs to know when a slot frees: a second, rarer pass collects the
 * expiries, and the rule is asked again with them for retry_ms. */
static void refuse(streamy_decision *out, const streamy_store_req *req, const muser *u,
                   streamy__acquire_scan *in)
{
    const char *victim;
    streamy__expiries e;
    scan sc;

    streamy__expiries_init(&e);
    scan_user(&sc, u, NULL, req->now_ms, &e);
    in->expiries = &e;
    streamy__acquire_decide(out, &victim, req, in);
    streamy__expiries_free(&e);
}

static int mem_acquire_locked(memory_store *m, const streamy_store_call *c, mslot *slot)
{
    const streamy_store_req *req = &c->req;
    streamy_decision *out = &c->out->decision;
    uint64_t hash = hash_id(req->user);
    char *device = NULL;
    muser *u = find_user(m, req->user, hash);
    const mlease *victim = NULL;
    const char *victim_stream;
    streamy__acquire_scan in;
    mlease *l;
    scan sc;

    scan_user(&sc, u, req->stream, req->now_ms, NULL);
    in.active = sc.active;
    in.expired = sc.expired;
    in.limit = u && u->has_limit ? u->limit : req->limit;
    in.exists = sc.existing != NULL;
    in.since_ms = sc.existing ? sc.existing->since : 0;
    in.oldest = sc.oldest ? sc.oldest->stream : NULL;
    in.idlest = sc.idlest ? sc.idlest->stream : NULL;
    in.expiries = NULL;
    /* Allocate before changing anything, so running out of memory changes nothing. */
    if (c->device != NULL && (device = strdup(c->device)) == NULL)
        goto nomem;
    switch (streamy__acquire_decide(out, &victim_stream, req, &in)) {
    case STREAMY__ACQUIRE_REFRESH:
        if (sc.expired)
            drop_leases(u, req->now_ms, NULL);
        sc.existing->renewed = req->now_ms;
        sc.existing->expires = out->expires_ms;
        if (device != NULL) {
            free(sc.existing->device);
            sc.existing->device = device;
        }
        tell_lease(c->out, sc.existing);
        return STREAMY_OK;
    case STREAMY__ACQUIRE_REFUSE:
        /* Before the user is dropped: one left with nothing is freed. */
        refuse(out, req, u, &in);
        if (sc.expired)
            drop_leases(u, req->now_ms, NULL);
        if (u != NULL)
            maybe_drop_user(m, u);
        free(device);
        return STREAMY_LIMIT_REACHED;
    case STREAMY__ACQUIRE_EVICT:
        victim = victim_stream == in.oldest ? sc.oldest : sc.idlest;
        break;
    case STREAMY__ACQUIRE_INSERT:
    case STREAMY__ACQUIRE_INSERT_SHADOW:
        break;
    }
    if (slot != NULL && slot->lease != NULL) {
        l = slot->lease;
        slot->lease = NULL;
        strcpy(l->stream, req->stream);
    } else if ((l = new_lease(req->stream)) == NULL) {
        goto nomem;
    }
    if (streamy__lease_id_new(l->id) != STREAMY_OK) {
        free(l);
        free(device);
        memset(out, 0, sizeof(*out));
        return STREAMY_ESTORE;
    }
    if (u == NULL) {
        if (slot != NULL && slot->user != NULL) {
            u = slot->user;
            slot->user = NULL;
            memset(u, 0, sizeof(*u));
            strcpy(u->name, req->user);
            u->hash = hash;
        } else if ((u = new_user(req->user, hash)) == NULL) {
            free(l);
            goto nomem;
        }
        insert_user(m, u);
    }
    if (victim != NULL) {
        streamy__lease_id_text(c->out->evicted_lease_id, victim->id);
        snprintf(c->out->evicted_device, sizeof(c->out->evicted_device), "%s",
                 victim->device ? victim->device : "");
    }
    if (sc.expired || victim != NULL)
        drop_leases(u, req->now_ms, victim);
    l->since = l->renewed = req->now_ms;
    l->expires = out->expires_ms;
    l->device = device;
    append_lease(u, l);
    tell_lease(c->out, l);
    return STREAMY_OK;
nomem:
    free(device);
    memset(out, 0, sizeof(*out));
    streamy_store_set_error(&m->base, "memory store: cannot allocate a lease");
    return STREAMY_ENOMEM;
}

static int mem_release_locked(memory_store *m, const streamy_store_call *c)
{
    const streamy_store_req *req = &c->req;
    streamy_decision *out = &c->out->decision;
    muser *u = find_user(m, req->user, hash_id(req->user));
    mlease **p, *l;

    if (u == NULL)
        return STREAMY_OK;
    for (p = &u->leases; (l = *p) != NULL; p = &l->next) {
        if (strcmp(l->stream, req->stream) != 0)
            continue;
        if (is_expired(l, req->now_ms)) {
            out->expired = 1;
        } else if (is_stale(l, c->lease_id)) {
            c->out->stale = 1;
            break;
        } else {
            out->removed = 1;
            tell_lease(c->out, l);
        }
        *p = l->next;
        free_lease(l);
        break;
    }
    maybe_drop_user(m, u);
    return STREAMY_OK;
}

static int mem_renew_locked(memory_store *m, const streamy_store_call *c)
{
    const streamy_store_req *req = &c->req;
    streamy_decision *out = &c->out->decision;
    muser *u = find_user(m, req->user, hash_id(req->user));
    scan sc;

    scan_user(&sc, u, req->stream, req->now_ms, NULL);
    out->limit = u && u->has_limit ? u->limit : req->limit;
    out->expired = sc.expired;
    out->active = sc.active;
    if (sc.expired)
        drop_leases(u, req->now_ms, NULL);
    if (sc.existing != NULL && is_stale(sc.existing, c->lease_id)) {
        c->out->stale = 1;
        return STREAMY_NOT_FOUND;
    }
    if (sc.existing == NULL) {
        maybe_drop_user(m, u);
        return STREAMY_NOT_FOUND;
    }
    sc.existing->renewed = req->now_ms;
    sc.existing->expires = expiry(req);
    out->since_ms = sc.existing->since;
    out->expires_ms = sc.existing->expires;
    tell_lease(c->out, sc.existing);
    return STREAMY_OK;
}

static void free_slots(mslot *slots, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(slots[i].user);
        free(slots[i].lease);
    }
    free(slots);
}

/* Decide one operation under the lock. */
static int mem_decide_locked(memory_store *m, const streamy_store_call *c, mslot *slot)
{
    switch (c->kind) {
    case STREAMY_OP_SUBSCRIBE:
        return mem_acquire_locked(m, c, slot);
    case STREAMY_OP_UNSUBSCRIBE:
        return mem_release_locked(m, c);
    case STREAMY_OP_RENEW:
        return mem_renew_locked(m, c);
    }
    return STREAMY_EINVAL;
}

static int memory_decide(streamy_store *st, streamy_store_call *ops, size_t n)
{
    memory_store *m = (memory_store *)st;
    size_t i;
    mslot *slots;
    int rc;

    if (n == 1) {
        /* A single decision: its allocations cannot leave a batch half-done. */
        pthread_mutex_lock(&m->lock);
        rc = mem_decide_locked(m, &ops[0], NULL);
        pthread_mutex_unlock(&m->lock);
        if (rc < 0)
            return rc;
        ops[0].result = rc;
        return STREAMY_OK;
    }
    if ((slots = calloc(n, sizeof(*slots))) == NULL)
        goto nomem;
    for (i = 0; i < n; i++) {
        if (ops[i].kind != STREAMY_OP_SUBSCRIBE)
            continue;
        slots[i].lease = malloc(sizeof(mlease) + STREAMY_ID_MAX + 1);
        slots[i].user = malloc(sizeof(muser) + STREAMY_ID_MAX + 1);
        if (slots[i].lease == NULL || slots[i].user == NULL) {
            free_slots(slots, n);
            goto nomem;
        }
    }
    pthread_mutex_lock(&m->lock);
    for (i = 0; i < n; i++)
        ops[i].result = mem_decide_locked(m, &ops[i], &slots[i]);
    pthread_mutex_unlock(&m->lock);
    free_slots(slots, n);
    return STREAMY_OK;
nomem:
    streamy_store_set_error(st, "memory store: cannot allocate a batch of %zu operations",
                            n);
    return STREAMY_ENOMEM;
}

static int by_since(const void *a, const void *b)
{
    const mlease *x = *(const mlease *const *)a, *y = *(const mlease *const *)b;

    if (x->since != y->since)
        return x->since < y->since ? -1 : 1;
    return strcmp(x->stream, y->stream);
}

static int memory_list(streamy_store *st, const streamy_store_req *req,
                       streamy_lease_cb cb, void *payload)
{
    memory_store *m = (memory_store *)st;
    mlease *l, **v = NULL;
    size_t n = 0, i;
    muser *u;
    int rc = STREAMY_OK;

    pthread_mutex_lock(&m->lock);
    u = find_user(m, req->user, hash_id(req->user));
    for (l = u ? u->leases : NULL; l != NULL; l = l->next)
        n++;
    if (n > 0 && (v = malloc(n * sizeof(*v))) == NULL) {
        streamy_store_set_error(st, "memory store: cannot allocate the list");
        rc = STREAMY_ENOMEM;
        goto out;
    }
    n = 0;
    for (l = u ? u->leases : NULL; l != NULL; l = l->next)
        if (!is_expired(l, req->now_ms))
            v[n++] = l;
    if (n > 1)
        qsort(v, n, sizeof(*v), by_since);
    for (i = 0; i < n; i++) {
        char id[STREAMY_LEASE_ID_LEN + 1];
        streamy_lease lease = {
            v[i]->stream,  v[i]->since, v[i]->renewed,
            v[i]->expires, id,          v[i]->device ? v[i]->device : ""};
        streamy__lease_id_text(id, v[i]->id);
        if (cb(&lease, payload) != 0)
            break;
    }
out:
    pthread_mutex_unlock(&m->lock);
    free(v);
    return rc;
}

static int memory_count(streamy_store *st, const streamy_store_req *req,
                        unsigned int *out)
{
    memory_store *m = (memory_store *)st;
    scan sc;

    pthread_mutex_lock(&m->lock);
    scan_user(&sc, find_user(m, req->user, hash_id(req->user)), NULL, req->now_ms, NULL);
    pthread_mutex_unlock(&m->lock);
    *out = sc.active;
    return STREAMY_OK;
}

static int memory_set_limit(streamy_store *st, const char *user, unsigned int limit)
{
    memory_store *m = (memory_store *)st;
    uint64_t hash = hash_id(user);
    int rc = STREAMY_OK;
    muser *u;

    pthread_mutex_lock(&m->lock);
    u = find_user(m, user, hash);
    if (u == NULL) {
        if ((u = new_user(user, hash)) == NULL) {
            streamy_store_set_error(st, "memory store: cannot allocate a user");
            rc = STREAMY_ENOMEM;
            goto out;
        }
        insert_user(m, u);
    }
    u->limit = limit;
    u->has_limit = 1;
out:
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int memory_clear_limit(streamy_store *st, const char *user)
{
    memory_store *m = (memory_store *)st;
    muser *u;

    pthread_mutex_lock(&m->lock);
    u = find_user(m, user, hash_id(user));
    if (u != NULL) {
        u->has_limit = 0;
        maybe_drop_user(m, u);
    }
    pthread_mutex_unlock(&m->lock);
    return STREAMY_OK;
}

static int memory_get_limit(streamy_store *st, const char *user, unsigned int *limit,
                            int *found)
{
    memory_store *m = (memory_store *)st;
    muser *u;

    pthread_mutex_lock(&m->lock);
    u = find_user(m, user, hash_id(user));
    *found = u != NULL && u->has_limit;
    if (*found)
        *limit = u->limit;
    pthread_mutex_unlock(&m->lock);
    return STREAMY_OK;
}

static int memory_purge(streamy_store *st, const streamy_store_req *req,
                        uint64_t *removed)
{
    int64_t now_ms = req->now_ms;
    memory_store *m = (memory_store *)st;
    uint64_t n = 0;
    size_t i;

    pthread_mutex_lock(&m->lock);
    for (i = 0; i <= m->mask; i++) {
        muser *u = m->buckets[i], *next;
        for (; u != NULL; u = next) {
            scan sc;
            next = u->next;
            scan_user(&sc, u, NULL, now_ms, NULL);
            if (sc.expired == 0)
                continue;
            n += sc.expired;
            drop_leases(u, now_ms, NULL);
            maybe_drop_user(m, u);
        }
    }
    pthread_mutex_unlock(&m->lock);
    *removed = n;
    return STREAMY_OK;
}

static void memory_free(streamy_store *st)
{
    memory_store *m = (memory_store *)st;
    size_t i;

    for (i = 0; i <= m->mask; i++) {
        muser *u = m->buckets[i], *next;
        for (; u != NULL; u = next) {
            mlease *l = u->leases, *ln;
            next = u->next;
            for (; l != NULL; l = ln) {
                ln = l->next;
                free_lease(l);
            }
            free(u);
        }
    }
    pthread_mutex_destroy(&m->lock);
    free(m->buckets);
    free(m);
}

int streamy_store_memory_new(streamy_store **out)
{
    memory_store *m;

    streamy__error_begin(NULL);
    if (out == NULL)
        return streamy__error(STREAMY_EINVAL, "output store pointer is NULL");
    *out = NULL;
    m = calloc(1, sizeof(*m));
    if (m == NULL || (m->buckets = calloc(64, sizeof(*m->buckets))) == NULL) {
        free(m);
        return streamy__error(STREAMY_ENOMEM, "memory store: cannot allocate the store");
    }
    m->mask = 63;
    pthread_mutex_init(&m->lock, NULL);
    streamy_store_init(&m->base, STREAMY_STORE_VERSION);
    m->base.name = "memory";
    m->base.list = memory_list;
    m->base.count = memory_count;
    m->base.set_limit = memory_set_limit;
    m->base.clear_limit = memory_clear_limit;
    m->base.get_limit = memory_get_limit;
    m->base.purge = memory_purge;
    m->base.decide = memory_decide;
    m->base.free = memory_free;
    *out = &m->base;
    return STREAMY_OK;
}

int streamy__store_memory_open(streamy_store **out, const char *uri,
                               const streamy_options *o)
{
    STREAMY_UNUSED(o);
    if (strcmp(uri, "memory:") != 0)
        return streamy__error(STREAMY_EINVAL,
                              "memory URI takes nothing after \"memory:\"");
    return streamy_store_memory_new(out);
}
