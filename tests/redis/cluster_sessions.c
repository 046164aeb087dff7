/* SPDX-License-Identifier: MIT */
/* cluster_sessions.c: sessions on a Redis Cluster: batches whose users live on every
 * primary (one pipeline per node) carry lease ids, devices, evicted sessions and fences
 * in order; a lease written by release 0.2.0 on each node gets an id when renewed.
 *
 *   sh tests/redis/with_cluster.sh cluster_sessions
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster_util.h"
#include "streamy.h"

#define NUSERS 12
#define T0 1700000000000LL

static int64_t clock_at(void *payload)
{
    (void)payload;
    return T0;
}

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond))                                                                     \
            fail(__VA_ARGS__);                                                           \
    } while (0)

static char users[NUSERS][16], devices[NUSERS][16];

/* Decide `n` operations in one batch; every one must reach the store. */
static void apply(streamy *h, streamy_batch_op *ops, streamy_call *c, streamy_answer *a,
                  size_t n)
{
    for (size_t i = 0; i < n; i++) {
        streamy_answer_init(&a[i], STREAMY_CALL_VERSION);
        ops[i].call = &c[i];
        ops[i].answer = &a[i];
    }
    CHECK(streamy_apply_ex(h, ops, n) == STREAMY_OK, "batch: %s", streamy_errmsg(h));
    for (size_t i = 0; i < n; i++)
        CHECK(ops[i].result >= 0, "batch operation %zu: %s", i,
              streamy_strerror(ops[i].result));
}

static streamy_call call_of(const char *user, const char *stream, const char *lease_id,
                            const char *device)
{
    streamy_call c = STREAMY_CALL_INIT;

    c.user = user;
    c.stream = stream;
    c.lease_id = lease_id;
    c.device = device;
    return c;
}

typedef struct seen {
    char id[4][STREAMY_LEASE_ID_LEN + 1], stream[4][16];
    int n;
} seen;

static int collect(const streamy_lease *l, void *payload)
{
    seen *s = payload;

    if (s->n < 4) {
        snprintf(s->id[s->n], sizeof(s->id[0]), "%s", l->lease_id);
        snprintf(s->stream[s->n], sizeof(s->stream[0]), "%s", l->stream);
    }
    s->n++;
    return 0;
}

int main(void)
{
    static streamy_batch_op ops[4 * NUSERS];
    static streamy_call c[4 * NUSERS];
    static streamy_answer a[4 * NUSERS];
    static char s1[NUSERS][STREAMY_LEASE_ID_LEN + 1],
        s3[NUSERS][STREAMY_LEASE_ID_LEN + 1];
    const char *p = getenv("CLUSTER_PORTS");
    char uri[512], prefix[32];
    int n = 0, owners[NODES] = {0}, nowners = 0;
    streamy_options o;
    streamy *h;

    for (char *e; p != NULL && n < NODES && *p; p = e) {
        long v = strtol(p, &e, 10);
        if (e == p)
            break;
        ports[n++] = (int)v;
    }
    if (n != NODES)
        fail("run under with_cluster.sh (CLUSTER_PORTS has %d ports, not %d)", n, NODES);
    snprintf(prefix, sizeof(prefix), "css%ld:", (long)getpid());
    cluster_uri(uri, sizeof(uri), prefix, "");
    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    o.limit = 2;
    o.ttl_ms = 60000;
    o.policy = STREAMY_POLICY_EVICT_OLDEST;
    o.clock = clock_at;
    CHECK(streamy_open(&h, uri, &o) == STREAMY_OK, "open %s: %s", uri,
          streamy_errmsg(NULL));
    for (int u = 0; u < NUSERS; u++) {
        int owner;
        snprintf(users[u], sizeof(users[u]), "user%d", u);
        snprintf(devices[u], sizeof(devices[u]), "TV:%d", u);
        owner = slot_owner(user_slot(users[u]));
        for (int k = 0; k <= nowners; k++)
            if (k == nowners) {
                owners[nowners++] = owner;
                break;
            } else if (owners[k] == owner) {
                break;
            }
    }
    CHECK(nowners == 3, "the users live on %d primaries, not 3", nowners);

    /* One batch: per user s1 (with a device), s2, then s3, which evicts s1. */
    for (int u = 0; u < NUSERS; u++) {
        c[3 * u] = call_of(users[u], "s1", NULL, devices[u]);
        c[3 * u + 1] = call_of(users[u], "s2", NULL, NULL);
        c[3 * u + 2] = call_of(users[u], "s3", NULL, NULL);
        for (int k = 0; k < 3; k++)
            ops[3 * u + k].kind = STREAMY_OP_SUBSCRIBE;
    }
    apply(h, ops, c, a, 3 * NUSERS);
    for (int u = 0; u < NUSERS; u++) {
        const streamy_answer *x = &a[3 * u];
        CHECK(strlen(x[0].lease_id) == STREAMY_LEASE_ID_LEN && x[0].lease_id[14] == '4',
              "%s s1: lease id \"%s\"", users[u], x[0].lease_id);
        CHECK(strcmp(x[0].device, devices[u]) == 0, "%s s1: device \"%s\"", users[u],
              x[0].device);
        CHECK(strcmp(x[0].lease_id, x[1].lease_id) != 0 &&
                  strcmp(x[1].lease_id, x[2].lease_id) != 0,
              "%s: two leases share an id", users[u]);
        CHECK(strcmp(x[2].decision.evicted, "s1") == 0 &&
                  strcmp(x[2].evicted_lease_id, x[0].lease_id) == 0 &&
                  strcmp(x[2].evicted_device, devices[u]) == 0,
              "%s s3: evicted \"%s\" id \"%s\" device \"%s\"", users[u],
              x[2].decision.evicted, x[2].evicted_lease_id, x[2].evicted_device);
        strcpy(s1[u], x[0].lease_id);
        strcpy(s3[u], x[2].lease_id);
    }

    /* The next batch: s1's evicted player renews (gone: not stale), s1 starts again
     * (evicting s2), the old player renews again (stale now), s3 stops by its id. */
    for (int u = 0; u < NUSERS; u++) {
        c[4 * u] = call_of(users[u], "s1", s1[u], NULL);
        ops[4 * u].kind = STREAMY_OP_RENEW;
        c[4 * u + 1] = call_of(users[u], "s1", NULL, NULL);
        ops[4 * u + 1].kind = STREAMY_OP_SUBSCRIBE;
        c[4 * u + 2] = call_of(users[u], "s1", s1[u], NULL);
        ops[4 * u + 2].kind = STREAMY_OP_RENEW;
        c[4 * u + 3] = call_of(users[u], "s3", s3[u], NULL);
        ops[4 * u + 3].kind = STREAMY_OP_UNSUBSCRIBE;
    }
    apply(h, ops, c, a, 4 * NUSERS);
    for (int u = 0; u < NUSERS; u++) {
        const streamy_answer *x = &a[4 * u];
        const streamy_batch_op *op = &ops[4 * u];
        seen s = {0};
        CHECK(op[0].result == STREAMY_NOT_FOUND && !x[0].stale,
              "%s: renew of the evicted s1: %d, stale %d", users[u], op[0].result,
              x[0].stale);
        CHECK(op[1].result == STREAMY_OK && x[1].decision.created &&
                  strcmp(x[1].decision.evicted, "s2") == 0 &&
                  strcmp(x[1].lease_id, s1[u]) != 0,
              "%s: s1 again: %d, evicted \"%s\"", users[u], op[1].result,
              x[1].decision.evicted);
        CHECK(op[2].result == STREAMY_NOT_FOUND && x[2].stale,
              "%s: stale renew of s1: %d, stale %d", users[u], op[2].result, x[2].stale);
        CHECK(op[3].result == STREAMY_OK && x[3].decision.removed &&
                  x[3].lease_id[0] == '\0',
              "%s: unsubscribe of s3 by its id: removed %d, id \"%s\"", users[u],
              x[3].decision.removed, x[3].lease_id);
        CHECK(streamy_list(h, users[u], collect, &s) == STREAMY_OK, "list: %s",
              streamy_errmsg(h));
        CHECK(s.n == 1 && strcmp(s.stream[0], "s1") == 0 &&
                  strcmp(s.id[0], x[1].lease_id) == 0,
              "%s: lists %d leases, the first %s \"%s\"", users[u], s.n, s.stream[0],
              s.id[0]);
    }

    /* A lease of release 0.2.0 on every node: listed without id, renewed with one. */
    for (int u = 0; u < NUSERS; u++) {
        streamy_call rc = call_of(users[u], "old", NULL, NULL);
        streamy_answer ra;
        seen s = {0};
        user_cmd("HSET %sstreamy:{%s}:leases %s 1699999999000:1699999999000:0", prefix,
                 users[u], "old");
        CHECK(streamy_list(h, users[u], collect, &s) == STREAMY_OK && s.n == 2 &&
                  strcmp(s.stream[0], "old") == 0 && s.id[0][0] == '\0',
              "%s: the old lease is not listed as one without id", users[u]);
        streamy_answer_init(&ra, STREAMY_CALL_VERSION);
        CHECK(streamy_renew_ex(&ra, h, &rc) == STREAMY_OK &&
                  strlen(ra.lease_id) == STREAMY_LEASE_ID_LEN &&
                  ra.decision.since_ms == 1699999999000LL,
              "%s: renew of the old lease: id \"%s\": %s", users[u], ra.lease_id,
              streamy_errmsg(h));
    }
    streamy_close(h);
    printf("cluster_sessions: %d users on %d primaries: ids, devices, evictions, fences "
           "and leases of 0.2.0 as on a single Redis\n",
           NUSERS, nowners);
    return 0;
}
