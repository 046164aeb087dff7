/* SPDX-License-Identifier: MIT */
/* server.c: the life of the server: settings, signals, the order of start and stop. */
#include "serve_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *copy_text(const char *text, int *failed)
{
    char *copy;

    if (text == NULL)
        return NULL;
    if ((copy = strdup(text)) == NULL)
        *failed = 1;
    return copy;
}

static void free_server(serve_server *srv)
{
    int err = errno;

    free(srv->token);
    free(srv->log_file);
    free(srv);
    errno = err;
}

int serve_open(serve_server **out, const serve_config *cfg)
{
    serve_server *srv = calloc(1, sizeof(*srv));
    size_t addr_len;
    int failed = 0;

    *out = NULL;
    if (srv == NULL)
        return SERVE_ENOMEM;
    addr_len = cfg->addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                : sizeof(struct sockaddr_in);
    memcpy(&srv->addr, cfg->addr, addr_len);
    srv->cfg = *cfg;
    srv->cfg.addr = NULL;
    srv->cfg.token = srv->cfg.token_file = srv->cfg.log_file = NULL;
    srv->token = copy_text(cfg->token, &failed);
    srv->token_len = cfg->token != NULL ? strlen(cfg->token) : 0;
    srv->log_file = copy_text(cfg->log_file, &failed);
    if (failed) {
        free_server(srv);
        return SERVE_ENOMEM;
    }
    if (serve_log_open(&srv->log, srv->log_file, cfg->json_log, cfg->access_log) != 0) {
        free_server(srv);
        return SERVE_ELOG;
    }
    if (cfg->token_shared)
        serve_log_event(&srv->log, "warn",
                        "--auth-token-file is readable by group or others",
                        cfg->token_file);
    *out = srv;
    return SERVE_OK;
}

static void describe(serve_server *srv)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    const void *sa = &srv->addr;
    unsigned port = info ? info->port : 0;
    char addr[INET6_ADDRSTRLEN] = "?";

    if (srv->addr.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, addr,
                  sizeof(addr));
        snprintf(srv->url, sizeof(srv->url), "http://[%s]:%u", addr, port);
    } else {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr,
                  sizeof(addr));
        snprintf(srv->url, sizeof(srv->url), "http://%s:%u", addr, port);
    }
}

static void signals_of_run(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

int serve_start(serve_server *srv, streamy *h)
{
    sigset_t set;
    int err;

    srv->h = h;
    /* Requests allocate and free small blocks on several threads: without this,
     * glibc keeps returning the freed top of each thread's heap to the kernel
     * and faulting it back in, request after request. */
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    /* Signals are taken by serve_run() only: block them before any thread starts. */
    signals_of_run(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (serve_group_commit_start(
            &srv->group_commit, h,
            srv->cfg.group_max ? srv->cfg.group_max : SERVE_GROUP_MAX, &srv->log) != 0)
        return SERVE_ETHREAD;
    if (serve_http_start(srv) != 0) {
        err = errno;
        serve_group_commit_stop(&srv->group_commit);
        errno = err;
        return SERVE_ELISTEN;
    }
    describe(srv);
    serve_log_event(&srv->log, "info", "listening", srv->url);
    return SERVE_OK;
}

const char *serve_url(const serve_server *srv)
{
    return srv->url;
}

void serve_run(serve_server *srv)
{
    struct timespec tick = {0, 250 * 1000 * 1000};
    sigset_t set;

    signals_of_run(&set);
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
            serve_log_event(&srv->log, "info", "stopping",
                            sig == SIGINT ? "SIGINT" : "SIGTERM");
            return;
        }
        if (sig == SIGHUP && serve_log_reopen(&srv->log) != 0)
            serve_log_event(&srv->log, "error", "cannot reopen the log", srv->log.path);
        serve_deadline_sweep(&srv->deadline, (int64_t)srv->cfg.conn_timeout_s * 1000000);
        serve_log_flush(&srv->log);
    }
}

void serve_stop(serve_server *srv)
{
    if (srv == NULL)
        return;
    if (srv->daemon != NULL) {
        serve_http_stop(srv, (int)srv->cfg.grace_ms);
        serve_log_event(&srv->log, "info", "stopped", NULL);
    }
    streamy_close(srv->h);
    serve_log_close(&srv->log);
    free_server(srv);
}
