/* SPDX-License-Identifier: MIT */
/* http_server.c: the real `streamyctl serve` as a child process: started, signalled,
 * watched through /proc and stopped. */
#include "http_util.h"
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http_private.h"

extern char **environ;

/* --- the server ------------------------------------------------------------------- */

/* The environment without STREAMY_* (the caller's shell must not leak into a test). */
static char **child_env(void)
{
    size_t n = 0, m = 0;
    char **env;

    while (environ[n] != NULL)
        n++;
    env = http_track(calloc(n + 1, sizeof(*env)));
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "STREAMY_", 8) != 0)
            env[m++] = environ[i];
    return env;
}

/* The store that `--db` in `args` names: memory for "memory:", else sqlite. */
static const char *expected_store(const char *const *args)
{
    for (size_t i = 0; args[i] != NULL && args[i + 1] != NULL; i++)
        if (strcmp(args[i], "--db") == 0 && strcmp(args[i + 1], "memory:") == 0)
            return "memory";
    return "sqlite";
}

int http_server_try_start(http_server *s, const char *const *args)
{
    char **envp = child_env(), **argv;
    char line[512];
    size_t n = 0, len = 0;
    int out[2], logfd, status;
    int64_t deadline;
    char host[64], store[32];
    unsigned port;

    memset(s, 0, sizeof(*s));
    snprintf(s->db, sizeof(s->db), "%s/t.db", http_tmp());
    snprintf(s->log, sizeof(s->log), "%s/server-%d.log", http_tmp(), http__next_server());
    s->out = -1;
    while (args[n] != NULL)
        n++;
    argv = http_track(calloc(n + 2, sizeof(*argv)));
    argv[0] = (char *)http_bin;
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];
    ck_assert_int_eq(pipe(out), 0);
    logfd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    ck_assert_int_ge(logfd, 0);
    s->pid = http__fork_child();
    if (s->pid == 0) {
        dup2(out[1], 1);
        dup2(logfd, 2);
        close(out[0]);
        close(out[1]);
        if (chdir(http_tmp()) != 0)
            _exit(126);
        execve(http_bin, argv, envp);
        _exit(127);
    }
    close(out[1]);
    close(logfd);
    s->out = out[0];

    /* The one line on standard output says where it listens. */
    deadline = http_mono_ms() + http_scaled_ms(20000);
    while (len == 0 || line[len - 1] != '\n') {
        struct pollfd p = {s->out, POLLIN, 0};
        int64_t left = deadline - http_mono_ms();
        ssize_t got;
        if (left <= 0) {
            kill(s->pid, SIGKILL);
            ck_abort_msg(
                "streamyctl serve printed no \"listening\" line in time; log: %s",
                http_server_log(s));
        }
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        got = read(s->out, line + len, sizeof(line) - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            /* It ended without listening: the caller judges the exit code. */
            while (waitpid(s->pid, &status, 0) < 0)
                ck_assert_int_eq(errno, EINTR);
            http__child_done(s->pid);
            close(s->out);
            s->out = -1;
            s->stopped = 1;
            ck_assert_msg(len == 0, "streamyctl serve printed a partial line: %.*s",
                          (int)len, line);
            return http__exit_code(status) == 0 ? 255 : http__exit_code(status);
        }
        len += (size_t)got;
        ck_assert_uint_lt(len, sizeof(line) - 1);
    }
    line[len] = '\0';
    ck_assert_msg(
        sscanf(line, "streamyctl serve: listening on http://[%63[^]]]:%u (store %31[^)])",
               host, &port, store) == 3 ||
            sscanf(line,
                   "streamyctl serve: listening on http://%63[^:]:%u (store %31[^)])",
                   host, &port, store) == 3,
        "unexpected first line: %s", line);
    ck_assert_msg(
        strcmp(store, expected_store(args)) == 0 && strcmp(strchr(line, ')'), ")\n") == 0,
        "unexpected first line: %s (expected store %s)", line, expected_store(args));
    ck_assert_uint_gt(port, 0);
    s->port = port;
    snprintf(s->host, sizeof(s->host), "%s", host);
    if (strchr(host, ':') != NULL)
        snprintf(s->base, sizeof(s->base), "http://[%s]:%u", host, port);
    else
        snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%u", port);
    return 0;
}

void http_server_start(http_server *s, const char *const *extra)
{
    http_server_start_db(s, http_printf("sqlite:%s/t.db", http_tmp()), extra);
}

void http_server_start_db(http_server *s, const char *db, const char *const *extra)
{
    const char *args[64];
    size_t n = 0;
    int rc;

    args[n++] = "--db";
    args[n++] = db;
    args[n++] = "serve";
    args[n++] = "--listen";
    args[n++] = "127.0.0.1:0";
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        ck_assert_uint_lt(n, 63);
        args[n++] = extra[i];
    }
    args[n] = NULL;
    rc = http_server_try_start(s, args);
    ck_assert_msg(rc == 0, "streamyctl serve exited %d before listening; log: %s", rc,
                  http_server_log(s));
}

char *http_server_log(const http_server *s)
{
    FILE *fp = fopen(s->log, "rb");
    char *buf = NULL;
    size_t len = 0;

    if (fp == NULL)
        return http_strdup("");
    buf = malloc(1);
    ck_assert_ptr_nonnull(buf);
    for (;;) {
        char chunk[4096];
        size_t n = fread(chunk, 1, sizeof(chunk), fp);
        char *b;
        if (n == 0)
            break;
        b = realloc(buf, len + n + 1);
        ck_assert_ptr_nonnull(b);
        buf = b;
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(fp);
    buf[len] = '\0';
    return http_track(buf);
}

void http_server_signal(http_server *s, int sig)
{
    ck_assert(!s->stopped);
    ck_assert_int_eq(kill(s->pid, sig), 0);
}

void http_server_wait_signal_taken(const http_server *s, int sig)
{
    int64_t deadline = http_mono_ms() + http_scaled_ms(15000);
    char path[64], line[256];
    unsigned long long bit = 1ULL << (sig - 1);

    snprintf(path, sizeof(path), "/proc/%d/status", (int)s->pid);
    for (;;) {
        FILE *fp = fopen(path, "r");
        int pending = 0;

        ck_assert_msg(fp != NULL, "%s: %s", path, strerror(errno));
        while (fgets(line, sizeof(line), fp) != NULL) {
            if (strncmp(line, "ShdPnd:", 7) == 0 || strncmp(line, "SigPnd:", 7) == 0)
                pending |= (strtoull(line + 7, NULL, 16) & bit) != 0;
        }
        fclose(fp);
        if (!pending)
            return;
        ck_assert_msg(http_mono_ms() < deadline, "the server did not take signal %d",
                      sig);
        test_sleep_ms(2);
    }
}

int http_server_waits_for_store(const http_server *s)
{
    char path[512], wchan[64];
    struct dirent *e;
    DIR *d;
    int found = 0;

    snprintf(path, sizeof(path), "/proc/%d/task", (int)s->pid);
    d = opendir(path);
    ck_assert_msg(d != NULL, "%s: %s", path, strerror(errno));
    while (!found && (e = readdir(d)) != NULL) {
        FILE *fp;
        size_t n;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%d/task/%s/wchan", (int)s->pid, e->d_name);
        if ((fp = fopen(path, "r")) == NULL)
            continue; /* the thread ended */
        n = fread(wchan, 1, sizeof(wchan) - 1, fp);
        fclose(fp);
        wchan[n] = '\0';
        found = strcmp(wchan, "hrtimer_nanosleep") == 0;
    }
    closedir(d);
    return found;
}

int http_server_accept_queue(const http_server *s)
{
    FILE *fp = fopen("/proc/net/tcp", "r");
    char line[512];
    int queued = 0, listeners = 0;

    ck_assert_msg(fp != NULL, "/proc/net/tcp: %s", strerror(errno));
    while (fgets(line, sizeof(line), fp) != NULL) {
        unsigned port, state;
        unsigned long tx, rx;
        /* "sl: local:port remote:port st tx_queue:rx_queue"; a listener's rx_queue is
         * its accept queue. */
        if (sscanf(line, " %*d: %*x:%x %*x:%*x %x %lx:%lx", &port, &state, &tx, &rx) ==
                4 &&
            port == s->port && state == 0x0A) {
            queued += (int)rx;
            listeners++;
        }
    }
    fclose(fp);
    ck_assert_msg(listeners > 0, "no listening socket on port %u", s->port);
    return queued;
}

int http_server_wait(http_server *s)
{
    int64_t deadline = http_mono_ms() + http_scaled_ms(30000);
    int status;
    pid_t got;

    ck_assert(!s->stopped);
    while ((got = waitpid(s->pid, &status, WNOHANG)) == 0 && http_mono_ms() < deadline)
        test_sleep_ms(10);
    if (got == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
        http__child_done(s->pid);
        ck_abort_msg("streamyctl serve did not end in time; log: %s", http_server_log(s));
    }
    ck_assert_int_eq(got, s->pid);
    http__child_done(s->pid);
    s->stopped = 1;
    if (s->out >= 0)
        close(s->out);
    s->out = -1;
    if (s->easy != NULL)
        curl_easy_cleanup(s->easy);
    s->easy = NULL;
    return http__exit_code(status);
}

/* Logs go to standard error as JSON lines: every line is an object with ts, level, msg.
 */
static void check_log_lines(const http_server *s)
{
    char *log = http_server_log(s), *line, *save = NULL;

    for (line = strtok_r(log, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        json_error_t err;
        json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, &err);
        int ok = j != NULL && json_is_object(j) &&
                 json_is_string(json_object_get(j, "ts")) &&
                 json_is_string(json_object_get(j, "level")) &&
                 json_is_string(json_object_get(j, "msg"));
        json_decref(j);
        ck_assert_msg(ok, "log line is not a JSON object with ts, level and msg: %s",
                      line);
    }
}

int http_server_stop(http_server *s)
{
    int rc;

    http_server_signal(s, SIGTERM);
    rc = http_server_wait(s);
    check_log_lines(s);
    return rc;
}
