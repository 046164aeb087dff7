/* SPDX-License-Identifier: MIT */
/* check_http_shutdown.c: graceful shutdown with requests in flight, and the limit under
 * many parallel clients. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check_http.h"

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
        test_sleep_ms(10);
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
        test_sleep_ms(1);

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

void http_case_shutdown(TCase *tc)
{
    tcase_add_test(tc, sigterm_finishes_requests_in_flight);
    tcase_add_test(tc, draining_finishes_an_upload_and_refuses_new_requests);
}

void http_case_concurrency(TCase *tc)
{
    tcase_add_test(tc, limit_holds_under_parallel_clients);
}
