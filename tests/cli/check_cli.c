/* SPDX-License-Identifier: MIT */
/* check_cli.c: runs the built streamyctl and checks its output, JSON and exit codes. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "streamy.h"
#include "test_util.h"

/* cli/settings.c is compiled in for its parsers; main.c, which owns the flags, is not. */
cli_flags cli_flag;

extern char **environ;

/* The binary under test: argv[1], else $STREAMYCTL. */
static const char *bin;
/* This test's own directory, the streamyctl working directory, and a store in it. */
static char tmp[1024];
static char db[1100];

/* What one run of streamyctl gave. */
typedef struct result {
    int status; /* exit code, or 128 + signal */
    char *out, *err;
    size_t out_len, err_len;
} result;

/* Allocations of a test, released by the fixture's teardown. */
#define TRACK_MAX 20000
static void *tracked[TRACK_MAX];
static json_t *tracked_json[TRACK_MAX];
static size_t ntracked, ntracked_json;

static void *track(void *p)
{
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_lt(ntracked, TRACK_MAX);
    tracked[ntracked++] = p;
    return p;
}

static json_t *track_json(json_t *j)
{
    ck_assert_uint_lt(ntracked_json, TRACK_MAX);
    tracked_json[ntracked_json++] = j;
    return j;
}

static void setup(void)
{
    char *dir = test_tmpdir();

    snprintf(tmp, sizeof(tmp), "%s", dir);
    free(dir);
    snprintf(db, sizeof(db), "sqlite:%s/t.db", tmp);
    /* A child that exits before reading all its input must not kill the test. */
    signal(SIGPIPE, SIG_IGN);
    ntracked = ntracked_json = 0;
}

static void teardown(void)
{
    for (size_t i = 0; i < ntracked; i++)
        free(tracked[i]);
    for (size_t i = 0; i < ntracked_json; i++)
        json_decref(tracked_json[i]);
    ntracked = ntracked_json = 0;
    test_tmpdir_free(strdup(tmp));
}

static char *path_in_tmp(const char *name)
{
    char *p = track(malloc(strlen(tmp) + strlen(name) + 2));
    sprintf(p, "%s/%s", tmp, name);
    return p;
}

static char *fmt(const char *f, const char *a)
{
    char *p = track(malloc(strlen(f) + strlen(a) + 1));
    sprintf(p, f, a);
    return p;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The parent's environment without STREAMY_* (so the caller's shell cannot leak
 * into a test), plus `extra`. */
static char **child_env(const char *const *extra)
{
    size_t n = 0, m = 0;
    char **env;

    while (environ[n] != NULL)
        n++;
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
        n++;
    env = track(calloc(n + 1, sizeof(*env)));
    for (size_t i = 0; environ[i] != NULL; i++) {
        if (strncmp(environ[i], "STREAMY_", 8) != 0)
            env[m++] = environ[i];
    }
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
        env[m++] = (char *)extra[i];
    env[m] = NULL;
    return env;
}

typedef struct proc {
    pid_t pid;
    int in, out, err;
} proc;

static void proc_start(proc *p, const char *const *env, const char *const *args)
{
    char **envp = child_env(env);
    char **argv;
    int in[2], out[2], err[2];
    size_t n = 0;

    while (args[n] != NULL)
        n++;
    argv = track(calloc(n + 2, sizeof(*argv)));
    argv[0] = (char *)bin;
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];
    ck_assert(pipe(in) == 0 && pipe(out) == 0 && pipe(err) == 0);
    p->pid = fork();
    ck_assert_int_ge(p->pid, 0);
    if (p->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        close(err[0]);
        close(err[1]);
        if (chdir(tmp) != 0)
            _exit(126);
        execve(bin, argv, envp);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    p->in = in[1];
    p->out = out[0];
    p->err = err[0];
}

static int proc_wait(proc *p)
{
    int status;

    while (waitpid(p->pid, &status, 0) < 0)
        ck_assert_int_eq(errno, EINTR);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
    char *b = realloc(*buf, *len + n + 1);
    ck_assert_ptr_nonnull(b);
    memcpy(b + *len, data, n);
    *len += n;
    b[*len] = '\0';
    *buf = b;
}

/* Run streamyctl with `input` on its stdin, collecting stdout and stderr. */
static result run(const char *input, size_t input_len, const char *const *env,
                  const char *const *args)
{
    result r = {0, NULL, NULL, 0, 0};
    size_t written = 0;
    char chunk[65536];
    int open_out = 1, open_err = 1;
    proc p;

    append(&r.out, &r.out_len, "", 0);
    append(&r.err, &r.err_len, "", 0);
    proc_start(&p, env, args);
    fcntl(p.in, F_SETFL, O_NONBLOCK);
    if (written == input_len) {
        close(p.in);
        p.in = -1;
    }
    while (open_out || open_err || p.in >= 0) {
        struct pollfd fds[3] = {{p.in, POLLOUT, 0},
                                {open_out ? p.out : -1, POLLIN, 0},
                                {open_err ? p.err : -1, POLLIN, 0}};
        ssize_t n;

        if (poll(fds, 3, -1) < 0) {
            ck_assert_int_eq(errno, EINTR);
            continue;
        }
        if (p.in >= 0 && fds[0].revents) {
            n = write(p.in, input + written, input_len - written);
            if (n > 0)
                written += (size_t)n;
            if ((n < 0 && errno != EAGAIN) || written == input_len) {
                close(p.in);
                p.in = -1;
            }
        }
        for (int i = 1; i < 3; i++) {
            if (fds[i].fd < 0 || fds[i].revents == 0)
                continue;
            n = read(fds[i].fd, chunk, sizeof(chunk));
            if (n > 0 && i == 1)
                append(&r.out, &r.out_len, chunk, (size_t)n);
            else if (n > 0)
                append(&r.err, &r.err_len, chunk, (size_t)n);
            else if (n == 0 || errno != EINTR)
                *(i == 1 ? &open_out : &open_err) = 0;
        }
    }
    close(p.out);
    close(p.err);
    r.status = proc_wait(&p);
    track(r.out);
    track(r.err);
    return r;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})
/* streamyctl ARGS..., with no input and the test's clean environment. */
#define CLI(...) run(NULL, 0, NULL, ARGS(__VA_ARGS__))
#define CLI_ENV(env, ...) run(NULL, 0, env, ARGS(__VA_ARGS__))
#define CLI_IN(input, ...) run(input, strlen(input), NULL, ARGS(__VA_ARGS__))

/* Each check names the line of the test, as the helpers are shared. */
#define expect_exit(r, code) expect_exit_at((r), (code), __LINE__)
#define expect_failure(r, code, needle) expect_failure_at((r), (code), (needle), __LINE__)

static void expect_exit_at(result r, int code, int line)
{
    ck_assert_msg(r.status == code,
                  "line %d: exit status %d, expected %d\nstdout: %s\nstderr: %s", line,
                  r.status, code, r.out, r.err);
}

/* A failed command says why on stderr, as "streamyctl: ...", and prints no result. */
static void expect_failure_at(result r, int code, const char *needle, int line)
{
    expect_exit_at(r, code, line);
    ck_assert_msg(strncmp(r.err, "streamyctl: ", 12) == 0,
                  "line %d: stderr does not start with \"streamyctl: \": %s", line,
                  r.err);
    ck_assert_msg(strstr(r.err, needle) != NULL, "line %d: stderr lacks \"%s\": %s", line,
                  needle, r.err);
    ck_assert_msg(r.out_len == 0, "line %d: stdout is not empty: %s", line, r.out);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The line at `*p`, parsed as a JSON object; `*p` moves to the next line. */
static json_t *json_next(const char **p, size_t lineno)
{
    const char *end = strchr(*p, '\n');
    json_error_t e;
    json_t *j;

    ck_assert_msg(end != NULL, "line %zu is missing or lacks a newline", lineno);
    j = json_loadb(*p, (size_t)(end - *p), 0, &e);
    ck_assert_msg(j != NULL, "line %zu is not JSON (%s): %.*s", lineno, e.text,
                  (int)(end - *p), *p);
    track_json(j);
    ck_assert_msg(json_is_object(j), "line %zu is not a JSON object", lineno);
    *p = end + 1;
    return j;
}

/* Line `i` (0-based) of `text`, parsed as a JSON object. */
static json_t *json_line(const char *text, size_t i)
{
    const char *p = text;

    for (size_t k = 0; k < i; k++) {
        p = strchr(p, '\n');
        ck_assert_msg(p != NULL, "output has fewer than %zu lines: %s", i + 1, text);
        p++;
    }
    return json_next(&p, i + 1);
}

/* The single JSON line of a result. */
static json_t *json_only(const result *r)
{
    ck_assert_msg(count_lines(r->out) == 1, "expected one line of output: %s", r->out);
    return json_line(r->out, 0);
}

static json_t *get(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(v != NULL, "key \"%s\" is missing", key);
    return v;
}

static json_int_t jint(json_t *o, const char *key)
{
    json_t *v = get(o, key);
    ck_assert_msg(json_is_integer(v), "\"%s\" is not an integer", key);
    return json_integer_value(v);
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = get(o, key);
    ck_assert_msg(json_is_string(v), "\"%s\" is not a string", key);
    return json_string_value(v);
}

static int jbool(json_t *o, const char *key)
{
    json_t *v = get(o, key);
    ck_assert_msg(json_is_boolean(v), "\"%s\" is not a boolean", key);
    return json_is_true(v);
}

static void jnull(json_t *o, const char *key)
{
    ck_assert_msg(json_is_null(get(o, key)), "\"%s\" is not null", key);
}

/* The object has exactly these keys: the JSON contract, no more, no less. */
static void expect_keys(json_t *o, const char *const *keys)
{
    size_t n = 0;
    for (; keys[n] != NULL; n++)
        get(o, keys[n]);
    ck_assert_msg(json_object_size(o) == n, "object has %zu keys, expected %zu",
                  json_object_size(o), n);
}

static const char *const subscribe_keys[] = {
    "command",  "result",     "user",     "stream",  "created",        "active",  "limit",
    "since_ms", "expires_ms", "retry_ms", "evicted", "shadow_refused", "expired", NULL};
static const char *const unsubscribe_keys[] = {"command", "result",  "user", "stream",
                                               "removed", "expired", NULL};
static const char *const renew_keys[] = {"command", "result", "user",     "stream",
                                         "active",  "limit",  "since_ms", "expires_ms",
                                         "expired", NULL};

/* How many leases `user` holds in the test's store, asked through streamyctl. */
static json_int_t count_of(const char *user)
{
    result r = CLI("count", user, "--db", db, "--json");
    expect_exit(r, 0);
    return jint(json_only(&r), "count");
}

/* ---- commands ---------------------------------------------------------- */

START_TEST(subscribe_json)
{
    int64_t before = now_ms();
    result r = CLI("subscribe", "u1", "s1", "--db", db, "--json");
    int64_t after = now_ms();
    json_t *j;

    expect_exit(r, 0);
    ck_assert_uint_eq(r.err_len, 0);
    j = json_only(&r);
    expect_keys(j, subscribe_keys);
    ck_assert_str_eq(jstr(j, "command"), "subscribe");
    ck_assert_str_eq(jstr(j, "result"), "ok");
    ck_assert_str_eq(jstr(j, "user"), "u1");
    ck_assert_str_eq(jstr(j, "stream"), "s1");
    ck_assert(jbool(j, "created"));
    ck_assert_int_eq(jint(j, "active"), 1);
    ck_assert_int_eq(jint(j, "limit"), 3);
    ck_assert_int_ge(jint(j, "since_ms"), before);
    ck_assert_int_le(jint(j, "since_ms"), after);
    jnull(j, "expires_ms");
    jnull(j, "retry_ms");
    jnull(j, "evicted");
    ck_assert(!jbool(j, "shadow_refused"));
    ck_assert_int_eq(jint(j, "expired"), 0);

    /* A stream counts once: subscribing again refreshes the same lease. */
    r = CLI("--db", db, "--json", "subscribe", "u1", "s1");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert(!jbool(j, "created"));
    ck_assert_int_eq(jint(j, "active"), 1);
    ck_assert_int_eq(count_of("u1"), 1);
}
END_TEST

START_TEST(subscribe_limit_reached)
{
    result r;
    json_t *j;

    for (int i = 1; i <= 3; i++) {
        char stream[8];
        snprintf(stream, sizeof(stream), "s%d", i);
        r = CLI("subscribe", "u1", stream, "--db", db);
        expect_exit(r, 0);
        ck_assert_msg(strncmp(r.out, "allowed:", 8) == 0, "human output: %s", r.out);
    }
    r = CLI("subscribe", "u1", "s4", "--db", db);
    expect_exit(r, 3);
    ck_assert_msg(strncmp(r.out, "refused:", 8) == 0 && strstr(r.out, "3 of 3") != NULL,
                  "human output: %s", r.out);

    r = CLI("subscribe", "u1", "s4", "--db", db, "--json");
    expect_exit(r, 3);
    j = json_only(&r);
    expect_keys(j, subscribe_keys);
    ck_assert_str_eq(jstr(j, "result"), "limit_reached");
    ck_assert(!jbool(j, "created"));
    ck_assert_int_eq(jint(j, "active"), 3);
    ck_assert_int_eq(jint(j, "limit"), 3);
    jnull(j, "since_ms");
    jnull(j, "expires_ms");
    jnull(j, "retry_ms"); /* no TTL: no slot frees by itself */
    ck_assert_int_eq(count_of("u1"), 3);
    /* Another user is not affected. */
    r = CLI("subscribe", "u2", "s4", "--db", db);
    expect_exit(r, 0);
}
END_TEST

START_TEST(unsubscribe_json)
{
    result r;
    json_t *j;

    expect_exit(CLI("subscribe", "u1", "s1", "--db", db), 0);
    expect_exit(CLI("subscribe", "u1", "s2", "--db", db), 0);
    r = CLI("unsubscribe", "u1", "s1", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    expect_keys(j, unsubscribe_keys);
    ck_assert_str_eq(jstr(j, "command"), "unsubscribe");
    ck_assert_str_eq(jstr(j, "result"), "ok");
    ck_assert_str_eq(jstr(j, "user"), "u1");
    ck_assert_str_eq(jstr(j, "stream"), "s1");
    ck_assert(jbool(j, "removed"));
    ck_assert_int_eq(jint(j, "expired"), 0);
    ck_assert_int_eq(count_of("u1"), 1);

    /* Idempotent: nothing to remove is still exit 0. */
    r = CLI("unsubscribe", "u1", "s1", "--db", db, "--json");
    expect_exit(r, 0);
    ck_assert(!jbool(json_only(&r), "removed"));
    r = CLI("unsubscribe", "u1", "s2", "--db", db);
    expect_exit(r, 0);
    ck_assert_msg(strstr(r.out, "removed") != NULL, "human output: %s", r.out);
    ck_assert_int_eq(count_of("u1"), 0);
}
END_TEST

START_TEST(renew_found_and_not_found)
{
    result r;
    json_t *j;

    r = CLI("renew", "u1", "s1", "--db", db, "--json");
    expect_exit(r, 4);
    j = json_only(&r);
    expect_keys(j, renew_keys);
    ck_assert_str_eq(jstr(j, "command"), "renew");
    ck_assert_str_eq(jstr(j, "result"), "not_found");
    jnull(j, "since_ms");
    jnull(j, "expires_ms");
    ck_assert_int_eq(count_of("u1"), 0); /* renew never creates a lease */

    r = CLI("renew", "u1", "s1", "--db", db);
    expect_exit(r, 4);
    ck_assert_msg(strstr(r.out, "not found") != NULL, "human output: %s", r.out);

    expect_exit(CLI("subscribe", "u1", "s1", "--db", db), 0);
    r = CLI("renew", "u1", "s1", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    expect_keys(j, renew_keys);
    ck_assert_str_eq(jstr(j, "result"), "ok");
    ck_assert_int_eq(jint(j, "active"), 1);
    ck_assert_int_eq(jint(j, "limit"), 3);
    ck_assert_int_gt(jint(j, "since_ms"), 0);
    jnull(j, "expires_ms");
}
END_TEST

START_TEST(ttl_sets_expiry)
{
    int64_t before, after;
    result r;
    json_t *j;

    before = now_ms();
    r = CLI("subscribe", "u1", "s1", "--db", db, "--json", "--ttl", "90s");
    after = now_ms();
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_int_ge(jint(j, "expires_ms"), before + 90000);
    ck_assert_int_le(jint(j, "expires_ms"), after + 90000);

    before = now_ms();
    r = CLI("renew", "u1", "s1", "--db", db, "--json", "--ttl", "5m");
    after = now_ms();
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_int_ge(jint(j, "expires_ms"), before + 300000);
    ck_assert_int_le(jint(j, "expires_ms"), after + 300000);

    /* The list shows the same expiry, and a human sees it as an ISO-8601 time. */
    r = CLI("list", "u1", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_array_get(get(json_only(&r), "leases"), 0);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_ge(jint(j, "expires_ms"), before + 300000);

    /* At the limit with a TTL, retry_ms says when the first slot frees. */
    expect_exit(CLI("subscribe", "u1", "s2", "--db", db, "--ttl", "1h"), 0);
    expect_exit(CLI("subscribe", "u1", "s3", "--db", db, "--ttl", "1h"), 0);
    r = CLI("subscribe", "u1", "s4", "--db", db, "--json", "--ttl", "1h");
    expect_exit(r, 3);
    j = json_only(&r);
    ck_assert_int_ge(jint(j, "retry_ms"), before + 300000);
    ck_assert_int_le(jint(j, "retry_ms"), now_ms() + 300000);
}
END_TEST

START_TEST(list_json_and_human)
{
    result r;
    json_t *j, *leases, *l;

    r = CLI("list", "u1", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    expect_keys(j, ARGS("user", "count", "limit", "leases"));
    ck_assert_int_eq(jint(j, "count"), 0);
    ck_assert_int_eq(json_array_size(get(j, "leases")), 0);

    expect_exit(CLI("subscribe", "u1", "first", "--db", db), 0);
    expect_exit(CLI("subscribe", "u1", "second", "--db", db, "--ttl", "1h"), 0);
    r = CLI("list", "u1", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_str_eq(jstr(j, "user"), "u1");
    ck_assert_int_eq(jint(j, "count"), 2);
    ck_assert_int_eq(jint(j, "limit"), 3);
    leases = get(j, "leases");
    ck_assert(json_is_array(leases));
    ck_assert_int_eq(json_array_size(leases), 2);
    l = json_array_get(leases, 0);
    expect_keys(l, ARGS("stream", "since_ms", "renewed_ms", "expires_ms"));
    ck_assert_str_eq(jstr(l, "stream"), "first"); /* oldest first */
    ck_assert_int_gt(jint(l, "since_ms"), 0);
    ck_assert_int_ge(jint(l, "renewed_ms"), jint(l, "since_ms"));
    jnull(l, "expires_ms");
    l = json_array_get(leases, 1);
    ck_assert_str_eq(jstr(l, "stream"), "second");
    ck_assert_int_gt(jint(l, "expires_ms"), jint(l, "since_ms"));

    r = CLI("list", "u1", "--db", db);
    expect_exit(r, 0);
    ck_assert_msg(strstr(r.out, "first") && strstr(r.out, "second") &&
                      strstr(r.out, "2 of 3") && strstr(r.out, "never"),
                  "human list: %s", r.out);
    /* ISO-8601 UTC: 2026-01-02T03:04:05.678Z */
    {
        const char *t = strstr(r.out, "since ");
        ck_assert_ptr_nonnull(t);
        t += 6;
        ck_assert_msg(t[4] == '-' && t[7] == '-' && t[10] == 'T' && t[13] == ':' &&
                          t[19] == '.' && t[23] == 'Z',
                      "not an ISO-8601 UTC time: %.30s", t);
    }
    ck_assert_ptr_null(strchr(r.out, '\033')); /* no colour */
}
END_TEST

START_TEST(count_json_and_human)
{
    result r;
    json_t *j;

    expect_exit(CLI("subscribe", "u1", "a", "--db", db), 0);
    expect_exit(CLI("subscribe", "u1", "b", "--db", db), 0);
    r = CLI("count", "u1", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    expect_keys(j, ARGS("user", "count", "limit"));
    ck_assert_str_eq(jstr(j, "user"), "u1");
    ck_assert_int_eq(jint(j, "count"), 2);
    ck_assert_int_eq(jint(j, "limit"), 3);
    r = CLI("count", "u1", "--db", db, "--limit", "10");
    expect_exit(r, 0);
    ck_assert_msg(strstr(r.out, "2 of 10") != NULL, "human count: %s", r.out);
    ck_assert_int_eq(count_of("nobody"), 0);
}
END_TEST

START_TEST(limit_set_get_clear)
{
    result r;
    json_t *j;

    r = CLI("limit", "u1", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    expect_keys(j, ARGS("user", "limit", "override"));
    ck_assert_str_eq(jstr(j, "user"), "u1");
    ck_assert_int_eq(jint(j, "limit"), 3);
    ck_assert(!jbool(j, "override"));

    r = CLI("limit", "u1", "5", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_int_eq(jint(j, "limit"), 5);
    ck_assert(jbool(j, "override"));

    /* The user's own limit beats the default, whatever the default. */
    r = CLI("limit", "u1", "--db", db, "--json", "--limit", "7");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_int_eq(jint(j, "limit"), 5);
    ck_assert(jbool(j, "override"));
    for (int i = 0; i < 5; i++) {
        char s[8];
        snprintf(s, sizeof(s), "s%d", i);
        expect_exit(CLI("subscribe", "u1", s, "--db", db), 0);
    }
    r = CLI("subscribe", "u1", "s5", "--db", db, "--json");
    expect_exit(r, 3);
    ck_assert_int_eq(jint(json_only(&r), "limit"), 5);

    r = CLI("limit", "u1", "--clear", "--db", db, "--json", "--limit", "7");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_int_eq(jint(j, "limit"), 7);
    ck_assert(!jbool(j, "override"));
    r = CLI("limit", "u1", "--db", db);
    expect_exit(r, 0);
    ck_assert_msg(strstr(r.out, "limit 3") != NULL, "human limit: %s", r.out);

    /* 0 blocks the user. */
    expect_exit(CLI("limit", "u2", "0", "--db", db), 0);
    r = CLI("subscribe", "u2", "s1", "--db", db, "--json");
    expect_exit(r, 3);
    j = json_only(&r);
    ck_assert_int_eq(jint(j, "limit"), 0);
    ck_assert_int_eq(jint(j, "active"), 0);
    ck_assert_int_eq(count_of("u2"), 0);
}
END_TEST

START_TEST(limit_invalid)
{
    expect_failure(CLI("limit", "u1", "abc", "--db", db), 2, "abc");
    expect_failure(CLI("limit", "u1", "1.5", "--db", db), 2, "1.5");
    expect_failure(CLI("limit", "u1", "100001", "--db", db), 2,
                   "100001"); /* library's max */
    expect_failure(CLI("limit", "u1", "99999999999999999999", "--db", db), 2, "limit");
    expect_failure(CLI("limit", "u1", "5", "--clear", "--db", db), 2, "--clear");
    expect_failure(CLI("limit", "--db", db), 2, "limit");
    expect_failure(CLI("limit", "u1", "1", "2", "--db", db), 2, "limit");
    expect_failure(CLI("subscribe", "u1", "s1", "--clear", "--db", db), 2, "--clear");
    expect_exit(CLI("limit", "u1", "100000", "--db", db), 0);
}
END_TEST

START_TEST(purge_json)
{
    result r;
    json_t *j;

    r = CLI("purge", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    expect_keys(j, ARGS("removed", NULL));
    ck_assert_int_eq(jint(j, "removed"), 0);

    /* The CLI cannot move the library's clock: a 1 ms TTL expires while we wait. */
    expect_exit(CLI("subscribe", "u1", "s1", "--db", db, "--ttl", "1ms"), 0);
    expect_exit(CLI("subscribe", "u2", "s1", "--db", db, "--ttl", "1ms"), 0);
    expect_exit(CLI("subscribe", "u3", "s1", "--db", db), 0);
    sleep_ms(20);
    r = CLI("purge", "--db", db, "--json");
    expect_exit(r, 0);
    ck_assert_int_eq(jint(json_only(&r), "removed"), 2);
    r = CLI("purge", "--db", db);
    expect_exit(r, 0);
    ck_assert_msg(strstr(r.out, "0") != NULL, "human purge: %s", r.out);
    ck_assert_int_eq(count_of("u3"), 1);
}
END_TEST

START_TEST(health_json)
{
    result r;
    json_t *j;

    r = CLI("health", "--db", db, "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    expect_keys(j, ARGS("status", "store"));
    ck_assert_str_eq(jstr(j, "status"), "ok");
    ck_assert_str_eq(jstr(j, "store"), "sqlite");

    r = CLI("health", "--db", "memory:", "--json");
    expect_exit(r, 0);
    ck_assert_str_eq(jstr(json_only(&r), "store"), "memory");

    r = CLI("health", "--db", db);
    expect_exit(r, 0);
    ck_assert_msg(strncmp(r.out, "ok", 2) == 0, "human health: %s", r.out);

    /* A store that cannot be opened is unavailable: exit 1, with the reason. */
    r = CLI("health", "--db", fmt("sqlite:%s/missing/t.db", tmp), "--json");
    expect_exit(r, 1);
    j = json_only(&r);
    expect_keys(j, ARGS("status", "store", "error"));
    ck_assert_str_eq(jstr(j, "status"), "unavailable");
    ck_assert_msg(strstr(jstr(j, "error"), "missing") != NULL, "error: %s",
                  jstr(j, "error"));
    r = CLI("health", "--db", fmt("sqlite:%s/missing/t.db", tmp));
    expect_exit(r, 1);
    ck_assert_msg(strncmp(r.out, "unavailable", 11) == 0, "human health: %s", r.out);
}
END_TEST

START_TEST(default_store_is_streamy_db)
{
    struct stat st;

    /* streamyctl runs in the test's directory, without STREAMY_DB. */
    expect_exit(CLI("subscribe", "u1", "s1"), 0);
    ck_assert_int_eq(stat(path_in_tmp("streamy.db"), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(count_of("u1"), 0); /* count_of reads t.db, not streamy.db */
    expect_exit(CLI("subscribe", "u1", "s2", "--db", "streamy.db"), 0);
    {
        result r = CLI("count", "u1", "--json");
        expect_exit(r, 0);
        ck_assert_int_eq(jint(json_only(&r), "count"), 2);
    }
}
END_TEST

START_TEST(policies_and_shadow)
{
    result r;
    json_t *j;

    for (int i = 1; i <= 3; i++) {
        char s[8];
        snprintf(s, sizeof(s), "s%d", i);
        expect_exit(CLI("subscribe", "old", s, "--db", db), 0);
        expect_exit(CLI("subscribe", "idle", s, "--db", db), 0);
        sleep_ms(3); /* distinct start times, whatever the machine's speed */
    }
    r = CLI("subscribe", "old", "s4", "--db", db, "--json", "--policy", "evict-oldest");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_str_eq(jstr(j, "evicted"), "s1");
    ck_assert_int_eq(jint(j, "active"), 3);
    ck_assert_int_eq(count_of("old"), 3);

    expect_exit(CLI("renew", "idle", "s1", "--db", db), 0);
    r = CLI("subscribe", "idle", "s4", "--db", db, "--json", "--policy", "evict-idle");
    expect_exit(r, 0);
    ck_assert_str_eq(jstr(json_only(&r), "evicted"), "s2");

    /* Shadow mode allows, and says it would have refused. */
    r = CLI("subscribe", "old", "s5", "--db", db, "--json", "--shadow");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_str_eq(jstr(j, "result"), "ok");
    ck_assert(jbool(j, "shadow_refused"));
    ck_assert_int_eq(count_of("old"), 4);
    r = CLI("subscribe", "old", "s6", "--db", db, "--shadow");
    expect_exit(r, 0);
    ck_assert_msg(strstr(r.out, "shadow") != NULL, "human shadow: %s", r.out);
}
END_TEST

START_TEST(uuid_canonical_and_required)
{
    const char *upper = "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11";
    const char *lower = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    const char *stream = "6F9619FF-8B86-D011-B42D-00C04FC964FF";
    result r;
    json_t *j;

    r = CLI("subscribe", upper, "plain-stream", "--db", db, "--json");
    expect_exit(r, 0);
    ck_assert_str_eq(jstr(json_only(&r), "user"), lower);
    r = CLI("subscribe", lower, "plain-stream", "--db", db, "--json");
    expect_exit(r, 0);
    ck_assert(!jbool(json_only(&r), "created"));

    expect_failure(CLI("subscribe", "not-a-uuid", stream, "--db", db, "--require-uuid"),
                   2, "user");
    expect_failure(CLI("subscribe", upper, "plain", "--db", db, "--require-uuid"), 2,
                   "stream");
    r = CLI("subscribe", upper, stream, "--db", db, "--require-uuid", "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_str_eq(jstr(j, "user"), lower);
    ck_assert_str_eq(jstr(j, "stream"), "6f9619ff-8b86-d011-b42d-00c04fc964ff");
    ck_assert_int_eq(count_of(lower), 2);
    expect_failure(CLI("count", "nope", "--db", db, "--require-uuid"), 2, "user");
}
END_TEST

START_TEST(invalid_identifiers)
{
    char long_id[200];
    const char *const cmds[] = {"subscribe", "unsubscribe", "renew"};

    memset(long_id, 'x', 129);
    long_id[129] = '\0';
    expect_exit(CLI("subscribe", "u1", "s1", "--db", db), 0);
    for (size_t i = 0; i < 3; i++) {
        expect_failure(CLI(cmds[i], "u1", "", "--db", db), 2, "stream");
        expect_failure(CLI(cmds[i], "u1", long_id, "--db", db), 2, "stream");
        expect_failure(CLI(cmds[i], "u1", "bad\001id", "--db", db, "--json"), 2,
                       "stream");
        expect_failure(CLI(cmds[i], "u1", "bad\xff", "--db", db), 2, "UTF-8");
        expect_failure(CLI(cmds[i], "", "s1", "--db", db), 2, "user");
        expect_failure(CLI(cmds[i], long_id, "s1", "--db", db), 2, "user");
    }
    expect_failure(CLI("list", "", "--db", db), 2, "user");
    expect_failure(CLI("count", long_id, "--db", db), 2, "user");
    expect_failure(CLI("limit", "bad\ttab", "4", "--db", db), 2, "user");
    /* Nothing changed. */
    ck_assert_int_eq(count_of("u1"), 1);
    {
        result r = CLI("limit", "u1", "--db", db, "--json");
        expect_exit(r, 0);
        ck_assert(!jbool(json_only(&r), "override"));
    }
    /* An identifier that starts with '-' comes after "--". */
    expect_exit(CLI("subscribe", "--db", db, "--", "-u", "-s"), 0);
    ck_assert_int_eq(count_of("u1"), 1);
}
END_TEST

/* ---- settings: options, environment, precedence ----------------------- */

/* A digit alone past a maximum under 9 was taken: (max - digit) wrapped around
 * (found by tests/fuzz/fuzz_parse). */
START_TEST(parse_uint_limits)
{
    unsigned long v = 42;

    ck_assert_int_ne(cli_parse_uint(&v, "7", 5), 0);
    ck_assert_int_ne(cli_parse_uint(&v, "11", 0), 0);
    ck_assert_int_ne(cli_parse_uint(&v, "9", 8), 0);
    ck_assert_uint_eq(v, 42);
    ck_assert_int_eq(cli_parse_uint(&v, "5", 5), 0);
    ck_assert_uint_eq(v, 5);
    ck_assert_int_eq(cli_parse_uint(&v, "0", 0), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_ne(cli_parse_uint(&v, "65", 64), 0);
    ck_assert_int_eq(cli_parse_uint(&v, "64", 64), 0);
    ck_assert_int_ne(cli_parse_uint(&v, "", 64), 0);
}
END_TEST

START_TEST(version)
{
    char expected[128];
    result r = CLI("--version");

    snprintf(expected, sizeof(expected), "streamyctl %s (libstreamy %s)\n",
             STREAMY_VERSION, streamy_version());
    expect_exit(r, 0);
    ck_assert_str_eq(r.out, expected);
    ck_assert_uint_eq(r.err_len, 0);
    r = CLI("-V");
    expect_exit(r, 0);
    ck_assert_str_eq(r.out, expected);
}
END_TEST

START_TEST(options_before_and_after_command)
{
    result r;

    r = CLI("--db", db, "--json", "--limit", "1", "subscribe", "u1", "s1");
    expect_exit(r, 0);
    ck_assert_int_eq(jint(json_only(&r), "limit"), 1);
    r = CLI("subscribe", "u1", "s2", "--db", db, "--json", "--limit", "1");
    expect_exit(r, 3);
    r = CLI("--db", db, "subscribe", "--limit=2", "u1", "--json", "s2");
    expect_exit(r, 0);
    ck_assert_int_eq(jint(json_only(&r), "limit"), 2);
    /* A flag after the command beats the same flag before it. */
    r = CLI("--limit", "1", "subscribe", "u1", "s3", "--db", db, "--json", "--limit",
            "3");
    expect_exit(r, 0);
}
END_TEST

START_TEST(environment_variables)
{
    char *env_db = fmt("STREAMY_DB=sqlite:%s/env.db", tmp);
    int64_t before;
    result r;
    json_t *j;

    /* STREAMY_DB, and --db beats it. */
    expect_exit(CLI_ENV(ENV(env_db), "subscribe", "u1", "s1"), 0);
    r = CLI_ENV(ENV(env_db), "count", "u1", "--json");
    ck_assert_int_eq(jint(json_only(&r), "count"), 1);
    ck_assert_int_eq(count_of("u1"), 0);
    expect_exit(CLI_ENV(ENV(env_db), "subscribe", "u1", "s1", "--db", db), 0);
    ck_assert_int_eq(count_of("u1"), 1);

    /* STREAMY_MAX_STREAMS, and --limit beats it. */
    r = CLI_ENV(ENV("STREAMY_MAX_STREAMS=1"), "subscribe", "u1", "s2", "--db", db,
                "--json");
    expect_exit(r, 3);
    ck_assert_int_eq(jint(json_only(&r), "limit"), 1);
    r = CLI_ENV(ENV("STREAMY_MAX_STREAMS=1"), "subscribe", "u1", "s2", "--db", db,
                "--json", "--limit", "2");
    expect_exit(r, 0);
    ck_assert_int_eq(jint(json_only(&r), "limit"), 2);

    /* STREAMY_LEASE_TTL, and --ttl beats it. */
    before = now_ms();
    r = CLI_ENV(ENV("STREAMY_LEASE_TTL=5m"), "subscribe", "u2", "s1", "--db", db,
                "--json");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_int_ge(jint(j, "expires_ms"), before + 300000);
    ck_assert_int_le(jint(j, "expires_ms"), now_ms() + 300000);
    before = now_ms();
    r = CLI_ENV(ENV("STREAMY_LEASE_TTL=5m"), "subscribe", "u2", "s2", "--db", db,
                "--json", "--ttl", "90s");
    expect_exit(r, 0);
    j = json_only(&r);
    ck_assert_int_ge(jint(j, "expires_ms"), before + 90000);
    ck_assert_int_le(jint(j, "expires_ms"), now_ms() + 90000);

    /* STREAMY_POLICY, and --policy beats it. */
    expect_exit(CLI("subscribe", "u3", "a", "--db", db, "--limit", "1"), 0);
    r = CLI_ENV(ENV("STREAMY_POLICY=evict-oldest"), "subscribe", "u3", "b", "--db", db,
                "--limit", "1", "--json");
    expect_exit(r, 0);
    ck_assert_str_eq(jstr(json_only(&r), "evicted"), "a");
    r = CLI_ENV(ENV("STREAMY_POLICY=evict-oldest"), "subscribe", "u3", "c", "--db", db,
                "--limit", "1", "--policy", "reject");
    expect_exit(r, 3);

    /* STREAMY_SHADOW and STREAMY_REQUIRE_UUID. */
    r = CLI_ENV(ENV("STREAMY_SHADOW=1"), "subscribe", "u3", "c", "--db", db, "--limit",
                "1", "--json");
    expect_exit(r, 0);
    ck_assert(jbool(json_only(&r), "shadow_refused"));
    r = CLI_ENV(ENV("STREAMY_SHADOW=0"), "subscribe", "u3", "d", "--db", db, "--limit",
                "1");
    expect_exit(r, 3);
    expect_failure(
        CLI_ENV(ENV("STREAMY_REQUIRE_UUID=1"), "subscribe", "u4", "s", "--db", db), 2,
        "UUID");
    expect_exit(
        CLI_ENV(ENV("STREAMY_REQUIRE_UUID=0"), "subscribe", "u4", "s", "--db", db), 0);

    /* STREAMY_BUSY_TIMEOUT and STREAMY_SYNC are accepted (and --sync full works). */
    expect_exit(CLI_ENV(ENV("STREAMY_BUSY_TIMEOUT=2s", "STREAMY_SYNC=full"), "subscribe",
                        "u5", "s", "--db", db),
                0);
    expect_exit(CLI("subscribe", "u5", "t", "--db", db, "--sync", "full",
                    "--busy-timeout", "250ms"),
                0);
    ck_assert_int_eq(count_of("u5"), 2);

    /* An empty variable counts as unset. */
    expect_exit(CLI_ENV(ENV("STREAMY_MAX_STREAMS=", "STREAMY_LEASE_TTL="), "subscribe",
                        "u6", "s", "--db", db),
                0);
}
END_TEST

START_TEST(invalid_options)
{
    expect_failure(CLI("count", "u", "--db", db, "--limit", "abc"), 2, "--limit");
    expect_failure(CLI("count", "u", "--db", db, "--limit", "-1"), 2, "--limit");
    expect_failure(CLI("count", "u", "--db", db, "--limit", "100001"), 2, "--limit");
    expect_failure(CLI("count", "u", "--db", db, "--ttl", "5x"), 2, "--ttl");
    expect_failure(CLI("count", "u", "--db", db, "--ttl", "400d"), 2, "--ttl");
    expect_failure(CLI("count", "u", "--db", db, "--policy", "nope"), 2, "--policy");
    expect_failure(CLI("count", "u", "--db", db, "--sync", "weird"), 2, "--sync");
    expect_failure(CLI("count", "u", "--db", db, "--busy-timeout", "2h"), 2,
                   "--busy-timeout");
    expect_failure(CLI("count", "u", "--db", db, "--busy-timeout", "soon"), 2,
                   "--busy-timeout");
    expect_failure(CLI("count", "u", "--db", db, "--bogus"), 2, "--bogus");
    expect_failure(CLI("--bogus", "count", "u"), 2, "--bogus");
    expect_failure(CLI("count", "u", "-x"), 2, "-x");
    expect_failure(CLI("count", "u", "--db"), 2, "--db");
    expect_failure(CLI("count", "u", "--json=1"), 2, "--json");
    expect_failure(CLI("count", "u", "--db", "nosuchscheme:x"), 2, "nosuchscheme");
    expect_failure(CLI("count", "u", "--db", ""), 2, "empty");
}
END_TEST

START_TEST(invalid_environment)
{
    static const char *const bad[] = {"STREAMY_MAX_STREAMS=lots",
                                      "STREAMY_MAX_STREAMS=100001",
                                      "STREAMY_LEASE_TTL=5x",
                                      "STREAMY_POLICY=random",
                                      "STREAMY_SHADOW=maybe",
                                      "STREAMY_REQUIRE_UUID=2",
                                      "STREAMY_BUSY_TIMEOUT=2h",
                                      "STREAMY_SYNC=sometimes",
                                      NULL};

    for (size_t i = 0; bad[i] != NULL; i++) {
        char name[64];
        const char *eq = strchr(bad[i], '=');

        snprintf(name, sizeof(name), "%.*s", (int)(eq - bad[i]), bad[i]);
        expect_failure(run(NULL, 0, ENV(bad[i]), ARGS("subscribe", "u", "s", "--db", db)),
                       2, name);
    }
    ck_assert_int_eq(count_of("u"), 0);
    expect_failure(CLI_ENV(ENV("STREAMY_DB=nosuchscheme:x"), "count", "u"), 2,
                   "STREAMY_DB");
    expect_failure(CLI("count", "u", "--db", "nosuchscheme:x"), 2, "--db");
    /* A flag beats a bad variable: the variable is not even read. */
    expect_exit(CLI_ENV(ENV("STREAMY_LEASE_TTL=5x"), "subscribe", "u", "s", "--db", db,
                        "--ttl", "1m"),
                0);
    expect_exit(CLI_ENV(ENV("STREAMY_MAX_STREAMS=lots"), "count", "u", "--db", db,
                        "--limit", "4"),
                0);
}
END_TEST

START_TEST(wrong_argument_counts)
{
    const char *const *const cases[] = {ARGS("subscribe"),
                                        ARGS("subscribe", "u"),
                                        ARGS("subscribe", "u", "s", "x"),
                                        ARGS("unsubscribe"),
                                        ARGS("unsubscribe", "u"),
                                        ARGS("renew", "u"),
                                        ARGS("renew", "u", "s", "t"),
                                        ARGS("list"),
                                        ARGS("list", "u", "v"),
                                        ARGS("count"),
                                        ARGS("count", "u", "v"),
                                        ARGS("limit"),
                                        ARGS("purge", "x"),
                                        ARGS("health", "x"),
                                        ARGS("batch", "x"),
                                        ARGS("help", "a", "b"),
                                        NULL};

    for (size_t i = 0; cases[i] != NULL; i++) {
        result r = run(NULL, 0, ENV(fmt("STREAMY_DB=%s", db)), cases[i]);
        expect_failure(r, 2, cases[i][0]);
    }
    ck_assert_int_eq(count_of("u"), 0);
}
END_TEST

START_TEST(unknown_command)
{
    result r;

    expect_failure(CLI("frobnicate", "u"), 2, "frobnicate");
    expect_failure(CLI("help", "frobnicate"), 2, "frobnicate");
    r = run(NULL, 0, NULL, (const char *const[]){NULL});
    expect_exit(r, 2);
    ck_assert_msg(strstr(r.err, "no command") != NULL, "stderr: %s", r.err);
    expect_failure(CLI("--json"), 2, "no command");
}
END_TEST

/* ---- errors of the store ------------------------------------------------ */

START_TEST(store_missing_directory)
{
    const char *missing = fmt("sqlite:%s/no/such/dir/t.db", tmp);
    const char *const cmds[][4] = {
        {"subscribe", "u", "s", NULL}, {"unsubscribe", "u", "s", NULL},
        {"renew", "u", "s", NULL},     {"list", "u", NULL, NULL},
        {"count", "u", NULL, NULL},    {"limit", "u", "4", NULL},
        {"purge", NULL, NULL, NULL}};

    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        const char *args[8] = {cmds[i][0]};
        size_t n = 1;

        for (size_t k = 1; k < 4 && cmds[i][k] != NULL; k++)
            args[n++] = cmds[i][k];
        args[n++] = "--db";
        args[n++] = missing;
        args[n++] = "--json";
        args[n] = NULL;
        expect_failure(run(NULL, 0, NULL, args), 1, "no/such/dir");
    }
    expect_failure(CLI_IN("subscribe u s\n", "batch", "--db", missing, "--json"), 1,
                   "no/such/dir");
}
END_TEST

START_TEST(store_not_a_database)
{
    static const char junk[] = "this is not a database, and must stay as it is\n";
    const char *path = path_in_tmp("junk.db");
    char back[256];
    FILE *f;
    size_t n;

    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(junk, f);
    fclose(f);
    expect_failure(CLI("subscribe", "u", "s", "--db", path), 1, "not a Streamy database");
    expect_failure(CLI("count", "u", "--db", fmt("sqlite:%s", path), "--json"), 1,
                   "junk.db");
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    n = fread(back, 1, sizeof(back), f);
    fclose(f);
    ck_assert_uint_eq(n, strlen(junk));
    ck_assert(memcmp(back, junk, n) == 0);
}
END_TEST

/* ---- help ----------------------------------------------------------------- */

static const char *const all_commands[] = {"subscribe", "unsubscribe", "renew", "list",
                                           "count",     "limit",       "purge", "health",
                                           "batch",     "help",        NULL};

static void expect_exit_codes_listed(const char *text)
{
    static const char *const lines[] = {"0  done",
                                        "1  store or internal error",
                                        "2  usage or invalid input",
                                        "3  limit reached",
                                        "4  not found",
                                        NULL};
    for (size_t i = 0; lines[i] != NULL; i++)
        ck_assert_msg(strstr(text, lines[i]) != NULL, "help lacks \"%s\"", lines[i]);
}

START_TEST(help_main)
{
    static const char *const names[] = {"--db",
                                        "--limit",
                                        "--ttl",
                                        "--policy",
                                        "--shadow",
                                        "--require-uuid",
                                        "--busy-timeout",
                                        "--sync",
                                        "--json",
                                        "--version",
                                        "STREAMY_DB",
                                        "STREAMY_MAX_STREAMS",
                                        "STREAMY_LEASE_TTL",
                                        "STREAMY_POLICY",
                                        "STREAMY_SHADOW",
                                        "STREAMY_REQUIRE_UUID",
                                        "STREAMY_BUSY_TIMEOUT",
                                        "STREAMY_SYNC",
                                        NULL};
    result r = CLI("--help");
    result h = CLI("help");

    expect_exit(r, 0);
    expect_exit(h, 0);
    ck_assert_str_eq(r.out, h.out);
    ck_assert_uint_eq(r.err_len, 0);
    ck_assert_msg(strncmp(r.out, "Usage: streamyctl", 17) == 0, "help: %s", r.out);
    for (size_t i = 0; all_commands[i] != NULL; i++) {
        char entry[32];
        snprintf(entry, sizeof(entry), "\n  %s ", all_commands[i]);
        ck_assert_msg(strstr(r.out, entry) != NULL, "help lacks command %s",
                      all_commands[i]);
    }
    for (size_t i = 0; names[i] != NULL; i++)
        ck_assert_msg(strstr(r.out, names[i]) != NULL, "help lacks %s", names[i]);
    expect_exit_codes_listed(r.out);
}
END_TEST

START_TEST(help_every_command)
{
    for (size_t i = 0; all_commands[i] != NULL; i++) {
        const char *cmd = all_commands[i];
        char usage[64];
        result a = CLI(cmd, "--help");
        result b = CLI("help", cmd);
        result c = CLI("--help", cmd);
        result d = CLI(cmd, "-h", "extra", "operands", "are", "ignored");

        expect_exit(a, 0);
        expect_exit(b, 0);
        expect_exit(c, 0);
        expect_exit(d, 0);
        ck_assert_uint_eq(a.err_len, 0);
        snprintf(usage, sizeof(usage), "Usage: streamyctl %s ", cmd);
        ck_assert_msg(strncmp(a.out, usage, strlen(usage)) == 0, "%s --help: %s", cmd,
                      a.out);
        ck_assert_str_eq(a.out, b.out);
        ck_assert_str_eq(a.out, c.out);
        ck_assert_str_eq(a.out, d.out);
        expect_exit_codes_listed(a.out);
        ck_assert_msg(strstr(a.out, "--json") != NULL, "%s --help lacks options", cmd);
    }
    ck_assert_ptr_nonnull(strstr(CLI("limit", "--help").out, "--clear"));
    ck_assert_ptr_nonnull(strstr(CLI("batch", "--help").out, "\"line\""));
}
END_TEST

/* ---- batch ---------------------------------------------------------------- */

START_TEST(batch_json_mixed)
{
    static const char input[] = "subscribe a s1\n"
                                "\n"
                                "# a comment\n"
                                "   \n"
                                "subscribe a s2\n"
                                "bogus a b\n"
                                "subscribe a\n"
                                "renew a s9\n"
                                "unsubscribe a s1\n"
                                "subscribe a bad\001id\n"
                                "subscribe a s3\n"
                                "subscribe a s4\n"
                                "subscribe a s5\n"
                                "renew  a   s2\n";
    result r = CLI_IN(input, "batch", "--db", db, "--json");
    json_t *j;

    expect_exit(r, 2); /* some lines were invalid */
    ck_assert_uint_eq(count_lines(r.out), 11);

    j = json_line(r.out, 0);
    ck_assert_int_eq(jint(j, "line"), 1);
    ck_assert_str_eq(jstr(j, "command"), "subscribe");
    ck_assert_str_eq(jstr(j, "result"), "ok");
    ck_assert_int_eq(json_object_size(j), 14); /* the subscribe keys plus "line" */

    j = json_line(r.out, 1);
    ck_assert_int_eq(jint(j, "line"), 5);
    ck_assert_int_eq(jint(j, "active"), 2);
    /* Written at once, decided at once: one transaction, one instant. */
    ck_assert_int_eq(jint(j, "since_ms"), jint(json_line(r.out, 0), "since_ms"));

    j = json_line(r.out, 2);
    expect_keys(j, ARGS("line", "result", "code", "error"));
    ck_assert_int_eq(jint(j, "line"), 6);
    ck_assert_str_eq(jstr(j, "result"), "error");
    ck_assert_str_eq(jstr(j, "code"), "invalid");
    ck_assert_ptr_nonnull(strstr(jstr(j, "error"), "bogus"));

    j = json_line(r.out, 3);
    ck_assert_int_eq(jint(j, "line"), 7);
    ck_assert_str_eq(jstr(j, "code"), "invalid");

    j = json_line(r.out, 4);
    ck_assert_int_eq(jint(j, "line"), 8);
    ck_assert_str_eq(jstr(j, "command"), "renew");
    ck_assert_str_eq(jstr(j, "result"), "not_found");

    j = json_line(r.out, 5);
    ck_assert_int_eq(jint(j, "line"), 9);
    ck_assert_str_eq(jstr(j, "command"), "unsubscribe");
    ck_assert(jbool(j, "removed"));

    j = json_line(r.out, 6);
    ck_assert_int_eq(jint(j, "line"), 10);
    ck_assert_str_eq(jstr(j, "code"), "invalid");
    ck_assert_ptr_nonnull(strstr(jstr(j, "error"), "stream"));

    ck_assert_str_eq(jstr(json_line(r.out, 7), "result"), "ok");
    ck_assert_str_eq(jstr(json_line(r.out, 8), "result"), "ok");
    j = json_line(r.out, 9);
    ck_assert_int_eq(jint(j, "line"), 13);
    ck_assert_str_eq(jstr(j, "result"), "limit_reached");
    j = json_line(r.out, 10);
    ck_assert_int_eq(jint(j, "line"), 14);
    ck_assert_str_eq(jstr(j, "command"), "renew");
    ck_assert_str_eq(jstr(j, "stream"), "s2");
    ck_assert_str_eq(jstr(j, "result"), "ok");

    ck_assert_int_eq(count_of("a"), 3);
}
END_TEST

START_TEST(batch_exit_codes)
{
    result r;

    /* Refusals and "not found" are answers: exit 0. */
    r = CLI_IN("subscribe a 1\nsubscribe a 2\nrenew a 9\nsubscribe a 3\nsubscribe a 4\n",
               "batch", "--db", db, "--json", "--limit", "2");
    expect_exit(r, 0);
    ck_assert_uint_eq(count_lines(r.out), 5);
    ck_assert_str_eq(jstr(json_line(r.out, 2), "result"), "not_found");
    ck_assert_str_eq(jstr(json_line(r.out, 3), "result"), "limit_reached");
    ck_assert_uint_eq(r.err_len, 0);

    /* Empty input, or only comments: no output, exit 0. */
    r = CLI_IN("", "batch", "--db", db, "--json");
    expect_exit(r, 0);
    ck_assert_uint_eq(r.out_len, 0);
    r = CLI_IN("# nothing\n\n\t\n", "batch", "--db", db);
    expect_exit(r, 0);
    ck_assert_uint_eq(r.out_len, 0);

    /* One invalid line: exit 2, the rest decided. */
    r = CLI_IN("subscribe b 1\nsubscribe b\n", "batch", "--db", db, "--json");
    expect_exit(r, 2);
    ck_assert_int_eq(count_of("b"), 1);
}
END_TEST

START_TEST(batch_human)
{
    result r =
        CLI_IN("subscribe a s1\n\nfly a s1\nrenew a s1\nrenew a s2\nunsubscribe a s1\n",
               "batch", "--db", db);

    expect_exit(r, 2);
    ck_assert_uint_eq(count_lines(r.out), 5);
    ck_assert_msg(strstr(r.out, "line 1: allowed") != NULL, "%s", r.out);
    ck_assert_msg(strstr(r.out, "line 3: error: ") != NULL, "%s", r.out);
    ck_assert_msg(strstr(r.out, "line 4: renewed") != NULL, "%s", r.out);
    ck_assert_msg(strstr(r.out, "line 5: not found") != NULL, "%s", r.out);
    ck_assert_msg(strstr(r.out, "line 6: removed") != NULL, "%s", r.out);
    ck_assert_ptr_null(strchr(r.out, '\033'));
}
END_TEST

START_TEST(batch_tabs_crlf_and_last_line)
{
    result r = CLI_IN("subscribe\tuser one\tstream a\n"
                      "subscribe\tuser one\tstream b\r\n"
                      "subscribe\tuser one\n"
                      "subscribe user one stream\n"
                      "subscribe\t\ts\n"
                      "unsubscribe\tuser one\tstream a",
                      "batch", "--db", db, "--json");
    json_t *j;

    expect_exit(r, 2);
    ck_assert_uint_eq(count_lines(r.out), 6);
    j = json_line(r.out, 0);
    ck_assert_str_eq(jstr(j, "user"), "user one");
    ck_assert_str_eq(jstr(j, "stream"), "stream a");
    j = json_line(r.out, 1);
    ck_assert_str_eq(jstr(j, "stream"), "stream b"); /* without the CR */
    ck_assert_int_eq(jint(j, "active"), 2);
    ck_assert_str_eq(jstr(json_line(r.out, 2), "code"), "invalid");
    ck_assert_str_eq(jstr(json_line(r.out, 3), "code"), "invalid"); /* 4 fields */
    j = json_line(r.out, 4);
    ck_assert_str_eq(jstr(j, "code"), "invalid");
    ck_assert_ptr_nonnull(strstr(jstr(j, "error"), "user"));
    j = json_line(r.out, 5); /* the last line had no newline */
    ck_assert_int_eq(jint(j, "line"), 6);
    ck_assert_str_eq(jstr(j, "command"), "unsubscribe");
    ck_assert(jbool(j, "removed"));
    ck_assert_int_eq(count_of("user one"), 1);
}
END_TEST

START_TEST(batch_long_and_nul_lines)
{
    size_t big = 100000;
    char *input = track(malloc(big + 200));
    size_t n = 0;
    result r;
    json_t *j;

    n += (size_t)sprintf(input + n, "subscribe a s0\nsubscribe a ");
    memset(input + n, 'x', big);
    n += big;
    n += (size_t)sprintf(input + n, "\nsubscribe a s1\nsubscribe a s");
    input[n++] = '\0';
    n += (size_t)sprintf(input + n, "2\nsubscribe a s3\n");
    r = run(input, n, NULL, ARGS("batch", "--db", db, "--json"));
    expect_exit(r, 2);
    ck_assert_uint_eq(count_lines(r.out), 5);
    ck_assert_str_eq(jstr(json_line(r.out, 0), "result"), "ok");
    j = json_line(r.out, 1);
    ck_assert_int_eq(jint(j, "line"), 2);
    ck_assert_str_eq(jstr(j, "code"), "invalid");
    ck_assert_ptr_nonnull(strstr(jstr(j, "error"), "longer"));
    j = json_line(r.out, 2);
    ck_assert_int_eq(jint(j, "line"), 3);
    ck_assert_str_eq(jstr(j, "stream"), "s1");
    j = json_line(r.out, 3);
    ck_assert_int_eq(jint(j, "line"), 4);
    ck_assert_str_eq(jstr(j, "code"), "invalid");
    j = json_line(r.out, 4);
    ck_assert_int_eq(jint(j, "line"), 5);
    ck_assert_str_eq(jstr(j, "stream"), "s3");

    /* An over-long last line without a newline. */
    memset(input, 'y', big);
    r = run(input, big, NULL, ARGS("batch", "--db", db, "--json"));
    expect_exit(r, 2);
    ck_assert_uint_eq(count_lines(r.out), 1);
    ck_assert_int_eq(jint(json_line(r.out, 0), "line"), 1);
    ck_assert_int_eq(count_of("a"), 3);
}
END_TEST

START_TEST(batch_large_enforces_limit)
{
    const int users = 50, streams = 100, lines = users * streams;
    char *input = track(malloc((size_t)lines * 32 + 1));
    size_t n = 0;
    int ok = 0, refused = 0;
    const char *p;
    result r;

    /* Interleave users so every chunk decides many users at once. */
    for (int s = 0; s < streams; s++)
        for (int u = 0; u < users; u++)
            n += (size_t)sprintf(input + n, "subscribe user%d stream%d\n", u, s);
    r = run(input, n, NULL, ARGS("batch", "--db", db, "--json"));
    expect_exit(r, 0);
    ck_assert_uint_eq(count_lines(r.out), (size_t)lines);
    p = r.out;
    for (int i = 0; i < lines; i++) {
        json_t *j = json_next(&p, (size_t)i + 1);
        const char *res = jstr(j, "result");

        ck_assert_int_eq(jint(j, "line"), i + 1);
        ck_assert_int_le(jint(j, "active"), 3);
        if (strcmp(res, "ok") == 0)
            ok++;
        else if (strcmp(res, "limit_reached") == 0)
            refused++;
    }
    ck_assert_int_eq(ok, users * 3);
    ck_assert_int_eq(refused, lines - users * 3);
    ck_assert_int_eq(count_of("user0"), 3);
    ck_assert_int_eq(count_of("user49"), 3);
}
END_TEST

/* Lines are decided in chunks, each in one streamy_apply() call, and the library
 * decides a whole batch at one instant: few distinct since_ms for many lines. */
START_TEST(batch_groups_lines)
{
    const int lines = 3000;
    char *input = track(malloc((size_t)lines * 32 + 1));
    int64_t seen[64];
    size_t n = 0, distinct = 0;
    const char *p;
    result r;

    for (int i = 0; i < lines; i++)
        n += (size_t)sprintf(input + n, "subscribe g%d s\n", i);
    r = run(input, n, NULL, ARGS("batch", "--db", db, "--json"));
    expect_exit(r, 0);
    p = r.out;
    for (int i = 0; i < lines; i++) {
        json_t *j = json_next(&p, (size_t)i + 1);
        int64_t since = jint(j, "since_ms");
        size_t k;

        ck_assert_str_eq(jstr(j, "result"), "ok");
        for (k = 0; k < distinct && seen[k] != since; k++) {
        }
        if (k == distinct) {
            ck_assert_msg(distinct < 20,
                          "more than 20 instants for %d lines: not grouped", lines);
            seen[distinct++] = since;
        }
    }
    ck_assert_int_eq(count_of("g2999"), 1);
}
END_TEST

/* Read one line from fd within a few seconds; a batch that waits for more input
 * before answering never gives it. */
static char *read_line(int fd, char *buf, size_t size)
{
    size_t len = 0;

    while (len + 1 < size) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int ready = poll(&pfd, 1, 10000);
        ssize_t n;

        ck_assert_msg(ready > 0, "no answer within 10 s: batch waits for more input");
        n = read(fd, buf + len, 1);
        ck_assert_int_eq(n, 1);
        if (buf[len++] == '\n')
            break;
    }
    buf[len] = '\0';
    return buf;
}

START_TEST(batch_coprocess)
{
    char line[4096];
    json_t *j;
    proc p;

    proc_start(&p, NULL, ARGS("batch", "--db", db, "--json", "--limit", "1"));
    ck_assert_int_eq(write(p.in, "subscribe a s1\n", 15), 15);
    j = track_json(json_loads(read_line(p.out, line, sizeof(line)), 0, NULL));
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(jint(j, "line"), 1);
    ck_assert_str_eq(jstr(j, "result"), "ok");

    ck_assert_int_eq(write(p.in, "# hi\nsubscribe a s2\n", 20), 20);
    j = track_json(json_loads(read_line(p.out, line, sizeof(line)), 0, NULL));
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(jint(j, "line"), 3);
    ck_assert_str_eq(jstr(j, "result"), "limit_reached");

    ck_assert_int_eq(write(p.in, "unsubscribe a s1\n", 17), 17);
    j = track_json(json_loads(read_line(p.out, line, sizeof(line)), 0, NULL));
    ck_assert_ptr_nonnull(j);
    ck_assert(jbool(j, "removed"));

    close(p.in);
    ck_assert_int_eq(read(p.out, line, sizeof(line)), 0);
    close(p.out);
    close(p.err);
    ck_assert_int_eq(proc_wait(&p), 0);
}
END_TEST

START_TEST(batch_store_failure)
{
    const char *ro = fmt("%s?mode=ro", db);
    result r;
    json_t *j;

    expect_exit(CLI("subscribe", "u", "s1", "--db", db), 0);
    /* A read-only store refuses the writes: every line of the chunk says so. */
    r = CLI_IN("subscribe u s2\nnonsense\nunsubscribe u s1\n", "batch", "--db", ro,
               "--json");
    expect_exit(r, 1);
    ck_assert_uint_eq(count_lines(r.out), 3);
    j = json_line(r.out, 0);
    expect_keys(j, ARGS("line", "result", "code", "error"));
    ck_assert_str_eq(jstr(j, "result"), "error");
    ck_assert_str_eq(jstr(j, "code"), "store");
    ck_assert_str_eq(jstr(json_line(r.out, 1), "code"), "invalid");
    j = json_line(r.out, 2);
    ck_assert_int_eq(jint(j, "line"), 3);
    ck_assert_str_eq(jstr(j, "code"), "store");
    ck_assert_msg(strncmp(r.err, "streamyctl: ", 12) == 0, "stderr: %s", r.err);
    ck_assert_int_eq(count_of("u"), 1); /* nothing was half-written */

    /* The single commands: a store error is exit 1 with nothing on stdout. */
    expect_failure(CLI("subscribe", "u", "s2", "--db", ro, "--json"), 1, "read");
    r = CLI("count", "u", "--db", ro, "--json"); /* reading works */
    expect_exit(r, 0);
    ck_assert_int_eq(jint(json_only(&r), "count"), 1);
}
END_TEST

START_TEST(batch_require_uuid)
{
    result r = CLI_IN("subscribe a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 "
                      "6F9619FF-8B86-D011-B42D-00C04FC964FF\n"
                      "subscribe plain 6f9619ff-8b86-d011-b42d-00c04fc964ff\n",
                      "batch", "--db", db, "--json", "--require-uuid");
    json_t *j;

    expect_exit(r, 2);
    j = json_line(r.out, 0);
    ck_assert_str_eq(jstr(j, "stream"), "6f9619ff-8b86-d011-b42d-00c04fc964ff");
    j = json_line(r.out, 1);
    ck_assert_str_eq(jstr(j, "code"), "invalid");
    ck_assert_ptr_nonnull(strstr(jstr(j, "error"), "UUID"));
}
END_TEST

static Suite *cli_suite(void)
{
    Suite *s = suite_create("streamyctl");
    const char *mult = getenv("STREAMY_TEST_TIMEOUT_MULTIPLIER");
    int scale = mult != NULL && atoi(mult) > 0 ? atoi(mult) : 1;
    TCase *tc;

#define TCASE(name)                                                                      \
    tc = tcase_create(name);                                                             \
    tcase_add_checked_fixture(tc, setup, teardown);                                      \
    tcase_set_timeout(tc, 60 * scale);                                                   \
    suite_add_tcase(s, tc)

    TCASE("commands");
    tcase_add_test(tc, subscribe_json);
    tcase_add_test(tc, subscribe_limit_reached);
    tcase_add_test(tc, unsubscribe_json);
    tcase_add_test(tc, renew_found_and_not_found);
    tcase_add_test(tc, ttl_sets_expiry);
    tcase_add_test(tc, list_json_and_human);
    tcase_add_test(tc, count_json_and_human);
    tcase_add_test(tc, limit_set_get_clear);
    tcase_add_test(tc, limit_invalid);
    tcase_add_test(tc, purge_json);
    tcase_add_test(tc, health_json);
    tcase_add_test(tc, default_store_is_streamy_db);
    tcase_add_test(tc, policies_and_shadow);
    tcase_add_test(tc, uuid_canonical_and_required);
    tcase_add_test(tc, invalid_identifiers);

    TCASE("settings");
    tcase_add_test(tc, parse_uint_limits);
    tcase_add_test(tc, version);
    tcase_add_test(tc, options_before_and_after_command);
    tcase_add_test(tc, environment_variables);
    tcase_add_test(tc, invalid_options);
    tcase_add_test(tc, invalid_environment);
    tcase_add_test(tc, wrong_argument_counts);
    tcase_add_test(tc, unknown_command);

    TCASE("store_errors");
    tcase_add_test(tc, store_missing_directory);
    tcase_add_test(tc, store_not_a_database);
    tcase_add_test(tc, batch_store_failure);

    TCASE("help");
    tcase_add_test(tc, help_main);
    tcase_add_test(tc, help_every_command);

    TCASE("batch");
    tcase_add_test(tc, batch_json_mixed);
    tcase_add_test(tc, batch_exit_codes);
    tcase_add_test(tc, batch_human);
    tcase_add_test(tc, batch_tabs_crlf_and_last_line);
    tcase_add_test(tc, batch_long_and_nul_lines);
    tcase_add_test(tc, batch_large_enforces_limit);
    tcase_add_test(tc, batch_groups_lines);
    tcase_add_test(tc, batch_coprocess);
    tcase_add_test(tc, batch_require_uuid);
#undef TCASE
    return s;
}

int main(int argc, char **argv)
{
    SRunner *sr;
    int failed;

    const char *arg = argc > 1 ? argv[1] : getenv("STREAMYCTL");
    static char abs_bin[4096];

    /* Absolute, since streamyctl runs in each test's own directory. */
    if (arg == NULL || realpath(arg, abs_bin) == NULL || access(abs_bin, X_OK) != 0) {
        fprintf(stderr, "usage: %s PATH-TO-STREAMYCTL (or set STREAMYCTL)\n", argv[0]);
        return 2;
    }
    bin = abs_bin;
    sr = srunner_create(cli_suite());
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
