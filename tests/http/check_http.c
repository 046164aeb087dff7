/* SPDX-License-Identifier: MIT */
/* check_http.c: the HTTP API of `streamyctl serve`, tested against the real server with
 * libcurl, and docs/openapi.json checked against what the tests exercised. The tests are
 * in check_http_*.c, one file per group of test cases; this file holds the requests and
 * checks they share, the suite and main(). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "check_http.h"
#include "http_util.h"
#include "test_util.h"

const char *const no_args[] = {NULL};
const char *const accept_rich[] = {"Accept: " RICH, NULL};

/* {"userId":USER,"videoStreamId":STREAM}, escaped by jansson. */
char *sub_body(const char *user, const char *stream)
{
    json_t *j = json_pack("{s:s, s:s}", "userId", user, "videoStreamId", stream);
    char *text;

    ck_assert_ptr_nonnull(j);
    text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    return http_track(text);
}

char *ok_body(const char *user, const char *stream)
{
    return http_printf(
        "{\"status\":200,\"data\":{\"userId\":\"%s\",\"videoStreamId\":\"%s\"}}", user,
        stream);
}

http_response *subscribe(http_server *s, const char *user, const char *stream)
{
    return http_request(s, "POST", SUB, sub_body(user, stream), NULL);
}

http_response *unsubscribe(http_server *s, const char *user, const char *stream)
{
    return http_request(s, "DELETE", SUB, sub_body(user, stream), NULL);
}

void subscribe_ok(http_server *s, const char *user, const char *stream)
{
    http_response *r = subscribe(s, user, stream);
    http_expect_body(r, 200, ok_body(user, stream));
}

/* The user's path segment, percent-encoded. */
char *user_path(const char *user, const char *suffix)
{
    char *esc = curl_easy_escape(NULL, user, 0), *p;

    ck_assert_ptr_nonnull(esc);
    p = http_printf("/users/%s%s", esc, suffix);
    curl_free(esc);
    return p;
}

/* GET /users/{user}/video-streams: the data object. */
json_t *leases_of(http_server *s, const char *user)
{
    http_response *r =
        http_request(s, "GET", user_path(user, "/video-streams"), NULL, NULL);
    http_expect(r, 200);
    return json_object_get(http_json(r), "data");
}

/* The user's streams, oldest first, joined by commas. */
char *streams_of(http_server *s, const char *user)
{
    json_t *leases = json_object_get(leases_of(s, user), "leases"), *l;
    char *out = http_strdup("");
    size_t i;

    json_array_foreach(leases, i, l)
    {
        out = http_printf("%s%s%s", out, i ? "," : "",
                          json_string_value(json_object_get(l, "videoStreamId")));
    }
    return out;
}

void expect_header(const http_response *r, const char *name, const char *value)
{
    const char *got = http_header(r, name);

    if (value == NULL)
        ck_assert_msg(got == NULL, "%s %s: unexpected %s: %s", r->method, r->path, name,
                      got);
    else
        ck_assert_msg(got != NULL && strcmp(got, value) == 0,
                      "%s %s: %s is %s, expected %s", r->method, r->path, name,
                      got ? got : "(absent)", value);
}

void expect_json_type(const http_response *r)
{
    expect_header(r, "Content-Type", "application/json");
}

void expect_stop(http_server *s)
{
    int rc = http_server_stop(s);
    ck_assert_msg(rc == 0, "streamyctl serve exited %d after SIGTERM; log: %s", rc,
                  http_server_log(s));
}

long long count_leases(const http_server *s)
{
    return http_db_int(s->db, "SELECT count(*) FROM leases");
}

/* --- sessions ---------------------------------------------------------------------- */

void start_sessions(http_server *s, const char *const *extra)
{
    const char *store = getenv("STREAMY_TEST_SESSIONS_STORE");

    if (store != NULL && strcmp(store, "sqlite") == 0)
        http_server_start_db(s, http_printf("sqlite:%s/t.db", http_tmp()), extra);
    else
        http_server_start_db(s, "memory:", extra);
}

/* A request body: {"userId":USER,"videoStreamId":STREAM} and then `more`, JSON members
 * written as they are sent (may be ""). */
char *body_with(const char *user, const char *stream, const char *more)
{
    char *b = sub_body(user, stream);

    return http_printf("%.*s%s%s}", (int)strlen(b) - 1, b, more[0] ? "," : "", more);
}

int is_lease_id(const char *id)
{
    if (id == NULL || strlen(id) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? id[i] != '-'
                 : !(isdigit((unsigned char)id[i]) || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    }
    return 1;
}

/* The lease id of an answer (X-Streamy-Lease), copied. */
char *lease_of(const http_response *r)
{
    const char *id = http_header(r, "X-Streamy-Lease");

    ck_assert_msg(is_lease_id(id), "%s %s: X-Streamy-Lease is %s", r->method, r->path,
                  id ? id : "(absent)");
    return http_strdup(id);
}

const char *str_of(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

json_int_t int_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    ck_assert_msg(json_is_integer(v), "\"%s\" is not an integer", key);
    return json_integer_value(v);
}

/* The user's leases (GET /users/{user}/video-streams), as the text of their array. */
char *leases_text(http_server *s, const char *user)
{
    char *text = json_dumps(json_object_get(leases_of(s, user), "leases"), JSON_COMPACT);

    ck_assert_ptr_nonnull(text);
    return http_track(text);
}

/* {"status":400,"error":MSG}, escaped as the server escapes it. */
char *error_body(const char *msg)
{
    json_t *j = json_pack("{s:i, s:s}", "status", 400, "error", msg);
    char *text = json_dumps(j, JSON_COMPACT);

    json_decref(j);
    ck_assert_ptr_nonnull(text);
    return http_track(text);
}

/* --- the suite -------------------------------------------------------------------- */

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc;
    int timeout = test_timeout_scale(100);

#define TCASE(name) tc = test_add_case(s, name, http_setup, http_teardown, timeout)

    TCASE("contract");
    http_case_contract(tc);

    TCASE("headers");
    http_case_headers(tc);

    TCASE("renew");
    http_case_renew(tc);

    TCASE("users");
    http_case_users(tc);

    TCASE("health");
    http_case_health(tc);

    TCASE("metrics");
    http_case_metrics(tc);

    TCASE("bad_input");
    http_case_bad_input(tc);

    TCASE("auth");
    http_case_auth(tc);

    TCASE("connections");
    http_case_connections(tc);

    TCASE("logs");
    http_case_logs(tc);

    TCASE("shutdown");
    http_case_shutdown(tc);

    TCASE("concurrency");
    http_case_concurrency(tc);

    TCASE("sessions");
    http_case_sessions(tc);

    TCASE("session_input");
    http_case_session_input(tc);

    TCASE("session_concurrency");
    http_case_session_concurrency(tc);

    /* Run last (ctest DEPENDS): reads what every other case recorded. */
    TCASE("openapi");
    http_case_openapi(tc);
#undef TCASE
    return s;
}

int main(int argc, char **argv)
{
    json_error_t err;
    SRunner *sr;
    int failed;

    if (argc < 3 || http_init(argv[1]) != 0) {
        fprintf(stderr, "usage: %s PATH-TO-STREAMYCTL PATH-TO-OPENAPI [RECORD-FILE]\n",
                argv[0]);
        return 2;
    }
    http_spec = json_load_file(argv[2], JSON_REJECT_DUPLICATES, &err);
    if (http_spec == NULL) {
        fprintf(stderr, "%s:%d:%d: not JSON: %s\n", argv[2], err.line, err.column,
                err.text);
        return 2;
    }
    http_record_path = argc > 3 ? argv[3] : NULL;
    sr = srunner_create(http_suite());
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    json_decref(http_spec);
    return failed == 0 ? 0 : 1;
}
