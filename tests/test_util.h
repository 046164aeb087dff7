/* SPDX-License-Identifier: MIT */
/* test_util.h: helpers shared by the Check suites: temp dirs, a fake clock, an event log.
 */
#ifndef STREAMY_TEST_UTIL_H
#define STREAMY_TEST_UTIL_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "streamy.h"

/* A clock the test moves by hand; never sleep to test expiry. */
typedef struct test_clock {
    int64_t now;
} test_clock;

int64_t test_clock_cb(void *payload);

/* Everything an observer saw, in order. */
#define TEST_MAX_EVENTS 256
typedef struct test_event {
    streamy_event_kind kind;
    char user[STREAMY_ID_MAX + 1];
    char stream[STREAMY_ID_MAX + 1];
    unsigned int count, active, limit;
    int shadow_refused;
    int64_t at_ms;
} test_event;

typedef struct test_events {
    test_event ev[TEST_MAX_EVENTS];
    int n;
} test_events;

void test_observer_cb(const streamy_event *event, void *payload);

/* A fresh temporary directory (removed with its files by test_tmpdir_free). */
char *test_tmpdir(void);
void test_tmpdir_free(char *dir);

/* Bumped by a suite's setup for each test, so ids and key spaces differ between
 * tests even when they share a process (CK_FORK=no). */
extern int test_generation;

/* Replace every "@TMP@" in `tmpl` by `dir` and every "@PID@" by the process id and
 * test_generation; the caller frees the result. */
char *test_expand(const char *tmpl, const char *dir);

/* Scale a timeout by STREAMY_TEST_TIMEOUT_MULTIPLIER (sanitizer runs are slower). */
int test_timeout_scale(int value);
/* The same bound of `ms` milliseconds, scaled, in microseconds. */
int64_t test_bound_us(int ms);

/* Sleep `ms` milliseconds, through signals; the monotonic clock in microseconds. */
void test_sleep_ms(long ms);
int64_t test_monotonic_us(void);

/* End a child process the test forked: _exit(code), after the leak check that exit()
 * would have run under LeakSanitizer (exit code 23 when something leaked). */
void test_child_exit(int code) __attribute__((noreturn));

/* Add to `s` a test case named `name` with a checked fixture (NULL for none) and a
 * timeout of `seconds` (already scaled); the caller adds its tests to the result. */
TCase *test_add_case(Suite *s, const char *name, SFun setup, SFun teardown, int seconds);

/* Run a suite with Check's default forking; returns the process exit code. */
int test_run_suite(Suite *s);

#define ck_assert_rc(expr, expected)                                                     \
    do {                                                                                 \
        int rc_ = (expr);                                                                \
        ck_assert_msg(rc_ == (expected), "%s returned %d (%s), expected %d (%s): %s",    \
                      #expr, rc_, streamy_strerror(rc_), (expected),                     \
                      streamy_strerror(expected), streamy_errmsg(NULL));                 \
    } while (0)

#endif /* STREAMY_TEST_UTIL_H */
