/* SPDX-License-Identifier: MIT */
/* test_util.c: helpers shared by the Check suites. */
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define TEST_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_LSAN 1
#endif
#endif
#ifdef TEST_LSAN
#include <sanitizer/lsan_interface.h>
#endif

/* Check's own limit per test is 4 s, too tight on a shared machine: 60 s
 * (scaled) unless CK_DEFAULT_TIMEOUT says otherwise or a TCase sets its own.
 * Set before main, since Check reads it when a TCase is created. */
__attribute__((constructor)) static void default_check_timeout(void)
{
    char v[32];

    if (getenv("CK_DEFAULT_TIMEOUT") != NULL)
        return;
    snprintf(v, sizeof(v), "%d", test_timeout_scale(60));
    setenv("CK_DEFAULT_TIMEOUT", v, 0);
}

int64_t test_clock_cb(void *payload)
{
    return ((test_clock *)payload)->now;
}

void test_observer_cb(const streamy_event *event, void *payload)
{
    test_events *log = payload;
    test_event *e;

    ck_assert_int_lt(log->n, TEST_MAX_EVENTS);
    e = &log->ev[log->n++];
    memset(e, 0, sizeof(*e));
    e->kind = event->kind;
    if (event->user)
        snprintf(e->user, sizeof(e->user), "%s", event->user);
    if (event->stream)
        snprintf(e->stream, sizeof(e->stream), "%s", event->stream);
    e->count = event->count;
    e->active = event->active;
    e->limit = event->limit;
    e->shadow_refused = event->shadow_refused;
    e->at_ms = event->at_ms;
}

char *test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *dir;

    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    dir = malloc(strlen(base) + 32);
    ck_assert_ptr_nonnull(dir);
    sprintf(dir, "%s/streamy-test-XXXXXX", base);
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp failed");
    return dir;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char child[4096];
    struct stat st;

    if (d == NULL) {
        unlink(path);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
        if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode)) {
            chmod(child, 0700); /* tests make read-only directories too */
            remove_tree(child);
        } else
            unlink(child);
    }
    closedir(d);
    rmdir(path);
}

void test_tmpdir_free(char *dir)
{
    if (dir == NULL)
        return;
    remove_tree(dir);
    free(dir);
}

int test_generation;

/* "@TMP@" becomes `dir`, "@PID@" this process's id and the test's generation:
 * a shared store gives each test its own key space, whether Check runs the
 * tests in processes of their own or, with CK_FORK=no, all in one. */
char *test_expand(const char *tmpl, const char *dir)
{
    char pid[24];
    size_t n = 0, dlen = dir ? strlen(dir) : 0;
    const char *p;
    char *out, *o;

    snprintf(pid, sizeof(pid), "%ld_%d", (long)getpid(), test_generation);
    for (p = tmpl; *p; p++)
        n += *p == '@';
    out = malloc(strlen(tmpl) + n * (dlen + sizeof(pid)) + 1);
    ck_assert_ptr_nonnull(out);
    for (o = out, p = tmpl; *p;) {
        if (strncmp(p, "@TMP@", 5) == 0 && dir != NULL) {
            o += sprintf(o, "%s", dir);
            p += 5;
        } else if (strncmp(p, "@PID@", 5) == 0) {
            o += sprintf(o, "%s", pid);
            p += 5;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

int test_timeout_scale(int value)
{
    const char *m = getenv("STREAMY_TEST_TIMEOUT_MULTIPLIER");
    int k = m ? atoi(m) : 1;

    return value * (k > 0 ? k : 1);
}

int64_t test_bound_us(int ms)
{
    return (int64_t)test_timeout_scale(ms) * 1000;
}

void test_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int64_t test_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

TCase *test_add_case(Suite *s, const char *name, SFun setup, SFun teardown, int seconds)
{
    TCase *tc = tcase_create(name);

    if (setup != NULL || teardown != NULL)
        tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, seconds);
    suite_add_tcase(s, tc);
    return tc;
}

int test_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

void test_child_exit(int code)
{
#ifdef TEST_LSAN
    if (__lsan_do_recoverable_leak_check() != 0)
        _exit(23);
#endif
    _exit(code);
}
