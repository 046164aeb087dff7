/* SPDX-License-Identifier: MIT */
/* check_http_input.c: bad input (bodies, sizes, identifiers, paths and methods) and the
 * bearer token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_http.h"

/* --- 7. bad input ----------------------------------------------------------------- */

static const char *const max_body_64[] = {"--max-body", "64", NULL};

/* The store holds exactly u/keep, and the server still answers. */
static void expect_only_keep(http_server *s)
{
    ck_assert_str_eq(streams_of(s, "u"), "keep");
    ck_assert_int_eq(count_leases(s), 1);
    http_expect(http_request(s, "GET", "/health", NULL, NULL), 200);
}

START_TEST(malformed_and_non_object_bodies)
{
    static const char *const malformed[] = {
        "{\"userId\":\"u\",\"videoStreamId\":",
        "not json",
        "{\"userId\":\"u\",\"videoStreamId\":\"x\"} x",
        "{\"userId\":\"u\" \"videoStreamId\":\"x\"}",
        "{'userId':'u','videoStreamId':'x'}",
        "{\"userId\":\"u\",\"videoStreamId\":\"x\",}"};
    static const char *const not_object[] = {
        "[]", "[{\"userId\":\"u\"}]", "\"u\"", "42", "null", "true"};
    static const char *const dups[] = {
        "{\"userId\":\"u\",\"userId\":\"v\",\"videoStreamId\":\"x\"}",
        "{\"userId\":\"u\",\"videoStreamId\":\"x\",\"videoStreamId\":\"x\"}",
        "{\"userId\":\"u\",\"videoStreamId\":\"keep\",\"n\":1,\"n\":2}"};
    static const char *const methods[][2] = {
        {"POST", SUB}, {"DELETE", SUB}, {"POST", RENEW}};
    http_server s;
    http_response *r;

    http_server_start(&s, max_body_64);
    subscribe_ok(&s, "u", "keep");
    for (size_t m = 0; m < 3; m++) {
        for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
            r = http_request(&s, methods[m][0], methods[m][1], malformed[i], NULL);
            http_expect(r, 400);
            expect_json_type(r);
            ck_assert_msg(
                strncmp(r->body, "{\"status\":400,\"error\":\"malformed JSON", 37) == 0,
                "%s: %s", malformed[i], r->body);
        }
        for (size_t i = 0; i < sizeof(not_object) / sizeof(not_object[0]); i++) {
            r = http_request(&s, methods[m][0], methods[m][1], not_object[i], NULL);
            http_expect_body(
                r, 400, "{\"status\":400,\"error\":\"the body must be a JSON object\"}");
        }
        for (size_t i = 0; i < sizeof(dups) / sizeof(dups[0]); i++) {
            r = http_request(&s, methods[m][0], methods[m][1], dups[i], NULL);
            http_expect(r, 400);
            ck_assert_msg(strstr(r->body, "duplicate") != NULL, "%s: %s", dups[i],
                          r->body);
        }
        /* No body at all: an empty object. */
        http_expect_body(http_request(&s, methods[m][0], methods[m][1], NULL, NULL), 400,
                         "{\"status\":400,\"error\":\"\\\"userId\\\" is required\"}");
    }
    expect_only_keep(&s);
    expect_stop(&s);
}
END_TEST

START_TEST(unknown_fields_ignored_content_type_json_required)
{
    static const char *const none[] = {"Content-Type:", NULL};
    static const char *const text[] = {"Content-Type: text/plain", NULL};
    static const char *const form[] = {"Content-Type: application/x-www-form-urlencoded",
                                       NULL};
    static const char *const charset[] = {"Content-Type: application/json; charset=utf-8",
                                          NULL};
    static const char *const upper[] = {"Content-Type: Application/JSON", NULL};
    static const char *const suffix[] = {"Content-Type: application/vnd.streamy+json",
                                         NULL};
    static const char *const unsupported =
        "{\"status\":415,\"error\":\"the body must be JSON: send Content-Type: "
        "application/json\"}";
    http_server s;

    http_server_start(&s, max_body_64);
    http_expect_body(
        http_request(
            &s, "POST", SUB,
            "{\"userId\":\"u\",\"x\":{\"y\":[1]},\"videoStreamId\":\"s1\",\"n\":1}",
            NULL),
        200, ok_body("u", "s1"));
    /* A body not declared JSON decides nothing: a web page can send text/plain or a
     * form to any server its visitor reaches, without a preflight. */
    http_expect_body(http_request(&s, "POST", SUB, sub_body("u", "s2"), none), 415,
                     unsupported);
    http_expect_body(http_request(&s, "POST", SUB, sub_body("u", "s3"), text), 415,
                     unsupported);
    http_expect_body(http_request(&s, "DELETE", SUB, sub_body("u", "s1"), form), 415,
                     unsupported);
    http_expect_body(http_request(&s, "POST", SUB "/renew", sub_body("u", "s1"), text),
                     415, unsupported);
    http_expect_body(http_request(&s, "PUT", "/users/u/limit", "{\"limit\":1}", text),
                     415, unsupported);
    ck_assert_str_eq(streams_of(&s, "u"), "s1");
    http_expect_body(
        http_request(&s, "GET", "/users/u/limit", NULL, NULL), 200,
        "{\"status\":200,\"data\":{\"userId\":\"u\",\"limit\":3,\"override\":false}}");
    /* JSON in any spelling of its type, with parameters, or as a +json type. */
    http_expect_body(http_request(&s, "POST", SUB, sub_body("u", "s2"), charset), 200,
                     ok_body("u", "s2"));
    http_expect_body(http_request(&s, "POST", SUB, sub_body("u", "s3"), upper), 200,
                     ok_body("u", "s3"));
    http_expect_body(http_request(&s, "DELETE", SUB, sub_body("u", "s3"), suffix), 204,
                     "");
    ck_assert_str_eq(streams_of(&s, "u"), "s1,s2");
    expect_stop(&s);
}
END_TEST

/* `{"userId":"u","videoStreamId":STREAM,"pad":"xx…"}` of exactly `len` bytes. */
static char *padded(const char *stream, size_t len)
{
    char *head =
        http_printf("{\"userId\":\"u\",\"videoStreamId\":\"%s\",\"pad\":\"", stream);
    char *body;

    ck_assert_uint_ge(len, strlen(head) + 2);
    body = http_track(malloc(len + 1));
    memset(body, 'x', len);
    memcpy(body, head, strlen(head));
    memcpy(body + len - 2, "\"}", 3);
    return body;
}

START_TEST(body_over_max_body_is_413)
{
    static const char *const too_large =
        "{\"status\":413,\"error\":\"the body is larger than 64 bytes\"}";
    static const char *const limit65 =
        "{\"limit\":1,\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}";
    http_server s;
    http_response *r;

    ck_assert_uint_eq(strlen(limit65), 65);
    http_server_start(&s, max_body_64);
    subscribe_ok(&s, "u", "keep");
    r = http_request(&s, "POST", SUB, padded("big", 65), NULL);
    http_expect_body(r, 413, too_large);
    expect_json_type(r);
    http_expect_body(http_request(&s, "POST", SUB, padded("big", 1000), NULL), 413,
                     too_large);
    http_expect_body(http_request(&s, "DELETE", SUB, padded("keep", 65), NULL), 413,
                     too_large);
    http_expect_body(http_request(&s, "POST", RENEW, padded("keep", 65), NULL), 413,
                     too_large);
    http_expect_body(http_request(&s, "PUT", "/users/u/limit", limit65, NULL), 413,
                     too_large);
    expect_only_keep(&s);
    ck_assert_int_eq(http_db_int(s.db, "SELECT count(*) FROM limits"), 0);
    /* At the bound it is read. */
    http_expect_body(http_request(&s, "POST", SUB, padded("big", 64), NULL), 200,
                     ok_body("u", "big"));
    expect_stop(&s);
}
END_TEST

START_TEST(chunked_body_over_max_body_is_413)
{
    static const char *const chunked[] = {"Transfer-Encoding: chunked", NULL};
    http_server s;
    http_response *r;

    http_server_start(&s, max_body_64);
    /* A small chunked body is read as any other. */
    http_expect_body(http_request(&s, "POST", SUB, sub_body("u", "keep"), chunked), 200,
                     ok_body("u", "keep"));
    /* Over the bound with no Content-Length: found while reading, still a 413. */
    r = http_request(&s, "POST", SUB, padded("big", 65), chunked);
    ck_assert_msg(
        r->status == 413,
        "POST " SUB " with Transfer-Encoding: chunked and a 65-byte body, "
        "--max-body 64: expected 413 {\"status\":413,\"error\":\"the body is larger "
        "than 64 bytes\"}, got %ld %s%s",
        r->status, r->body, r->error);
    http_expect_body(r, 413,
                     "{\"status\":413,\"error\":\"the body is larger than 64 bytes\"}");
    expect_only_keep(&s);
    expect_stop(&s);
}
END_TEST

/* Ids the library refuses: 400 naming the field; the store unchanged. */
START_TEST(invalid_identifiers_name_the_field)
{
    static const struct {
        const char *json; /* the field's value, as JSON text */
        const char *msg;  /* after "user id " / "stream id " */
    } cases[] = {
        {"\"\"", "is empty"},
        {"\"a\\u0001b\"", "contains a control character (byte 2)"},
        {"\"ab\\u001f\"", "contains a control character (byte 3)"},
        {"\"\\u007f\"", "contains a control character (byte 1)"},
        {"\"a\\nb\"", "contains a control character (byte 2)"},
        {"\"a\\u0000b\"", "contains a control character (NUL)"},
        {"\"\\u0000\"", "contains a control character (NUL)"},
    };
    http_server s;
    char long_id[130], *body;

    http_server_start(&s, no_args);
    subscribe_ok(&s, "u", "keep");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        body = http_printf("{\"userId\":%s,\"videoStreamId\":\"keep\"}", cases[i].json);
        http_expect_body(
            http_request(&s, "POST", SUB, body, NULL), 400,
            http_printf("{\"status\":400,\"error\":\"user id %s\"}", cases[i].msg));
        http_expect_body(
            http_request(&s, "DELETE", SUB, body, NULL), 400,
            http_printf("{\"status\":400,\"error\":\"user id %s\"}", cases[i].msg));
        body = http_printf("{\"userId\":\"u\",\"videoStreamId\":%s}", cases[i].json);
        http_expect_body(
            http_request(&s, "POST", SUB, body, NULL), 400,
            http_printf("{\"status\":400,\"error\":\"stream id %s\"}", cases[i].msg));
        http_expect_body(
            http_request(&s, "POST", RENEW, body, NULL), 400,
            http_printf("{\"status\":400,\"error\":\"stream id %s\"}", cases[i].msg));
    }
    memset(long_id, 'a', 129);
    long_id[129] = '\0';
    http_expect_body(http_request(&s, "POST", SUB, sub_body(long_id, "keep"), NULL), 400,
                     "{\"status\":400,\"error\":\"user id is longer than 128 bytes\"}");
    http_expect_body(http_request(&s, "POST", SUB, sub_body("u", long_id), NULL), 400,
                     "{\"status\":400,\"error\":\"stream id is longer than 128 bytes\"}");
    expect_only_keep(&s);
    expect_stop(&s);
}
END_TEST

/* Invalid UTF-8 in the JSON string of an id, raw or as a lone surrogate escape. */
/* JSON text is UTF-8 (RFC 8259, section 8.1): a body with invalid UTF-8 in a
 * string, raw or as a lone surrogate escape, is not JSON, and is refused as
 * malformed before any field is read. The same bytes in a path are an
 * identifier the library refuses, naming the field (user_ids_in_the_path). */
START_TEST(invalid_utf8_in_the_body_is_malformed_json)
{
    static const char *const values[] = {"\"a\xff\"", "\"\xc3\"", "\"a\xed\xa0\x80\"",
                                         "\"a\\ud800\"", "\"\\udc00b\""};
    http_server s;
    http_response *r;

    http_server_start(&s, no_args);
    subscribe_ok(&s, "u", "keep");
    for (size_t f = 0; f < 2; f++) {
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
            const char *body =
                f == 0
                    ? http_printf("{\"userId\":%s,\"videoStreamId\":\"keep\"}", values[i])
                    : http_printf("{\"userId\":\"u\",\"videoStreamId\":%s}", values[i]);
            r = http_request(&s, "POST", SUB, body, NULL);
            http_expect(r, 400);
            expect_json_type(r);
            ck_assert_msg(strstr(r->body, "malformed JSON") != NULL,
                          "POST " SUB
                          " with field %zu = %s: not refused as malformed JSON: %s",
                          f, values[i], r->body);
        }
    }
    expect_only_keep(&s);
    expect_stop(&s);
}
END_TEST

START_TEST(unknown_path_404_wrong_method_405)
{
    static const char *const unknown[][2] = {
        {"GET", "/"},
        {"GET", "/nope"},
        {"POST", "/video-streams"},
        {"POST", "/video-streams/subscription/"},
        {"POST", "/video-streams/subscription/renew/x"},
        {"GET", "/users/u"},
        {"GET", "/users//video-streams"},
        {"GET", "/users/u/video-streams/x"},
        {"GET", "/healthz"},
        {"DELETE", "/users"},
    };
    static const char *const wrong[][3] = {
        {"GET", SUB, "POST, DELETE"},
        {"PUT", SUB, "POST, DELETE"},
        {"PATCH", SUB, "POST, DELETE"},
        {"GET", RENEW, "POST"},
        {"DELETE", RENEW, "POST"},
        {"POST", "/health", "GET, HEAD"},
        {"DELETE", "/metrics", "GET, HEAD"},
        {"POST", "/users/u/video-streams", "GET, HEAD"},
        {"DELETE", "/users/u/video-streams", "GET, HEAD"},
        {"POST", "/users/u/limit", "GET, HEAD, PUT, DELETE"},
        {"PATCH", "/users/u/limit", "GET, HEAD, PUT, DELETE"},
    };
    http_server s;
    http_response *r;

    http_server_start(&s, no_args);
    subscribe_ok(&s, "u", "keep");
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        r = http_request(&s, unknown[i][0], unknown[i][1], NULL, NULL);
        http_expect_body(r, 404, "{\"status\":404,\"error\":\"not found\"}");
        expect_json_type(r);
    }
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        const char *body = strcmp(wrong[i][1], SUB) == 0 ? sub_body("u", "keep") : NULL;
        r = http_request(&s, wrong[i][0], wrong[i][1], body, NULL);
        http_expect_body(r, 405, "{\"status\":405,\"error\":\"method not allowed\"}");
        expect_json_type(r);
        expect_header(r, "Allow", wrong[i][2]);
    }
    expect_only_keep(&s);
    expect_stop(&s);
}
END_TEST

/* --- 8. the bearer token ---------------------------------------------------------- */

#define TOKEN "s3cr3t-T0ken.4242_xyz"

START_TEST(bearer_token)
{
    static const char *const unauthorized =
        "{\"status\":401,\"error\":\"missing or invalid bearer token\"}";
    static const char *const wrong[][2] = {
        {"Authorization: Bearer wrong", "a wrong token"},
        {"Authorization: Basic " TOKEN, "another scheme"},
        {"Authorization: " TOKEN, "no scheme"},
        {"Authorization: Bearer " TOKEN "x", "the token with a byte more"},
        {"Authorization: Bearer " TOKEN "\t", "the token with a tab more"},
        {"Authorization: Bearer s3cr3t-T0ken", "a prefix of the token"},
        {"Authorization: Bearer ", "an empty token"},
        {"Authorization: Bearer", "the scheme alone"},
        {"Authorization: BearerX " TOKEN, "a longer scheme"},
        {"Authorization: Bearer  " TOKEN, "two spaces"},
        {"Authorization: Bearer x" TOKEN, "a byte before the token"},
    };
    static const char *const right[] = {"Authorization: Bearer " TOKEN, NULL};
    static const char *const protected_routes[][3] = {
        {"POST", SUB, "body"},
        {"DELETE", SUB, "body"},
        {"POST", RENEW, "body"},
        {"GET", "/users/u/video-streams", NULL},
        {"GET", "/users/u/limit", NULL},
        {"PUT", "/users/u/limit", "{\"limit\":1}"},
        {"DELETE", "/users/u/limit", NULL},
        {"GET", "/nowhere", NULL},
        {"POST", "/health", NULL},
    };
    http_server s;
    http_response *r;
    const char *args[3];
    char *file = http_path("token"), *log;
    FILE *fp = fopen(file, "w");

    ck_assert_ptr_nonnull(fp);
    fputs(TOKEN "\n", fp);
    fclose(fp);
    args[0] = "--auth-token-file";
    args[1] = file;
    args[2] = NULL;
    http_server_start(&s, args);

    r = subscribe(&s, "u", "s1");
    http_expect_body(r, 401, unauthorized);
    expect_json_type(r);
    expect_header(r, "WWW-Authenticate", "Bearer");
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        const char *hdr[] = {wrong[i][0], NULL};
        r = http_request(&s, "POST", SUB, sub_body("u", "s1"), hdr);
        ck_assert_msg(r->status == 401, "%s: expected 401, got %ld %s", wrong[i][1],
                      r->status, r->body);
        http_expect_body(r, 401, unauthorized);
        expect_header(r, "WWW-Authenticate", "Bearer");
    }
    for (size_t i = 0; i < sizeof(protected_routes) / sizeof(protected_routes[0]); i++) {
        const char *body = protected_routes[i][2] == NULL ? NULL
                           : strcmp(protected_routes[i][2], "body") == 0
                               ? sub_body("u", "s1")
                               : protected_routes[i][2];
        r = http_request(&s, protected_routes[i][0], protected_routes[i][1], body, NULL);
        http_expect_body(r, 401, unauthorized);
        expect_header(r, "WWW-Authenticate", "Bearer");
    }
    ck_assert_int_eq(count_leases(&s), 0);

    /* The right token. */
    r = http_request(&s, "POST", SUB, sub_body("u", "s1"), right);
    http_expect_body(r, 200, ok_body("u", "s1"));
    http_expect(http_request(&s, "GET", "/users/u/video-streams", NULL, right), 200);
    http_expect(http_request(&s, "GET", "/nowhere", NULL, right), 404);
    ck_assert_int_eq(count_leases(&s), 1);

    /* /health and /metrics need none. */
    http_expect(http_request(&s, "GET", "/health", NULL, NULL), 200);
    http_expect(http_request(&s, "GET", "/metrics", NULL, NULL), 200);
    expect_stop(&s);

    /* The requests were logged, the token never. */
    log = http_server_log(&s);
    ck_assert_msg(strstr(log, "\"status\":401") != NULL, "no 401 in the log: %s", log);
    ck_assert_msg(strstr(log, "s3cr3t") == NULL, "the token is in the log: %s", log);
}
END_TEST

START_TEST(listening_beyond_loopback_needs_a_token)
{
    static const char *const bare[] = {"--db",     "sqlite:t.db", "serve",
                                       "--listen", "0.0.0.0:0",   NULL};
    static const char *const insecure[] = {
        "--db", "sqlite:t.db", "serve", "--listen", "0.0.0.0:0", "--insecure", NULL};
    const char *with_token[] = {"--db",      "sqlite:t.db",       "serve", "--listen",
                                "0.0.0.0:0", "--auth-token-file", NULL,    NULL};
    const char *right[] = {"Authorization: Bearer " TOKEN, NULL};
    char *file = http_path("token");
    http_server s;
    int rc;
    FILE *fp = fopen(file, "w");

    ck_assert_ptr_nonnull(fp);
    fputs(TOKEN, fp);
    fclose(fp);
    rc = http_server_try_start(&s, bare);
    ck_assert_msg(rc == 2, "--listen 0.0.0.0:0 without a token: exit %d, expected 2; %s",
                  rc, http_server_log(&s));
    ck_assert_msg(strstr(http_server_log(&s), "--auth-token-file") != NULL, "%s",
                  http_server_log(&s));

    ck_assert_int_eq(http_server_try_start(&s, insecure), 0);
    ck_assert_str_eq(s.host, "0.0.0.0");
    http_expect_body(subscribe(&s, "u", "s1"), 200, ok_body("u", "s1"));
    expect_stop(&s);

    with_token[6] = file;
    ck_assert_int_eq(http_server_try_start(&s, with_token), 0);
    http_expect(http_request(&s, "POST", SUB, sub_body("u", "s2"), right), 200);
    http_expect(subscribe(&s, "u", "s3"), 401);
    expect_stop(&s);
}
END_TEST

void http_case_bad_input(TCase *tc)
{
    tcase_add_test(tc, malformed_and_non_object_bodies);
    tcase_add_test(tc, unknown_fields_ignored_content_type_json_required);
    tcase_add_test(tc, body_over_max_body_is_413);
    tcase_add_test(tc, chunked_body_over_max_body_is_413);
    tcase_add_test(tc, invalid_identifiers_name_the_field);
    tcase_add_test(tc, invalid_utf8_in_the_body_is_malformed_json);
    tcase_add_test(tc, unknown_path_404_wrong_method_405);
}

void http_case_auth(TCase *tc)
{
    tcase_add_test(tc, bearer_token);
    tcase_add_test(tc, listening_beyond_loopback_needs_a_token);
}
