/* SPDX-License-Identifier: MIT */
/* fake_store.c: a store that counts calls and answers as told. */
#include "fake_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int answer(fake_store *f, const streamy_store_req *req)
{
    if (req != NULL) {
        f->last = *req;
        snprintf(f->last_user, sizeof(f->last_user), "%s", req->user ? req->user : "");
        snprintf(f->last_stream, sizeof(f->last_stream), "%s",
                 req->stream ? req->stream : "");
    }
    if (f->error != NULL)
        streamy_store_set_error(&f->base, "fake: %s", f->error);
    return f->answer;
}

static int fake_acquire(streamy_store *st, const streamy_store_req *req,
                        streamy_decision *out)
{
    fake_store *f = (fake_store *)st;
    f->acquires++;
    out->active = 1;
    out->limit = req->limit;
    out->created = 1;
    return answer(f, req);
}

static int fake_release(streamy_store *st, const streamy_store_req *req,
                        streamy_decision *out)
{
    fake_store *f = (fake_store *)st;
    f->releases++;
    out->removed = 1;
    return answer(f, req);
}

static int fake_renew(streamy_store *st, const streamy_store_req *req,
                      streamy_decision *out)
{
    fake_store *f = (fake_store *)st;
    f->renews++;
    out->expires_ms = req->now_ms + req->ttl_ms;
    return answer(f, req);
}

static int fake_list(streamy_store *st, const streamy_store_req *req, streamy_lease_cb cb,
                     void *payload)
{
    fake_store *f = (fake_store *)st;
    /* A version-1 store's lease ends before `lease_id`: what lies past it is not the
     * store's, and the core must not read it (a pointer it would crash on). */
    streamy_lease a = {"a", 1, 2, 0, (const char *)1, (const char *)1};
    streamy_lease b = {"b", 3, 4, 0, (const char *)1, (const char *)1};

    if (f->base.version >= 2) {
        a.lease_id = FAKE_LEASE_ID;
        a.device = "tv";
        b.lease_id = b.device = NULL;
    }
    f->lists++;
    if (f->answer == STREAMY_OK && cb(&a, payload) == 0)
        cb(&b, payload);
    return answer(f, req);
}

static int fake_count(streamy_store *st, const streamy_store_req *req, unsigned int *out)
{
    fake_store *f = (fake_store *)st;
    f->counts++;
    *out = 7;
    return answer(f, req);
}

static int fake_set_limit(streamy_store *st, const char *user, unsigned int limit)
{
    fake_store *f = (fake_store *)st;
    (void)user;
    (void)limit;
    f->set_limits++;
    return answer(f, NULL);
}

static int fake_clear_limit(streamy_store *st, const char *user)
{
    fake_store *f = (fake_store *)st;
    (void)user;
    f->clear_limits++;
    return answer(f, NULL);
}

static int fake_get_limit(streamy_store *st, const char *user, unsigned int *limit,
                          int *found)
{
    fake_store *f = (fake_store *)st;
    (void)user;
    f->get_limits++;
    *limit = 9;
    *found = 1;
    return answer(f, NULL);
}

static int fake_purge(streamy_store *st, const streamy_store_req *req, uint64_t *removed)
{
    fake_store *f = (fake_store *)st;
    (void)req;
    f->purges++;
    *removed = 4;
    return answer(f, NULL);
}

static int fake_health(streamy_store *st)
{
    fake_store *f = (fake_store *)st;
    f->healths++;
    return answer(f, NULL);
}

static int fake_apply(streamy_store *st, streamy_store_op *ops, size_t n)
{
    fake_store *f = (fake_store *)st;

    f->applies++;
    f->last_apply_n = n;
    for (size_t i = 0; i < n && i < 8; i++)
        f->apply_limits[i] = ops[i].req.limit;
    if (f->answer < 0)
        return answer(f, NULL);
    for (size_t i = 0; i < n; i++) {
        ops[i].result = STREAMY_OK;
        ops[i].out->active = (unsigned int)i + 1;
        ops[i].out->limit = ops[i].req.limit;
    }
    return STREAMY_OK;
}

static int fake_decide(streamy_store *st, streamy_store_call *calls, size_t n)
{
    fake_store *f = (fake_store *)st;

    f->decides++;
    f->last_decide_n = n;
    f->last_kind = calls[0].kind;
    f->last_lease_id_null = calls[0].lease_id == NULL;
    f->last_device_null = calls[0].device == NULL;
    snprintf(f->last_lease_id, sizeof(f->last_lease_id), "%s",
             calls[0].lease_id ? calls[0].lease_id : "");
    snprintf(f->last_device, sizeof(f->last_device), "%s",
             calls[0].device ? calls[0].device : "");
    for (size_t i = 0; i < n && i < 8; i++)
        f->decide_limits[i] = calls[i].req.limit;
    if (f->answer < 0)
        return answer(f, &calls[0].req);
    (void)answer(f, &calls[0].req);
    for (size_t i = 0; i < n; i++) {
        streamy_answer *a = calls[i].out;
        calls[i].result = STREAMY_OK;
        a->decision.active = (unsigned int)i + 1;
        a->decision.limit = calls[i].req.limit;
        a->decision.created = calls[i].kind == STREAMY_OP_SUBSCRIBE;
        a->decision.removed = calls[i].kind == STREAMY_OP_UNSUBSCRIBE;
        snprintf(a->lease_id, sizeof(a->lease_id), "%s", FAKE_LEASE_ID);
        snprintf(a->device, sizeof(a->device), "%s",
                 calls[i].device ? calls[i].device : "");
    }
    return STREAMY_OK;
}

static void fake_free(streamy_store *st)
{
    fake_store *f = (fake_store *)st;
    if (f->freed != NULL)
        *f->freed = 1;
    free(f);
}

fake_store *fake_store_new(int minimal)
{
    fake_store *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return NULL;
    streamy_store_init(&f->base, 1); /* a store written for version 1 */
    f->base.name = "fake";
    f->base.acquire = fake_acquire;
    f->base.release = fake_release;
    f->base.renew = fake_renew;
    f->base.list = fake_list;
    f->base.free = fake_free;
    if (!minimal) {
        f->base.count = fake_count;
        f->base.set_limit = fake_set_limit;
        f->base.clear_limit = fake_clear_limit;
        f->base.get_limit = fake_get_limit;
        f->base.purge = fake_purge;
        f->base.health = fake_health;
        f->base.apply = fake_apply;
    }
    return f;
}

fake_store *fake_store_new_sessions(void)
{
    fake_store *f = fake_store_new(0);

    if (f == NULL)
        return NULL;
    f->base.version = 2;
    f->base.decide = fake_decide;
    return f;
}
