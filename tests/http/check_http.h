/* SPDX-License-Identifier: MIT */
/* check_http.h: what the check_http_*.c files share: the endpoints, the original
 * answers, requests and checks built on http_util.h, and each file's test cases. */
#ifndef STREAMY_CHECK_HTTP_H
#define STREAMY_CHECK_HTTP_H

#include <check.h>

#include <jansson.h>

#include "http_util.h"
#include "test_util.h"

#define SUB "/video-streams/subscription"
#define RENEW "/video-streams/subscription/renew"
#define LIMIT_MSG "You've reached the maximum number of concurrent video streams"
#define BODY_429 "{\"status\":429,\"error\":\"" LIMIT_MSG "\"}"

/* The media type of the richer bodies, and the Accept header that asks for them. */
#define RICH "application/vnd.streamy+json"
#define GONE                                                                             \
    "{\"status\":404,\"error\":\"no active lease for this stream; subscribe again\"}"

extern const char *const no_args[];
extern const char *const accept_rich[];

/* --- requests and checks (check_http.c) ------------------------------------------- */

char *sub_body(const char *user, const char *stream);
char *ok_body(const char *user, const char *stream);
http_response *subscribe(http_server *s, const char *user, const char *stream);
http_response *unsubscribe(http_server *s, const char *user, const char *stream);
void subscribe_ok(http_server *s, const char *user, const char *stream);
char *user_path(const char *user, const char *suffix);
json_t *leases_of(http_server *s, const char *user);
char *streams_of(http_server *s, const char *user);
void expect_header(const http_response *r, const char *name, const char *value);
void expect_json_type(const http_response *r);
void expect_stop(http_server *s);
long long count_leases(const http_server *s);

/* --- sessions (check_http.c) ------------------------------------------------------ */

/* Start the server on a store that keeps lease ids and device labels: the memory store,
 * or the SQLite file <tmp>/t.db when STREAMY_TEST_SESSIONS_STORE is "sqlite". */
void start_sessions(http_server *s, const char *const *extra);
/* {"userId":USER,"videoStreamId":STREAM} and then `more`, JSON members as sent (may be
 * ""). */
char *body_with(const char *user, const char *stream, const char *more);
/* A lease id as the server gives it: a UUID in lower case. */
int is_lease_id(const char *id);
/* The X-Streamy-Lease of an answer, which must be a lease id. */
char *lease_of(const http_response *r);
const char *str_of(json_t *o, const char *key);
json_int_t int_of(json_t *o, const char *key);
/* The user's leases (GET /users/{user}/video-streams), as the text of their array. */
char *leases_text(http_server *s, const char *user);
/* {"status":400,"error":MSG}, escaped as the server escapes it. */
char *error_body(const char *msg);

/* --- the test cases: each adds its tests to `tc` ---------------------------------- */

/* check_http_contract.c */
void http_case_contract(TCase *tc);
void http_case_headers(TCase *tc);
void http_case_renew(TCase *tc);
/* check_http_users.c */
void http_case_users(TCase *tc);
/* check_http_health.c */
void http_case_health(TCase *tc);
void http_case_metrics(TCase *tc);
/* check_http_input.c */
void http_case_bad_input(TCase *tc);
void http_case_auth(TCase *tc);
/* check_http_connections.c */
void http_case_connections(TCase *tc);
void http_case_logs(TCase *tc);
/* check_http_shutdown.c */
void http_case_shutdown(TCase *tc);
void http_case_concurrency(TCase *tc);
/* check_http_sessions.c */
void http_case_sessions(TCase *tc);
void http_case_session_input(TCase *tc);
void http_case_session_concurrency(TCase *tc);
/* check_http_openapi.c */
void http_case_openapi(TCase *tc);

#endif /* STREAMY_CHECK_HTTP_H */
