/* SPDX-License-Identifier: MIT */
/* check_http_connections.c: slow and half-open clients, the connection limit, logs and
 * addresses. */
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_http.h"

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
        test_sleep_ms(20);
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
            test_sleep_ms(20);
    }
    ck_assert_msg(served > 0, "no round had both connections served");
    expect_stop(&s);
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
        ck_assert_msg(http_mono_ms() < deadline, "no log line with %s in %s", needle,
                      file);
        test_sleep_ms(20);
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

void http_case_connections(TCase *tc)
{
    tcase_add_test(tc, slow_client_is_closed);
    tcase_add_test(tc, connection_limit);
    tcase_add_test(tc, connection_limit_is_for_the_whole_server);
}

void http_case_logs(TCase *tc)
{
    tcase_add_test(tc, sighup_reopens_the_log_file);
    tcase_add_test(tc, log_file_is_private_and_shared_tokens_are_flagged);
    tcase_add_test(tc, log_lines_cannot_be_forged);
    tcase_add_test(tc, ipv6_listen);
}
