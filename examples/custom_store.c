/* SPDX-License-Identifier: MIT */
/* custom_store.c: a storage backend written against streamy/store.h: a fixed table in
 * memory.
 *
 * It shows the shape every backend has: a struct that starts with
 * `streamy_store base`, methods that decide atomically (here under one mutex),
 * results written into the caller's structs, errors through
 * streamy_store_set_error(). Build by hand against an installed libstreamy:
 *   cc custom_store.c $(pkg-config --cflags --libs streamy) -lpthread -o custom_store
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <streamy.h>
#include <streamy/store.h>

#define SLOTS 64

typedef struct slot {
    int used;
    char user[STREAMY_ID_MAX + 1], stream[STREAMY_ID_MAX + 1];
    int64_t since, renewed, expires;
} slot;

typedef struct table_store {
    streamy_store base; /* first, so the core can hold &base */
    pthread_mutex_t lock;
    slot slots[SLOTS];
} table_store;

static int live(const slot *s, const char *user, int64_t now)
{
    return s->used && strcmp(s->user, user) == 0 && (s->expires == 0 || s->expires > now);
}

/* Drop the user's expired leases; return how many. */
static unsigned drop_expired(table_store *t, const char *user, int64_t now)
{
    unsigned n = 0;
    for (int i = 0; i < SLOTS; i++) {
        slot *s = &t->slots[i];
        if (s->used && strcmp(s->user, user) == 0 && s->expires != 0 &&
            s->expires <= now) {
            s->used = 0;
            n++;
        }
    }
    return n;
}

static slot *find(table_store *t, const streamy_store_req *req, unsigned *active)
{
    slot *found = NULL;
    *active = 0;
    for (int i = 0; i < SLOTS; i++) {
        slot *s = &t->slots[i];
        if (!live(s, req->user, req->now_ms))
            continue;
        (*active)++;
        if (strcmp(s->stream, req->stream) == 0)
            found = s;
    }
    return found;
}

/* Check and insert in one step: the whole decision runs under the lock. This
 * store knows the reject policy only and keeps no per-user limits. */
static int table_acquire(streamy_store *st, const streamy_store_req *req,
                         streamy_decision *out)
{
    table_store *t = (table_store *)st;
    int64_t expires = req->ttl_ms ? req->now_ms + req->ttl_ms : 0;
    slot *s;
    int rc = STREAMY_OK, i;

    pthread_mutex_lock(&t->lock);
    out->expired = drop_expired(t, req->user, req->now_ms);
    out->limit = req->limit;
    s = find(t, req, &out->active);
    if (s != NULL) {
        s->renewed = req->now_ms;
        s->expires = expires;
        out->since_ms = s->since;
        out->expires_ms = expires;
        goto out;
    }
    if (out->active >= req->limit && !req->shadow) {
        rc = STREAMY_LIMIT_REACHED;
        goto out;
    }
    for (i = 0; i < SLOTS && t->slots[i].used; i++) {
    }
    if (i == SLOTS) {
        streamy_store_set_error(st, "table store: all %d slots are taken", SLOTS);
        rc = STREAMY_ESTORE;
        goto out;
    }
    s = &t->slots[i];
    s->used = 1;
    snprintf(s->user, sizeof(s->user), "%s", req->user);
    snprintf(s->stream, sizeof(s->stream), "%s", req->stream);
    s->since = s->renewed = req->now_ms;
    s->expires = expires;
    out->shadow_refused = out->active >= req->limit;
    out->created = 1;
    out->active++;
    out->since_ms = s->since;
    out->expires_ms = expires;
out:
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static int table_release(streamy_store *st, const streamy_store_req *req,
                         streamy_decision *out)
{
    table_store *t = (table_store *)st;
    slot *s;
    unsigned active;

    pthread_mutex_lock(&t->lock);
    out->expired = drop_expired(t, req->user, req->now_ms);
    if ((s = find(t, req, &active)) != NULL) {
        s->used = 0;
        out->removed = 1;
    }
    pthread_mutex_unlock(&t->lock);
    return STREAMY_OK;
}

static int table_renew(streamy_store *st, const streamy_store_req *req,
                       streamy_decision *out)
{
    table_store *t = (table_store *)st;
    slot *s;
    int rc = STREAMY_NOT_FOUND;

    pthread_mutex_lock(&t->lock);
    out->expired = drop_expired(t, req->user, req->now_ms);
    out->limit = req->limit;
    if ((s = find(t, req, &out->active)) != NULL) {
        s->renewed = req->now_ms;
        s->expires = req->ttl_ms ? req->now_ms + req->ttl_ms : 0;
        out->since_ms = s->since;
        out->expires_ms = s->expires;
        rc = STREAMY_OK;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static int table_list(streamy_store *st, const streamy_store_req *req,
                      streamy_lease_cb cb, void *payload)
{
    table_store *t = (table_store *)st;

    pthread_mutex_lock(&t->lock);
    for (int i = 0; i < SLOTS; i++) {
        const slot *s = &t->slots[i];
        streamy_lease lease = {s->stream, s->since, s->renewed, s->expires};
        if (live(s, req->user, req->now_ms) && cb(&lease, payload) != 0)
            break;
    }
    pthread_mutex_unlock(&t->lock);
    return STREAMY_OK;
}

static void table_free(streamy_store *st)
{
    table_store *t = (table_store *)st;
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static int table_store_new(streamy_store **out)
{
    table_store *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return STREAMY_ENOMEM;
    streamy_store_init(&t->base, STREAMY_STORE_VERSION);
    pthread_mutex_init(&t->lock, NULL);
    t->base.name = "table";
    t->base.acquire = table_acquire;
    t->base.release = table_release;
    t->base.renew = table_renew;
    t->base.list = table_list;
    t->base.free = table_free;
    *out = &t->base;
    return STREAMY_OK;
}

int main(void)
{
    const char *streams[] = {"movie-1", "movie-2", "movie-3", "movie-4"};
    streamy_store *st;
    streamy *h;
    unsigned int n = 0;
    int rc, i, refused = 0;

    if (table_store_new(&st) != STREAMY_OK)
        return 1;
    /* The handle owns the store from here, whether the open succeeds or not. */
    if ((rc = streamy_open_store(&h, st, NULL)) != STREAMY_OK) {
        fprintf(stderr, "custom_store: %s\n", streamy_errmsg(NULL));
        return 1;
    }
    for (i = 0; i < 4; i++) {
        rc = streamy_subscribe(NULL, h, "user-42", streams[i]);
        printf("%s store: subscribe %s: %s\n", streamy_store_name(h), streams[i],
               streamy_strerror(rc));
        refused += rc == STREAMY_LIMIT_REACHED;
    }
    streamy_count(&n, h, "user-42");
    printf("%s store: user-42 holds %u streams\n", streamy_store_name(h), n);
    streamy_close(h);
    return refused == 1 && n == 3 ? 0 : 1;
}
