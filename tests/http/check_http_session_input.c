/* SPDX-License-Identifier: MIT */
/* check_http_session_input.c: the session fields of a request body refused with 400 or
 * ignored, sessions kept by the SQLite store across a restart, and the group commit
 * deciding concurrent requests each with its own inputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_http.h"

/* --- bad session fields: 400 naming the field, nothing changed ------------------- */

START_TEST(bad_session_fields_are_400_and_change_nothing)
{
    static const struct {
        const char *method, *path, *member, *error;
    } bad[] = {
        {"POST", SUB, "\"device\":1", "\"device\" must be a string"},
        {"POST", SUB, "\"device\":true", "\"device\" must be a string"},
        {"POST", SUB, "\"device\":{}", "\"device\" must be a string"},
        {"POST", SUB, "\"device\":[\"TV\"]", "\"device\" must be a string"},
        {"POST", SUB, "\"device\":\"\"", "\"device\" is empty"},
        {"POST", SUB,
         "\"device\":\"0123456789012345678901234567890123456789012345678901234567890123"
         "4\"",
         "\"device\" is longer than 64 bytes"},
        /* 33 two-byte characters: 66 bytes. */
        {"POST", SUB,
         "\"device\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
         "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
         "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
         "\\u00e9\\u00e9\"",
         "\"device\" is longer than 64 bytes"},
        {"POST", SUB, "\"device\":\"TV\\tTV\"",
         "\"device\" contains a control character (byte 3)"},
        {"POST", SUB, "\"device\":\"TV\\u0000\"",
         "\"device\" contains a control character (byte 3)"},
        {"POST", SUB, "\"device\":\"\\u007f\"",
         "\"device\" contains a control character (byte 1)"},
        {"POST", SUB, "\"device\":\"a\\nb\"",
         "\"device\" contains a control character (byte 2)"},
        {"POST", SUB, "\"maxStreams\":-1",
         "\"maxStreams\" must be an integer from 0 to 100000"},
        {"POST", SUB, "\"maxStreams\":1.5",
         "\"maxStreams\" must be an integer from 0 to 100000"},
        {"POST", SUB, "\"maxStreams\":3.0",
         "\"maxStreams\" must be an integer from 0 to 100000"},
        {"POST", SUB, "\"maxStreams\":1e2",
         "\"maxStreams\" must be an integer from 0 to 100000"},
        {"POST", SUB, "\"maxStreams\":\"3\"",
         "\"maxStreams\" must be an integer from 0 to 100000"},
        {"POST", SUB, "\"maxStreams\":100001",
         "\"maxStreams\" must be an integer from 0 to 100000"},
        {"POST", SUB, "\"maxStreams\":4294967297",
         "\"maxStreams\" must be an integer from 0 to 100000"},
        {"POST", SUB, "\"maxStreams\":true",
         "\"maxStreams\" must be an integer from 0 to 100000"},
        {"POST", SUB, "\"maxStreams\":[1]",
         "\"maxStreams\" must be an integer from 0 to 100000"},
        {"POST", RENEW, "\"leaseId\":1", "\"leaseId\" must be a string"},
        {"POST", RENEW, "\"leaseId\":{}", "\"leaseId\" must be a string"},
        {"POST", RENEW, "\"leaseId\":false", "\"leaseId\" must be a string"},
        {"POST", RENEW, "\"leaseId\":\"\"", "\"leaseId\" must be a UUID"},
        {"POST", RENEW, "\"leaseId\":\"not-a-uuid\"", "\"leaseId\" must be a UUID"},
        {"POST", RENEW, "\"leaseId\":\"3f2504e0-4f89-11d3-9a0c-0305e82c330\"",
         "\"leaseId\" must be a UUID"},
        {"POST", RENEW, "\"leaseId\":\"3f2504e0-4f89-11d3-9a0c-0305e82c33011\"",
         "\"leaseId\" must be a UUID"},
        {"POST", RENEW, "\"leaseId\":\"{3f2504e0-4f89-11d3-9a0c-0305e82c3301}\"",
         "\"leaseId\" must be a UUID"},
        {"POST", RENEW, "\"leaseId\":\"3f2504e04f8911d39a0c0305e82c3301\"",
         "\"leaseId\" must be a UUID"},
        {"POST", RENEW, "\"leaseId\":\"3f2504e0-4f89-11d3-9a0c-0305e82c330g\"",
         "\"leaseId\" must be a UUID"},
        {"POST", RENEW, "\"leaseId\":\"3f2504e0-4f89-11d3-9a0c-0305e82c3301\\u0000\"",
         "\"leaseId\" must be a UUID"},
        {"DELETE", SUB, "\"leaseId\":[]", "\"leaseId\" must be a string"},
        {"DELETE", SUB, "\"leaseId\":12345", "\"leaseId\" must be a string"},
        {"DELETE", SUB, "\"leaseId\":\"s1\"", "\"leaseId\" must be a UUID"},
        {"DELETE", SUB, "\"leaseId\":\" 3f2504e0-4f89-11d3-9a0c-0305e82c3301\"",
         "\"leaseId\" must be a UUID"},
    };
    static const char *const args[] = {"--ttl", "60s", NULL};
    http_server s;
    http_response *r;
    char *before, *id;

    start_sessions(&s, args);
    r = http_request(&s, "POST", SUB, body_with("u", "s1", "\"device\":\"TV\""), NULL);
    id = lease_of(r);
    before = leases_text(&s, "u");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        /* On s1, which exists (a renew or a DELETE would change it), and on s2. */
        for (int k = 1; k <= 2; k++) {
            r = http_request(&s, bad[i].method, bad[i].path,
                             body_with("u", http_printf("s%d", k), bad[i].member),
                             accept_rich);
            http_expect_body(r, 400, error_body(bad[i].error));
            expect_json_type(r);
        }
    }
    /* userId and videoStreamId are checked first. */
    http_expect_body(
        http_request(&s, "POST", SUB,
                     "{\"device\":1,\"userId\":2,\"videoStreamId\":\"s\"}", NULL),
        400, "{\"status\":400,\"error\":\"\\\"userId\\\" must be a string\"}");
    http_expect_body(
        http_request(&s, "POST", RENEW, "{\"leaseId\":1,\"userId\":\"u\"}", NULL), 400,
        "{\"status\":400,\"error\":\"\\\"videoStreamId\\\" is required\"}");
    /* Nothing changed: the same lease, not renewed, not removed, and no other. */
    ck_assert_str_eq(leases_text(&s, "u"), before);
    ck_assert_str_eq(streams_of(&s, "u"), "s1");
    expect_header(subscribe(&s, "u", "s1"), "X-Streamy-Lease", id);
    expect_stop(&s);
}
END_TEST

/* A field a route does not take is ignored, whatever it holds, as unknown fields are;
 * null is the same as absent. */
START_TEST(fields_a_route_does_not_take_are_ignored)
{
    http_server s;
    http_response *r;
    json_t *lease;

    start_sessions(&s, no_args);
    r = http_request(&s, "POST", SUB, body_with("u", "s1", "\"leaseId\":[1,{}]"), NULL);
    http_expect_body(r, 200, ok_body("u", "s1"));
    r = http_request(
        &s, "POST", SUB,
        body_with("u", "s2", "\"device\":null,\"maxStreams\":null,\"leaseId\":7"), NULL);
    http_expect_body(r, 200, ok_body("u", "s2"));
    expect_header(r, "X-Streamy-Limit", "3");
    r = http_request(
        &s, "POST", RENEW,
        body_with("u", "s1", "\"device\":5,\"maxStreams\":-1,\"leaseId\":null"), NULL);
    http_expect(r, 200);
    r = http_request(&s, "DELETE", SUB,
                     body_with("u", "s2", "\"device\":[],\"maxStreams\":\"x\""), NULL);
    http_expect_body(r, 204, "");
    expect_header(r, "X-Streamy-Removed", "true");
    /* Exactly 64 bytes of a device label, in two-byte characters, is fine. */
    r = http_request(
        &s, "POST", SUB,
        body_with("u", "s3",
                  "\"device\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
                  "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
                  "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
                  "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\""),
        NULL);
    http_expect(r, 200);
    lease = json_array_get(json_object_get(leases_of(&s, "u"), "leases"), 1);
    ck_assert_str_eq(str_of(lease, "videoStreamId"), "s3");
    ck_assert_uint_eq(strlen(str_of(lease, "device")), 64);
    ck_assert_str_eq(streams_of(&s, "u"), "s1,s3");
    expect_stop(&s);
}
END_TEST

/* The SQLite store keeps lease ids and device labels in its file: a restarted server
 * knows every session, and a stale player is still told so. */
START_TEST(sqlite_sessions_outlive_the_server)
{
    http_server s;
    http_response *r;
    char *id, *old, *before;

    http_server_start(&s, no_args);
    old = lease_of(subscribe(&s, "u", "s1"));
    http_expect(unsubscribe(&s, "u", "s1"), 204);
    r = http_request(&s, "POST", SUB, body_with("u", "s1", "\"device\":\"TV\""), NULL);
    http_expect_body(r, 200, ok_body("u", "s1"));
    id = lease_of(r);
    before = leases_text(&s, "u");
    ck_assert_int_eq(count_leases(&s), 1);
    expect_stop(&s);

    http_server_start(&s, no_args);
    ck_assert_str_eq(leases_text(&s, "u"), before);
    ck_assert_str_eq(
        str_of(json_array_get(json_object_get(leases_of(&s, "u"), "leases"), 0),
               "device"),
        "TV");
    r = http_request(&s, "POST", RENEW,
                     body_with("u", "s1", http_printf("\"leaseId\":\"%s\"", old)), NULL);
    http_expect_body(r, 404, GONE);
    expect_header(r, "X-Streamy-Lease-Stale", "true");
    r = http_request(&s, "POST", SUB, sub_body("u", "s1"), accept_rich);
    http_expect(r, 200);
    expect_header(r, "X-Streamy-Lease", id);
    ck_assert_str_eq(str_of(json_object_get(http_json(r), "data"), "device"), "TV");
    r = http_request(&s, "DELETE", SUB,
                     body_with("u", "s1", http_printf("\"leaseId\":\"%s\"", id)), NULL);
    expect_header(r, "X-Streamy-Removed", "true");
    ck_assert_int_eq(count_leases(&s), 0);
    expect_stop(&s);
}
END_TEST

/* --- the group commit: concurrent requests, each with its own inputs --------------- */

#define GROUP_USERS 4
#define GROUP_STREAMS 8

typedef struct group_run {
    int allowed[GROUP_USERS], refused[GROUP_USERS];
    char bad[512];
} group_run;

/* The limit each user's requests carry: 1, 2 and 5, and none (the default, 3). */
static const int group_limit[GROUP_USERS] = {1, 2, 5, -1};

static void on_group_done(int slot, http_response *r, void *payload)
{
    group_run *g = payload;
    int user = slot / GROUP_STREAMS,
        limit = group_limit[user] < 0 ? 3 : group_limit[user];
    const char *got = http_header(r, "X-Streamy-Limit");

    if (r->status == 200)
        g->allowed[user]++;
    else if (r->status == 429)
        g->refused[user]++;
    else if (g->bad[0] == '\0')
        snprintf(g->bad, sizeof(g->bad), "slot %d: %ld %s%s", slot, r->status, r->body,
                 r->error);
    if ((got == NULL || atoi(got) != limit) && g->bad[0] == '\0')
        snprintf(g->bad, sizeof(g->bad), "slot %d: X-Streamy-Limit %s, expected %d", slot,
                 got ? got : "(absent)", limit);
}

/* Rounds of GROUP_USERS * GROUP_STREAMS subscribes sent at once, until the server has
 * grouped decisions in one commit; each user gets exactly their own limit. */
static void group_commit_rounds(http_server *s, int devices)
{
    group_run g;
    double commits = 0, decisions = 0;
    int round;

    for (round = 0; round < 20 && decisions <= commits; round++) {
        http_multi *m;
        char *text;
        memset(&g, 0, sizeof(g));
        m = http_multi_new(s, GROUP_USERS * GROUP_STREAMS, on_group_done, &g);
        for (int slot = 0; slot < GROUP_USERS * GROUP_STREAMS; slot++) {
            int user = slot / GROUP_STREAMS, stream = slot % GROUP_STREAMS;
            char *more = http_strdup("");
            if (group_limit[user] >= 0)
                more = http_printf("\"maxStreams\":%d", group_limit[user]);
            if (devices)
                more = http_printf("%s%s\"device\":\"dev-%d\"", more, more[0] ? "," : "",
                                   stream);
            http_multi_start(m, slot, "POST", SUB,
                             body_with(http_printf("r%d-u%d", round, user),
                                       http_printf("s%d", stream), more),
                             NULL);
        }
        http_multi_run(m, http_scaled_ms(30000));
        ck_assert_int_eq(http_multi_running(m), 0);
        http_multi_free(m);
        ck_assert_msg(g.bad[0] == '\0', "%s", g.bad);
        for (int user = 0; user < GROUP_USERS; user++) {
            int limit = group_limit[user] < 0 ? 3 : group_limit[user];
            json_t *leases, *l;
            size_t i;
            ck_assert_msg(g.allowed[user] == limit &&
                              g.refused[user] == GROUP_STREAMS - limit,
                          "user %d with limit %d: %d allowed, %d refused", user, limit,
                          g.allowed[user], g.refused[user]);
            leases = json_object_get(leases_of(s, http_printf("r%d-u%d", round, user)),
                                     "leases");
            ck_assert_int_eq(json_array_size(leases), limit);
            json_array_foreach(leases, i, l)
            {
                if (devices)
                    ck_assert_str_eq(
                        str_of(l, "device"),
                        http_printf("dev-%s", str_of(l, "videoStreamId") + 1));
            }
        }
        text = http_request(s, "GET", "/metrics", NULL, NULL)->body;
        commits = http_metric(text, "streamy_commits_total");
        decisions = http_metric(text, "streamy_committed_decisions_total");
    }
    ck_assert_msg(decisions > commits,
                  "no decisions were grouped in %d rounds: %.0f decisions, %.0f commits",
                  round, decisions, commits);
}

START_TEST(group_commit_keeps_each_requests_inputs)
{
    http_server s;

    start_sessions(&s, no_args);
    group_commit_rounds(&s, 1);
    expect_stop(&s);
}
END_TEST

/* The same on SQLite. */
START_TEST(group_commit_keeps_each_requests_inputs_on_sqlite)
{
    http_server s;

    http_server_start(&s, no_args);
    group_commit_rounds(&s, 1);
    expect_stop(&s);
}
END_TEST

void http_case_session_input(TCase *tc)
{
    tcase_add_test(tc, bad_session_fields_are_400_and_change_nothing);
    tcase_add_test(tc, fields_a_route_does_not_take_are_ignored);
    tcase_add_test(tc, sqlite_sessions_outlive_the_server);
}

void http_case_session_concurrency(TCase *tc)
{
    tcase_add_test(tc, group_commit_keeps_each_requests_inputs);
    tcase_add_test(tc, group_commit_keeps_each_requests_inputs_on_sqlite);
}
