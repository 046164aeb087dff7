/* SPDX-License-Identifier: MIT */
/* check_http_health.c: /health, a store that does not answer, and /metrics. */
#include <stdlib.h>
#include <string.h>

#include "check_http.h"

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

/* How many lines of `log` hold `needle`. */
static int log_lines_with(const char *log, const char *needle)
{
    int n = 0;

    for (const char *p = log; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

START_TEST(store_not_answering_with_allow_is_200_degraded)
{
    static const char *const args[] = {"--busy-timeout", "200ms", "--on-store-error",
                                       "allow", NULL};
    static const char *const busy =
        "{\"status\":503,\"error\":\"store busy, retry later\"}";
    http_server s;
    http_store_lock lock;
    http_response *r;
    json_t *data;
    char *log;

    http_server_start(&s, args);
    subscribe_ok(&s, "u", "keep");
    r = subscribe(&s, "u", "keep");
    http_expect_body(r, 200, ok_body("u", "keep"));
    ck_assert_ptr_null(http_header(r, "X-Streamy-Degraded"));

    http_store_hold(&lock, s.db);
    /* Subscribe and renew: the original 200 body, marked; nothing is recorded. */
    r = subscribe(&s, "u", "new");
    http_expect_body(r, 200, ok_body("u", "new"));
    expect_json_type(r);
    expect_header(r, "X-Streamy-Degraded", "store-unavailable");
    expect_header(r, "X-Streamy-Limit", "3");
    expect_header(r, "X-Streamy-Active", "0");
    expect_header(r, "X-Streamy-Lease", NULL);
    r = http_request(&s, "POST", RENEW, sub_body("u", "keep"), NULL);
    http_expect(r, 200);
    expect_header(r, "X-Streamy-Degraded", "store-unavailable");
    data = json_object_get(http_json(r), "data");
    ck_assert_str_eq(json_string_value(json_object_get(data, "videoStreamId")), "keep");
    ck_assert(json_is_null(json_object_get(data, "expiresAt")));
    expect_header(r, "X-Streamy-Lease", NULL);
    /* The richer body knows nothing of a session that was not recorded. */
    r = http_request(&s, "POST", SUB, sub_body("u", "rich"), accept_rich);
    http_expect_body(r, 200,
                     "{\"status\":200,\"data\":{\"userId\":\"u\",\"videoStreamId\":"
                     "\"rich\",\"leaseId\":null,\"device\":null,\"created\":false,"
                     "\"active\":0,\"limit\":3,\"since\":null,\"expiresAt\":null}}");
    expect_header(r, "Content-Type", RICH);
    expect_header(r, "X-Streamy-Degraded", "store-unavailable");
    expect_header(r, "X-Streamy-Lease", NULL);
    /* An unsubscribe has nothing to allow; invalid input is still refused. */
    http_expect_body(unsubscribe(&s, "u", "keep"), 503, busy);
    http_expect_body(http_request(&s, "POST", SUB, "{\"videoStreamId\":\"x\"}", NULL),
                     400, "{\"status\":400,\"error\":\"\\\"userId\\\" is required\"}");
    r = subscribe(&s, "u", "");
    http_expect(r, 400);
    ck_assert_ptr_null(http_header(r, "X-Streamy-Degraded"));
    r = subscribe(&s, "v", "other");
    http_expect_body(r, 200, ok_body("v", "other"));
    expect_header(r, "X-Streamy-Degraded", "store-unavailable");
    http_store_release(&lock);

    /* Back without a restart: decided and recorded again, and the degraded answers
     * left no trace. */
    ck_assert_int_eq(count_leases(&s), 1);
    r = subscribe(&s, "u", "new");
    http_expect_body(r, 200, ok_body("u", "new"));
    ck_assert_ptr_null(http_header(r, "X-Streamy-Degraded"));
    expect_header(r, "X-Streamy-Active", "2");
    ck_assert_str_eq(streams_of(&s, "u"), "keep,new");
    ck_assert_int_eq(http_db_int(s.db, "SELECT count(*) FROM leases WHERE user = 'v'"),
                     0);
    r = http_request(&s, "GET", "/metrics", NULL, NULL);
    http_expect(r, 200);
    ck_assert_ptr_nonnull(strstr(r->body, "# TYPE streamy_degraded_total counter\n"));
    ck_assert_msg(http_metric(r->body, "streamy_degraded_total") == 4, "%s", r->body);
    ck_assert_msg(http_metric(r->body, "streamy_decisions_total{outcome=\"allowed\"}") ==
                      3,
                  "%s", r->body);
    expect_stop(&s);

    /* One line when the burst began, with the store's words; one when it ended. */
    log = http_server_log(&s);
    ck_assert_msg(log_lines_with(log, "store unavailable: subscribe and renew are "
                                      "answered degraded") == 1,
                  "%s", log);
    ck_assert_msg(strstr(log, "\"level\":\"warn\",\"msg\":\"store unavailable") != NULL,
                  "%s", log);
    ck_assert_msg(log_lines_with(log, "store available again") == 1, "%s", log);
    ck_assert_msg(strstr(log, "4 answers were degraded") != NULL, "%s", log);
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
        test_sleep_ms(20);
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

void http_case_health(TCase *tc)
{
    tcase_add_test(tc, health_ok);
    tcase_add_test(tc, store_not_answering_is_503_and_nothing_is_recorded);
    tcase_add_test(tc, store_not_answering_with_allow_is_200_degraded);
}

void http_case_metrics(TCase *tc)
{
    tcase_add_test(tc, metrics_count_what_was_done);
}
