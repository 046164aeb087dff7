/* SPDX-License-Identifier: MIT */
/* metrics.c: counters of the HTTP server, rendered in the Prometheus text format. */
#include "serve_int.h"

#define ADD(p, n) __atomic_fetch_add((p), (n), __ATOMIC_RELAXED)
#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

static const char *const route_names[ROUTE_COUNT_] = {
    [ROUTE_SUBSCRIBE] = "subscribe",
    [ROUTE_UNSUBSCRIBE] = "unsubscribe",
    [ROUTE_RENEW] = "renew",
    [ROUTE_LEASES] = "leases",
    [ROUTE_LIMIT_GET] = "limit_get",
    [ROUTE_LIMIT_PUT] = "limit_put",
    [ROUTE_LIMIT_DELETE] = "limit_delete",
    [ROUTE_HEALTH] = "health",
    [ROUTE_METRICS] = "metrics",
    [ROUTE_OTHER] = "other",
};

/* The statuses the server answers with; anything else lands in the last slot. */
static const unsigned statuses[16] = {200, 204, 400, 401, 404, 405, 413, 415,
                                      429, 431, 500, 503, 0,   0,   0,   0};
#define STATUS_OTHER 15

/* Upper bounds of the latency buckets, in microseconds. */
static const int64_t bucket_us[SERVE_LATENCY_BUCKETS] = {
    250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, 5000000};

const char *serve_route_name(serve_route route)
{
    return (unsigned)route < ROUTE_COUNT_ ? route_names[route] : "other";
}

void serve_metrics_request(serve_metrics *m, serve_route route, unsigned status,
                           int64_t latency_us)
{
    int slot = STATUS_OTHER;

    for (int i = 0; i < STATUS_OTHER && statuses[i] != 0; i++) {
        if (statuses[i] == status) {
            slot = i;
            break;
        }
    }
    if ((unsigned)route >= ROUTE_COUNT_)
        route = ROUTE_OTHER;
    ADD(&m->requests[route][slot], 1);
    for (int i = 0; i < SERVE_LATENCY_BUCKETS; i++) {
        if (latency_us <= bucket_us[i]) {
            ADD(&m->latency_buckets[i], 1);
            break;
        }
    }
    ADD(&m->latency_count, 1);
    ADD(&m->latency_sum_us, (uint64_t)(latency_us > 0 ? latency_us : 0));
}

void serve_metrics_store_error(serve_metrics *m, int rc)
{
    ADD(&m->store_errors[rc == STREAMY_EBUSY ? 0 : rc == STREAMY_ESTORE ? 1 : 2], 1);
}

char *serve_metrics_render(const serve_metrics *m, streamy *h,
                           const serve_group_commit *gc, size_t *len)
{
    streamy__buf t = STREAMY__BUF_INIT;
    streamy_statistics st = STREAMY_STATISTICS_INIT;
    const streamy_counters *c = &st.counters;
    uint64_t cumulative = 0, commits, ops;
    int r, i;

    streamy__buf_puts(&t, "# HELP streamy_http_requests_total HTTP requests answered, by "
                          "route and status.\n"
                          "# TYPE streamy_http_requests_total counter\n");
    for (r = 0; r < ROUTE_COUNT_; r++) {
        for (i = 0; i < 16; i++) {
            uint64_t n = LOAD(&m->requests[r][i]);
            if (n == 0)
                continue;
            if (i == STATUS_OTHER)
                streamy__buf_printf(
                    &t,
                    "streamy_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                    route_names[r], (unsigned long long)n);
            else
                streamy__buf_printf(
                    &t, "streamy_http_requests_total{route=\"%s\",status=\"%u\"} %llu\n",
                    route_names[r], statuses[i], (unsigned long long)n);
        }
    }
    if (streamy_statistics_get(&st, h) == STREAMY_OK) {
        streamy__buf_puts(&t, "# HELP streamy_decisions_total Decisions of the library, "
                              "by outcome.\n"
                              "# TYPE streamy_decisions_total counter\n");
#define DECISION(name)                                                                   \
    streamy__buf_printf(&t, "streamy_decisions_total{outcome=\"" #name "\"} %llu\n",     \
                        (unsigned long long)c->name)
        DECISION(allowed);
        DECISION(refused);
        DECISION(evicted);
        DECISION(expired);
        DECISION(renewed);
        DECISION(released);
        DECISION(shadow_refused);
#undef DECISION
        streamy__buf_printf(
            &t,
            "# HELP streamy_degraded_total Subscribes and renews answered "
            "200 without the store (--on-store-error allow): nothing "
            "was recorded.\n"
            "# TYPE streamy_degraded_total counter\n"
            "streamy_degraded_total %llu\n",
            (unsigned long long)st.degraded);
    }
    streamy__buf_printf(
        &t,
        "# HELP streamy_store_errors_total Requests that failed in the store.\n"
        "# TYPE streamy_store_errors_total counter\n"
        "streamy_store_errors_total{kind=\"busy\"} %llu\n"
        "streamy_store_errors_total{kind=\"store\"} %llu\n"
        "streamy_store_errors_total{kind=\"other\"} %llu\n",
        (unsigned long long)LOAD(&m->store_errors[0]),
        (unsigned long long)LOAD(&m->store_errors[1]),
        (unsigned long long)LOAD(&m->store_errors[2]));
    streamy__buf_puts(&t, "# HELP streamy_http_request_duration_seconds Time from the "
                          "request's first byte to its answer.\n"
                          "# TYPE streamy_http_request_duration_seconds histogram\n");
    for (i = 0; i < SERVE_LATENCY_BUCKETS; i++) {
        cumulative += LOAD(&m->latency_buckets[i]);
        streamy__buf_printf(
            &t, "streamy_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
            (double)bucket_us[i] / 1e6, (unsigned long long)cumulative);
    }
    streamy__buf_printf(&t,
                        "streamy_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                        "streamy_http_request_duration_seconds_sum %.6f\n"
                        "streamy_http_request_duration_seconds_count %llu\n",
                        (unsigned long long)LOAD(&m->latency_count),
                        (double)LOAD(&m->latency_sum_us) / 1e6,
                        (unsigned long long)LOAD(&m->latency_count));
    streamy__buf_printf(&t,
                        "# HELP streamy_http_connections Open HTTP connections.\n"
                        "# TYPE streamy_http_connections gauge\n"
                        "streamy_http_connections %lld\n",
                        (long long)LOAD(&m->connections));
    pthread_mutex_lock((pthread_mutex_t *)&gc->lock);
    commits = gc->commits;
    ops = gc->committed_ops;
    pthread_mutex_unlock((pthread_mutex_t *)&gc->lock);
    streamy__buf_printf(
        &t,
        "# HELP streamy_commits_total Store transactions of grouped decisions.\n"
        "# TYPE streamy_commits_total counter\n"
        "streamy_commits_total %llu\n"
        "# HELP streamy_committed_decisions_total Decisions decided in those "
        "transactions.\n"
        "# TYPE streamy_committed_decisions_total counter\n"
        "streamy_committed_decisions_total %llu\n",
        (unsigned long long)commits, (unsigned long long)ops);
    if (t.failed) {
        streamy__buf_free(&t);
        return NULL;
    }
    *len = t.len;
    return t.p;
}
