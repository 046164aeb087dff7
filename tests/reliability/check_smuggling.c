/* SPDX-License-Identifier: MIT */
/* check_smuggling.c: request framing against the real `streamyctl serve`. A request
 * with both Content-Length and Transfer-Encoding is refused and its connection closed
 * (RFC 9112 section 6.1), so that a front proxy that frames by Content-Length cannot
 * hide a second request behind the body of the first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http_util.h"
#include "test_util.h"

/* A subscribe of `user` whose body is chunked, followed by a second subscribe on the
 * same connection. Framed by Content-Length (4 bytes: "7b\r\n"), the rest would be a
 * request of its own; framed as chunked, the first request ends at "0\r\n\r\n". */
static char *smuggle(const char *te, const char *user, const char *hidden)
{
    char body[128], second[512], *out;
    int blen;

    blen = snprintf(body, sizeof(body), "{\"userId\":\"%s\",\"videoStreamId\":\"m1\"}",
                    user);
    snprintf(second, sizeof(second),
             "POST /video-streams/subscription HTTP/1.1\r\nHost: t\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n"
             "{\"userId\":\"%s\",\"videoStreamId\":\"m1\"}",
             strlen(hidden) + 34, hidden);
    out = http_printf("POST /video-streams/subscription HTTP/1.1\r\nHost: t\r\n"
                      "Content-Type: application/json\r\nContent-Length: 4\r\n"
                      "Transfer-Encoding: %s\r\n\r\n%x\r\n%s\r\n0\r\n\r\n%s",
                      te, blen, body, second);
    return out;
}

static long leases_of(http_server *s, const char *user)
{
    http_response *r =
        http_request(s, "GET", http_printf("/users/%s/video-streams", user), NULL, NULL);
    json_t *data;

    http_expect(r, 200);
    data = json_object_get(http_json(r), "data");
    return (long)json_integer_value(json_object_get(data, "count"));
}

static void expect_refused_and_closed(http_server *s, const char *te, const char *user,
                                      const char *hidden)
{
    char got[4096] = "";
    int fd = http_raw_connect(s), rc;

    ck_assert_int_ge(fd, 0);
    http_raw_send(fd, smuggle(te, user, hidden));
    rc = http_raw_response(fd, test_timeout_scale(5) * 1000, got, sizeof(got));
    printf("smuggling (Transfer-Encoding: %s): %.*s\n", te, (int)strcspn(got, "\r\n"),
           got);
    ck_assert_msg(rc == 1, "no whole answer (%d): %s", rc, got);
    ck_assert_msg(strncmp(got, "HTTP/1.1 400 ", 13) == 0, "expected 400, got: %s", got);
    ck_assert_msg(strstr(got, "Transfer-Encoding") != NULL,
                  "the answer does not say what was wrong: %s", got);
    /* Nothing more is answered on this connection: it is closed. */
    got[0] = '\0';
    rc = http_raw_wait_close(fd, test_timeout_scale(5) * 1000, got, sizeof(got));
    ck_assert_msg(rc == 1 || rc == 2, "the connection stayed open (%d)", rc);
    ck_assert_msg(strstr(got, "HTTP/1.1") == NULL, "a second answer: %s", got);
    close(fd);
    /* Neither request was decided. */
    ck_assert_int_eq(leases_of(s, user), 0);
    ck_assert_int_eq(leases_of(s, hidden), 0);
}

START_TEST(content_length_and_transfer_encoding_are_refused)
{
    http_server s;

    http_server_start(&s, NULL);
    expect_refused_and_closed(&s, "chunked", "smuggler-1", "hidden-1");
    /* Any spelling of the coding: what a proxy reads differently is the danger. */
    expect_refused_and_closed(&s, "Chunked", "smuggler-2", "hidden-2");
    expect_refused_and_closed(&s, "gzip, chunked", "smuggler-3", "hidden-3");
    /* The server still answers others, and a chunked request alone is decided. */
    http_expect(http_request(&s, "POST", "/video-streams/subscription",
                             "{\"userId\":\"plain\",\"videoStreamId\":\"m1\"}", NULL),
                200);
    ck_assert_int_eq(leases_of(&s, "plain"), 1);
    ck_assert_int_eq(http_server_stop(&s), 0);
}
END_TEST

int main(int argc, char **argv)
{
    Suite *s = suite_create("smuggling");
    TCase *tc;
    int rc;

    if (argc < 2 || http_init(argv[1]) != 0) {
        fprintf(stderr, "usage: %s PATH-TO-STREAMYCTL\n", argv[0]);
        return 2;
    }
    tc = test_add_case(s, "smuggling", http_setup, http_teardown, test_timeout_scale(60));
    tcase_add_test(tc, content_length_and_transfer_encoding_are_refused);
    rc = test_run_suite(s);
    curl_global_cleanup();
    return rc;
}
