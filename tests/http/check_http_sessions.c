/* SPDX-License-Identifier: MIT */
/* check_http_sessions.c: sessions over HTTP: lease ids (X-Streamy-Lease, leaseId),
 * device labels, the caller's maxStreams, the richer bodies of
 * Accept: application/vnd.streamy+json, and what a stale lease id changes (nothing). */
#include <ctype.h>
#include <string.h>

#include "check_http.h"

/* --- lease ids and the original bodies ------------------------------------------- */

START_TEST(lease_id_in_headers_original_bodies_unchanged)
{
    http_server s;
    http_response *r;
    char *id;
    json_t *lease;

    start_sessions(&s, no_args);
    r = http_request(&s, "POST", SUB,
                     body_with("u", "s1", "\"device\":\"Living-room TV\""), NULL);
    http_expect_body(r, 200, ok_body("u", "s1"));
    expect_json_type(r);
    expect_header(r, "Vary", "Accept");
    id = lease_of(r);
    /* A refresh keeps the id, and the device the lease was given. */
    r = subscribe(&s, "u", "s1");
    http_expect_body(r, 200, ok_body("u", "s1"));
    expect_header(r, "X-Streamy-Lease", id);
    r = http_request(&s, "POST", RENEW, sub_body("u", "s1"), NULL);
    http_expect_body(
        r, 200,
        "{\"status\":200,\"data\":{\"userId\":\"u\",\"videoStreamId\":\"s1\","
        "\"expiresAt\":null}}");
    expect_json_type(r);
    expect_header(r, "X-Streamy-Lease", id);
    /* A user's leases show ids and devices. */
    subscribe_ok(&s, "u", "s2");
    lease = json_array_get(json_object_get(leases_of(&s, "u"), "leases"), 0);
    ck_assert_str_eq(str_of(lease, "videoStreamId"), "s1");
    ck_assert_str_eq(str_of(lease, "leaseId"), id);
    ck_assert_str_eq(str_of(lease, "device"), "Living-room TV");
    lease = json_array_get(json_object_get(leases_of(&s, "u"), "leases"), 1);
    ck_assert(is_lease_id(str_of(lease, "leaseId")));
    ck_assert_str_ne(str_of(lease, "leaseId"), id);
    ck_assert(json_is_null(json_object_get(lease, "device")));
    /* DELETE says whether it removed something; its body stays empty. */
    r = unsubscribe(&s, "u", "s1");
    http_expect_body(r, 204, "");
    expect_header(r, "X-Streamy-Removed", "true");
    expect_header(r, "X-Streamy-Lease-Stale", NULL);
    expect_header(r, "Content-Type", NULL);
    r = unsubscribe(&s, "u", "s1");
    http_expect_body(r, 204, "");
    expect_header(r, "X-Streamy-Removed", "false");
    /* A new lease of the same stream gets a new id. */
    r = subscribe(&s, "u", "s1");
    http_expect_body(r, 200, ok_body("u", "s1"));
    ck_assert_str_ne(lease_of(r), id);
    ck_assert_str_eq(streams_of(&s, "u"), "s2,s1");
    expect_stop(&s);
}
END_TEST

/* Without the Accept header of the richer bodies, or with any other, every body of the
 * original stays byte for byte, with sessions in use. */
START_TEST(original_bodies_for_every_other_accept)
{
    static const char *const others[] = {
        NULL, /* libcurl's own: Accept: * / * */
        "Accept:",
        "Accept: */*",
        "Accept: application/json",
        "Accept: application/*",
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
        "image/webp,*/*;q=0.8",
        "Accept: application/vnd.streamy+json;q=0",
        "Accept: application/vnd.streamy+json; q=0.0",
        "Accept: application/json, application/vnd.streamy+json;q=0.5",
        "Accept: application/vnd.streamy+json;q=0.4, application/*;q=0.5",
        "Accept: application/vnd.streamy+json;q=2",
        "Accept: application/vnd.streamy+json;q=",
        "Accept: application/vnd.streamy+jsonx",
        "Accept: application/vnd.streamy",
        "Accept: vnd.streamy+json",
        "Accept: x/application/vnd.streamy+json",
        "Accept: \"application/vnd.streamy+json\"",
        "Accept: ;;;,,,;q=1",
        "Accept: application/vnd.streamy+json\"",
        "Accept: \xff\xfe"};
    static const char *const args[] = {"--limit", "1", "--ttl", "60s", NULL};
    http_server s;
    http_response *r;
    char *prefix;

    start_sessions(&s, args);
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        const char *h[] = {others[i], NULL};
        const char *const *hdr = others[i] ? h : NULL;
        const char *user = http_printf("user-%zu", i);
        r = http_request(&s, "POST", SUB, body_with(user, "s1", "\"device\":\"TV\""),
                         hdr);
        http_expect_body(r, 200, ok_body(user, "s1"));
        expect_json_type(r);
        r = http_request(&s, "POST", SUB, body_with(user, "s2", "\"maxStreams\":1"), hdr);
        http_expect_body(r, 429, BODY_429);
        expect_json_type(r);
        expect_header(r, "Vary", "Accept");
        r = http_request(&s, "POST", RENEW, sub_body(user, "s1"), hdr);
        http_expect(r, 200);
        ck_assert_msg(strstr(r->body, "leaseId") == NULL, "%s: %s", others[i], r->body);
        prefix = http_printf("{\"status\":200,\"data\":{\"userId\":\"%s\","
                             "\"videoStreamId\":\"s1\",\"expiresAt\":",
                             user);
        ck_assert_msg(strncmp(r->body, prefix, strlen(prefix)) == 0 &&
                          strspn(r->body + strlen(prefix), "0123456789") == 13 &&
                          strcmp(r->body + strlen(prefix) + 13, "}}") == 0,
                      "%s: %s", others[i], r->body);
        expect_json_type(r);
    }
    expect_stop(&s);
}
END_TEST

/* Each of these asks for the richer bodies. */
START_TEST(rich_bodies_for_the_vendor_type)
{
    static const char *const rich[][3] = {
        {"Accept: " RICH, NULL},
        {"Accept: application/vnd.streamy+json; charset=utf-8", NULL},
        {"Accept: Application/Vnd.Streamy+JSON", NULL},
        {"Accept: application/vnd.streamy+json; q=1, */*", NULL},
        {"Accept: text/html, application/vnd.streamy+json;q=0.9, */*;q=0.8", NULL},
        {"Accept: application/json;q=0.5, application/vnd.streamy+json", NULL},
        {"Accept: application/json, application/vnd.streamy+json", NULL},
        {"Accept: application/vnd.streamy+json ; version=\"1,2\" ; q=0.7, */*;q=0.1",
         NULL},
        {"Accept:\tapplication/vnd.streamy+json\t", NULL},
        /* Two Accept headers are one list. */
        {"Accept: text/html", "Accept: application/vnd.streamy+json", NULL}};
    http_server s;
    http_response *r;

    start_sessions(&s, no_args);
    for (size_t i = 0; i < sizeof(rich) / sizeof(rich[0]); i++) {
        const char *user = http_printf("user-%zu", i);
        json_t *data;
        r = http_request(&s, "POST", SUB, sub_body(user, "s1"), rich[i]);
        http_expect(r, 200);
        expect_header(r, "Content-Type", RICH);
        expect_header(r, "Vary", "Accept");
        data = json_object_get(http_json(r), "data");
        ck_assert_msg(data != NULL && str_of(data, "leaseId") != NULL, "%s: %s",
                      rich[i][0], r->body);
        ck_assert_str_eq(str_of(data, "leaseId"), lease_of(r));
    }
    expect_stop(&s);
}
END_TEST

START_TEST(rich_subscribe_and_renew)
{
    static const char *const args[] = {"--ttl", "60s", NULL};
    http_server s;
    http_response *r;
    json_t *data;
    char *id;
    int64_t t0 = http_now_ms(), since, expires;

    start_sessions(&s, args);
    r = http_request(
        &s, "POST", SUB,
        body_with("u", "s1", "\"device\":\"Kitchen \\u00e9cran\",\"maxStreams\":4"),
        accept_rich);
    http_expect(r, 200);
    expect_header(r, "Content-Type", RICH);
    expect_header(r, "X-Streamy-Limit", "4");
    id = lease_of(r);
    data = json_object_get(http_json(r), "data");
    since = int_of(data, "since");
    expires = int_of(data, "expiresAt");
    ck_assert_msg(since >= t0 - 1000 && since <= http_now_ms() + 1000, "since %lld",
                  (long long)since);
    ck_assert_int_eq(expires, since + 60000);
    ck_assert_str_eq(
        r->body,
        http_printf("{\"status\":200,\"data\":{\"userId\":\"u\",\"videoStreamId\":"
                    "\"s1\",\"leaseId\":\"%s\",\"device\":\"Kitchen \xc3\xa9"
                    "cran\",\"created\":true,\"active\":1,\"limit\":4,\"since\":"
                    "%lld,\"expiresAt\":%lld}}",
                    id, (long long)since, (long long)expires));
    /* A refresh: the same lease, created false. */
    r = http_request(&s, "POST", SUB, sub_body("u", "s1"), accept_rich);
    http_expect(r, 200);
    data = json_object_get(http_json(r), "data");
    ck_assert_str_eq(str_of(data, "leaseId"), id);
    ck_assert(json_is_false(json_object_get(data, "created")));
    ck_assert_str_eq(str_of(data, "device"), "Kitchen \xc3\xa9"
                                             "cran");
    ck_assert_int_eq(int_of(data, "since"), since);
    ck_assert_int_eq(int_of(data, "limit"), 3);
    /* Renew. */
    r = http_request(&s, "POST", RENEW, sub_body("u", "s1"), accept_rich);
    http_expect(r, 200);
    expect_header(r, "Content-Type", RICH);
    expect_header(r, "Vary", "Accept");
    expect_header(r, "X-Streamy-Lease", id);
    data = json_object_get(http_json(r), "data");
    expires = int_of(data, "expiresAt");
    ck_assert_str_eq(
        r->body,
        http_printf("{\"status\":200,\"data\":{\"userId\":\"u\",\"videoStreamId\":"
                    "\"s1\",\"expiresAt\":%lld,\"leaseId\":\"%s\",\"device\":"
                    "\"Kitchen \xc3\xa9"
                    "cran\",\"active\":1,\"limit\":3,"
                    "\"since\":%lld}}",
                    (long long)expires, id, (long long)since));
    /* A refusal with leases that expire still says when to retry. */
    r = http_request(&s, "POST", SUB, body_with("u", "s2", "\"maxStreams\":1"),
                     accept_rich);
    http_expect(r, 429);
    expect_header(r, "Content-Type", RICH);
    ck_assert_ptr_nonnull(http_header(r, "Retry-After"));
    ck_assert_int_eq(int_of(http_json(r), "limit"), 1);
    ck_assert_int_eq(int_of(http_json(r), "active"), 1);
    ck_assert_str_eq(
        str_of(json_array_get(json_object_get(http_json(r), "activeLeases"), 0),
               "leaseId"),
        id);
    /* Errors keep their original bodies and type. */
    r = http_request(&s, "POST", RENEW, sub_body("u", "none"), accept_rich);
    http_expect_body(r, 404, GONE);
    expect_json_type(r);
    r = http_request(&s, "POST", SUB, "{\"userId\":1}", accept_rich);
    http_expect_body(r, 400,
                     "{\"status\":400,\"error\":\"\\\"userId\\\" must be a string\"}");
    expect_json_type(r);
    r = http_request(&s, "DELETE", SUB, sub_body("u", "s1"), accept_rich);
    http_expect_body(r, 204, "");
    expect_stop(&s);
}
END_TEST

/* The richer 429 lists the user's leases, so that a player can offer to stop one; the
 * player then stops it by its lease id. */
START_TEST(rich_429_lists_the_active_leases)
{
    static const char *const args[] = {"--limit", "2", NULL};
    http_server s;
    http_response *r;
    char *id1, *id2;
    json_t *doc, *leases, *l;

    start_sessions(&s, args);
    r = http_request(&s, "POST", SUB, body_with("u", "s1", "\"device\":\"TV\""), NULL);
    id1 = lease_of(r);
    r = http_request(&s, "POST", SUB, sub_body("u", "s2"), NULL);
    id2 = lease_of(r);
    subscribe_ok(&s, "other", "s9");
    r = http_request(&s, "POST", SUB, body_with("u", "s3", "\"device\":\"Phone\""),
                     accept_rich);
    http_expect(r, 429);
    expect_header(r, "Content-Type", RICH);
    expect_header(r, "Vary", "Accept");
    expect_header(r, "X-Streamy-Limit", "2");
    expect_header(r, "X-Streamy-Active", "2");
    expect_header(r, "X-Streamy-Lease", NULL);
    doc = http_json(r);
    leases = json_object_get(doc, "activeLeases");
    ck_assert_int_eq(json_array_size(leases), 2);
    l = json_array_get(leases, 0);
    ck_assert_str_eq(
        r->body,
        http_printf("{\"status\":429,\"error\":\"" LIMIT_MSG
                    "\",\"limit\":2,\"active\":2,"
                    "\"activeLeases\":[{\"videoStreamId\":\"s1\",\"device\":\"TV\","
                    "\"since\":%lld,\"leaseId\":\"%s\"},{\"videoStreamId\":\"s2\","
                    "\"device\":null,\"since\":%lld,\"leaseId\":\"%s\"}]}",
                    (long long)int_of(l, "since"), id1,
                    (long long)int_of(json_array_get(leases, 1), "since"), id2));
    /* Without the Accept header: the original bytes. */
    http_expect_body(subscribe(&s, "u", "s3"), 429, BODY_429);
    /* "Stop this one": by its lease id. */
    r = http_request(&s, "DELETE", SUB,
                     body_with("u", "s1", http_printf("\"leaseId\":\"%s\"", id1)), NULL);
    http_expect(r, 204);
    expect_header(r, "X-Streamy-Removed", "true");
    r = http_request(&s, "POST", SUB, body_with("u", "s3", "\"device\":\"Phone\""),
                     accept_rich);
    http_expect(r, 200);
    ck_assert_str_eq(str_of(json_object_get(http_json(r), "data"), "device"), "Phone");
    ck_assert_str_eq(streams_of(&s, "u"), "s2,s3");
    /* A user blocked by a limit of 0 has nothing to stop. */
    http_expect(http_request(&s, "PUT", "/users/blocked/limit", "{\"limit\":0}", NULL),
                200);
    r = http_request(&s, "POST", SUB, sub_body("blocked", "s1"), accept_rich);
    http_expect_body(r, 429,
                     "{\"status\":429,\"error\":\"" LIMIT_MSG
                     "\",\"limit\":0,\"active\":0,\"activeLeases\":[]}");
    expect_stop(&s);
}
END_TEST

START_TEST(rich_body_names_the_evicted_lease)
{
    static const char *const args[] = {"--limit", "1", "--policy", "evict-oldest", NULL};
    http_server s;
    http_response *r;
    json_t *evicted;
    char *id1;

    start_sessions(&s, args);
    r = http_request(&s, "POST", SUB, body_with("u", "s1", "\"device\":\"TV\""), NULL);
    id1 = lease_of(r);
    r = http_request(&s, "POST", SUB, sub_body("u", "s2"), accept_rich);
    http_expect(r, 200);
    expect_header(r, "X-Streamy-Evicted", "s1");
    evicted = json_object_get(json_object_get(http_json(r), "data"), "evicted");
    ck_assert_str_eq(str_of(evicted, "videoStreamId"), "s1");
    ck_assert_str_eq(str_of(evicted, "device"), "TV");
    ck_assert_str_eq(str_of(evicted, "leaseId"), id1);
    /* Without eviction there is no "evicted". */
    r = http_request(&s, "POST", SUB, sub_body("u", "s2"), accept_rich);
    http_expect(r, 200);
    ck_assert_ptr_null(json_object_get(json_object_get(http_json(r), "data"), "evicted"));
    expect_stop(&s);
}
END_TEST

/* --- the caller's limit -------------------------------------------------------- */

START_TEST(max_streams_is_the_callers_limit)
{
    http_server s;
    http_response *r;

    start_sessions(&s, no_args);
    /* Above the default of 3. */
    for (int i = 1; i <= 5; i++) {
        r = http_request(&s, "POST", SUB,
                         body_with("u", http_printf("s%d", i), "\"maxStreams\":5"), NULL);
        http_expect_body(r, 200, ok_body("u", http_printf("s%d", i)));
        expect_header(r, "X-Streamy-Limit", "5");
    }
    r = http_request(&s, "POST", SUB, body_with("u", "s6", "\"maxStreams\":5"), NULL);
    http_expect_body(r, 429, BODY_429);
    expect_header(r, "X-Streamy-Limit", "5");
    /* Not stored: without it the default applies again; nothing running is cut. */
    r = subscribe(&s, "u", "s6");
    http_expect_body(r, 429, BODY_429);
    expect_header(r, "X-Streamy-Limit", "3");
    expect_header(r, "X-Streamy-Active", "5");
    ck_assert_str_eq(streams_of(&s, "u"), "s1,s2,s3,s4,s5");
    /* Below it; 0 blocks. */
    subscribe_ok(&s, "v", "s1");
    r = http_request(&s, "POST", SUB, body_with("v", "s2", "\"maxStreams\":1"), NULL);
    http_expect_body(r, 429, BODY_429);
    expect_header(r, "X-Streamy-Limit", "1");
    r = http_request(&s, "POST", SUB, body_with("w", "s1", "\"maxStreams\":0"), NULL);
    http_expect_body(r, 429, BODY_429);
    expect_header(r, "X-Streamy-Limit", "0");
    r = http_request(&s, "POST", SUB, body_with("w", "s1", "\"maxStreams\":100000"),
                     NULL);
    http_expect(r, 200);
    expect_header(r, "X-Streamy-Limit", "100000");
    /* A limit stored for the user wins. */
    http_expect(http_request(&s, "PUT", "/users/x/limit", "{\"limit\":1}", NULL), 200);
    subscribe_ok(&s, "x", "s1");
    r = http_request(&s, "POST", SUB, body_with("x", "s2", "\"maxStreams\":10"), NULL);
    http_expect_body(r, 429, BODY_429);
    expect_header(r, "X-Streamy-Limit", "1");
    expect_stop(&s);
}
END_TEST

/* --- stale lease ids ------------------------------------------------------------- */

START_TEST(stale_lease_id_renews_and_removes_nothing)
{
    static const char *const args[] = {"--ttl", "60s", NULL};
    http_server s;
    http_response *r;
    char *old, *cur, *before, *upper;

    start_sessions(&s, args);
    old = lease_of(subscribe(&s, "u", "s1"));
    http_expect(unsubscribe(&s, "u", "s1"), 204);
    r = http_request(&s, "POST", SUB, body_with("u", "s1", "\"device\":\"TV\""), NULL);
    cur = lease_of(r);
    ck_assert_str_ne(old, cur);
    before = leases_text(&s, "u");

    /* The old player's heartbeat: 404 as for a missing lease, and stale. */
    r = http_request(&s, "POST", RENEW,
                     body_with("u", "s1", http_printf("\"leaseId\":\"%s\"", old)),
                     accept_rich);
    http_expect_body(r, 404, GONE);
    expect_json_type(r);
    expect_header(r, "X-Streamy-Lease-Stale", "true");
    expect_header(r, "X-Streamy-Lease", NULL);
    /* Its stop: 204, nothing removed. */
    r = http_request(&s, "DELETE", SUB,
                     body_with("u", "s1", http_printf("\"leaseId\":\"%s\"", old)), NULL);
    http_expect_body(r, 204, "");
    expect_header(r, "X-Streamy-Removed", "false");
    expect_header(r, "X-Streamy-Lease-Stale", "true");
    ck_assert_str_eq(leases_text(&s, "u"), before);

    /* The current id, in any case, renews. */
    upper = http_strdup(cur);
    for (char *c = upper; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    r = http_request(&s, "POST", RENEW,
                     body_with("u", "s1", http_printf("\"leaseId\":\"%s\"", upper)),
                     NULL);
    http_expect(r, 200);
    expect_header(r, "X-Streamy-Lease", cur);
    expect_header(r, "X-Streamy-Lease-Stale", NULL);
    /* An id for a stream with no lease at all: missing, not stale. */
    r = http_request(&s, "POST", RENEW,
                     body_with("u", "s2", http_printf("\"leaseId\":\"%s\"", cur)), NULL);
    http_expect_body(r, 404, GONE);
    expect_header(r, "X-Streamy-Lease-Stale", NULL);
    r = http_request(&s, "DELETE", SUB,
                     body_with("u", "s2", http_printf("\"leaseId\":\"%s\"", cur)), NULL);
    http_expect(r, 204);
    expect_header(r, "X-Streamy-Removed", "false");
    expect_header(r, "X-Streamy-Lease-Stale", NULL);
    /* The current player's stop. */
    r = http_request(&s, "DELETE", SUB,
                     body_with("u", "s1", http_printf("\"leaseId\":\"%s\"", cur)), NULL);
    http_expect(r, 204);
    expect_header(r, "X-Streamy-Removed", "true");
    expect_header(r, "X-Streamy-Lease-Stale", NULL);
    ck_assert_str_eq(streams_of(&s, "u"), "");
    expect_stop(&s);
}
END_TEST

void http_case_sessions(TCase *tc)
{
    tcase_add_test(tc, lease_id_in_headers_original_bodies_unchanged);
    tcase_add_test(tc, original_bodies_for_every_other_accept);
    tcase_add_test(tc, rich_bodies_for_the_vendor_type);
    tcase_add_test(tc, rich_subscribe_and_renew);
    tcase_add_test(tc, rich_429_lists_the_active_leases);
    tcase_add_test(tc, rich_body_names_the_evicted_lease);
    tcase_add_test(tc, max_streams_is_the_callers_limit);
    tcase_add_test(tc, stale_lease_id_renews_and_removes_nothing);
}
