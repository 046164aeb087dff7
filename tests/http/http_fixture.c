/* SPDX-License-Identifier: MIT */
/* http_fixture.c: the test's own directory, the allocations and child processes freed or
 * ended by its teardown, and clocks. */
#include "http_util.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "test_util.h"

#include "http_private.h"

const char *http_bin;
json_t *http_spec;
const char *http_record_path;

int http_init(const char *path)
{
    static char abs_bin[4096];

    if (path == NULL || realpath(path, abs_bin) == NULL || access(abs_bin, X_OK) != 0)
        return -1;
    http_bin = abs_bin;
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

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

json_t *http__track_json(json_t *j)
{
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

void http__child_done(pid_t pid)
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

int http__next_server(void)
{
    return ++nservers;
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

int http_scaled_ms(int ms)
{
    return test_timeout_scale(ms);
}

int http__exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

/* Fork, and in the child die with the parent: a failed check ends the test process
 * without any teardown. */
pid_t http__fork_child(void)
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
