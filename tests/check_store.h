/* SPDX-License-Identifier: MIT */
/* check_store.h: the conformance suite's fixture, shared by its files (check_store.c and
 * check_store_sessions.c). */
#ifndef STREAMY_CHECK_STORE_H
#define STREAMY_CHECK_STORE_H

#include "test_util.h"

/* The injected clock's start: every test begins at it. */
#define T0 1700000000000LL

/* The URI under test, the handle, its clock, its observer's log, the options the next
 * reopen() uses, and the last plain decision. */
extern const char *g_uri;
extern streamy *h;
extern test_clock clk;
extern test_events events;
extern streamy_options opts;
extern streamy_decision d;

/* A user id unique to this test, so shared stores never mix two tests' leases. */
const char *uid(const char *name);
void setup(void);
void teardown(void);
/* (Re)open the handle with the current `opts`. */
void reopen(void);
int sub(const char *user, const char *stream);
int unsub(const char *user, const char *stream);
unsigned int count(const char *user);
/* The user's leases as "a,b,c" in list order. */
const char *names(const char *user);

/* Add the session tests' cases (lease ids, fencing, devices, the caller's limit). */
void store_add_session_cases(Suite *s);

#endif /* STREAMY_CHECK_STORE_H */
