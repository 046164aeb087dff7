/* SPDX-License-Identifier: MIT */
/* check_http.c: the HTTP API of `streamyctl serve`, tested against the real server with
 * libcurl, and docs/openapi.json checked against what the tests exercised. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sqlite3.h>

#include "http_util.h"
#include "test_util.h"

#define SUB "/video-streams/subscription"
#define RENEW "/video-streams/subscription/renew"
#define LIMIT_MSG "You've reached the maximum number of concurrent video streams"
#define BODY_429 "{\"status\":429,\"error\":\"" LIMIT_MSG "\"}"

static const char *const no_args[] = {NULL};

/* {"userId":USER,"videoStreamId":STREAM}, escaped by jansson. */
static char *sub_body(const char *user, const char *stream)
{
    json_t *j = json_pack("{s:s, s:s}", "userId", user, "videoStreamId", stream);
    char *text;

    ck_assert_ptr_nonnull(j);
    text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    return http_track(text);
}

static char *ok_body(const char *user, const char *stream)
{
    return http_printf(
        "{\"status\":200,\"data\":{\"userId\":\"%s\",\"videoStreamId\":\"%s\"}}", user,
        stream);
}

static http_response *subscribe(http_server *s, const char *user, const char *stream)
{
    return http_request(s, "POST", SUB, sub_body(user, stream), NULL);
}

static http_response *unsubscribe(http_server *s, const char *user, const char *stream)
{
    return http_request(s, "DELETE", SUB, sub_body(user, stream), NULL);
}

static void subscribe_ok(http_server *s, const char *user, const char *stream)
{
    http_response *r = subscribe(s, user, stream);
    http_expect_body(r, 200, ok_body(user, stream));
}

/* The user's path segment, percent-encoded. */
static char *user_path(const char *user, const char *suffix)
{
    char *esc = curl_easy_escape(NULL, user, 0), *p;

    ck_assert_ptr_nonnull(esc);
    p = http_printf("/users/%s%s", esc, suffix);
    curl_free(esc);
    return p;
}

/* GET /users/{user}/video-streams: the data object. */
static json_t *leases_of(http_server *s, const char *user)
{
    http_response *r =
        http_request(s, "GET", user_path(user, "/video-streams"), NULL, NULL);
    http_expect(r, 200);
    return json_object_get(http_json(r), "data");
}

/* The user's streams, oldest first, joined by commas. */
static char *streams_of(http_server *s, const char *user)
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

static void expect_header(const http_response *r, const char *name, const char *value)
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

static void expect_json_type(const http_response *r)
{
    expect_header(r, "Content-Type", "application/json");
}

static void expect_stop(http_server *s)
{
    int rc = http_server_stop(s);
    ck_assert_msg(rc == 0, "streamyctl serve exited %d after SIGTERM; log: %s", rc,
                  http_server_log(s));
}

static long long count_leases(const http_server *s)
{
    return http_db_int(s->db, "SELECT count(*) FROM leases");
}

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

/* --- 5. health, and a store that does not answer ---------------------------------- */

START_TEST(health_ok)
{
    http_server s;
    http_response *r;

    http_server_start(&s, no_args);
    r = http_request(&s, "GET", "/health", NULL, NULL);
    http_expect_body(
        r, 200, "{\"status\":200,\"data\":{\"status\":\"ok\",\"store\":\"sqlite\"}}");
    expect_json_type(r);
    /* HEAD: the same status and headers, no body. */
    r = http_request(&s, "HEAD", "/health", NULL, NULL);
    http_expect_body(r, 200, "");
    expect_json_type(r);
    expect_stop(&s);
}
END_TEST

START_TEST(store_not_answering_is_503_and_nothing_is_recorded)
{
    static const char *const args[] = {"--busy-timeout", "200ms", NULL};
    static const char *const busy =
        "{\"status\":503,\"error\":\"store busy, retry later\"}";
    static const char *const health_down =
        "{\"status\":503,\"error\":\"store unavailable\",\"store\":\"sqlite\"}";
    http_server s;
    http_store_lock lock;
    http_response *r;
    const char *retry;

    http_server_start(&s, args);
    subscribe_ok(&s, "u", "keep");
    http_expect(http_request(&s, "PUT", "/users/u/limit", "{\"limit\":5}", NULL), 200);

    http_store_hold(&lock, s.db);
    r = http_request(&s, "GET", "/health", NULL, NULL);
    http_expect_body(r, 503, health_down);
    expect_json_type(r);
    retry = http_header(r, "Retry-After");
    ck_assert_msg(retry != NULL && atoi(retry) >= 1, "health 503: Retry-After %s",
                  retry ? retry : "(absent)");
    r = subscribe(&s, "u", "new");
    http_expect_body(r, 503, busy);
    expect_json_type(r);
    ck_assert_ptr_nonnull(http_header(r, "Retry-After"));
    http_expect_body(unsubscribe(&s, "u", "keep"), 503, busy);
    http_expect_body(http_request(&s, "POST", RENEW, sub_body("u", "keep"), NULL), 503,
                     busy);
    http_expect_body(http_request(&s, "GET", "/users/u/video-streams", NULL, NULL), 503,
                     busy);
    http_expect_body(http_request(&s, "GET", "/users/u/limit", NULL, NULL), 503, busy);
    http_expect_body(http_request(&s, "PUT", "/users/u/limit", "{\"limit\":1}", NULL),
                     503, busy);
    http_expect_body(http_request(&s, "DELETE", "/users/u/limit", NULL, NULL), 503, busy);
    http_store_release(&lock);

    /* Back without a restart; none of the refused requests left a trace. */
    http_expect_body(
        http_request(&s, "GET", "/health", NULL, NULL), 200,
        "{\"status\":200,\"data\":{\"status\":\"ok\",\"store\":\"sqlite\"}}");
    ck_assert_str_eq(streams_of(&s, "u"), "keep");
    ck_assert_int_eq(http_db_int(s.db, "SELECT count(*) FROM leases"), 1);
    ck_assert_int_eq(http_db_int(s.db, "SELECT max FROM limits WHERE user = 'u'"), 5);
    r = subscribe(&s, "u", "new");
    http_expect_body(r, 200, ok_body("u", "new"));
    expect_header(r, "X-Streamy-Limit", "5");
    expect_header(r, "X-Streamy-Active", "2");
    r = http_request(&s, "GET", "/metrics", NULL, NULL);
    http_expect(r, 200);
    ck_assert_msg(http_metric(r->body, "streamy_store_errors_total{kind=\"busy\"}") >= 7,
                  "%s", r->body);
    expect_stop(&s);
}
END_TEST

/* --- 6. metrics ------------------------------------------------------------------- */

/* Poll /metrics until every series has its value (answers are counted when complete). */
static char *metrics_when(http_server *s, const char *const *series, const double *values,
                          size_t n)
{
    int64_t deadline = http_mono_ms() + http_scaled_ms(10000);
    http_response *r;
    size_t i;

    for (;;) {
        r = http_request(s, "GET", "/metrics", NULL, NULL);
        http_expect(r, 200);
        for (i = 0; i < n; i++)
            if (http_metric(r->body, series[i]) != values[i])
                break;
        if (i == n)
            return r->body;
        if (http_mono_ms() > deadline)
            ck_abort_msg("/metrics: %s is %g, expected %g; all: %s", series[i],
                         http_metric(r->body, series[i]), values[i], r->body);
        http_sleep_ms(20);
    }
}

START_TEST(metrics_count_what_was_done)
{
    static const char *const series[] = {
        "streamy_http_requests_total{route=\"subscribe\",status=\"200\"}",
        "streamy_http_requests_total{route=\"subscribe\",status=\"429\"}",
        "streamy_http_requests_total{route=\"subscribe\",status=\"400\"}",
        "streamy_http_requests_total{route=\"unsubscribe\",status=\"204\"}",
        "streamy_http_requests_total{route=\"renew\",status=\"404\"}",
        "streamy_http_requests_total{route=\"leases\",status=\"200\"}",
        "streamy_http_requests_total{route=\"other\",status=\"404\"}",
        "streamy_http_requests_total{route=\"other\",status=\"405\"}",
        "streamy_decisions_total{outcome=\"allowed\"}",
        "streamy_decisions_total{outcome=\"refused\"}",
        "streamy_decisions_total{outcome=\"released\"}",
    };
    /* Two 204s, one lease released: the other was never there. */
    static const double values[] = {5, 1, 1, 2, 1, 1, 1, 1, 5, 1, 1};
    http_server s;
    http_response *r;
    char *text, *line, *save = NULL;
    int samples = 0;

    http_server_start(&s, no_args);
    subscribe_ok(&s, "a", "s1");
    subscribe_ok(&s, "a", "s2");
    subscribe_ok(&s, "a", "s3");
    http_expect(subscribe(&s, "a", "s4"), 429);
    subscribe_ok(&s, "b", "s1");
    subscribe_ok(&s, "b", "s2");
    http_expect(http_request(&s, "POST", SUB, "{}", NULL), 400);
    http_expect(unsubscribe(&s, "a", "s1"), 204);
    http_expect(unsubscribe(&s, "a", "none"), 204);
    http_expect(http_request(&s, "POST", RENEW, sub_body("a", "s1"), NULL), 404);
    http_expect(http_request(&s, "GET", "/users/a/video-streams", NULL, NULL), 200);
    http_expect(http_request(&s, "GET", "/nowhere", NULL, NULL), 404);
    http_expect(http_request(&s, "PUT", "/health", NULL, NULL), 405);

    text = metrics_when(&s, series, values, sizeof(values) / sizeof(values[0]));
    r = http_request(&s, "GET", "/metrics", NULL, NULL);
    ck_assert_msg(strncmp(http_header(r, "Content-Type"), "text/plain", 10) == 0, "%s",
                  http_header(r, "Content-Type"));
    ck_assert_msg(http_metric(r->body, "streamy_http_requests_total{route=\"metrics\","
                                       "status=\"200\"}") >= 1,
                  "%s", r->body);
    ck_assert_ptr_nonnull(strstr(text, "# TYPE streamy_http_requests_total counter\n"));
    ck_assert_ptr_nonnull(strstr(text, "# TYPE streamy_decisions_total counter\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "# TYPE streamy_http_request_duration_seconds histogram\n"));
    ck_assert_msg(http_metric(text, "streamy_http_request_duration_seconds_count") >= 13,
                  "%s", text);
    ck_assert_msg(http_metric(text, "streamy_http_connections") >= 1, "%s", text);
    ck_assert_msg(http_metric(text, "streamy_store_errors_total{kind=\"busy\"}") == 0,
                  "%s", text);
    /* The text format: comments, or NAME{LABELS} VALUE. */
    text = http_strdup(text);
    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char name[128], rest[256];
        double v;
        if (line[0] == '#') {
            ck_assert_msg(strncmp(line, "# HELP ", 7) == 0 ||
                              strncmp(line, "# TYPE ", 7) == 0,
                          "%s", line);
            continue;
        }
        ck_assert_msg(sscanf(line, "%127[a-z_]%255s", name, rest) >= 1, "bad line: %s",
                      line);
        ck_assert_msg(sscanf(strrchr(line, ' ') + 1, "%lf", &v) == 1, "bad value: %s",
                      line);
        ck_assert_msg(strncmp(name, "streamy_", 8) == 0, "%s", line);
        samples++;
    }
    ck_assert_int_ge(samples, 20);
    r = http_request(&s, "HEAD", "/metrics", NULL, NULL);
    http_expect_body(r, 200, "");
    expect_stop(&s);
}
END_TEST

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

START_TEST(unknown_fields_ignored_content_type_not_required)
{
    static const char *const none[] = {"Content-Type:", NULL};
    static const char *const text[] = {"Content-Type: text/plain", NULL};
    static const char *const form[] = {"Content-Type: application/x-www-form-urlencoded",
                                       NULL};
    http_server s;

    http_server_start(&s, max_body_64);
    http_expect_body(
        http_request(
            &s, "POST", SUB,
            "{\"userId\":\"u\",\"x\":{\"y\":[1]},\"videoStreamId\":\"s1\",\"n\":1}",
            NULL),
        200, ok_body("u", "s1"));
    http_expect_body(http_request(&s, "POST", SUB, sub_body("u", "s2"), none), 200,
                     ok_body("u", "s2"));
    http_expect_body(http_request(&s, "POST", SUB, sub_body("u", "s3"), text), 200,
                     ok_body("u", "s3"));
    http_expect_body(http_request(&s, "DELETE", SUB, sub_body("u", "s3"), form), 204, "");
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
                          "POST " SUB " with field %zu = %s: not refused as malformed JSON: %s",
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

/* --- 9. slow and half-open clients ------------------------------------------------ */

START_TEST(slow_client_is_closed)
{
    static const char *const args[] = {"--conn-timeout", "1s", NULL};
    static const char *const partial[] = {
        /* half a body */
        "POST " SUB " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        "Content-Length: 60\r\n\r\n{\"userId\":\"u\",",
        /* half the headers */
        "GET /health HTTP/1.1\r\nHost: t\r\n",
        /* half a request line */
        "GET /hea",
    };
    http_server s;

    http_server_start(&s, args);
    for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++) {
        int fd = http_raw_connect(&s), closed;
        int64_t t0 = http_mono_ms(), waited;
        char got[512] = "";

        ck_assert_int_ge(fd, 0);
        http_raw_send(fd, partial[i]);
        closed = http_raw_wait_close(fd, http_scaled_ms(15000), got, sizeof(got));
        waited = http_mono_ms() - t0;
        close(fd);
        ck_assert_msg(closed != 0, "a stalled client (%s) was not closed within %d ms",
                      partial[i], http_scaled_ms(15000));
        ck_assert_msg(waited >= 500, "closed after %lld ms, before --conn-timeout 1s",
                      (long long)waited);
        ck_assert_msg(got[0] == '\0' || strncmp(got, "HTTP/1.1 4", 10) == 0,
                      "a stalled client got: %s", got);
    }
    /* Nothing was decided, and the server serves on. */
    ck_assert_int_eq(count_leases(&s), 0);
    subscribe_ok(&s, "u", "s1");
    expect_stop(&s);
}
END_TEST

#define RAW_HEALTH "GET /health HTTP/1.1\r\nHost: t\r\n\r\n"

/* One GET /health on a raw connection, answered 200. */
static void raw_health(int fd)
{
    char got[2048];
    int rc;

    http_raw_send(fd, RAW_HEALTH);
    rc = http_raw_response(fd, http_scaled_ms(10000), got, sizeof(got));
    ck_assert_msg(rc == 1, "GET /health on a raw connection: %s (%s)",
                  rc == 0 ? "no answer" : "closed", got);
    ck_assert_msg(strncmp(got, "HTTP/1.1 200 ", 13) == 0, "%s", got);
}

START_TEST(connection_limit)
{
    /* One HTTP thread: the limit is exact whatever the threads do with it. */
    static const char *const args[] = {"--max-connections", "4", "--threads", "1", NULL};
    http_server s;
    int idle[4], fifth, outcome;
    char got[512] = "";

    http_server_start(&s, args);
    /* Four kept-alive connections, each answered once so the server holds them. */
    for (int i = 0; i < 4; i++) {
        idle[i] = http_raw_connect(&s);
        ck_assert_int_ge(idle[i], 0);
        raw_health(idle[i]);
    }
    fifth = http_raw_connect(&s);
    if (fifth >= 0) {
        /* Refused at once, closed, or told to come back: anything but a hang. */
        http_raw_send(fifth, RAW_HEALTH);
        outcome = http_raw_wait_close(fifth, http_scaled_ms(5000), got, sizeof(got));
        close(fifth);
        ck_assert_msg(
            outcome != 0 || strncmp(got, "HTTP/1.1 503", 12) == 0,
            "with --max-connections 4 and four idle connections open, a fifth "
            "connection was neither refused nor closed within %d ms (got \"%s\")",
            http_scaled_ms(5000), got);
        ck_assert_msg(strncmp(got, "HTTP/1.1 200", 12) != 0,
                      "a fifth connection was served beyond --max-connections 4");
    }
    for (int i = 0; i < 4; i++)
        close(idle[i]);
    /* Room again, once the server has seen them go: until then a new connection may
     * still be turned away. */
    for (int64_t deadline = http_mono_ms() + http_scaled_ms(10000);;) {
        http_response *r = http_request(&s, "GET", "/health", NULL, NULL);
        if (r->status == 200)
            break;
        ck_assert_msg(r->status == 0 && http_mono_ms() < deadline,
                      "GET /health after the idle connections closed: %ld %s%s",
                      r->status, r->body, r->error);
        http_sleep_ms(20);
    }
    subscribe_ok(&s, "u", "s1");
    expect_stop(&s);
}
END_TEST

/* --max-connections bounds the server, not each HTTP thread: as many connections as
 * it allows are all served, whichever thread the kernel hands them to. */
START_TEST(connection_limit_is_for_the_whole_server)
{
    static const char *const args[] = {"--max-connections", "2", "--threads", "2", NULL};
    http_server s;
    int served = 0;

    http_server_start(&s, args);
    /* Each round lands two connections on the threads at random: ten rounds miss a
     * limit split per thread once in a thousand runs. */
    for (int round = 0; round < 10; round++) {
        int fd[2], turned_away = 0;
        for (int i = 0; i < 2; i++) {
            char got[2048];
            int rc;
            fd[i] = http_raw_connect(&s);
            if (fd[i] < 0) {
                turned_away = 1;
                continue;
            }
            http_raw_send(fd[i], RAW_HEALTH);
            rc = http_raw_response(fd[i], http_scaled_ms(5000), got, sizeof(got));
            ck_assert_msg(
                rc != 0,
                "--max-connections 2, --threads 2, round %d: connection %d of 2 "
                "got no answer within %d ms while the server held %d: the limit "
                "acts per thread, not for the server",
                round, i + 1, http_scaled_ms(5000), i);
            /* Closed: the server had not yet seen the last round's connections go. */
            turned_away |= rc < 0 || strncmp(got, "HTTP/1.1 200 ", 13) != 0;
        }
        for (int i = 0; i < 2; i++)
            if (fd[i] >= 0)
                close(fd[i]);
        served += !turned_away;
        if (turned_away)
            http_sleep_ms(20);
    }
    ck_assert_msg(served > 0, "no round had both connections served");
    expect_stop(&s);
}
END_TEST

/* --- 10. graceful shutdown with requests in flight -------------------------------- */

#define IN_FLIGHT 50

typedef struct flight {
    long status[IN_FLIGHT];
    char error[IN_FLIGHT][256];
    int answered;
} flight;

static void on_flight_done(int slot, http_response *r, void *payload)
{
    flight *f = payload;

    f->status[slot] = r->status;
    snprintf(f->error[slot], sizeof(f->error[slot]), "%.100s%.100s", r->body, r->error);
    f->answered++;
}

/* Drive `m` until every one of its `n` requests went out whole. */
static void wait_sent(http_multi *m, int n)
{
    int64_t deadline = http_mono_ms() + http_scaled_ms(20000);

    while (http_multi_sent(m) < n) {
        ck_assert_msg(http_mono_ms() < deadline, "only %d of %d requests went out",
                      http_multi_sent(m), n);
        http_multi_run(m, 20);
    }
}

/* Poll until the listening socket is closed: the server drains. */
static void wait_listener_closed(http_server *s)
{
    int64_t deadline = http_mono_ms() + http_scaled_ms(15000);

    for (;;) {
        int fd = http_raw_connect(s);
        if (fd < 0)
            return;
        close(fd);
        ck_assert_msg(http_mono_ms() < deadline,
                      "the server still accepts after SIGTERM");
        http_sleep_ms(10);
    }
}

/* Requests in flight when SIGTERM comes are answered, and every 200 is in the store.
 * The store is held so that decisions wait: one request first, until the server
 * waits for the store with it, then 49 more, until the server has taken their
 * connections; then SIGTERM, and the store is let go. */
START_TEST(sigterm_finishes_requests_in_flight)
{
    static const char *const args[] = {"--busy-timeout", "60s", "--grace", "60s",
                                       "--threads",      "1",   NULL};
    http_server s;
    http_store_lock lock;
    http_multi *m;
    flight f;
    int ok = 0, rc;
    int64_t deadline;

    memset(&f, 0, sizeof(f));
    http_server_start(&s, args);
    subscribe_ok(&s, "base", "s");
    http_store_hold(&lock, s.db);
    m = http_multi_new(&s, IN_FLIGHT, on_flight_done, &f);
    http_multi_start(m, 0, "POST", SUB, sub_body("user-00", "s"), NULL);
    wait_sent(m, 1);
    deadline = http_mono_ms() + http_scaled_ms(10000);
    while (!http_server_waits_for_store(&s)) {
        ck_assert_msg(http_mono_ms() < deadline,
                      "the server does not wait for the locked store with user-00's "
                      "subscribe");
        http_multi_run(m, 1);
    }
    for (int i = 1; i < IN_FLIGHT; i++)
        http_multi_start(m, i, "POST", SUB, sub_body(http_printf("user-%02d", i), "s"),
                         NULL);
    wait_sent(m, IN_FLIGHT);
    /* The server has taken every connection; no request can be answered yet. */
    for (deadline = http_mono_ms() + http_scaled_ms(5000);;) {
        int queued = http_server_accept_queue(&s);
        if (queued == 0)
            break;
        ck_assert_msg(
            http_mono_ms() < deadline,
            "%d connections, their requests sent, still wait in the server's "
            "accept queue after %d ms while a decision waits for the store: the "
            "server takes no connection then, and at SIGTERM they are reset "
            "unanswered",
            queued, http_scaled_ms(5000));
        http_multi_run(m, 20);
    }
    ck_assert_int_eq(f.answered, 0);

    http_server_signal(&s, SIGTERM);
    http_server_wait_signal_taken(&s, SIGTERM);
    http_store_release(&lock);
    http_multi_run(m, http_scaled_ms(90000));
    ck_assert_int_eq(http_multi_running(m), 0);
    http_multi_free(m);

    rc = http_server_wait(&s);
    ck_assert_msg(rc == 0, "exit %d after SIGTERM; log: %s", rc, http_server_log(&s));
    /* Every request answered; every 200 recorded, nothing else. */
    for (int i = 0; i < IN_FLIGHT; i++) {
        long long n = http_db_int(
            s.db, http_printf("SELECT count(*) FROM leases WHERE user = 'user-%02d'", i));
        ck_assert_msg(f.status[i] != 0,
                      "POST " SUB " for user-%02d, sent before SIGTERM, got no answer %s",
                      i, f.error[i]);
        ck_assert_msg(f.status[i] == 200 || f.status[i] == 503,
                      "request %d in flight at SIGTERM: %ld %s", i, f.status[i],
                      f.error[i]);
        ck_assert_msg(n == (f.status[i] == 200),
                      "user-%02d: answered %ld, %lld in the store", i, f.status[i], n);
        ok += f.status[i] == 200;
    }
    /* The decision that was waiting for the store at SIGTERM was made. */
    ck_assert_msg(f.status[0] == 200, "user-00, deciding at SIGTERM: %ld %s", f.status[0],
                  f.error[0]);
    ck_assert_int_eq(count_leases(&s), ok + 1);
    ck_assert_ptr_nonnull(strstr(http_server_log(&s), "\"msg\":\"stopped\""));
}
END_TEST

/* While the server drains, a request in flight (its body half sent) is finished, and
 * a new request on a kept-alive connection is closed or gets a 503 it can act on. */
START_TEST(draining_finishes_an_upload_and_refuses_new_requests)
{
    static const char *const args[] = {"--grace", "60s", "--threads", "1", NULL};
    static const char *const rest = "\"u\",\"videoStreamId\":\"in-flight\"}";
    http_server s;
    http_response *r;
    char got[2048], *head;
    int fd, rc;

    http_server_start(&s, args);
    subscribe_ok(&s, "base", "s"); /* opens the kept-alive connection */
    /* A request whose body is on its way. */
    fd = http_raw_connect(&s);
    ck_assert_int_ge(fd, 0);
    head = http_printf("POST " SUB
                       " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                       "Content-Length: %zu\r\n\r\n{\"userId\":",
                       strlen("{\"userId\":") + strlen(rest));
    http_raw_send(fd, head);
    /* With one HTTP thread, two answers on the other connection mean its headers
     * have been read: the request is in flight. */
    http_expect(http_request(&s, "GET", "/health", NULL, NULL), 200);
    http_expect(http_request(&s, "GET", "/health", NULL, NULL), 200);

    http_server_signal(&s, SIGTERM);
    http_server_wait_signal_taken(&s, SIGTERM);
    wait_listener_closed(&s);
    /* A new request: closing the idle connection is fine, and so is an answer, if it
     * is a 503 a client can act on. */
    r = http_request(&s, "GET", "/users/u/video-streams", NULL, NULL);
    if (r->status != 0) {
        ck_assert_msg(r->status == 503, "a request while draining: %ld %s", r->status,
                      r->body);
        expect_json_type(r);
        ck_assert_msg(
            http_header(r, "Retry-After") != NULL,
            "GET /users/u/video-streams while the server drains: 503 %s without "
            "Retry-After",
            r->body);
    }

    /* The request in flight is finished, and decided. */
    http_raw_send(fd, rest);
    rc = http_raw_response(fd, http_scaled_ms(15000), got, sizeof(got));
    close(fd);
    ck_assert_msg(rc == 1, "the request in flight at SIGTERM: %s (%s)",
                  rc == 0 ? "no answer" : "closed", got);
    ck_assert_msg(strncmp(got, "HTTP/1.1 200 ", 13) == 0, "%s", got);
    ck_assert_ptr_nonnull(strstr(got, ok_body("u", "in-flight")));
    ck_assert_int_eq(http_server_wait(&s), 0);
    ck_assert_int_eq(http_db_int(s.db, "SELECT count(*) FROM leases WHERE user = 'u'"),
                     1);
}
END_TEST

/* --- logs and addresses ----------------------------------------------------------- */

/* Lines mentioning a path in a log file; 0 if the file is not there yet. */
static int log_lines_with(const char *file, const char *needle)
{
    char line[4096];
    int n = 0;
    FILE *fp = fopen(file, "r");

    if (fp == NULL)
        return 0;
    while (fgets(line, sizeof(line), fp) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(fp);
    return n;
}

/* Wait (bounded) until `file` holds a line with `needle`: the log is written in
 * batches, a few times a second. */
static void wait_log_line(const char *file, const char *needle)
{
    int64_t deadline = http_mono_ms() + http_scaled_ms(10000);

    while (log_lines_with(file, needle) == 0) {
        ck_assert_msg(http_mono_ms() < deadline, "no log line with %s in %s", needle, file);
        http_sleep_ms(20);
    }
}

/* SIGHUP reopens --log-file, so a rotated log goes on in a new file. */
START_TEST(sighup_reopens_the_log_file)
{
    char *log = http_path("access.log"), *rotated = http_path("access.log.1");
    const char *args[] = {"--log-file", log, NULL};
    http_server s;

    http_server_start(&s, args);
    http_expect(http_request(&s, "GET", "/users/before/video-streams", NULL, NULL), 200);
    wait_log_line(log, "/users/before/video-streams");
    ck_assert_int_eq(rename(log, rotated), 0);
    http_server_signal(&s, SIGHUP);
    http_server_wait_signal_taken(&s, SIGHUP);
    http_expect(http_request(&s, "GET", "/users/after/video-streams", NULL, NULL), 200);
    wait_log_line(log, "/users/after/video-streams");
    ck_assert_int_eq(log_lines_with(log, "/users/before/video-streams"), 0);
    ck_assert_int_eq(log_lines_with(rotated, "/users/after/video-streams"), 0);
    ck_assert_int_eq(log_lines_with(rotated, "/users/before/video-streams"), 1);
    expect_stop(&s);
}
END_TEST

/* A new log file is private, and a token file others can read is warned about
 * (and still used), without the token itself ever reaching the log. */
START_TEST(log_file_is_private_and_shared_tokens_are_flagged)
{
    char *log = http_path("private.log"), *tok = http_path("token");
    const char *args[] = {"--log-file", log, "--auth-token-file", tok, NULL};
    const char *auth[] = {"Authorization: Bearer s3cr3t-t0ken", NULL};
    struct stat st;
    FILE *fp = fopen(tok, "w");
    http_server s;

    ck_assert_ptr_nonnull(fp);
    fputs("s3cr3t-t0ken\n", fp);
    fclose(fp);
    ck_assert_int_eq(chmod(tok, 0644), 0);
    http_server_start(&s, args);
    http_expect(http_request(&s, "GET", "/users/u/video-streams", NULL, auth), 200);
    wait_log_line(log, "/users/u/video-streams");
    ck_assert_int_eq(stat(log, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(log_lines_with(log, "readable by group or others"), 1);
    ck_assert_int_eq(log_lines_with(log, "s3cr3t-t0ken"), 0);
    expect_stop(&s);
}
END_TEST

/* A path with a newline or invalid UTF-8 can neither split nor forge a log line,
 * in either format, and its request is still logged. */
START_TEST(log_lines_cannot_be_forged)
{
    static const char *const path = "/users/a%0Aforged%20line%FF/video-streams";
    char *text_log = http_path("text.log"), *json_log = http_path("json.log");
    const char *text_args[] = {"--log-format", "text", "--log-file", text_log, NULL};
    const char *json_args[] = {"--log-file", json_log, NULL};
    http_server s;

    http_server_start(&s, text_args);
    http_request(&s, "GET", path, NULL, NULL);
    wait_log_line(text_log, "\\x0aforged line\\xff");
    ck_assert_int_eq(log_lines_with(text_log, "\nforged"), 0);
    expect_stop(&s);
    {
        char line[4096];
        FILE *fp = fopen(text_log, "r");
        ck_assert_ptr_nonnull(fp);
        while (fgets(line, sizeof(line), fp) != NULL)
            ck_assert_msg(strncmp(line, "forged", 6) != 0, "a forged line: %s", line);
        fclose(fp);
    }
    http_server_start(&s, json_args);
    http_request(&s, "GET", path, NULL, NULL);
    wait_log_line(json_log, "forged line");
    {
        char line[4096];
        int requests = 0;
        FILE *fp = fopen(json_log, "r");
        ck_assert_ptr_nonnull(fp);
        while (fgets(line, sizeof(line), fp) != NULL) {
            json_error_t err;
            json_t *j = json_loads(line, 0, &err);
            ck_assert_msg(j != NULL, "not a JSON line: %s", line);
            requests += json_object_get(j, "method") != NULL;
            json_decref(j);
        }
        fclose(fp);
        ck_assert_int_eq(requests, 1);
    }
    expect_stop(&s);
}
END_TEST

/* --listen [::1]:0 serves over IPv6 loopback. */
START_TEST(ipv6_listen)
{
    static const char *const args[] = {"--listen", "[::1]:0", NULL};
    http_server s;

    http_server_start(&s, args);
    ck_assert_str_eq(s.host, "::1");
    subscribe_ok(&s, "v6", "s1");
    http_expect(http_request(&s, "GET", "/health", NULL, NULL), 200);
    expect_stop(&s);
}
END_TEST

/* --- 11. many parallel clients, few users ----------------------------------------- */

#define CLIENTS 64
#define OPS 40
#define USERS 3
#define HELD_MAX 64
#define MIN_POLLS 200

typedef struct monitor {
    volatile long polls, violations, stop;
    char detail[256];
} monitor;

/* The monitor, a child process: the database, read as fast as it goes. */
static void monitor_main(monitor *mon, const char *db)
{
    sqlite3 *conn = NULL;
    sqlite3_stmt *st = NULL;
    struct timespec pause = {0, 500 * 1000};

    if (sqlite3_open_v2(db, &conn, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(conn,
                           "SELECT user, count(*) FROM leases GROUP BY user "
                           "HAVING count(*) > 3",
                           -1, &st, NULL) != SQLITE_OK) {
        snprintf(mon->detail, sizeof(mon->detail), "monitor: %s", sqlite3_errmsg(conn));
        mon->violations = -1;
        _exit(1);
    }
    sqlite3_busy_timeout(conn, 10000);
    while (!mon->stop) {
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            mon->violations++;
            snprintf(mon->detail, sizeof(mon->detail), "user %s held %d leases",
                     (const char *)sqlite3_column_text(st, 0), sqlite3_column_int(st, 1));
        }
        if (rc != SQLITE_DONE) {
            snprintf(mon->detail, sizeof(mon->detail), "monitor: %s",
                     sqlite3_errmsg(conn));
            mon->violations++;
        }
        sqlite3_reset(st);
        __atomic_add_fetch(&mon->polls, 1, __ATOMIC_SEQ_CST);
        nanosleep(&pause, NULL);
    }
    sqlite3_finalize(st);
    sqlite3_close(conn);
    _exit(0);
}

typedef struct client {
    char held[HELD_MAX][2][32]; /* user, stream */
    int nheld, ops, next_stream;
    char user[32], stream[32];
    int subscribing;
} client;

typedef struct crowd {
    http_multi *m;
    client c[CLIENTS];
    monitor *mon;
    long polls_at_start;
    int64_t deadline;
    unsigned seed;
    long ok, refused, released;
    char bad[512]; /* room for method, ids, status and 200 bytes of answer */
} crowd;

static unsigned next_rand(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) & 0x7fff;
}

static void crowd_step(crowd *cr, int slot)
{
    client *c = &cr->c[slot];
    unsigned r = next_rand(&cr->seed);

    if (c->nheld > 0 && (r % 5 < 2 || c->nheld == HELD_MAX)) {
        int k = (int)(next_rand(&cr->seed) % (unsigned)c->nheld);
        memcpy(c->user, c->held[k][0], sizeof(c->user));
        memcpy(c->stream, c->held[k][1], sizeof(c->stream));
        c->subscribing = 0;
        http_multi_start(cr->m, slot, "DELETE", SUB, sub_body(c->user, c->stream), NULL);
    } else {
        snprintf(c->user, sizeof(c->user), "user-%u", r % USERS);
        snprintf(c->stream, sizeof(c->stream), "c%02d-%03d", slot, c->next_stream++);
        c->subscribing = 1;
        http_multi_start(cr->m, slot, "POST", SUB, sub_body(c->user, c->stream), NULL);
    }
}

static void on_crowd_done(int slot, http_response *r, void *payload)
{
    crowd *cr = payload;
    client *c = &cr->c[slot];
    const char *active = http_header(r, "X-Streamy-Active");

    if (c->subscribing && r->status == 200) {
        memcpy(c->held[c->nheld][0], c->user, sizeof(c->user));
        memcpy(c->held[c->nheld][1], c->stream, sizeof(c->stream));
        c->nheld++;
        cr->ok++;
    } else if (c->subscribing && r->status == 429) {
        const char *limit = http_header(r, "X-Streamy-Limit");
        if ((active == NULL || strcmp(active, "3") != 0 || limit == NULL ||
             strcmp(limit, "3") != 0) &&
            cr->bad[0] == '\0')
            snprintf(cr->bad, sizeof(cr->bad),
                     "429 with X-Streamy-Active %s, X-Streamy-Limit %s",
                     active ? active : "(absent)", limit ? limit : "(absent)");
        cr->refused++;
    } else if (!c->subscribing && r->status == 204) {
        for (int k = 0; k < c->nheld; k++) {
            if (strcmp(c->held[k][1], c->stream) == 0) {
                memcpy(c->held[k], c->held[c->nheld - 1], sizeof(c->held[k]));
                c->nheld--;
                break;
            }
        }
        cr->released++;
    } else if (cr->bad[0] == '\0') {
        snprintf(cr->bad, sizeof(cr->bad), "%s %s %s: %ld %.100s%.100s", r->method,
                 c->user, c->stream, r->status, r->body, r->error);
    }
    if (c->subscribing && active != NULL && atoi(active) > 3 && cr->bad[0] == '\0')
        snprintf(cr->bad, sizeof(cr->bad), "X-Streamy-Active: %s with limit 3", active);
    c->ops++;
    /* Go on for OPS requests, and until the monitor has looked many times. */
    if (cr->bad[0] == '\0' && http_mono_ms() < cr->deadline &&
        (c->ops < OPS || cr->mon->polls - cr->polls_at_start < MIN_POLLS))
        crowd_step(cr, slot);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

START_TEST(limit_holds_under_parallel_clients)
{
    http_server s;
    crowd *cr = http_track(calloc(1, sizeof(crowd)));
    monitor *mon;
    pid_t pid;
    int status;
    long polls;
    size_t n = 0, nstore = 0;
    char **expected, **actual;
    sqlite3 *conn;
    sqlite3_stmt *st;

    http_server_start(&s, no_args);
    subscribe_ok(&s, "user-0", "warm-up");
    http_expect(unsubscribe(&s, "user-0", "warm-up"), 204);
    mon = mmap(NULL, sizeof(*mon), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
               0);
    ck_assert_ptr_ne(mon, MAP_FAILED);
    memset(mon, 0, sizeof(*mon));
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        monitor_main(mon, s.db);
    }
    while (mon->polls == 0 && mon->violations == 0)
        http_sleep_ms(1);

    cr->mon = mon;
    cr->seed = 20261128u;
    cr->polls_at_start = mon->polls;
    cr->deadline = http_mono_ms() + http_scaled_ms(60000);
    cr->m = http_multi_new(&s, CLIENTS, on_crowd_done, cr);
    for (int i = 0; i < CLIENTS; i++)
        crowd_step(cr, i);
    http_multi_run(cr->m, http_scaled_ms(90000));
    ck_assert_int_eq(http_multi_running(cr->m), 0);
    http_multi_free(cr->m);
    polls = mon->polls - cr->polls_at_start;
    mon->stop = 1;
    while (waitpid(pid, &status, 0) < 0)
        ck_assert_int_eq(errno, EINTR);

    ck_assert_msg(cr->bad[0] == '\0', "%s", cr->bad);
    ck_assert_msg(mon->violations == 0, "the monitor saw the limit broken %ld times: %s",
                  mon->violations, mon->detail);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "monitor: %s",
                  mon->detail);
    ck_assert_msg(polls >= MIN_POLLS, "the monitor polled only %ld times during the run",
                  polls);
    ck_assert_msg(cr->ok > 0 && cr->refused > 0 && cr->released > 0,
                  "not a contended run: %ld allowed, %ld refused, %ld released", cr->ok,
                  cr->refused, cr->released);

    /* The store holds exactly what the clients were told they hold. */
    expected = http_track(calloc((size_t)CLIENTS * HELD_MAX + 1, sizeof(char *)));
    for (int i = 0; i < CLIENTS; i++)
        for (int k = 0; k < cr->c[i].nheld; k++)
            expected[n++] =
                http_printf("%s|%s", cr->c[i].held[k][0], cr->c[i].held[k][1]);
    qsort(expected, n, sizeof(char *), cmp_str);
    actual = http_track(calloc((size_t)CLIENTS * HELD_MAX + 1, sizeof(char *)));
    ck_assert_int_eq(sqlite3_open_v2(s.db, &conn, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(conn, "SELECT user || '|' || stream FROM leases",
                                        -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        ck_assert_uint_lt(nstore, (size_t)CLIENTS * HELD_MAX);
        actual[nstore++] = http_strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(conn);
    qsort(actual, nstore, sizeof(char *), cmp_str);
    ck_assert_msg(n <= USERS * 3, "the clients hold %zu streams of %d users", n, USERS);
    ck_assert_msg(n == nstore, "the clients hold %zu streams, the store %zu", n, nstore);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(actual[i], expected[i]);
    munmap(mon, sizeof(*mon));
    expect_stop(&s);
}
END_TEST

/* --- 12. docs/openapi.json -------------------------------------------------------- */

static const char *const http_methods[] = {"get",     "put",  "post",  "delete",
                                           "options", "head", "patch", "trace"};

static int is_method(const char *key)
{
    for (size_t i = 0; i < sizeof(http_methods) / sizeof(http_methods[0]); i++)
        if (strcmp(key, http_methods[i]) == 0)
            return 1;
    return 0;
}

/* Every "$ref" in the document resolves; every example fits its schema. */
static void check_refs_and_examples(json_t *node, const char *where)
{
    const char *key;
    json_t *v;
    size_t i;
    char err[256];

    if (json_is_array(node)) {
        json_array_foreach(node, i, v)
        {
            check_refs_and_examples(v, where);
        }
        return;
    }
    if (!json_is_object(node))
        return;
    if (json_object_get(node, "$ref") != NULL)
        ck_assert_msg(http_spec_resolve(node) != NULL, "%s: $ref %s does not resolve",
                      where, json_string_value(json_object_get(node, "$ref")));
    if (json_object_get(node, "schema") != NULL &&
        json_object_get(node, "example") != NULL)
        ck_assert_msg(http_schema_check(json_object_get(node, "schema"),
                                        json_object_get(node, "example"), "example", err,
                                        sizeof(err)) == 0,
                      "%s: the example does not fit its schema: %s", where, err);
    json_object_foreach(node, key, v)
    {
        char sub[256];
        snprintf(sub, sizeof(sub), "%s/%s", where, key);
        check_refs_and_examples(v, sub);
    }
}

START_TEST(spec_is_openapi_3_in_json)
{
    json_t *paths = json_object_get(http_spec, "paths"), *item, *op, *scheme;
    const char *path, *method, *desc;
    int ops = 0;

    ck_assert_msg(http_spec != NULL, "docs/openapi.json did not load");
    ck_assert_msg(
        strncmp(json_string_value(json_object_get(http_spec, "openapi")), "3.0.", 4) == 0,
        "openapi: %s", json_string_value(json_object_get(http_spec, "openapi")));
    desc = json_string_value(
        json_object_get(json_object_get(http_spec, "info"), "description"));
    ck_assert_msg(desc != NULL && strstr(desc, "JSON subset of YAML") != NULL,
                  "info.description must say the file is JSON");
    scheme = json_object_get(
        json_object_get(json_object_get(http_spec, "components"), "securitySchemes"),
        "bearer");
    ck_assert_str_eq(json_string_value(json_object_get(scheme, "type")), "http");
    ck_assert_str_eq(json_string_value(json_object_get(scheme, "scheme")), "bearer");
    ck_assert_ptr_nonnull(json_object_get(
        json_array_get(json_object_get(http_spec, "security"), 0), "bearer"));
    check_refs_and_examples(http_spec, "#");

    json_object_foreach(paths, path, item)
    {
        int open = strcmp(path, "/health") == 0 || strcmp(path, "/metrics") == 0;
        ck_assert_msg(http_template_of(path) != NULL &&
                          strcmp(http_template_of(path), path) == 0,
                      "%s is not a route of the server", path);
        json_object_foreach(item, method, op)
        {
            json_t *security = json_object_get(op, "security"), *responses;
            if (!is_method(method))
                continue;
            ops++;
            responses = json_object_get(op, "responses");
            ck_assert_msg(json_object_size(responses) > 0, "%s %s: no responses", method,
                          path);
            ck_assert_msg(json_is_string(json_object_get(op, "operationId")),
                          "%s %s: no operationId", method, path);
            if (open) {
                ck_assert_msg(json_is_array(security) && json_array_size(security) == 0,
                              "%s %s must say security: []", method, path);
                ck_assert_msg(json_object_get(responses, "401") == NULL, "%s %s: 401",
                              method, path);
            } else {
                ck_assert_msg(security == NULL, "%s %s: the token applies to it", method,
                              path);
                ck_assert_msg(json_object_get(responses, "401") != NULL,
                              "%s %s: no 401 for a missing token", method, path);
            }
            if (json_object_get(op, "requestBody") != NULL)
                ck_assert_msg(json_object_get(responses, "413") != NULL,
                              "%s %s takes a body but has no 413", method, path);
        }
    }
    ck_assert_int_eq(ops, 9);
}
END_TEST

/* Every (operation, path, status) of the spec was exercised, and nothing else was. */
START_TEST(spec_matches_what_the_server_did)
{
    json_t *seen = json_object(), *paths = json_object_get(http_spec, "paths"), *item,
           *op, *resp, *responses;
    json_t *other = json_object_get(http_spec, "x-streamy-other-requests");
    json_t *unknown = json_object_get(json_object_get(other, "unknownPath"), "responses");
    json_t *wrong = json_object_get(json_object_get(other, "otherMethod"), "responses");
    char line[512], *missing = http_strdup(""), *extra = http_strdup("");
    const char *path, *method, *code, *key;
    FILE *fp;
    int lines = 0;

    ck_assert_msg(http_record_path != NULL, "usage: check_http STREAMYCTL SPEC RECORD");
    fp = fopen(http_record_path, "r");
    ck_assert_msg(fp != NULL, "%s: %s (run the whole HTTP suite: ctest -R http)",
                  http_record_path, strerror(errno));
    while (fgets(line, sizeof(line), fp) != NULL) {
        char m[16], p[256];
        long st;
        ck_assert_msg(sscanf(line, "%15s %255s %ld", m, p, &st) == 3, "record: %s", line);
        json_object_set_new(seen, http_printf("%s %s %ld", m, p, st), json_true());
        lines++;
    }
    fclose(fp);
    ck_assert_msg(lines > 0, "nothing recorded in %s", http_record_path);

    /* The spec's, exercised: every status of every operation, a wrong method on every
     * path, and every answer to a request the operations do not describe. */
    json_object_foreach(paths, path, item)
    {
        json_object_foreach(item, method, op)
        {
            if (!is_method(method))
                continue;
            responses = json_object_get(op, "responses");
            json_object_foreach(responses, code, resp)
            {
                if (json_object_get(seen, http_printf("%s %s %s", method, path, code)) ==
                    NULL)
                    missing = http_printf("%s\n  %s %s %s", missing, method, path, code);
            }
        }
        if (json_object_get(seen, http_printf("other %s 405", path)) == NULL)
            missing = http_printf("%s\n  a wrong method on %s: 405", missing, path);
    }
    json_object_foreach(unknown, code, resp)
    {
        if (json_object_get(seen, http_printf("any * %s", code)) == NULL)
            missing = http_printf("%s\n  an unknown path: %s", missing, code);
    }
    json_object_foreach(wrong, code, resp)
    {
        int found = 0;
        json_object_foreach(paths, path, item)
        {
            found |=
                json_object_get(seen, http_printf("other %s %s", path, code)) != NULL;
        }
        if (!found)
            missing = http_printf("%s\n  a wrong method: %s", missing, code);
    }

    /* What was exercised, in the spec. */
    json_object_foreach(seen, key, resp)
    {
        char m[16], p[256], c[8];
        ck_assert_int_eq(sscanf(key, "%15s %255s %7s", m, p, c), 3);
        if (strcmp(m, "any") == 0)
            responses = unknown;
        else if (strcmp(m, "other") == 0)
            responses = wrong;
        else
            responses = json_object_get(json_object_get(json_object_get(paths, p), m),
                                        "responses");
        if (json_object_get(responses, c) == NULL)
            extra = http_printf("%s\n  %s", extra, key);
    }
    json_decref(seen);
    ck_assert_msg(
        missing[0] == '\0' && extra[0] == '\0',
        "docs/openapi.json and the server differ.\nIn the spec, never exercised:%s\n"
        "Exercised, not in the spec:%s",
        missing[0] ? missing : " none", extra[0] ? extra : " none");
}
END_TEST

/* --- the suite -------------------------------------------------------------------- */

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc;
    int timeout = test_timeout_scale(100);

#define TCASE(name) tc = test_add_case(s, name, http_setup, http_teardown, timeout)

    TCASE("contract");
    tcase_add_test(tc, subscribe_answers_the_original_bytes);
    tcase_add_test(tc, missing_and_non_string_fields);
    tcase_add_test(tc, unsubscribe_is_204_whether_or_not_the_lease_existed);
    tcase_add_test(tc, identifiers_come_back_canonical_or_as_sent);

    TCASE("headers");
    tcase_add_test(tc, retry_after_on_429_with_ttl);
    tcase_add_test(tc, evicted_with_evict_oldest);
    tcase_add_test(tc, shadow_allows_and_says_so);

    TCASE("renew");
    tcase_add_test(tc, renew_with_ttl_gives_the_new_expiry);
    tcase_add_test(tc, renew_without_ttl_gives_null);
    tcase_add_test(tc, renew_of_a_gone_lease_is_404);

    TCASE("users");
    tcase_add_test(tc, leases_of_a_user);
    tcase_add_test(tc, limit_set_get_clear);
    tcase_add_test(tc, limit_zero_blocks);
    tcase_add_test(tc, limit_bad_values);
    tcase_add_test(tc, user_ids_in_the_path);

    TCASE("health");
    tcase_add_test(tc, health_ok);
    tcase_add_test(tc, store_not_answering_is_503_and_nothing_is_recorded);

    TCASE("metrics");
    tcase_add_test(tc, metrics_count_what_was_done);

    TCASE("bad_input");
    tcase_add_test(tc, malformed_and_non_object_bodies);
    tcase_add_test(tc, unknown_fields_ignored_content_type_not_required);
    tcase_add_test(tc, body_over_max_body_is_413);
    tcase_add_test(tc, chunked_body_over_max_body_is_413);
    tcase_add_test(tc, invalid_identifiers_name_the_field);
    tcase_add_test(tc, invalid_utf8_in_the_body_is_malformed_json);
    tcase_add_test(tc, unknown_path_404_wrong_method_405);

    TCASE("auth");
    tcase_add_test(tc, bearer_token);
    tcase_add_test(tc, listening_beyond_loopback_needs_a_token);

    TCASE("connections");
    tcase_add_test(tc, slow_client_is_closed);
    tcase_add_test(tc, connection_limit);
    tcase_add_test(tc, connection_limit_is_for_the_whole_server);

    TCASE("logs");
    tcase_add_test(tc, sighup_reopens_the_log_file);
    tcase_add_test(tc, log_file_is_private_and_shared_tokens_are_flagged);
    tcase_add_test(tc, log_lines_cannot_be_forged);
    tcase_add_test(tc, ipv6_listen);

    TCASE("shutdown");
    tcase_add_test(tc, sigterm_finishes_requests_in_flight);
    tcase_add_test(tc, draining_finishes_an_upload_and_refuses_new_requests);

    TCASE("concurrency");
    tcase_add_test(tc, limit_holds_under_parallel_clients);

    /* Run last (ctest DEPENDS): reads what every other case recorded. */
    TCASE("openapi");
    tcase_add_test(tc, spec_is_openapi_3_in_json);
    tcase_add_test(tc, spec_matches_what_the_server_did);
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
