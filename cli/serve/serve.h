/* SPDX-License-Identifier: MIT */
/* serve.h: the HTTP server behind `streamyctl serve`, as the command sees it: open it,
 * start it on a store, run it until a signal, stop it. */
#ifndef STREAMY_SERVE_H
#define STREAMY_SERVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "streamy.h"

/* One server; only the server's own files see its fields (serve_int.h). */
typedef struct serve_server serve_server;

/* What serve_open() and serve_start() return. */
typedef enum serve_result {
    SERVE_OK = 0,
    SERVE_ENOMEM = -1,  /* out of memory */
    SERVE_ELOG = -2,    /* the log file cannot be opened; errno says why */
    SERVE_ETHREAD = -3, /* the commit thread cannot start */
    SERVE_ELISTEN = -4, /* the address cannot be listened on; errno says why */
} serve_result;

/* The settings; serve_open() copies what it keeps, so nothing here need outlive it. */
typedef struct serve_config {
    const struct sockaddr *addr; /* IPv4 or IPv6; port 0 picks a free one */
    unsigned threads;            /* HTTP threads */
    size_t max_body;             /* largest request body, in bytes */
    unsigned max_connections;    /* open connections at most */
    unsigned conn_timeout_s;     /* idle timeout, and the deadline to send a request */
    int64_t grace_ms;            /* how long serve_stop() waits for requests in flight */
    size_t group_max;            /* decisions per commit at most; 0: 1024 */
    const char *token;           /* bearer token for every route but /health and
                                    /metrics, or NULL for none */
    const char *token_file;      /* where the token came from, for the warning below */
    int token_shared;            /* others can read that file: the log warns of it */
    const char *log_file;        /* NULL: standard error */
    int json_log;                /* JSON lines, else text */
    int access_log;              /* one log line per request */
} serve_config;

/**
 * Open the server's log; nothing listens yet.
 * @return SERVE_OK, SERVE_ENOMEM or SERVE_ELOG; on failure `*out` is NULL. The caller
 * ends a server it opened with serve_stop().
 */
int serve_open(serve_server **out, const serve_config *cfg);

/**
 * Serve the store `h` on the configured address. First blocks SIGINT, SIGTERM and
 * SIGHUP in the calling thread, so that every thread of the server inherits the mask
 * and serve_run() alone takes them, and ignores SIGPIPE.
 * @return SERVE_OK, SERVE_ETHREAD or SERVE_ELISTEN. The server owns `h` from now on,
 * also when this fails: serve_stop() closes it.
 */
int serve_start(serve_server *srv, streamy *h);

/* Where a started server listens: "http://ADDR:PORT" or "http://[ADDR]:PORT". The
 * string belongs to the server. */
const char *serve_url(const serve_server *srv);

/* Serve until SIGINT or SIGTERM; meanwhile reopen the log file on SIGHUP and, a few
 * times a second, close the connections past their request deadline and write out the
 * log. Called from the thread that called serve_start(). */
void serve_run(serve_server *srv);

/* Stop accepting, let the requests in flight finish (for up to grace_ms) and their
 * decisions commit, then close the store and the log and free `srv`. Also ends a server
 * that was never started or failed to start; NULL is a no-op. */
void serve_stop(serve_server *srv);

#endif /* STREAMY_SERVE_H */
