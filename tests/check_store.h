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

/* --- sessions (check_store_sessions.c) --- */

#define NONE STREAMY_MAX_STREAMS_NONE
#define ID_SIZE (STREAMY_LEASE_ID_LEN + 1)

/* A UUID no store ever hands out (random ids are version 4, this one is all zero). */
extern const char *const BOGUS;
/* The last answer of sub_ex(), renew_ex() or unsub_ex(). */
extern streamy_answer ans;

/* Fill an answer with garbage (each string still ends inside its field), so that a
 * field the library leaves alone shows. */
void poison(streamy_answer *x);
/* A call with nothing given but the user and the stream. */
streamy_call mkcall(const char *user, const char *stream);
/* The `_ex` calls on the fixture's handle, answering into `ans`. */
int sub_ex(const char *user, const char *stream, const char *device, int max);
int renew_ex(const char *user, const char *stream, const char *lease_id);
int unsub_ex(const char *user, const char *stream, const char *lease_id);
/* A lease id as the library writes them: a version-4 UUID, 36 characters, lower case. */
int is_lease_id(const char *s);
#define ck_assert_lease_id(s)                                                            \
    ck_assert_msg(is_lease_id(s), "\"%s\" is not a lower-case version-4 UUID", (s))
/* `s` in upper case (a ring of four buffers). */
const char *upper(const char *s);

/* A user's leases as list() shows them. */
typedef struct seen_lease {
    char stream[STREAMY_ID_MAX + 1];
    char id[ID_SIZE];
    char device[STREAMY_DEVICE_MAX + 1];
    int64_t since, renewed, expires;
} seen_lease;

typedef struct seen_list {
    seen_lease l[16];
    int n;
} seen_list;

void list_of(seen_list *s, const char *user);
/* The lease (user, stream) as list() shows it, or NULL; valid until the next call. */
const seen_lease *lease_of(const char *user, const char *stream);
void counters(streamy_counters *c);

/* Add the session cases: lease ids, fencing, devices, the caller's limit, evictions
 * (check_store_sessions.c); bad inputs and streamy_apply_ex
 * (check_store_sessions_batch.c). */
void store_add_session_cases(Suite *s);
void store_add_session_batch_cases(Suite *s);

#endif /* STREAMY_CHECK_STORE_H */
