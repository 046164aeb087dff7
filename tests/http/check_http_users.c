/* SPDX-License-Identifier: MIT */
/* check_http_users.c: a user's leases and limits under /users/{userId}. */
#include <string.h>

#include "check_http.h"

/* --- 4. users: leases and limits -------------------------------------------------- */

START_TEST(leases_of_a_user)
{
    http_server s;
    json_t *data, *l;
    int64_t t0, t1;
    size_t i;

    http_server_start(&s, no_args);
    t0 = http_now_ms();
    subscribe_ok(&s, "u", "s1");
    subscribe_ok(&s, "u", "s2");
    subscribe_ok(&s, "other", "s9");
    t1 = http_now_ms();
    data = leases_of(&s, "u");
    ck_assert_str_eq(json_string_value(json_object_get(data, "userId")), "u");
    ck_assert_int_eq(json_integer_value(json_object_get(data, "limit")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(data, "count")), 2);
    ck_assert_int_eq(json_array_size(json_object_get(data, "leases")), 2);
    json_array_foreach(json_object_get(data, "leases"), i, l)
    {
        json_int_t since = json_integer_value(json_object_get(l, "since"));
        ck_assert_str_eq(json_string_value(json_object_get(l, "videoStreamId")),
                         i == 0 ? "s1" : "s2");
        ck_assert_msg(since >= t0 - 1000 && since <= t1 + 1000, "since %lld",
                      (long long)since);
        ck_assert_int_eq(json_integer_value(json_object_get(l, "renewedAt")), since);
        ck_assert(json_is_null(json_object_get(l, "expiresAt")));
    }
    /* Nobody: an empty list with the default limit. */
    http_expect_body(
        http_request(&s, "GET", "/users/nobody/video-streams", NULL, NULL), 200,
        "{\"status\":200,\"data\":{\"userId\":\"nobody\",\"limit\":3,\"count\":0,"
        "\"leases\":[]}}");
    expect_stop(&s);
}
END_TEST

START_TEST(limit_set_get_clear)
{
    static const char *const one =
        "{\"status\":200,\"data\":{\"userId\":\"u\",\"limit\":1,\"override\":true}}";
    static const char *const dflt =
        "{\"status\":200,\"data\":{\"userId\":\"u\",\"limit\":3,\"override\":false}}";
    http_server s;
    http_response *r;

    http_server_start(&s, no_args);
    http_expect_body(http_request(&s, "GET", "/users/u/limit", NULL, NULL), 200, dflt);
    r = http_request(&s, "PUT", "/users/u/limit", "{\"limit\":1}", NULL);
    http_expect_body(r, 200, one);
    expect_json_type(r);
    http_expect_body(http_request(&s, "GET", "/users/u/limit", NULL, NULL), 200, one);

    /* Enforced by subscribe, for this user only. */
    r = subscribe(&s, "u", "s1");
    http_expect(r, 200);
    expect_header(r, "X-Streamy-Limit", "1");
    r = subscribe(&s, "u", "s2");
    http_expect_body(r, 429, BODY_429);
    expect_header(r, "X-Streamy-Limit", "1");
    expect_header(r, "X-Streamy-Active", "1");
    r = subscribe(&s, "v", "s2");
    expect_header(r, "X-Streamy-Limit", "3");
    ck_assert_int_eq(json_integer_value(json_object_get(leases_of(&s, "u"), "limit")), 1);

    /* Cleared: back to the default. */
    r = http_request(&s, "DELETE", "/users/u/limit", NULL, NULL);
    http_expect_body(r, 204, "");
    expect_header(r, "Content-Type", NULL);
    http_expect_body(http_request(&s, "GET", "/users/u/limit", NULL, NULL), 200, dflt);
    r = subscribe(&s, "u", "s2");
    http_expect(r, 200);
    expect_header(r, "X-Streamy-Limit", "3");
    expect_header(r, "X-Streamy-Active", "2");
    http_expect_body(http_request(&s, "DELETE", "/users/u/limit", NULL, NULL), 204, "");

    /* The bounds are accepted. */
    http_expect_body(
        http_request(&s, "PUT", "/users/u/limit", "{\"limit\":100000}", NULL), 200,
        "{\"status\":200,\"data\":{\"userId\":\"u\",\"limit\":100000,"
        "\"override\":true}}");
    ck_assert_int_eq(http_db_int(s.db, "SELECT max FROM limits WHERE user = 'u'"),
                     100000);
    expect_stop(&s);
}
END_TEST

START_TEST(limit_zero_blocks)
{
    http_server s;
    http_response *r;

    http_server_start(&s, no_args);
    http_expect_body(
        http_request(&s, "PUT", "/users/u/limit", "{\"limit\":0}", NULL), 200,
        "{\"status\":200,\"data\":{\"userId\":\"u\",\"limit\":0,\"override\":true}}");
    r = subscribe(&s, "u", "s1");
    http_expect_body(r, 429, BODY_429);
    expect_header(r, "X-Streamy-Limit", "0");
    expect_header(r, "X-Streamy-Active", "0");
    ck_assert_int_eq(count_leases(&s), 0);
    subscribe_ok(&s, "v", "s1");
    expect_stop(&s);
}
END_TEST

START_TEST(limit_bad_values)
{
    static const char *const range = "{\"status\":400,\"error\":\"\\\"limit\\\" must be "
                                     "an integer from 0 to 100000\"}";
    static const char *const required =
        "{\"status\":400,\"error\":\"\\\"limit\\\" is required\"}";
    static const char *const bad[] = {"{\"limit\":-1}",    "{\"limit\":100001}",
                                      "{\"limit\":\"3\"}", "{\"limit\":1.5}",
                                      "{\"limit\":3.0}",   "{\"limit\":1e2}",
                                      "{\"limit\":null}",  "{\"limit\":true}",
                                      "{\"limit\":[3]}",   "{\"limit\":{\"n\":3}}"};
    http_server s;
    http_response *r;

    http_server_start(&s, no_args);
    http_expect(http_request(&s, "PUT", "/users/u/limit", "{\"limit\":2}", NULL), 200);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = http_request(&s, "PUT", "/users/u/limit", bad[i], NULL);
        http_expect_body(r, 400, range);
        expect_json_type(r);
    }
    http_expect_body(http_request(&s, "PUT", "/users/u/limit", "{}", NULL), 400,
                     required);
    http_expect_body(http_request(&s, "PUT", "/users/u/limit", "{\"max\":3}", NULL), 400,
                     required);
    r = http_request(&s, "PUT", "/users/u/limit", "{\"limit\":", NULL);
    http_expect(r, 400);
    ck_assert_msg(strstr(r->body, "malformed JSON") != NULL, "%s", r->body);
    http_expect_body(http_request(&s, "PUT", "/users/u/limit", "[3]", NULL), 400,
                     "{\"status\":400,\"error\":\"the body must be a JSON object\"}");
    /* Unchanged. */
    http_expect_body(
        http_request(&s, "GET", "/users/u/limit", NULL, NULL), 200,
        "{\"status\":200,\"data\":{\"userId\":\"u\",\"limit\":2,\"override\":true}}");
    ck_assert_int_eq(http_db_int(s.db, "SELECT max FROM limits WHERE user = 'u'"), 2);
    expect_stop(&s);
}
END_TEST

START_TEST(user_ids_in_the_path)
{
    static const char *const too_long =
        "{\"status\":400,\"error\":\"user id is longer than 128 bytes\"}";
    http_server s;
    json_t *data;
    char long_id[130];
    const char *paths[4];

    http_server_start(&s, no_args);
    /* An encoded slash is part of the id. */
    subscribe_ok(&s, "a/b", "s1");
    data = leases_of(&s, "a/b");
    ck_assert_str_eq(json_string_value(json_object_get(data, "userId")), "a/b");
    ck_assert_int_eq(json_integer_value(json_object_get(data, "count")), 1);
    http_expect_body(http_request(&s, "PUT", "/users/a%2Fb/limit", "{\"limit\":7}", NULL),
                     200,
                     "{\"status\":200,\"data\":{\"userId\":\"a/b\",\"limit\":7,"
                     "\"override\":true}}");
    ck_assert_int_eq(http_db_int(s.db, "SELECT max FROM limits WHERE user = 'a/b'"), 7);

    /* A UUID in upper case is the canonical one. */
    subscribe_ok(&s, "6f9619ff-8b86-d011-b42d-00c04fc964ff", "s1");
    data = leases_of(&s, "6F9619FF-8B86-D011-B42D-00C04FC964FF");
    ck_assert_str_eq(json_string_value(json_object_get(data, "userId")),
                     "6f9619ff-8b86-d011-b42d-00c04fc964ff");
    ck_assert_int_eq(json_integer_value(json_object_get(data, "count")), 1);
    http_expect_body(http_request(&s, "GET",
                                  "/users/6F9619FF-8B86-D011-B42D-00C04FC964FF/limit",
                                  NULL, NULL),
                     200,
                     "{\"status\":200,\"data\":{\"userId\":\"6f9619ff-8b86-d011-b42d-"
                     "00c04fc964ff\",\"limit\":3,\"override\":false}}");

    /* Percent-encoded UTF-8. */
    subscribe_ok(&s, "J\xc3\xbcrgen", "s1");
    data = leases_of(&s, "J\xc3\xbcrgen");
    ck_assert_str_eq(json_string_value(json_object_get(data, "userId")), "J\xc3\xbcrgen");
    ck_assert_int_eq(json_integer_value(json_object_get(data, "count")), 1);

    /* Ids the library refuses: 400 on every user route, naming the user id. */
    memset(long_id, 'a', 129);
    long_id[129] = '\0';
    paths[0] = user_path(long_id, "/video-streams");
    paths[1] = user_path(long_id, "/limit");
    for (int i = 0; i < 2; i++) {
        http_expect_body(http_request(&s, "GET", paths[i], NULL, NULL), 400, too_long);
    }
    http_expect_body(http_request(&s, "PUT", paths[1], "{\"limit\":1}", NULL), 400,
                     too_long);
    http_expect_body(http_request(&s, "DELETE", paths[1], NULL, NULL), 400, too_long);
    http_expect_body(http_request(&s, "GET", "/users/a%01b/video-streams", NULL, NULL),
                     400,
                     "{\"status\":400,\"error\":\"user id contains a control character "
                     "(byte 2)\"}");
    http_expect_body(
        http_request(&s, "GET", "/users/a%FFb/limit", NULL, NULL), 400,
        "{\"status\":400,\"error\":\"user id is not valid UTF-8 (byte 2)\"}");
    ck_assert_int_eq(http_db_int(s.db, "SELECT count(*) FROM limits"), 1);
    expect_stop(&s);
}
END_TEST

void http_case_users(TCase *tc)
{
    tcase_add_test(tc, leases_of_a_user);
    tcase_add_test(tc, limit_set_get_clear);
    tcase_add_test(tc, limit_zero_blocks);
    tcase_add_test(tc, limit_bad_values);
    tcase_add_test(tc, user_ids_in_the_path);
}
