/* SPDX-License-Identifier: MIT */
/* check_cli.c: runs the built streamyctl and checks its output, JSON and exit codes. The
 * tests are in check_cli_*.c, one file per test case; this file holds the fixture and
 * the runner they share, the suite and main(). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_cli.h"
#include "cli.h"
#include "streamy.h"
#include "test_util.h"

/* cli/settings.c is compiled in for its parsers; main.c, which owns the flags, is not. */
cli_flags cli_flag;

extern char **environ;

/* The binary under test: argv[1], else $STREAMYCTL. */
static const char *bin;
/* This test's own directory, the streamyctl working directory, and a store in it. */
char tmp[1024];
char db[1100];

/* Allocations of a test, released by the fixture's teardown. */
#define TRACK_MAX 20000
static void *tracked[TRACK_MAX];
static json_t *tracked_json[TRACK_MAX];
static size_t ntracked, ntracked_json;

void *track(void *p)
{
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_lt(ntracked, TRACK_MAX);
    tracked[ntracked++] = p;
    return p;
}

json_t *track_json(json_t *j)
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

char *path_in_tmp(const char *name)
{
    char *p = track(malloc(strlen(tmp) + strlen(name) + 2));
    sprintf(p, "%s/%s", tmp, name);
    return p;
}

char *fmt(const char *f, const char *a)
{
    char *p = track(malloc(strlen(f) + strlen(a) + 1));
    sprintf(p, f, a);
    return p;
}

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

void proc_start(proc *p, const char *const *env, const char *const *args)
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

int proc_wait(proc *p)
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
result run(const char *input, size_t input_len, const char *const *env,
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

void expect_exit_at(result r, int code, int line)
{
    ck_assert_msg(r.status == code,
                  "line %d: exit status %d, expected %d\nstdout: %s\nstderr: %s", line,
                  r.status, code, r.out, r.err);
}

/* A failed command says why on stderr, as "streamyctl: ...", and prints no result. */
void expect_failure_at(result r, int code, const char *needle, int line)
{
    expect_exit_at(r, code, line);
    ck_assert_msg(strncmp(r.err, "streamyctl: ", 12) == 0,
                  "line %d: stderr does not start with \"streamyctl: \": %s", line,
                  r.err);
    ck_assert_msg(strstr(r.err, needle) != NULL, "line %d: stderr lacks \"%s\": %s", line,
                  needle, r.err);
    ck_assert_msg(r.out_len == 0, "line %d: stdout is not empty: %s", line, r.out);
}

size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The line at `*p`, parsed as a JSON object; `*p` moves to the next line. */
json_t *json_next(const char **p, size_t lineno)
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
json_t *json_line(const char *text, size_t i)
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
json_t *json_only(const result *r)
{
    ck_assert_msg(count_lines(r->out) == 1, "expected one line of output: %s", r->out);
    return json_line(r->out, 0);
}

json_t *get(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(v != NULL, "key \"%s\" is missing", key);
    return v;
}

json_int_t jint(json_t *o, const char *key)
{
    json_t *v = get(o, key);
    ck_assert_msg(json_is_integer(v), "\"%s\" is not an integer", key);
    return json_integer_value(v);
}

const char *jstr(json_t *o, const char *key)
{
    json_t *v = get(o, key);
    ck_assert_msg(json_is_string(v), "\"%s\" is not a string", key);
    return json_string_value(v);
}

int jbool(json_t *o, const char *key)
{
    json_t *v = get(o, key);
    ck_assert_msg(json_is_boolean(v), "\"%s\" is not a boolean", key);
    return json_is_true(v);
}

void jnull(json_t *o, const char *key)
{
    ck_assert_msg(json_is_null(get(o, key)), "\"%s\" is not null", key);
}

/* The object has exactly these keys: the JSON contract, no more, no less. */
void expect_keys(json_t *o, const char *const *keys)
{
    size_t n = 0;
    for (; keys[n] != NULL; n++)
        get(o, keys[n]);
    ck_assert_msg(json_object_size(o) == n, "object has %zu keys, expected %zu",
                  json_object_size(o), n);
}

void expect_lease_id_at(const char *s, int line)
{
    int ok = strlen(s) == 36;

    for (size_t i = 0; ok && i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            ok = s[i] == '-';
        else
            ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
    }
    ck_assert_msg(ok, "line %d: \"%s\" is not a lease id (a lower-case UUID)", line, s);
}

/* How many leases `user` holds in the test's store, asked through streamyctl. */
json_int_t count_of(const char *user)
{
    result r = CLI("count", user, "--db", db, "--json");
    expect_exit(r, 0);
    return jint(json_only(&r), "count");
}

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
    cli_case_commands(tc);

    TCASE("settings");
    cli_case_settings(tc);

    TCASE("store_errors");
    cli_case_store_errors(tc);

    TCASE("help");
    cli_case_help(tc);

    TCASE("batch");
    cli_case_batch(tc);

    TCASE("sessions");
    cli_case_sessions(tc);
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
