/* SPDX-License-Identifier: MIT */
/* fuzz_sequence.c: library operations decoded from the input, run on the memory and
 * SQLite stores side by side. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamy.h"

#define MAX_STEPS 100
#define MAX_LEASES 64
#define NUSERS 4 /* distinct users, once canonical */

#define FUZZ_WHERE() fprintf(stderr, "fuzz_sequence: step %d: ", step_no)
#include "fuzz.h"

static int step_no;

/* Spellings of users: two of them are one user (a UUID in two cases); the last is
 * invalid. */
static const char *const users[] = {"alice",
                                    "bob",
                                    "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
                                    "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
                                    "\303\274nic\303\266de",
                                    ""};
static const int user_of[] = {0, 1, 2, 2, 3, -1};
static const char *const canon_users[NUSERS] = {
    "alice", "bob", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "\303\274nic\303\266de"};
static const char *const streams[] = {"s1",
                                      "s2",
                                      "s3",
                                      "s4",
                                      "live tv",
                                      "C56A4180-65AA-42EC-A945-5FD21DEC0538",
                                      "c56a4180-65aa-42ec-a945-5fd21dec0538",
                                      "bad\x01"};

static const char *const backends[2] = {"memory:", "sqlite::memory:"};

/* What the observer of one handle saw since the last step. */
#define MAX_EVENTS 64
typedef struct event_log {
    size_t n;
    int overflow;
    struct {
        streamy_event_kind kind;
        char user[STREAMY_ID_MAX + 1], stream[STREAMY_ID_MAX + 1];
        unsigned count, active, limit;
        int shadow_refused;
        int64_t at_ms;
    } v[MAX_EVENTS];
} event_log;

typedef struct world {
    streamy *h[2];
    event_log events[2];
    int64_t now;
    int shadow;
    int64_t ttl;
    /* How many leases a user may hold although over their limit: what they held
     * when the limit was lowered under it, shrinking as they give leases up. */
    unsigned ceiling[NUSERS];
} world;

typedef struct lease_list {
    size_t n;
    struct {
        char stream[STREAMY_ID_MAX + 1];
        int64_t since, renewed, expires;
    } v[MAX_LEASES];
} lease_list;

static int64_t clock_cb(void *payload)
{
    return *(const int64_t *)payload;
}

static void observe(const streamy_event *e, void *payload)
{
    event_log *log = payload;

    if (log->n == MAX_EVENTS) {
        log->overflow = 1;
        return;
    }
    log->v[log->n].kind = e->kind;
    snprintf(log->v[log->n].user, sizeof(log->v[0].user), "%s", e->user ? e->user : "");
    snprintf(log->v[log->n].stream, sizeof(log->v[0].stream), "%s",
             e->stream ? e->stream : "");
    log->v[log->n].count = e->count;
    log->v[log->n].active = e->active;
    log->v[log->n].limit = e->limit;
    log->v[log->n].shadow_refused = e->shadow_refused;
    log->v[log->n].at_ms = e->at_ms;
    log->n++;
}

static int collect(const streamy_lease *l, void *payload)
{
    lease_list *list = payload;

    if (list->n == MAX_LEASES)
        return 1;
    snprintf(list->v[list->n].stream, sizeof(list->v[0].stream), "%s", l->stream);
    list->v[list->n].since = l->since_ms;
    list->v[list->n].renewed = l->renewed_ms;
    list->v[list->n].expires = l->expires_ms;
    list->n++;
    return 0;
}

static void same_decision(const streamy_decision *a, const streamy_decision *b,
                          const char *what)
{
    CHECK(
        a->created == b->created && a->removed == b->removed &&
            a->shadow_refused == b->shadow_refused && a->active == b->active &&
            a->limit == b->limit && a->expired == b->expired &&
            a->since_ms == b->since_ms && a->expires_ms == b->expires_ms &&
            a->retry_ms == b->retry_ms && strcmp(a->evicted, b->evicted) == 0,
        "%s: memory {created %d removed %d shadow %d active %u limit %u expired %u since "
        "%lld expires %lld retry %lld evicted \"%s\"} sqlite {created %d removed %d "
        "shadow %d active %u limit %u expired %u since %lld expires %lld retry %lld "
        "evicted \"%s\"}",
        what, a->created, a->removed, a->shadow_refused, a->active, a->limit, a->expired,
        (long long)a->since_ms, (long long)a->expires_ms, (long long)a->retry_ms,
        a->evicted, b->created, b->removed, b->shadow_refused, b->active, b->limit,
        b->expired, (long long)b->since_ms, (long long)b->expires_ms,
        (long long)b->retry_ms, b->evicted);
}

/* What one answer must say, whichever store gave it. */
static void check_decision(const world *w, streamy_op_kind kind, int rc,
                           const streamy_decision *d)
{
    int64_t expires = w->ttl ? w->now + w->ttl : 0;

    CHECK(rc == STREAMY_OK || rc == STREAMY_LIMIT_REACHED || rc == STREAMY_NOT_FOUND ||
              rc == STREAMY_EINVAL,
          "result %d (%s)", rc, streamy_strerror(rc));
    if (rc == STREAMY_EINVAL)
        return;
    if (kind == STREAMY_OP_SUBSCRIBE && rc == STREAMY_OK) {
        CHECK(d->active >= 1 && d->expires_ms == expires && d->since_ms <= w->now,
              "allowed: active %u expires %lld since %lld", d->active,
              (long long)d->expires_ms, (long long)d->since_ms);
        CHECK(!d->shadow_refused || w->shadow, "shadow refusal outside shadow mode");
        CHECK(d->evicted[0] == '\0' || d->created, "evicted for a refreshed lease");
    } else if (kind == STREAMY_OP_SUBSCRIBE) {
        CHECK(rc == STREAMY_LIMIT_REACHED && !w->shadow, "result %d", rc);
        CHECK(d->active >= d->limit, "refused at %u of %u", d->active, d->limit);
        CHECK(d->retry_ms == 0 || (w->ttl && d->retry_ms > w->now), "retry %lld at %lld",
              (long long)d->retry_ms, (long long)w->now);
    } else if (kind == STREAMY_OP_RENEW && rc == STREAMY_OK) {
        CHECK(d->expires_ms == expires && d->since_ms <= w->now, "renewed to %lld",
              (long long)d->expires_ms);
    } else if (kind == STREAMY_OP_UNSUBSCRIBE) {
        CHECK(rc == STREAMY_OK && d->removed + d->expired <= 1, "unsubscribe %d", rc);
    }
}

static void decide(world *w, streamy_op_kind kind, const char *user, const char *stream)
{
    streamy_decision d[2];
    int rc[2];

    for (int b = 0; b < 2; b++) {
        if (kind == STREAMY_OP_SUBSCRIBE)
            rc[b] = streamy_subscribe(&d[b], w->h[b], user, stream);
        else if (kind == STREAMY_OP_UNSUBSCRIBE)
            rc[b] = streamy_unsubscribe(&d[b], w->h[b], user, stream);
        else
            rc[b] = streamy_renew(&d[b], w->h[b], user, stream);
        check_decision(w, kind, rc[b], &d[b]);
    }
    CHECK(rc[0] == rc[1], "op %d: memory %d, sqlite %d (%s)", (int)kind, rc[0], rc[1],
          streamy_errmsg(w->h[1]));
    same_decision(&d[0], &d[1], "decision");
}

static void apply(world *w, const uint8_t *code, size_t n)
{
    streamy_op ops[2][8];
    int rc[2];

    for (int b = 0; b < 2; b++) {
        for (size_t i = 0; i < n; i++) {
            memset(&ops[b][i], 0, sizeof(ops[b][i]));
            /* Mostly the three kinds; now and then one the library must refuse. */
            ops[b][i].kind = code[i] % 16 == 15 ? (streamy_op_kind)0
                                                : (streamy_op_kind)(1 + code[i] % 3);
            ops[b][i].user = users[(code[i] >> 2) % 6];
            ops[b][i].stream = streams[(code[i] >> 5) % 8];
        }
        rc[b] = streamy_apply(w->h[b], ops[b], n);
        CHECK(rc[b] == STREAMY_OK, "apply on %s: %d %s", backends[b], rc[b],
              streamy_errmsg(w->h[b]));
        for (size_t i = 0; i < n; i++) {
            if (ops[b][i].kind != 0)
                check_decision(w, ops[b][i].kind, ops[b][i].result, &ops[b][i].decision);
            else
                CHECK(ops[b][i].result == STREAMY_EINVAL, "kind 0: %d", ops[b][i].result);
        }
    }
    for (size_t i = 0; i < n; i++) {
        CHECK(ops[0][i].result == ops[1][i].result,
              "batch op %zu (kind %d): memory %d, "
              "sqlite %d",
              i, (int)ops[0][i].kind, ops[0][i].result, ops[1][i].result);
        same_decision(&ops[0][i].decision, &ops[1][i].decision, "batch decision");
    }
}

static unsigned count_of(world *w, int b, const char *user)
{
    unsigned n = 0;
    int rc = streamy_count(&n, w->h[b], user);

    CHECK(rc == STREAMY_OK, "count on %s: %s", backends[b], streamy_errmsg(w->h[b]));
    return n;
}

/* After every step: both stores agree on every user, list and count agree, and
 * nobody holds more than their limit (outside shadow mode and lowered limits). */
static void check_world(world *w)
{
    streamy_counters c[2];
    const event_log *e = w->events;

    /* The observers saw the same decisions, in the same order. */
    CHECK(e[0].n == e[1].n && e[0].overflow == e[1].overflow, "%zu events vs %zu", e[0].n,
          e[1].n);
    for (size_t i = 0; i < e[0].n; i++)
        CHECK(e[0].v[i].kind == e[1].v[i].kind &&
                  strcmp(e[0].v[i].user, e[1].v[i].user) == 0 &&
                  strcmp(e[0].v[i].stream, e[1].v[i].stream) == 0 &&
                  e[0].v[i].count == e[1].v[i].count &&
                  e[0].v[i].active == e[1].v[i].active &&
                  e[0].v[i].limit == e[1].v[i].limit &&
                  e[0].v[i].shadow_refused == e[1].v[i].shadow_refused &&
                  e[0].v[i].at_ms == e[1].v[i].at_ms,
              "event %zu: memory kind %d user %s stream %s count %u, sqlite kind %d user "
              "%s "
              "stream %s count %u",
              i, (int)e[0].v[i].kind, e[0].v[i].user, e[0].v[i].stream, e[0].v[i].count,
              (int)e[1].v[i].kind, e[1].v[i].user, e[1].v[i].stream, e[1].v[i].count);
    w->events[0].n = w->events[1].n = 0;
    w->events[0].overflow = w->events[1].overflow = 0;

    for (int u = 0; u < NUSERS; u++) {
        static lease_list l[2];
        unsigned n[2], limit[2];
        int over[2];

        for (int b = 0; b < 2; b++) {
            l[b].n = 0;
            CHECK(streamy_list(w->h[b], canon_users[u], collect, &l[b]) == STREAMY_OK,
                  "list: %s", streamy_errmsg(w->h[b]));
            n[b] = count_of(w, b, canon_users[u]);
            CHECK(n[b] == l[b].n, "%s: count %u, list %zu", backends[b], n[b], l[b].n);
            CHECK(streamy_get_limit(&limit[b], &over[b], w->h[b], canon_users[u]) ==
                      STREAMY_OK,
                  "get_limit: %s", streamy_errmsg(w->h[b]));
            for (size_t i = 0; i < l[b].n; i++) {
                CHECK(l[b].v[i].expires == 0 || l[b].v[i].expires > w->now,
                      "listed an expired lease");
                CHECK(i == 0 || l[b].v[i - 1].since <= l[b].v[i].since, "list order");
                CHECK(l[b].v[i].since <= l[b].v[i].renewed && l[b].v[i].renewed <= w->now,
                      "lease times");
            }
        }
        CHECK(limit[0] == limit[1] && over[0] == over[1], "limit %u/%d vs %u/%d",
              limit[0], over[0], limit[1], over[1]);
        CHECK(l[0].n == l[1].n, "user %s: memory lists %zu leases, sqlite %zu",
              canon_users[u], l[0].n, l[1].n);
        for (size_t i = 0; i < l[0].n; i++)
            CHECK(strcmp(l[0].v[i].stream, l[1].v[i].stream) == 0 &&
                      l[0].v[i].since == l[1].v[i].since &&
                      l[0].v[i].renewed == l[1].v[i].renewed &&
                      l[0].v[i].expires == l[1].v[i].expires,
                  "lease %zu of %s differs: %s vs %s", i, canon_users[u],
                  l[0].v[i].stream, l[1].v[i].stream);
        if (!w->shadow)
            CHECK(n[0] <= limit[0] || n[0] <= w->ceiling[u],
                  "THE INVARIANT: user %s holds %u leases, limit %u", canon_users[u],
                  n[0], limit[0]);
        if (w->ceiling[u] > n[0])
            w->ceiling[u] = n[0];
    }
    for (int b = 0; b < 2; b++)
        CHECK(streamy_stats(&c[b], w->h[b]) == STREAMY_OK, "stats");
    CHECK(
        memcmp(&c[0], &c[1], sizeof(c[0])) == 0,
        "counters differ: allowed %llu/%llu refused %llu/%llu evicted %llu/%llu expired "
        "%llu/%llu renewed %llu/%llu released %llu/%llu",
        (unsigned long long)c[0].allowed, (unsigned long long)c[1].allowed,
        (unsigned long long)c[0].refused, (unsigned long long)c[1].refused,
        (unsigned long long)c[0].evicted, (unsigned long long)c[1].evicted,
        (unsigned long long)c[0].expired, (unsigned long long)c[1].expired,
        (unsigned long long)c[0].renewed, (unsigned long long)c[1].renewed,
        (unsigned long long)c[0].released, (unsigned long long)c[1].released);
}

/* A limit is about to change: what the user holds now may stay. */
static void limit_changes(world *w, int u)
{
    unsigned n;

    if (u < 0)
        return;
    n = count_of(w, 0, canon_users[u]);
    if (n > w->ceiling[u])
        w->ceiling[u] = n;
}

static void same_rc(world *w, const int rc[2], const char *what)
{
    CHECK(rc[0] == rc[1], "%s: memory %d, sqlite %d: %s", what, rc[0], rc[1],
          streamy_errmsg(w->h[rc[0] == 0]));
}

static void run(world *w, const uint8_t *data, size_t size)
{
    size_t pos = 0;

    for (step_no = 1; step_no <= MAX_STEPS && pos + 2 <= size; step_no++) {
        uint8_t op = data[pos], arg = data[pos + 1];
        const char *user = users[arg % 6], *stream = streams[(arg >> 3) % 8];
        int u = user_of[arg % 6], rc[2];
        unsigned n[2];
        uint64_t removed[2];

        pos += 2;
        switch (op % 12) {
        case 0:
        case 1:
            decide(w, STREAMY_OP_SUBSCRIBE, user, stream);
            break;
        case 2:
            decide(w, STREAMY_OP_UNSUBSCRIBE, user, stream);
            break;
        case 3:
            decide(w, STREAMY_OP_RENEW, user, stream);
            break;
        case 4:
            for (int b = 0; b < 2; b++)
                rc[b] = streamy_count(&n[b], w->h[b], user);
            same_rc(w, rc, "count");
            CHECK(rc[0] != STREAMY_OK || n[0] == n[1], "count %u vs %u", n[0], n[1]);
            break;
        case 5:
            limit_changes(w, u);
            for (int b = 0; b < 2; b++)
                rc[b] = streamy_set_limit(w->h[b], user, (op >> 4) % 5);
            same_rc(w, rc, "set_limit");
            break;
        case 6:
            limit_changes(w, u);
            for (int b = 0; b < 2; b++)
                rc[b] = streamy_clear_limit(w->h[b], user);
            same_rc(w, rc, "clear_limit");
            break;
        case 7:
            for (int b = 0; b < 2; b++)
                rc[b] = streamy_purge(&removed[b], w->h[b]);
            same_rc(w, rc, "purge");
            CHECK(removed[0] == removed[1], "purge removed %llu vs %llu",
                  (unsigned long long)removed[0], (unsigned long long)removed[1]);
            break;
        case 8: {
            size_t k = 1 + arg % 8;
            if (pos + k > size)
                k = size - pos;
            if (k > 0)
                apply(w, data + pos, k);
            pos += k;
            break;
        }
        case 9: /* time passes: up to about 11 minutes */
            w->now += (int64_t)arg * arg * 10;
            break;
        case 10: /* a little time: around a TTL of 1 s */
            w->now += (int64_t)(arg % 16) * 100;
            break;
        default:
            for (int b = 0; b < 2; b++)
                rc[b] = streamy_health(w->h[b]);
            same_rc(w, rc, "health");
            CHECK(rc[0] == STREAMY_OK, "health");
            break;
        }
        check_world(w);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t ttls[] = {0, 1000, 30000, 3600000};
    streamy_options o = STREAMY_OPTIONS_INIT;
    world w;

    if (size < 4)
        return 0;
    memset(&w, 0, sizeof(w));
    w.now = 1700000000000LL;
    o.limit = data[0] % 5;
    o.ttl_ms = w.ttl = ttls[data[1] % 4];
    o.policy = (streamy_policy)(data[2] % 3);
    o.shadow = w.shadow = data[3] & 1;
    o.clock = clock_cb;
    o.clock_payload = &w.now;
    step_no = 0;
    o.observer = observe;
    for (int b = 0; b < 2; b++) {
        o.observer_payload = &w.events[b];
        CHECK(streamy_open(&w.h[b], backends[b], &o) == STREAMY_OK, "open %s: %s",
              backends[b], streamy_errmsg(NULL));
    }
    run(&w, data + 4, size - 4);
    for (int b = 0; b < 2; b++)
        streamy_close(w.h[b]);
    return 0;
}
