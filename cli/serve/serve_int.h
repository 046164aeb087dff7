/* SPDX-License-Identifier: MIT */
/* serve_int.h: the parts of the server behind serve.h: HTTP front, group commit, metrics,
 * logs and the request deadline. */
#ifndef STREAMY_SERVE_INT_H
#define STREAMY_SERVE_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>

#include "serve.h"
#include "streamy.h"
#include "util.h"

/* Routes, for dispatch and for the metrics' labels. */
typedef enum serve_route {
    ROUTE_SUBSCRIBE,    /* POST /video-streams/subscription */
    ROUTE_UNSUBSCRIBE,  /* DELETE /video-streams/subscription */
    ROUTE_RENEW,        /* POST /video-streams/subscription/renew */
    ROUTE_LEASES,       /* GET /users/{userId}/video-streams */
    ROUTE_LIMIT_GET,    /* GET /users/{userId}/limit */
    ROUTE_LIMIT_PUT,    /* PUT /users/{userId}/limit */
    ROUTE_LIMIT_DELETE, /* DELETE /users/{userId}/limit */
    ROUTE_HEALTH,       /* GET /health */
    ROUTE_METRICS,      /* GET /metrics */
    ROUTE_OTHER,        /* unknown path or method */
    ROUTE_COUNT_
} serve_route;

/* --- group commit (group_commit.c) -------------------------------------------------- */

/* One decision waiting for its transaction. */
typedef struct serve_pending {
    struct serve_pending *next;
    streamy_batch_op op; /* kind and call in; result and answer out */
    streamy_call call;   /* points into the buffers below */
    streamy_answer answer;
    char user[STREAMY_ID_MAX + 1], stream[STREAMY_ID_MAX + 1];
    char lease_id[STREAMY_LEASE_ID_LEN + 1], device[STREAMY_DEVICE_MAX + 1];
    struct MHD_Connection *conn; /* resumed once `op.result` is known */
    char *error; /* SERVE_ERROR_SIZE bytes: the store's words on failure */
    int refused; /* the library refused the request's own inputs, not the group */
    int done;
} serve_pending;

#define SERVE_ERROR_SIZE 256

typedef struct serve_group_commit {
    streamy *h;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    serve_pending *head, *tail;
    int stop;
    pthread_t thread;
    size_t max_group;
    streamy_batch_op *ops; /* max_group of each, owned by the commit thread */
    serve_pending **taken;
    /* Counted under `lock`, read by the metrics. */
    uint64_t commits, committed_ops;
    struct serve_log *log;
    /* Answers degraded since the store last decided normally; the commit thread's. */
    uint64_t degraded_burst;
} serve_group_commit;

int serve_group_commit_start(serve_group_commit *gc, streamy *h, size_t max_group,
                             struct serve_log *log);
/* Queue a decision; its connection is resumed after the commit. */
void serve_group_commit_submit(serve_group_commit *gc, serve_pending *p);
/* Decide what is queued, then stop the thread. */
void serve_group_commit_stop(serve_group_commit *gc);

/* --- sessions over HTTP (session.c) ------------------------------------------------- */

/* The media type of the richer bodies, asked for with Accept. */
#define SERVE_TYPE_RICH "application/vnd.streamy+json"

/* Whether the request's Accept asks for the richer bodies. */
int serve_wants_rich(struct MHD_Connection *conn);
/* The optional fields of a decision's body (`doc`) into `p->call`, whose user and
 * stream are `p->user` and `p->stream`: 1, or 0 with the message of a 400 in `msg`. */
int serve_session_fields(serve_pending *p, json_t *doc, streamy_op_kind kind, char *msg,
                         size_t size);
/* A lease into a JSON array (`payload`), as a richer 429 lists it; a streamy_lease_cb. */
int serve_add_active(const streamy_lease *lease, void *payload);
/* The richer 200 body of subscribe or renew around the original body's `data`, which it
 * takes; NULL when out of memory. */
json_t *serve_rich_ok(const serve_pending *p, json_t *data);

/* --- metrics (metrics.c) ------------------------------------------------------------ */

#define SERVE_LATENCY_BUCKETS 12

typedef struct serve_metrics {
    uint64_t requests[ROUTE_COUNT_][16]; /* by route and status slot */
    uint64_t store_errors[3];            /* busy, store, other */
    uint64_t latency_buckets[SERVE_LATENCY_BUCKETS];
    uint64_t latency_count;
    uint64_t latency_sum_us;
    int64_t connections;
} serve_metrics;

void serve_metrics_request(serve_metrics *m, serve_route route, unsigned status,
                           int64_t latency_us);
void serve_metrics_store_error(serve_metrics *m, int rc);
/* Render everything in the Prometheus text format; the caller frees it. */
char *serve_metrics_render(const serve_metrics *m, streamy *h,
                           const serve_group_commit *gc, size_t *len);
const char *serve_route_name(serve_route route);

/* --- logs (log.c) ------------------------------------------------------------------- */

typedef struct serve_log {
    pthread_mutex_t lock;
    FILE *fp;
    const char *path; /* NULL: standard error */
    int json;         /* JSON lines, else text */
    int access;       /* one line per request */
    char buf[64 * 1024];
    size_t len;
} serve_log;

int serve_log_open(serve_log *log, const char *path, int json, int access);
int serve_log_reopen(serve_log *log);
void serve_log_request(serve_log *log, const char *method, const char *path,
                       unsigned status, int64_t latency_us, const char *remote);
void serve_log_event(serve_log *log, const char *level, const char *msg,
                     const char *detail);
void serve_log_flush(serve_log *log);
void serve_log_close(serve_log *log);

/* --- the request deadline (deadline.c) ---------------------------------------------- */

/* The open connections, swept by serve_run(). A zeroed struct is ready to use. */
typedef struct serve_deadline {
    pthread_mutex_t lock;
    struct serve_conn *head;
} serve_deadline;

/* A connection opened (returns its socket context, or NULL) and closed. */
void *serve_deadline_open(serve_deadline *dl, struct MHD_Connection *conn);
void serve_deadline_close(serve_deadline *dl, void *context);
/* Its request was received whole; its answer completed (it waits for the next). */
void serve_deadline_received(struct MHD_Connection *conn);
void serve_deadline_idle(struct MHD_Connection *conn);
/* Close the connections that spent longer than `timeout_us` waiting for or receiving a
 * request; returns how many. */
unsigned serve_deadline_sweep(serve_deadline *dl, int64_t timeout_us);

/* --- the server (server.c) and its HTTP front (http.c) ------------------------------ */

/* Decisions per commit at most, unless the configuration says otherwise. */
#define SERVE_GROUP_MAX 1024

struct serve_server {
    serve_config cfg; /* a copy, without its pointers: they are the fields below */
    struct sockaddr_storage addr;
    char *token; /* the bearer token, or NULL */
    size_t token_len;
    char *log_file;
    char url[128]; /* where it listens, once started */
    streamy *h;
    struct MHD_Daemon *daemon;
    serve_group_commit group_commit;
    serve_metrics metrics;
    serve_log log;
    serve_deadline deadline;
    int64_t in_flight; /* requests begun and not yet completed */
    int64_t admitted;  /* connections let in and not yet closed */
    int draining;      /* shutting down: refuse new requests */
};

/* Listen on `s->addr` (0), or fail with errno set (-1). */
int serve_http_start(serve_server *s);
/* Stop accepting, wait up to `grace_ms` for requests in flight, then stop. */
void serve_http_stop(serve_server *s, int grace_ms);

#endif /* STREAMY_SERVE_INT_H */
