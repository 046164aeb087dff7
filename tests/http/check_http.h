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

extern const char *const no_args[];

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
