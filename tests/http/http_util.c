/* SPDX-License-Identifier: MIT */
/* http_util.c: starts the real server, talks to it with libcurl, checks every answer
 * against docs/openapi.json and records it for the final OpenAPI test. */
#include "http_util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include <curl/curl.h>
#include <sqlite3.h>

#include "test_util.h"

extern char **environ;

const char *http_bin;

int http_init(const char *path)
{
    static char abs_bin[4096];

    if (path == NULL || realpath(path, abs_bin) == NULL || access(abs_bin, X_OK) != 0)
        return -1;
    http_bin = abs_bin;
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}
json_t *http_spec;
const char *http_record_path;

/* --- the test's own directory, allocations and children --------------------------- */

static char tmp[512];
static void **tracked;
static size_t ntracked, captracked;
static json_t **tracked_json;
static size_t njson, capjson;
#define MAX_CHILDREN 64
static pid_t children[MAX_CHILDREN];
static int nservers;

void *http_track(void *p)
{
    ck_assert_ptr_nonnull(p);
    if (ntracked == captracked) {
        size_t cap = captracked ? captracked * 2 : 256;
        void **t = realloc(tracked, cap * sizeof(*t));
        ck_assert_ptr_nonnull(t);
        tracked = t;
        captracked = cap;
    }
    tracked[ntracked++] = p;
    return p;
}

char *http_strdup(const char *s)
{
    return http_track(strdup(s));
}

char *http_printf(const char *fmt, ...)
{
    va_list ap;
    char *p;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    ck_assert_int_ge(n, 0);
    p = http_track(malloc((size_t)n + 1));
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

static void child_add(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] == 0) {
            children[i] = pid;
            return;
        }
    }
    ck_abort_msg("too many child processes");
}

static void child_done(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == pid)
            children[i] = 0;
}

void http_setup(void)
{
    char *dir = test_tmpdir();

    snprintf(tmp, sizeof(tmp), "%s", dir);
    free(dir);
    ntracked = 0;
    nservers = 0;
    memset(children, 0, sizeof(children));
    /* A server that closes first must not kill the test. */
    signal(SIGPIPE, SIG_IGN);
}

void http_teardown(void)
{
    /* Children of a test that went on past its checks; servers also die with the test
     * process (PR_SET_PDEATHSIG) when a failed check ends it. */
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            children[i] = 0;
        }
    }
    for (size_t i = 0; i < njson; i++)
        json_decref(tracked_json[i]);
    free(tracked_json);
    tracked_json = NULL;
    njson = capjson = 0;
    for (size_t i = 0; i < ntracked; i++)
        free(tracked[i]);
    free(tracked);
    tracked = NULL;
    ntracked = captracked = 0;
    test_tmpdir_free(strdup(tmp));
}

const char *http_tmp(void)
{
    return tmp;
}

char *http_path(const char *name)
{
    return http_printf("%s/%s", tmp, name);
}

int64_t http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t http_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void http_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int http_scaled_ms(int ms)
{
    return test_timeout_scale(ms);
}

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

static int exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

/* Fork, and in the child die with the parent: a failed check ends the test process
 * without any teardown. */
static pid_t fork_child(void)
{
    pid_t parent = getpid(), pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(125);
    } else {
        child_add(pid);
    }
    return pid;
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
    snprintf(s->db, sizeof(s->db), "%s/t.db", tmp);
    snprintf(s->log, sizeof(s->log), "%s/server-%d.log", tmp, ++nservers);
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
    s->pid = fork_child();
    if (s->pid == 0) {
        dup2(out[1], 1);
        dup2(logfd, 2);
        close(out[0]);
        close(out[1]);
        if (chdir(tmp) != 0)
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
            child_done(s->pid);
            close(s->out);
            s->out = -1;
            s->stopped = 1;
            ck_assert_msg(len == 0, "streamyctl serve printed a partial line: %.*s",
                          (int)len, line);
            return exit_code(status) == 0 ? 255 : exit_code(status);
        }
        len += (size_t)got;
        ck_assert_uint_lt(len, sizeof(line) - 1);
    }
    line[len] = '\0';
    ck_assert_msg(
        sscanf(line, "streamyctl serve: listening on http://[%63[^]]]:%u (store %31[^)])",
               host, &port, store) == 3 ||
            sscanf(line, "streamyctl serve: listening on http://%63[^:]:%u (store %31[^)])",
                   host, &port, store) == 3,
        "unexpected first line: %s", line);
    ck_assert_msg(strcmp(strchr(line, '('), "(store sqlite)\n") == 0,
                  "unexpected first line: %s", line);
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
    const char *args[64];
    size_t n = 0;
    char *db = http_printf("sqlite:%s/t.db", tmp);
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
        http_sleep_ms(2);
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
        http_sleep_ms(10);
    if (got == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
        child_done(s->pid);
        ck_abort_msg("streamyctl serve did not end in time; log: %s", http_server_log(s));
    }
    ck_assert_int_eq(got, s->pid);
    child_done(s->pid);
    s->stopped = 1;
    if (s->out >= 0)
        close(s->out);
    s->out = -1;
    if (s->easy != NULL)
        curl_easy_cleanup(s->easy);
    s->easy = NULL;
    return exit_code(status);
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

/* --- the spec --------------------------------------------------------------------- */

json_t *http_spec_resolve(json_t *node)
{
    for (int depth = 0; node != NULL && depth < 16; depth++) {
        const char *ref = json_string_value(json_object_get(node, "$ref"));
        char buf[256], *part, *save = NULL;
        json_t *at = http_spec;

        if (ref == NULL)
            return node;
        if (strncmp(ref, "#/", 2) != 0 || strlen(ref) >= sizeof(buf))
            return NULL;
        snprintf(buf, sizeof(buf), "%s", ref + 2);
        for (part = strtok_r(buf, "/", &save); part != NULL && at != NULL;
             part = strtok_r(NULL, "/", &save))
            at = json_object_get(at, part);
        node = at;
    }
    return NULL;
}

const char *http_template_of(const char *path)
{
    static const struct {
        const char *suffix, *tmpl;
    } users[] = {{"/video-streams", "/users/{userId}/video-streams"},
                 {"/limit", "/users/{userId}/limit"}};
    static const char *const exact[] = {"/video-streams/subscription",
                                        "/video-streams/subscription/renew", "/health",
                                        "/metrics"};
    size_t len = strcspn(path, "?");

    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (strlen(exact[i]) == len && strncmp(path, exact[i], len) == 0)
            return exact[i];
    /* As the server routes: the user is everything between, at least one byte. */
    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        size_t slen = strlen(users[i].suffix);
        if (strncmp(path, "/users/", 7) == 0 && len > 7 + slen &&
            strncmp(path + len - slen, users[i].suffix, slen) == 0)
            return users[i].tmpl;
    }
    return NULL;
}

static int type_is(const char *type, json_t *v)
{
    if (strcmp(type, "object") == 0)
        return json_is_object(v);
    if (strcmp(type, "array") == 0)
        return json_is_array(v);
    if (strcmp(type, "string") == 0)
        return json_is_string(v);
    if (strcmp(type, "integer") == 0)
        return json_is_integer(v);
    if (strcmp(type, "number") == 0)
        return json_is_number(v);
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(v);
    return 0;
}

int http_schema_check(json_t *schema, json_t *value, const char *where, char *err,
                      size_t size)
{
    json_t *s = http_spec_resolve(schema), *e, *props, *v;
    const char *type, *key;
    size_t i;

    if (s == NULL || !json_is_object(s)) {
        snprintf(err, size, "%s: the schema does not resolve", where);
        return -1;
    }
    if (json_is_null(value)) {
        if (json_is_true(json_object_get(s, "nullable")))
            return 0;
        snprintf(err, size, "%s: null where the schema is not nullable", where);
        return -1;
    }
    type = json_string_value(json_object_get(s, "type"));
    if (type != NULL && !type_is(type, value)) {
        snprintf(err, size, "%s: expected %s", where, type);
        return -1;
    }
    if ((e = json_object_get(s, "enum")) != NULL) {
        int found = 0;
        json_array_foreach(e, i, v)
        {
            found |= json_equal(v, value);
        }
        if (!found) {
            snprintf(err, size, "%s: not one of the enum's values", where);
            return -1;
        }
    }
    if (json_is_integer(value)) {
        json_int_t n = json_integer_value(value);
        json_t *min = json_object_get(s, "minimum"), *max = json_object_get(s, "maximum");
        if ((min != NULL && n < json_integer_value(min)) ||
            (max != NULL && n > json_integer_value(max))) {
            snprintf(err, size, "%s: %lld is out of range", where, (long long)n);
            return -1;
        }
    }
    if (json_is_object(value)) {
        json_array_foreach(json_object_get(s, "required"), i, v)
        {
            if (json_object_get(value, json_string_value(v)) == NULL) {
                snprintf(err, size, "%s: \"%s\" is required", where,
                         json_string_value(v));
                return -1;
            }
        }
        props = json_object_get(s, "properties");
        json_object_foreach(value, key, v)
        {
            json_t *p = json_object_get(props, key);
            char sub[256];
            snprintf(sub, sizeof(sub), "%s.%s", where, key);
            if (p == NULL) {
                if (json_is_false(json_object_get(s, "additionalProperties"))) {
                    snprintf(err, size, "%s: not in the schema", sub);
                    return -1;
                }
                continue;
            }
            if (http_schema_check(p, v, sub, err, size) != 0)
                return -1;
        }
    }
    if (json_is_array(value) && (e = json_object_get(s, "items")) != NULL) {
        json_array_foreach(value, i, v)
        {
            char sub[256];
            snprintf(sub, sizeof(sub), "%s[%zu]", where, i);
            if (http_schema_check(e, v, sub, err, size) != 0)
                return -1;
        }
    }
    return 0;
}

/* --- requests --------------------------------------------------------------------- */

typedef struct buf {
    char *data;
    size_t len;
} buf;

static void buf_add(buf *b, const void *data, size_t n)
{
    char *p = realloc(b->data, b->len + n + 1);
    ck_assert_ptr_nonnull(p);
    memcpy(p + b->len, data, n);
    b->len += n;
    p[b->len] = '\0';
    b->data = p;
}

static size_t on_body(char *data, size_t size, size_t n, void *payload)
{
    buf_add(payload, data, size * n);
    return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *payload)
{
    buf *b = payload;

    /* A new status line (after a 100 Continue) starts the headers over. */
    if (size * n >= 5 && strncmp(data, "HTTP/", 5) == 0)
        b->len = 0;
    buf_add(b, data, size * n);
    return size * n;
}

typedef struct xfer {
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    size_t len;
    char method[16];
    char path[600];
    buf resp, head;
    char errbuf[CURL_ERROR_SIZE];
    int running;
} xfer;

static void xfer_clear(xfer *x)
{
    curl_slist_free_all(x->headers);
    x->headers = NULL;
    free(x->body);
    x->body = NULL;
    free(x->resp.data);
    free(x->head.data);
    memset(&x->resp, 0, sizeof(x->resp));
    memset(&x->head, 0, sizeof(x->head));
}

static void xfer_prepare(xfer *x, const http_server *s, const char *method,
                         const char *path, const char *body, size_t len,
                         const char *const *headers)
{
    CURL *e = x->easy;
    int has_type = 0, has_expect = 0;
    char url[700];

    xfer_clear(x);
    snprintf(x->method, sizeof(x->method), "%s", method);
    snprintf(x->path, sizeof(x->path), "%s", path);
    x->errbuf[0] = '\0';
    curl_easy_reset(e);
    snprintf(url, sizeof(url), "%s%s", s->base, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)http_scaled_ms(60000));
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    /* HTTP_TEST_VERBOSE=1 shows every exchange on standard error. */
    if (getenv("HTTP_TEST_VERBOSE") != NULL)
        curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &x->resp);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &x->head);
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        has_type |= strncasecmp(headers[i], "Content-Type:", 13) == 0;
        has_expect |= strncasecmp(headers[i], "Expect:", 7) == 0;
        x->headers = curl_slist_append(x->headers, headers[i]);
    }
    if (body != NULL && !has_type)
        x->headers = curl_slist_append(x->headers, "Content-Type: application/json");
    if (!has_expect)
        x->headers = curl_slist_append(x->headers, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    if (body != NULL) {
        x->body = malloc(len + 1);
        ck_assert_ptr_nonnull(x->body);
        memcpy(x->body, body, len);
        x->len = len;
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
    }
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") == 0 && body == NULL)
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "POST") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    else if (body == NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    }
}

json_t *http_json(const http_response *r)
{
    json_error_t err;
    json_t *j = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &err);

    ck_assert_msg(j != NULL, "%s %s: %ld body is not JSON (%s): %s", r->method, r->path,
                  r->status, err.text, r->body);
    if (njson == capjson) {
        size_t cap = capjson ? capjson * 2 : 64;
        json_t **t = realloc(tracked_json, cap * sizeof(*t));
        ck_assert_ptr_nonnull(t);
        tracked_json = t;
        capjson = cap;
    }
    tracked_json[njson++] = j;
    return j;
}

const char *http_header(const http_response *r, const char *name)
{
    size_t nlen = strlen(name);
    const char *found = NULL, *line;
    char *value;
    int count = 0;

    if (r->head == NULL)
        return NULL;
    for (line = r->head; *line; line += strcspn(line, "\n"), line += *line == '\n') {
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            found = line + nlen + 1;
            count++;
        }
    }
    ck_assert_msg(count <= 1, "%s %s: header %s appears %d times", r->method, r->path,
                  name, count);
    if (found == NULL)
        return NULL;
    found += strspn(found, " \t");
    value = http_track(strndup(found, strcspn(found, "\r\n")));
    return value;
}

/* The media type of a Content-Type value, lower case, without parameters. */
static void media_type(char *out, size_t size, const char *value)
{
    size_t n = value ? strcspn(value, ";") : 0, i;

    while (n > 0 && isspace((unsigned char)value[n - 1]))
        n--;
    if (n >= size)
        n = size - 1;
    for (i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)value[i]);
    out[n] = '\0';
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The Allow of a 405 lists exactly the path's methods (HEAD with GET). */
static void check_allow(const http_response *r, json_t *item)
{
    const char *allow = http_header(r, "Allow");
    char expected[128] = "", got[128] = "", *names[16], *p, *save = NULL, copy[128];
    size_t n = 0;
    static const char *const methods[] = {"get",     "put",  "post",  "delete",
                                          "options", "head", "patch", "trace"};

    ck_assert_msg(allow != NULL, "%s %s: 405 without Allow", r->method, r->path);
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (json_object_get(item, methods[i]) == NULL)
            continue;
        names[n++] = http_strdup(methods[i]);
        if (strcmp(methods[i], "get") == 0 && json_object_get(item, "head") == NULL)
            names[n++] = http_strdup("head");
    }
    qsort(names, n, sizeof(names[0]), cmp_str);
    for (size_t i = 0; i < n; i++) {
        for (p = names[i]; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        snprintf(expected + strlen(expected), sizeof(expected) - strlen(expected), "%s%s",
                 i ? "," : "", names[i]);
    }
    snprintf(copy, sizeof(copy), "%s", allow);
    n = 0;
    for (p = strtok_r(copy, ", ", &save); p != NULL && n < 16;
         p = strtok_r(NULL, ", ", &save))
        names[n++] = p;
    qsort(names, n, sizeof(names[0]), cmp_str);
    for (size_t i = 0; i < n; i++)
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? "," : "",
                 names[i]);
    ck_assert_msg(strcmp(expected, got) == 0, "%s %s: Allow \"%s\", the spec says %s",
                  r->method, r->path, allow, expected);
}

/* Headers of the spec's response: required ones present, integers and enums held. */
static void check_headers(const http_response *r, json_t *resp)
{
    const char *name;
    json_t *h;

    json_object_foreach(json_object_get(resp, "headers"), name, h)
    {
        json_t *hdr = http_spec_resolve(h), *schema;
        const char *value = http_header(r, name), *type;
        char err[256];

        ck_assert_msg(hdr != NULL, "spec: header %s does not resolve", name);
        if (value == NULL) {
            ck_assert_msg(!json_is_true(json_object_get(hdr, "required")),
                          "%s %s: %ld without the required header %s", r->method, r->path,
                          r->status, name);
            continue;
        }
        schema = http_spec_resolve(json_object_get(hdr, "schema"));
        type = json_string_value(json_object_get(schema, "type"));
        if (type != NULL && strcmp(type, "integer") == 0) {
            json_t *n;
            ck_assert_msg(value[0] != '\0' &&
                              strspn(value, "0123456789") == strlen(value),
                          "%s %s: header %s: \"%s\" is not an integer", r->method,
                          r->path, name, value);
            n = json_integer(strtoll(value, NULL, 10));
            ck_assert_msg(http_schema_check(schema, n, name, err, sizeof(err)) == 0,
                          "%s %s: header %s: %s", r->method, r->path, name, err);
            json_decref(n);
        } else if (schema != NULL) {
            json_t *v = json_string(value);
            ck_assert_msg(http_schema_check(schema, v, name, err, sizeof(err)) == 0,
                          "%s %s: header %s \"%s\": %s", r->method, r->path, name, value,
                          err);
            json_decref(v);
        }
    }
}

static void check_body(const http_response *r, json_t *resp, int head)
{
    json_t *content = json_object_get(resp, "content"), *media, *doc;
    const char *type = http_header(r, "Content-Type");
    char mt[64];
    json_error_t jerr;
    char err[256];

    if (content == NULL || json_object_size(content) == 0) {
        ck_assert_msg(r->len == 0, "%s %s: %ld has a body where the spec has none: %s",
                      r->method, r->path, r->status, r->body);
        ck_assert_msg(type == NULL, "%s %s: %ld has a Content-Type (%s) but no body",
                      r->method, r->path, r->status, type);
        return;
    }
    media_type(mt, sizeof(mt), type);
    media = json_object_get(content, mt);
    ck_assert_msg(media != NULL,
                  "%s %s: %ld has Content-Type \"%s\", not one of the spec's", r->method,
                  r->path, r->status, type ? type : "(none)");
    if (head) {
        ck_assert_msg(r->len == 0, "%s %s: HEAD answered with a body", r->method,
                      r->path);
        return;
    }
    if (strcmp(mt, "application/json") != 0)
        return; /* text: the media type is the contract */
    ck_assert_msg(strcmp(type, "application/json") == 0,
                  "%s %s: Content-Type \"%s\", expected exactly application/json",
                  r->method, r->path, type);
    doc = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(doc != NULL, "%s %s: %ld body is not JSON (%s): %s", r->method, r->path,
                  r->status, jerr.text, r->body);
    if (http_schema_check(json_object_get(media, "schema"), doc, "body", err,
                          sizeof(err)) != 0) {
        json_decref(doc);
        ck_abort_msg("%s %s: %ld body does not fit the spec's schema: %s; body %s",
                     r->method, r->path, r->status, err, r->body);
    }
    if (json_is_integer(json_object_get(doc, "status"))) {
        json_int_t st = json_integer_value(json_object_get(doc, "status"));
        json_decref(doc);
        ck_assert_msg(st == r->status, "%s %s: body status %lld, HTTP status %ld",
                      r->method, r->path, (long long)st, r->status);
    } else {
        json_decref(doc);
    }
}

static void record(const char *op, const char *tmpl, long status)
{
    char line[256];
    int fd, n;

    if (http_record_path == NULL)
        return;
    n = snprintf(line, sizeof(line), "%s %s %ld\n", op, tmpl, status);
    fd = open(http_record_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ck_assert_msg(fd >= 0, "cannot open %s: %s", http_record_path, strerror(errno));
    /* One write of a short line: O_APPEND keeps the lines of parallel tests whole. */
    ck_assert_int_eq(write(fd, line, (size_t)n), n);
    close(fd);
}

/* Check an answer against the spec and record (operation, template, status). */
static void check_and_record(const http_response *r)
{
    const char *tmpl = http_template_of(r->path);
    int head = strcmp(r->method, "HEAD") == 0;
    char op[16];
    json_t *item = NULL, *operation = NULL, *responses, *resp;
    char code[8];

    if (http_spec == NULL)
        return;
    for (size_t i = 0; i <= strlen(r->method) && i < sizeof(op); i++)
        op[i] = (char)tolower((unsigned char)r->method[i]);
    if (tmpl != NULL)
        item = json_object_get(json_object_get(http_spec, "paths"), tmpl);
    if (item != NULL) {
        operation = json_object_get(item, op);
        if (operation == NULL && head && json_object_get(item, "get") != NULL) {
            operation = json_object_get(item, "get");
            snprintf(op, sizeof(op), "get");
        }
    }
    if (operation != NULL) {
        responses = json_object_get(operation, "responses");
    } else {
        json_t *other = json_object_get(http_spec, "x-streamy-other-requests");
        responses = json_object_get(
            json_object_get(other, item ? "otherMethod" : "unknownPath"), "responses");
        snprintf(op, sizeof(op), "%s", item ? "other" : "any");
        tmpl = item ? tmpl : "*";
    }
    snprintf(code, sizeof(code), "%ld", r->status);
    resp = http_spec_resolve(json_object_get(responses, code));
    record(op, tmpl, r->status);
    if (resp == NULL)
        return; /* not in the spec: the OpenAPI test names it */
    check_headers(r, resp);
    check_body(r, resp, head);
    if (r->status == 405 && item != NULL)
        check_allow(r, item);
}

static http_response *xfer_finish(xfer *x, CURLcode rc)
{
    http_response *r = http_track(calloc(1, sizeof(*r)));
    long status = 0;

    snprintf(r->method, sizeof(r->method), "%s", x->method);
    snprintf(r->path, sizeof(r->path), "%s", x->path);
    if (rc != CURLE_OK) {
        snprintf(r->error, sizeof(r->error), "(libcurl: %.200s)",
                 x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    }
    r->status = status;
    r->body = http_track(x->resp.data ? x->resp.data : strdup(""));
    r->len = x->resp.len;
    r->head = http_track(x->head.data ? x->head.data : strdup(""));
    memset(&x->resp, 0, sizeof(x->resp));
    memset(&x->head, 0, sizeof(x->head));
    if (r->status != 0)
        check_and_record(r);
    return r;
}

http_response *http_request_n(http_server *s, const char *method, const char *path,
                              const char *body, size_t len, const char *const *headers)
{
    xfer x;
    http_response *r;
    CURLcode rc;

    memset(&x, 0, sizeof(x));
    if (s->easy == NULL)
        s->easy = curl_easy_init();
    ck_assert_ptr_nonnull(s->easy);
    x.easy = s->easy;
    xfer_prepare(&x, s, method, path, body, len, headers);
    rc = curl_easy_perform(x.easy);
    r = xfer_finish(&x, rc);
    xfer_clear(&x);
    return r;
}

http_response *http_request(http_server *s, const char *method, const char *path,
                            const char *body, const char *const *headers)
{
    return http_request_n(s, method, path, body, body ? strlen(body) : 0, headers);
}

/* --- the multi interface ---------------------------------------------------------- */

struct http_multi {
    http_server *s;
    CURLM *multi;
    xfer *x;
    int slots, running;
    http_done_cb done;
    void *payload;
};

http_multi *http_multi_new(http_server *s, int slots, http_done_cb done, void *payload)
{
    http_multi *m = calloc(1, sizeof(*m));

    ck_assert_ptr_nonnull(m);
    m->s = s;
    m->multi = curl_multi_init();
    ck_assert_ptr_nonnull(m->multi);
    m->x = calloc((size_t)slots, sizeof(*m->x));
    ck_assert_ptr_nonnull(m->x);
    m->slots = slots;
    m->done = done;
    m->payload = payload;
    for (int i = 0; i < slots; i++) {
        m->x[i].easy = curl_easy_init();
        ck_assert_ptr_nonnull(m->x[i].easy);
    }
    return m;
}

void http_multi_start(http_multi *m, int slot, const char *method, const char *path,
                      const char *body, const char *const *headers)
{
    xfer *x = &m->x[slot];

    ck_assert_msg(!x->running, "slot %d is busy", slot);
    xfer_prepare(x, m->s, method, path, body, body ? strlen(body) : 0, headers);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    ck_assert_int_eq(curl_multi_add_handle(m->multi, x->easy), CURLM_OK);
    x->running = 1;
    m->running++;
}

int http_multi_run(http_multi *m, int timeout_ms)
{
    int64_t deadline = http_mono_ms() + timeout_ms;
    int still, left;

    while (m->running > 0) {
        CURLMsg *msg;
        int64_t now = http_mono_ms();
        if (now >= deadline)
            break;
        ck_assert_int_eq(curl_multi_perform(m->multi, &still), CURLM_OK);
        while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
            xfer *x = NULL;
            http_response *r;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            ck_assert_ptr_nonnull(x);
            {
                CURLcode rc = msg->data.result;
                curl_multi_remove_handle(m->multi, x->easy);
                x->running = 0;
                m->running--;
                r = xfer_finish(x, rc);
            }
            if (m->done != NULL)
                m->done((int)(x - m->x), r, m->payload);
        }
        if (m->running > 0)
            curl_multi_poll(m->multi, NULL, 0,
                            (int)(deadline - now < 50 ? deadline - now : 50), NULL);
    }
    return m->running;
}

int http_multi_sent(http_multi *m)
{
    int n = 0;

    for (int i = 0; i < m->slots; i++) {
        curl_off_t up = 0;
        long req = 0;
        if (!m->x[i].running)
            continue;
        curl_easy_getinfo(m->x[i].easy, CURLINFO_SIZE_UPLOAD_T, &up);
        curl_easy_getinfo(m->x[i].easy, CURLINFO_REQUEST_SIZE, &req);
        n += req > 0 && (size_t)up == m->x[i].len;
    }
    return n;
}

int http_multi_running(const http_multi *m)
{
    return m->running;
}

void http_multi_free(http_multi *m)
{
    if (m == NULL)
        return;
    for (int i = 0; i < m->slots; i++) {
        if (m->x[i].running)
            curl_multi_remove_handle(m->multi, m->x[i].easy);
        curl_easy_cleanup(m->x[i].easy);
        xfer_clear(&m->x[i]);
    }
    curl_multi_cleanup(m->multi);
    free(m->x);
    free(m);
}

/* --- raw sockets ------------------------------------------------------------------ */

int http_raw_connect(const http_server *s)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)s->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

void http_raw_send(int fd, const char *data)
{
    size_t len = strlen(data), off = 0;

    while (off < len) {
        ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_msg(n > 0, "send: %s", strerror(errno));
        off += (size_t)n;
    }
}

/* The first `needle` in `hay`, ignoring case. */
static const char *find_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

int http_raw_response(int fd, int timeout_ms, char *got, size_t size)
{
    int64_t deadline = http_mono_ms() + timeout_ms;
    size_t len = 0;

    got[0] = '\0';
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = deadline - http_mono_ms();
        const char *end = strstr(got, "\r\n\r\n"), *cl;
        ssize_t n;

        if (end != NULL) {
            size_t body = 0;
            cl = find_nocase(got, "\r\nContent-Length:");
            if (cl != NULL && cl < end)
                body = strtoul(cl + 17, NULL, 10);
            if (len >= (size_t)(end + 4 - got) + body)
                return 1;
        }
        if (left <= 0)
            return 0;
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ck_assert_uint_lt(len, size - 1);
        n = recv(fd, got + len, size - 1 - len, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return -1;
        len += (size_t)n;
        got[len] = '\0';
    }
}

int http_raw_wait_close(int fd, int timeout_ms, char *got, size_t size)
{
    int64_t deadline = http_mono_ms() + timeout_ms;
    size_t len = got ? strlen(got) : 0;

    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = deadline - http_mono_ms();
        char chunk[1024];
        ssize_t n;

        if (left <= 0)
            return 0;
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        n = recv(fd, chunk, sizeof(chunk), 0);
        if (n == 0)
            return 1;
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return errno == ECONNRESET ? 2 : 1;
        }
        if (got != NULL && len + 1 < size) {
            size_t k = (size_t)n < size - 1 - len ? (size_t)n : size - 1 - len;
            memcpy(got + len, chunk, k);
            len += k;
            got[len] = '\0';
        }
    }
}

/* --- the store -------------------------------------------------------------------- */

/* The WAL locks are bytes of the -shm file: 120 + (0 write, 1 checkpoint, 2 recover, 3-7
 * read marks). The wal-index header is kept twice, at 0 and 48, 48 bytes each; readers
 * trust it only while both copies agree. */
#define SHM_WRITE_LOCK 120
#define SHM_RECOVER_LOCK 122
#define SHM_HEADER_COPY2_LAST 95

static int shm_lock(int fd, off_t at, short type)
{
    struct flock f;

    memset(&f, 0, sizeof(f));
    f.l_type = type;
    f.l_whence = SEEK_SET;
    f.l_start = at;
    f.l_len = 1;
    return fcntl(fd, F_SETLK, &f);
}

void http_store_hold(http_store_lock *l, const char *db)
{
    int ready[2], ctl[2];
    char c = 0;
    struct pollfd p;

    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(ctl), 0);
    l->pid = fork_child();
    if (l->pid == 0) {
        char shm[1100];
        unsigned char orig, flipped;
        int64_t deadline = http_mono_ms() + http_scaled_ms(10000);
        int fd;

        close(ready[0]);
        close(ctl[1]);
        snprintf(shm, sizeof(shm), "%s-shm", db);
        if ((fd = open(shm, O_RDWR)) < 0)
            _exit(3);
        /* The server may be inside a transaction: wait for the write lock. */
        while (shm_lock(fd, SHM_WRITE_LOCK, F_WRLCK) != 0 ||
               shm_lock(fd, SHM_RECOVER_LOCK, F_WRLCK) != 0) {
            shm_lock(fd, SHM_WRITE_LOCK, F_UNLCK);
            if (http_mono_ms() > deadline)
                _exit(4);
            http_sleep_ms(2);
        }
        if (pread(fd, &orig, 1, SHM_HEADER_COPY2_LAST) != 1)
            _exit(5);
        flipped = orig ^ 0xff;
        if (pwrite(fd, &flipped, 1, SHM_HEADER_COPY2_LAST) != 1)
            _exit(6);
        if (write(ready[1], "L", 1) != 1)
            _exit(7);
        while (read(ctl[0], &c, 1) < 0 && errno == EINTR) {
        }
        if (pwrite(fd, &orig, 1, SHM_HEADER_COPY2_LAST) != 1)
            _exit(8);
        _exit(0); /* closing the file drops the locks */
    }
    close(ready[1]);
    close(ctl[0]);
    l->ctl = ctl[1];
    p.fd = ready[0];
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, http_scaled_ms(15000)) != 1 || read(ready[0], &c, 1) != 1 ||
        c != 'L') {
        int status = 0;
        kill(l->pid, SIGKILL);
        waitpid(l->pid, &status, 0);
        child_done(l->pid);
        ck_abort_msg("could not lock the store %s (helper exit %d)", db,
                     exit_code(status));
    }
    close(ready[0]);
}

void http_store_release(http_store_lock *l)
{
    int status;

    ck_assert_int_eq(write(l->ctl, "U", 1), 1);
    close(l->ctl);
    while (waitpid(l->pid, &status, 0) < 0)
        ck_assert_int_eq(errno, EINTR);
    child_done(l->pid);
    ck_assert_msg(exit_code(status) == 0, "the store lock helper exited %d",
                  exit_code(status));
}

long long http_db_int(const char *db, const char *sql)
{
    sqlite3 *conn = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;
    int rc;

    rc = sqlite3_open_v2(db, &conn, SQLITE_OPEN_READWRITE, NULL);
    ck_assert_msg(rc == SQLITE_OK, "open %s: %s", db, sqlite3_errmsg(conn));
    sqlite3_busy_timeout(conn, http_scaled_ms(10000));
    rc = sqlite3_prepare_v2(conn, sql, -1, &st, NULL);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(conn));
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        ck_assert_msg(rc == SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(conn));
    sqlite3_finalize(st);
    sqlite3_close(conn);
    return v;
}

/* --- metrics ---------------------------------------------------------------------- */

double http_metric(const char *text, const char *series)
{
    size_t n = strlen(series);
    const char *line;

    for (line = text; *line; line += strcspn(line, "\n"), line += *line == '\n') {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
    }
    return -1;
}
