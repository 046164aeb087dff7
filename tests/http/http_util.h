/* SPDX-License-Identifier: MIT */
/* http_util.h: the real `streamyctl serve` under test, libcurl requests checked against
 * docs/openapi.json and recorded, raw sockets, and a hold on the SQLite store; the one
 * header of the streamy_httptest library, whose sources are named by each section. */
#ifndef STREAMY_HTTP_UTIL_H
#define STREAMY_HTTP_UTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

/* --- main() (http_fixture.c) ------------------------------------------------------ */

/* Set once by main(): the binary, the parsed OpenAPI document, and the file that
 * collects (operation, path template, status) of every answer, or NULL. */
extern const char *http_bin;
extern json_t *http_spec;
extern const char *http_record_path;

/* For main(): take `path` as the streamyctl every test starts, made absolute (the
 * server runs in each test's own directory), and initialise libcurl. Returns 0, or -1
 * when `path` is no executable or libcurl cannot start. */
int http_init(const char *path);

/* --- the test's own directory and allocations (http_fixture.c) -------------------- */

/* A fresh temp dir for the test (removed by http_teardown), and its path. */
void http_setup(void);
void http_teardown(void);
const char *http_tmp(void);
/* "<tmp>/<name>", freed by http_teardown. */
char *http_path(const char *name);
/* Free `p` in http_teardown; returns `p`, which must not be NULL. */
void *http_track(void *p);
char *http_strdup(const char *s);
char *http_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int64_t http_now_ms(void);  /* wall clock */
int64_t http_mono_ms(void); /* monotonic clock */
/* A bound in milliseconds, scaled by STREAMY_TEST_TIMEOUT_MULTIPLIER. */
int http_scaled_ms(int ms);

/* --- the server (http_server.c) --------------------------------------------------- */

typedef struct http_server {
    pid_t pid;
    unsigned port;
    int out;        /* the read end of its standard output */
    char db[1024];  /* the SQLite file */
    char log[1024]; /* its standard error */
    char base[96];  /* http://127.0.0.1:PORT or http://[V6]:PORT */
    char host[64];  /* the host of the "listening on" line */
    void *easy;     /* one keep-alive client (CURL *) */
    int stopped;
} http_server;

/* Start `streamyctl --db sqlite:<tmp>/t.db serve --listen 127.0.0.1:0 EXTRA...` in the
 * test's dir, standard error to <tmp>/server.log, and read the port from the one line it
 * prints. `extra` ends with NULL; it may be NULL. */
void http_server_start(http_server *s, const char *const *extra);
/* The same with the store `db` ("memory:", "sqlite:PATH"); s->db still names
 * <tmp>/t.db. */
void http_server_start_db(http_server *s, const char *db, const char *const *extra);
/* The same with the whole command line after the binary; returns 0 once it listens,
 * else the exit code it ended with (its standard error is in s->log). */
int http_server_try_start(http_server *s, const char *const *args);
/* SIGTERM, wait (bounded), and return the exit code; checks that every log line is a
 * JSON object. */
int http_server_stop(http_server *s);
/* Send `sig` only. */
void http_server_signal(http_server *s, int sig);
/* Wait (bounded) until the server has taken `sig`: it is no longer pending for the
 * process (/proc/PID/status), so its main thread is acting on it. */
void http_server_wait_signal_taken(const http_server *s, int sig);
/* Whether a thread of the server sleeps in nanosleep (/proc/PID/task/TID/wchan): the
 * store's busy handler does so between tries while the store is locked; nothing else
 * in a running server does (its threads wait in epoll_wait, sigtimedwait or on a
 * condition variable). */
int http_server_waits_for_store(const http_server *s);
/* Connections that the kernel completed but the server has not yet accepted: the
 * accept queues of its listening sockets (/proc/net/tcp). */
int http_server_accept_queue(const http_server *s);
/* Wait (bounded) for the server to end; returns its exit code. */
int http_server_wait(http_server *s);
/* What the server wrote to standard error so far (freed by http_teardown). */
char *http_server_log(const http_server *s);

/* --- requests (http_client.c) ----------------------------------------------------- */

typedef struct http_response {
    long status;     /* 0: no HTTP answer; see `error` */
    char error[256]; /* libcurl's words when status is 0 */
    char *body;      /* NUL-terminated; `len` bytes */
    size_t len;
    char *head; /* the header lines of the final answer */
    char method[16];
    char path[600];
} http_response;

/* Every request of the suite goes through http_request[_n] or http_multi: each answer is
 * checked against docs/openapi.json (status known → content type, JSON body against
 * the schema, required headers, Allow) and recorded. A body gets
 * "Content-Type: application/json" unless `headers` names a Content-Type ("Content-Type:"
 * alone sends none). `headers` ends with NULL; it may be NULL. */
http_response *http_request(http_server *s, const char *method, const char *path,
                            const char *body, const char *const *headers);
http_response *http_request_n(http_server *s, const char *method, const char *path,
                              const char *body, size_t len, const char *const *headers);
/* The body parsed as JSON (duplicate keys refused), released by http_teardown. */
json_t *http_json(const http_response *r);
/* The value of header `name` (case-insensitive), NULL when absent; fails the test when
 * the header appears more than once. */
const char *http_header(const http_response *r, const char *name);

/* Fails with the request, the status and the body unless the status is `st`. Each
 * argument is evaluated once, so `r` may be the request itself. */
#define http_expect(r, st)                                                               \
    do {                                                                                 \
        const http_response *r_ = (r);                                                   \
        long st_ = (st);                                                                 \
        ck_assert_msg(r_->status == st_, "%s %s: expected %ld, got %ld %s%s",            \
                      r_->method, r_->path, st_, r_->status, r_->body, r_->error);       \
    } while (0)
/* Status and body, byte for byte. */
#define http_expect_body(r, st, text)                                                    \
    do {                                                                                 \
        const http_response *rb_ = (r);                                                  \
        const char *text_ = (text);                                                      \
        http_expect(rb_, st);                                                            \
        ck_assert_msg(rb_->len == strlen(text_) &&                                       \
                          memcmp(rb_->body, text_, rb_->len) == 0,                       \
                      "%s %s: expected body %s, got %s", rb_->method, rb_->path, text_,  \
                      rb_->body);                                                        \
    } while (0)

/* Parallel requests over the multi interface: `slots` transfers at most, each started by
 * http_multi_start and answered through `done`, which may start its slot again. */
typedef struct http_multi http_multi;
typedef void (*http_done_cb)(int slot, http_response *r, void *payload);
http_multi *http_multi_new(http_server *s, int slots, http_done_cb done, void *payload);
void http_multi_start(http_multi *m, int slot, const char *method, const char *path,
                      const char *body, const char *const *headers);
/* Run the transfers until none is left or `timeout_ms` passed; returns how many run. */
int http_multi_run(http_multi *m, int timeout_ms);
/* Transfers running whose request went out whole. */
int http_multi_sent(http_multi *m);
int http_multi_running(const http_multi *m);
void http_multi_free(http_multi *m);

/* --- raw sockets (http_raw.c) ----------------------------------------------------- */

/* A TCP connection to the server, or -1 with errno set. */
int http_raw_connect(const http_server *s);
void http_raw_send(int fd, const char *data);
/* Read one whole HTTP answer (headers and Content-Length bytes of body) into `got`
 * (size bytes, NUL-terminated): 1 when complete, 0 when `timeout_ms` passed first, -1
 * when the peer closed or reset the connection first. */
int http_raw_response(int fd, int timeout_ms, char *got, size_t size);
/* Read until the peer closes (1), resets (2) or `timeout_ms` passes (0); what was read
 * is appended to `got` (size bytes, NUL-terminated) when not NULL. */
int http_raw_wait_close(int fd, int timeout_ms, char *got, size_t size);

/* --- the store (http_store.c) ----------------------------------------------------- */

/* Make the SQLite store stop answering readers and writers alike: a child process holds
 * the WAL write and recovery locks of `db` and marks the wal-index as needing recovery,
 * as a connection recovering the WAL would. The server's reads and writes then wait
 * for --busy-timeout and fail with SQLITE_BUSY. http_store_release restores the index
 * and drops the locks. (A plain BEGIN EXCLUSIVE blocks only writers in WAL mode, and
 * locking_mode=EXCLUSIVE cannot be had while the server holds its shared lock.) */
typedef struct http_store_lock {
    pid_t pid;
    int ctl;
} http_store_lock;
void http_store_hold(http_store_lock *l, const char *db);
void http_store_release(http_store_lock *l);

/* Run `sql` on `db` (its own connection) and return the first column of the first row,
 * or -1 when there is no row. */
long long http_db_int(const char *db, const char *sql);

/* --- metrics (http_metrics.c) ----------------------------------------------------- */

/* The value of the sample `series` (exact name and labels) in a Prometheus text, or -1.
 */
double http_metric(const char *text, const char *series);

/* --- the OpenAPI check (http_openapi.c) ------------------------------------------- */

/* The path template of the spec that a concrete path falls under, or NULL. */
const char *http_template_of(const char *path);
/* Resolve a local "$ref" of the spec (repeatedly); NULL when it does not resolve. */
json_t *http_spec_resolve(json_t *node);
/* Check `value` against `schema` (type, nullable, enum, required, properties,
 * additionalProperties false, items, minimum/maximum); 0 when it fits, else -1 with
 * the first mismatch in `err`. */
int http_schema_check(json_t *schema, json_t *value, const char *where, char *err,
                      size_t size);

#endif /* STREAMY_HTTP_UTIL_H */
