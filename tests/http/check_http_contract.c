/* SPDX-License-Identifier: MIT */
/* check_http_contract.c: the original contract of the subscription endpoints, the
 * X-Streamy-* headers beyond it, and renew. */
#include <string.h>

#include "check_http.h"

/* --- 1. the original contract ----------------------------------------------------- */

START_TEST(subscribe_answers_the_original_bytes)
{
    http_server s;
    http_response *r;

    http_server_start(&s, no_args);
    r = http_request(&s, "POST", SUB,
                     "{\"userId\":\"user-1\",\"videoStreamId\":\"stream-1\"}", NULL);
    http_expect_body(r, 200,
                     "{\"status\":200,\"data\":{\"userId\":\"user-1\",\"videoStreamId\":"
                     "\"stream-1\"}}");
    expect_json_type(r);
    expect_header(r, "X-Streamy-Limit", "3");
    expect_header(r, "X-Streamy-Active", "1");
    r = subscribe(&s, "user-1", "stream-2");
    http_expect_body(r, 200, ok_body("user-1", "stream-2"));
    expect_header(r, "X-Streamy-Active", "2");
    r = subscribe(&s, "user-1", "stream-3");
    http_expect_body(r, 200, ok_body("user-1", "stream-3"));
    expect_header(r, "X-Streamy-Active", "3");

    /* The fourth, with the default limit 3. */
    r = subscribe(&s, "user-1", "stream-4");
    http_expect_body(r, 429, BODY_429);
    expect_json_type(r);
    expect_header(r, "X-Streamy-Limit", "3");
    expect_header(r, "X-Streamy-Active", "3");
    expect_header(r, "Retry-After", NULL); /* leases never expire without --ttl */
    expect_header(r, "X-Streamy-Evicted", NULL);

    /* An active stream subscribed again stays allowed; another user is apart. */
    r = subscribe(&s, "user-1", "stream-1");
    http_expect_body(r, 200, ok_body("user-1", "stream-1"));
    expect_header(r, "X-Streamy-Active", "3");
    subscribe_ok(&s, "user-2", "stream-4");
    ck_assert_str_eq(streams_of(&s, "user-1"), "stream-1,stream-2,stream-3");
    ck_assert_int_eq(count_leases(&s), 4);
    expect_stop(&s);
}
END_TEST

/* Missing, then not a string: for every route that takes the body, userId first. */
START_TEST(missing_and_non_string_fields)
{
    static const char *const routes[][2] = {
        {"POST", SUB}, {"DELETE", SUB}, {"POST", RENEW}};
    static const char *const values[] = {"{\"a\":\"b\"}", "{}", "1",    "-2.5",  "null",
                                         "[\"x\"]",       "[]", "true", "false", "0"};
    static const char *const user_required =
        "{\"status\":400,\"error\":\"\\\"userId\\\" is required\"}";
    static const char *const user_string =
        "{\"status\":400,\"error\":\"\\\"userId\\\" must be a string\"}";
    static const char *const stream_required =
        "{\"status\":400,\"error\":\"\\\"videoStreamId\\\" is required\"}";
    static const char *const stream_string =
        "{\"status\":400,\"error\":\"\\\"videoStreamId\\\" must be a string\"}";
    http_server s;
    http_response *r;

    http_server_start(&s, no_args);
    subscribe_ok(&s, "u", "keep");
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const char *m = routes[i][0], *p = routes[i][1];

        r = http_request(&s, m, p, "{\"videoStreamId\":\"keep\"}", NULL);
        http_expect_body(r, 400, user_required);
        expect_json_type(r);
        r = http_request(&s, m, p, "{\"userId\":\"u\"}", NULL);
        http_expect_body(r, 400, stream_required);
        r = http_request(&s, m, p, "{}", NULL);
        http_expect_body(r, 400, user_required);
        r = http_request(&s, m, p, "{\"unrelated\":1}", NULL);
        http_expect_body(r, 400, user_required);
        for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
            r = http_request(
                &s, m, p,
                http_printf("{\"userId\":%s,\"videoStreamId\":\"keep\"}", values[v]),
                NULL);
            http_expect_body(r, 400, user_string);
            r = http_request(
                &s, m, p,
                http_printf("{\"userId\":\"u\",\"videoStreamId\":%s}", values[v]), NULL);
            http_expect_body(r, 400, stream_string);
            /* userId is checked first, in either key order. */
            r = http_request(
                &s, m, p,
                http_printf("{\"videoStreamId\":%s,\"userId\":%s}", values[v], values[v]),
                NULL);
            http_expect_body(r, 400, user_string);
            r = http_request(&s, m, p, http_printf("{\"videoStreamId\":%s}", values[v]),
                             NULL);
            http_expect_body(r, 400, user_required);
            r = http_request(&s, m, p, http_printf("{\"userId\":%s}", values[v]), NULL);
            http_expect_body(r, 400, user_string);
        }
    }
    /* Nothing changed: the DELETEs and renews above did not touch "keep". */
    ck_assert_str_eq(streams_of(&s, "u"), "keep");
    ck_assert_int_eq(count_leases(&s), 1);
    expect_stop(&s);
}
END_TEST

START_TEST(unsubscribe_is_204_whether_or_not_the_lease_existed)
{
    http_server s;
    http_response *r;

    http_server_start(&s, no_args);
    subscribe_ok(&s, "u", "s1");
    subscribe_ok(&s, "u", "s2");
    subscribe_ok(&s, "u", "s3");
    r = unsubscribe(&s, "u", "s1");
    http_expect_body(r, 204, "");
    expect_header(r, "Content-Type", NULL);
    r = unsubscribe(&s, "u", "s1"); /* again: gone already */
    http_expect_body(r, 204, "");
    r = unsubscribe(&s, "nobody", "never");
    http_expect_body(r, 204, "");
    expect_header(r, "Content-Type", NULL);
    /* The room is free again. */
    r = subscribe(&s, "u", "s4");
    http_expect_body(r, 200, ok_body("u", "s4"));
    expect_header(r, "X-Streamy-Active", "3");
    ck_assert_str_eq(streams_of(&s, "u"), "s2,s3,s4");
    ck_assert_int_eq(http_db_int(s.db, "SELECT count(*) FROM leases WHERE stream = 's1'"),
                     0);
    expect_stop(&s);
}
END_TEST

START_TEST(identifiers_come_back_canonical_or_as_sent)
{
    char id128[129];
    http_server s;
    http_response *r;

    http_server_start(&s, no_args);
    /* UUIDs: canonical lower case. */
    r = http_request(&s, "POST", SUB,
                     "{\"userId\":\"6F9619FF-8B86-D011-B42D-00C04FC964FF\","
                     "\"videoStreamId\":\"0E984725-C51C-4BF4-9960-E1C80E27ABA0\"}",
                     NULL);
    http_expect_body(
        r, 200,
        "{\"status\":200,\"data\":{\"userId\":\"6f9619ff-8b86-d011-b42d-"
        "00c04fc964ff\",\"videoStreamId\":\"0e984725-c51c-4bf4-9960-e1c80e27aba0\"}}");
    /* The same UUIDs in lower case are the same lease. */
    r = subscribe(&s, "6f9619ff-8b86-d011-b42d-00c04fc964ff",
                  "0e984725-c51c-4bf4-9960-e1c80e27aba0");
    http_expect(r, 200);
    expect_header(r, "X-Streamy-Active", "1");
    ck_assert_int_eq(http_db_int(s.db, "SELECT count(*) FROM leases WHERE user = "
                                       "'6f9619ff-8b86-d011-b42d-00c04fc964ff'"),
                     1);

    /* Anything else: exactly as sent, case, spaces, slashes and UTF-8 included. */
    r = http_request(
        &s, "POST", SUB,
        "{\"userId\":\"Mixed-Case_User\",\"videoStreamId\":\"Stream/\xc3\x84 x\"}", NULL);
    http_expect_body(r, 200,
                     "{\"status\":200,\"data\":{\"userId\":\"Mixed-Case_User\","
                     "\"videoStreamId\":\"Stream/\xc3\x84 x\"}}");
    /* An escape is the same string: it comes back as UTF-8. */
    r = http_request(
        &s, "POST", SUB,
        "{\"userId\":\"Mixed-Case_User\",\"videoStreamId\":\"Stream/\\u00c4 x\"}", NULL);
    http_expect(r, 200);
    expect_header(r, "X-Streamy-Active", "1");
    /* Not quite a UUID: left alone. */
    subscribe_ok(&s, "6F9619FF-8B86-D011-B42D-00C04FC964F",
                 "G0E984725-C51C-4BF4-9960-E1C80E27ABA0");
    memset(id128, 'x', 128);
    id128[128] = '\0';
    subscribe_ok(&s, id128, id128);
    expect_stop(&s);
}
END_TEST

/* --- 2. headers beyond the original ----------------------------------------------- */

START_TEST(retry_after_on_429_with_ttl)
{
    static const char *const args[] = {"--ttl", "60s", NULL};
    http_server s;
    http_response *r;
    const char *retry;
    long secs;

    http_server_start(&s, args);
    subscribe_ok(&s, "u", "s1");
    subscribe_ok(&s, "u", "s2");
    r = subscribe(&s, "u", "s3");
    http_expect(r, 200);
    expect_header(r, "Retry-After", NULL);
    r = subscribe(&s, "u", "s4");
    http_expect_body(r, 429, BODY_429);
    expect_header(r, "X-Streamy-Limit", "3");
    expect_header(r, "X-Streamy-Active", "3");
    retry = http_header(r, "Retry-After");
    ck_assert_msg(retry != NULL, "429 with --ttl 60s has no Retry-After");
    ck_assert_msg(strspn(retry, "0123456789") == strlen(retry), "Retry-After: %s", retry);
    secs = atol(retry);
    ck_assert_msg(secs >= 1 && secs <= 60, "Retry-After: %ld, expected 1 to 60", secs);
    expect_stop(&s);
}
END_TEST

START_TEST(evicted_with_evict_oldest)
{
    static const char *const args[] = {"--policy", "evict-oldest", NULL};
    http_server s;
    http_response *r;

    http_server_start(&s, args);
    for (int i = 1; i <= 3; i++) {
        r = subscribe(&s, "u", http_printf("s%d", i));
        http_expect(r, 200);
        expect_header(r, "X-Streamy-Evicted", NULL);
    }
    r = subscribe(&s, "u", "s4");
    http_expect_body(r, 200, ok_body("u", "s4"));
    expect_header(r, "X-Streamy-Evicted", "s1");
    expect_header(r, "X-Streamy-Limit", "3");
    expect_header(r, "X-Streamy-Active", "3");
    ck_assert_str_eq(streams_of(&s, "u"), "s2,s3,s4");
    r = subscribe(&s, "u", "s5");
    expect_header(r, "X-Streamy-Evicted", "s2");
    ck_assert_str_eq(streams_of(&s, "u"), "s3,s4,s5");
    expect_stop(&s);
}
END_TEST

START_TEST(shadow_allows_and_says_so)
{
    static const char *const args[] = {"--shadow", NULL};
    http_server s;
    http_response *r;

    http_server_start(&s, args);
    for (int i = 1; i <= 3; i++) {
        r = subscribe(&s, "u", http_printf("s%d", i));
        http_expect(r, 200);
        expect_header(r, "X-Streamy-Shadow", NULL);
    }
    r = subscribe(&s, "u", "s4");
    http_expect_body(r, 200, ok_body("u", "s4"));
    expect_header(r, "X-Streamy-Shadow", "would-refuse");
    expect_header(r, "X-Streamy-Limit", "3");
    /* Decided and recorded all the same. */
    ck_assert_str_eq(streams_of(&s, "u"), "s1,s2,s3,s4");
    ck_assert_int_eq(count_leases(&s), 4);
    expect_stop(&s);
}
END_TEST

/* --- 3. renew --------------------------------------------------------------------- */

START_TEST(renew_with_ttl_gives_the_new_expiry)
{
    static const char *const args[] = {"--ttl", "60s", NULL};
    http_server s;
    http_response *r;
    json_t *data, *lease;
    int64_t before, after, exp;

    http_server_start(&s, args);
    subscribe_ok(&s, "u", "s");
    before = http_now_ms();
    r = http_request(&s, "POST", RENEW, sub_body("u", "s"), NULL);
    after = http_now_ms();
    http_expect(r, 200);
    expect_json_type(r);
    data = json_object_get(http_json(r), "data");
    ck_assert_msg(json_is_integer(json_object_get(data, "expiresAt")), "expiresAt: %s",
                  r->body);
    exp = json_integer_value(json_object_get(data, "expiresAt"));
    ck_assert_msg(exp >= before + 60000 - 1000 && exp <= after + 60000 + 1000,
                  "expiresAt %lld, renewed between %lld and %lld with --ttl 60s",
                  (long long)exp, (long long)before, (long long)after);
    http_expect_body(
        r, 200,
        http_printf("{\"status\":200,\"data\":{\"userId\":\"u\",\"videoStreamId\":"
                    "\"s\",\"expiresAt\":%lld}}",
                    (long long)exp));
    lease = json_array_get(json_object_get(leases_of(&s, "u"), "leases"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(lease, "expiresAt")), exp);
    ck_assert_int_eq(http_db_int(s.db, "SELECT expires FROM leases WHERE user = 'u'"),
                     exp);
    expect_stop(&s);
}
END_TEST

START_TEST(renew_without_ttl_gives_null)
{
    http_server s;
    http_response *r;

    http_server_start(&s, no_args);
    subscribe_ok(&s, "u", "s");
    r = http_request(&s, "POST", RENEW, sub_body("u", "s"), NULL);
    http_expect_body(r, 200,
                     "{\"status\":200,\"data\":{\"userId\":\"u\",\"videoStreamId\":\"s\","
                     "\"expiresAt\":null}}");
    expect_stop(&s);
}
END_TEST

START_TEST(renew_of_a_gone_lease_is_404)
{
    static const char *const gone =
        "{\"status\":404,\"error\":\"no active lease for this stream; subscribe again\"}";
    http_server s;
    http_response *r;

    http_server_start(&s, no_args);
    r = http_request(&s, "POST", RENEW, sub_body("u", "never"), NULL);
    http_expect_body(r, 404, gone);
    expect_json_type(r);
    subscribe_ok(&s, "u", "s");
    http_expect(unsubscribe(&s, "u", "s"), 204);
    r = http_request(&s, "POST", RENEW, sub_body("u", "s"), NULL);
    http_expect_body(r, 404, gone);
    /* A renew never creates a lease. */
    ck_assert_int_eq(count_leases(&s), 0);
    expect_stop(&s);
}
END_TEST

void http_case_contract(TCase *tc)
{
    tcase_add_test(tc, subscribe_answers_the_original_bytes);
    tcase_add_test(tc, missing_and_non_string_fields);
    tcase_add_test(tc, unsubscribe_is_204_whether_or_not_the_lease_existed);
    tcase_add_test(tc, identifiers_come_back_canonical_or_as_sent);
}

void http_case_headers(TCase *tc)
{
    tcase_add_test(tc, retry_after_on_429_with_ttl);
    tcase_add_test(tc, evicted_with_evict_oldest);
    tcase_add_test(tc, shadow_allows_and_says_so);
}

void http_case_renew(TCase *tc)
{
    tcase_add_test(tc, renew_with_ttl_gives_the_new_expiry);
    tcase_add_test(tc, renew_without_ttl_gives_null);
    tcase_add_test(tc, renew_of_a_gone_lease_is_404);
}
