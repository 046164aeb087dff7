/* SPDX-License-Identifier: MIT */
/* check_pg_failover.c: `streamyctl serve` on PostgreSQL when the primary dies and its
 * standby is promoted (under tests/pg/pg_pair.sh), and when the store stalls: a held
 * row lock, a stopped server (SIGSTOP), a commit waiting for a standby that is not
 * there (under tests/pg/pg_harness.sh). CK_RUN_CASE picks failover or stall. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#define CLIENTS 4
#define MAX_PIDS 64

static const char *ctl_bin;  /* streamyctl */
static const char *base_uri; /* from the harness */
static char *tmp;

/* --- the server -------------------------------------------------------------------- */

typedef struct server {
    pid_t pid;
    unsigned port;
    char log[512];
} server;

static server srv;

/* Start `streamyctl --db DB --busy-timeout BUSY serve` and read its port from the one
 * line it prints. */
static void server_start(const char *db, const char *busy)
{
    int out[2];
    char line[512];
    size_t n = 0;
    int64_t deadline = test_monotonic_us() + test_bound_us(20000);

    snprintf(srv.log, sizeof(srv.log), "%s/server.log", tmp);
    ck_assert_int_eq(pipe(out), 0);
    srv.pid = fork();
    ck_assert_int_ge(srv.pid, 0);
    if (srv.pid == 0) {
        int log = open(srv.log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(out[1], 1);
        if (log >= 0)
            dup2(log, 2);
        close(out[0]);
        execl(ctl_bin, ctl_bin, "--db", db, "--limit", "3", "--busy-timeout", busy,
              "serve", "--listen", "127.0.0.1:0", "--access-log", "off", "--threads", "4",
              (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    while (n + 1 < sizeof(line) && (n == 0 || line[n - 1] != '\n')) {
        struct pollfd p = {out[0], POLLIN, 0};
        int64_t left = deadline - test_monotonic_us();
        ck_assert_msg(left > 0, "the server did not say where it listens (log %s)",
                      srv.log);
        if (poll(&p, 1, (int)(left / 1000) + 1) <= 0)
            continue;
        ck_assert_msg(read(out[0], line + n, 1) == 1,
                      "the server ended before listening (log %s)", srv.log);
        n++;
    }
    line[n] = '\0';
    close(out[0]);
    ck_assert_msg(sscanf(line, "streamyctl serve: listening on http://127.0.0.1:%u",
                         &srv.port) == 1,
                  "unexpected first line: %s", line);
}

static void server_stop(void)
{
    int64_t deadline = test_monotonic_us() + test_bound_us(20000);
    int status;
    pid_t w;

    kill(srv.pid, SIGTERM);
    while ((w = waitpid(srv.pid, &status, WNOHANG)) == 0 &&
           test_monotonic_us() < deadline)
        test_sleep_ms(10);
    if (w == 0) {
        kill(srv.pid, SIGKILL);
        waitpid(srv.pid, &status, 0);
        ck_abort_msg("the server did not stop on SIGTERM");
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the server ended with status %d (log %s)", status, srv.log);
    srv.pid = 0;
}

/* --- HTTP -------------------------------------------------------------------------- */

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n;
}

/* One request; its status (0: no answer within 30 s) and how long it took. */
static long request(CURL *e, const char *method, const char *path, const char *user,
                    const char *stream, int64_t *took_ms)
{
    char url[160], body[256];
    long status = 0;
    int64_t t0 = test_monotonic_us();

    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", srv.port, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);
    if (user != NULL) {
        snprintf(body, sizeof(body), "{\"userId\":\"%s\",\"videoStreamId\":\"%s\"}", user,
                 stream);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (took_ms != NULL)
        *took_ms = (test_monotonic_us() - t0) / 1000;
    return status;
}

static CURL *client(void)
{
    static struct curl_slist *hdr;
    CURL *e = curl_easy_init();

    if (hdr == NULL)
        hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr);
    return e;
}

static long subscribe(CURL *e, const char *user, const char *stream, int64_t *took_ms)
{
    return request(e, "POST", "/video-streams/subscription", user, stream, took_ms);
}

static long health(CURL *e, int64_t *took_ms)
{
    return request(e, "GET", "/health", NULL, NULL, took_ms);
}

/* Wait until a subscribe of `user` and /health both answer 200; how long it took. */
static int64_t wait_recovered(CURL *e, const char *user, const char *what)
{
    int64_t t0 = test_monotonic_us(), deadline = t0 + test_bound_us(20000);
    char stream[32];
    int i = 0;

    for (;;) {
        snprintf(stream, sizeof(stream), "r%d", i++ % 2);
        if (subscribe(e, user, stream, NULL) == 200 && health(e, NULL) == 200)
            return (test_monotonic_us() - t0) / 1000;
        ck_assert_msg(test_monotonic_us() < deadline, "no recovery after %s (log %s)",
                      what, srv.log);
        test_sleep_ms(100);
    }
}

/* --- setup ------------------------------------------------------------------------- */

static PGconn *pg_connect(const char *uri)
{
    PGconn *c = PQconnectdb(uri);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    return c;
}

static void sql_ok(PGconn *c, const char *text)
{
    PGresult *r = PQexec(c, text);
    ExecStatusType st = PQresultStatus(r);
    ck_assert_msg(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", text,
                  PQresultErrorMessage(r));
    PQclear(r);
}

static void setup(void)
{
    tmp = test_tmpdir();
}

static void teardown(void)
{
    if (srv.pid > 0) {
        kill(srv.pid, SIGKILL);
        waitpid(srv.pid, NULL, 0);
        srv.pid = 0;
    }
    test_tmpdir_free(tmp);
}

/* --- failover ---------------------------------------------------------------------- */

typedef struct acked {
    char (*v)[32];
    size_t n, cap;
} acked;

typedef struct load {
    int id;
    acked ok;
    long unavailable, other;
    int64_t first_ok_after_kill_us; /* of a request sent after the kill */
} load;

/* The longest time without an acknowledgement, from the kill on: the window. */
static pthread_mutex_t gap_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t last_ok_us, max_gap_us;

static void note_ok(int64_t killed)
{
    int64_t now = test_monotonic_us();

    pthread_mutex_lock(&gap_lock);
    if (killed && now - (last_ok_us > killed ? last_ok_us : killed) > max_gap_us)
        max_gap_us = now - (last_ok_us > killed ? last_ok_us : killed);
    last_ok_us = now;
    pthread_mutex_unlock(&gap_lock);
}

static atomic_int stop_load;
static atomic_long acks;
static _Atomic int64_t kill_us;

/* A client: subscribe a new user's one stream, again and again; keep what was
 * acknowledged (200). */
static void *load_main(void *arg)
{
    load *l = arg;
    CURL *e = client();

    for (long seq = 0; !atomic_load(&stop_load); seq++) {
        char user[32];
        int64_t sent = test_monotonic_us(), killed;
        long st;

        snprintf(user, sizeof(user), "c%d-%ld", l->id, seq);
        st = subscribe(e, user, "s", NULL);
        killed = atomic_load(&kill_us);
        if (st == 200) {
            if (l->ok.n == l->ok.cap) {
                l->ok.cap = l->ok.cap ? 2 * l->ok.cap : 1024;
                l->ok.v = realloc(l->ok.v, l->ok.cap * sizeof(*l->ok.v));
            }
            snprintf(l->ok.v[l->ok.n++], 32, "%s", user);
            atomic_fetch_add(&acks, 1);
            note_ok(killed);
            if (killed && sent >= killed && l->first_ok_after_kill_us == 0)
                l->first_ok_after_kill_us = test_monotonic_us();
        } else if (st == 503) {
            l->unavailable++;
            test_sleep_ms(20);
        } else {
            l->other++;
            test_sleep_ms(20);
        }
    }
    curl_easy_cleanup(e);
    return NULL;
}

static void wait_acks(long target, const char *what)
{
    int64_t deadline = test_monotonic_us() + test_bound_us(30000);
    while (atomic_load(&acks) < target) {
        ck_assert_msg(test_monotonic_us() < deadline,
                      "%s: %ld of %ld acknowledged (log %s)", what, atomic_load(&acks),
                      target, srv.log);
        test_sleep_ms(10);
    }
}

static void pair_control(const char *what)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "\"%s\" %s", getenv("STREAMY_PG_PAIR"), what);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
}

/* The primary dies under load and its standby is promoted: the same server goes on
 * against the new primary; with a synchronous standby nothing acknowledged is lost. */
START_TEST(primary_killed_and_standby_promoted)
{
    int sync = getenv("STREAMY_PG_SYNC") && strcmp(getenv("STREAMY_PG_SYNC"), "1") == 0;
    const char *port2 = getenv("STREAMY_PG_STANDBY_PORT");
    static load loads[CLIENTS];
    pthread_t t[CLIENTS];
    int64_t killed, promoted, first = 0;
    long total = 0, lost = 0, unavailable = 0, other = 0, before;
    char uri[256];
    PGconn *c;
    PGresult *r;

    ck_assert_ptr_nonnull(port2);
    server_start(base_uri, "2s");
    for (int i = 0; i < CLIENTS; i++) {
        loads[i].id = i;
        ck_assert_int_eq(pthread_create(&t[i], NULL, load_main, &loads[i]), 0);
    }
    wait_acks(200, "before the failover");
    killed = test_monotonic_us();
    atomic_store(&kill_us, killed);
    pair_control("kill-primary");
    pair_control("promote");
    promoted = test_monotonic_us();
    before = atomic_load(&acks);
    wait_acks(before + 200, "after the promotion");
    atomic_store(&stop_load, 1);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(t[i], NULL);
    server_stop();

    /* Every acknowledged subscribe is on the new primary. */
    snprintf(uri, sizeof(uri), "postgresql://streamy@127.0.0.1:%s/postgres", port2);
    c = pg_connect(uri);
    r = PQprepare(c, "has",
                  "SELECT 1 FROM streamy.leases WHERE user_id = $1 AND stream_id = 's'",
                  1, NULL);
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    for (int i = 0; i < CLIENTS; i++) {
        for (size_t k = 0; k < loads[i].ok.n; k++) {
            const char *v[1] = {loads[i].ok.v[k]};
            r = PQexecPrepared(c, "has", 1, v, NULL, NULL, 0);
            ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
            lost += PQntuples(r) == 0;
            PQclear(r);
        }
        total += (long)loads[i].ok.n;
        unavailable += loads[i].unavailable;
        other += loads[i].other;
        if (loads[i].first_ok_after_kill_us &&
            (first == 0 || loads[i].first_ok_after_kill_us < first))
            first = loads[i].first_ok_after_kill_us;
        free(loads[i].ok.v);
    }
    PQfinish(c);
    printf("failover: %s standby: window %lld ms (promote took %lld ms), %ld "
           "acknowledged, %ld lost, %ld answered 503, %ld other\n",
           sync ? "synchronous" : "asynchronous", (long long)(max_gap_us / 1000),
           (long long)((promoted - killed) / 1000), total, lost, unavailable, other);
    fflush(stdout);
    ck_assert_msg(first > 0, "no acknowledgement after the kill");
    ck_assert_int_eq(other, 0);
    if (sync)
        ck_assert_msg(lost == 0, "%ld acknowledged subscribes lost", lost);
}
END_TEST

/* --- stalls ------------------------------------------------------------------------ */

/* The server's processes: the postmaster (parent of `backend`) and its children. */
static int server_pids(pid_t backend, pid_t *out)
{
    char path[64], line[512];
    FILE *f;
    pid_t pm = 0;
    int n = 0;
    DIR *d;
    struct dirent *de;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)backend);
    ck_assert_ptr_nonnull(f = fopen(path, "r"));
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    fclose(f);
    ck_assert_int_eq(sscanf(strrchr(line, ')') + 2, "%*c %d", &pm), 1);
    out[n++] = pm;
    ck_assert_ptr_nonnull(d = opendir("/proc"));
    while ((de = readdir(d)) != NULL && n < MAX_PIDS) {
        int pid = atoi(de->d_name), ppid = 0;
        if (pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        if (fgets(line, sizeof(line), f) && strrchr(line, ')') &&
            sscanf(strrchr(line, ')') + 2, "%*c %d", &ppid) == 1 && ppid == pm)
            out[n++] = pid;
        fclose(f);
    }
    closedir(d);
    return n;
}

/* A decision answers 503 (the deadline of 2 s, plus the cancel's grace and slack) and
 * /health answers within a few seconds, while the store cannot decide. */
static void check_stalled(CURL *e, CURL *h, const char *user, const char *what,
                          int health_must_fail)
{
    int64_t took, htook;
    long st, hst;

    st = subscribe(e, user, "stalled", &took);
    hst = health(h, &htook);
    printf("stall (%s): subscribe %ld after %lld ms, /health %ld after %lld ms\n", what,
           st, (long long)took, hst, (long long)htook);
    fflush(stdout);
    ck_assert_msg(st == 503, "%s: subscribe answered %ld", what, st);
    ck_assert_msg(took < test_timeout_scale(2000 + 1500), "%s: subscribe took %lld ms",
                  what, (long long)took);
    ck_assert_msg(htook < test_timeout_scale(3500), "%s: /health took %lld ms", what,
                  (long long)htook);
    if (health_must_fail)
        ck_assert_msg(hst == 503, "%s: /health answered %ld", what, hst);
    else
        ck_assert_msg(hst == 503 || hst == 200, "%s: /health answered %ld", what, hst);
}

/* A decision and /health at once, while the server is stopped: neither waits for the
 * other for longer than the deadline. */
typedef struct concurrent {
    CURL *e;
    long status;
    int64_t took;
} concurrent;

static void *subscribe_main(void *arg)
{
    concurrent *c = arg;
    c->status = subscribe(c->e, "stopped", "s1", &c->took);
    return NULL;
}

START_TEST(stalled_store_answers_in_time_and_recovers)
{
    CURL *e = client(), *h = client();
    PGconn *admin = pg_connect(base_uri);
    pid_t pids[MAX_PIDS];
    int npids;
    int64_t took;
    PGresult *r;
    concurrent sub = {client(), 0, 0};
    pthread_t t;
    long hst;

    server_start(base_uri, "2s");
    ck_assert_int_eq(subscribe(e, "held", "s1", NULL), 200);
    ck_assert_int_eq(health(h, NULL), 200);

    /* 1. Another session holds the user's row. */
    sql_ok(admin, "BEGIN");
    sql_ok(admin, "SELECT * FROM streamy.users WHERE user_id = 'held' FOR UPDATE");
    check_stalled(e, h, "held", "a held row lock", 0);
    ck_assert_int_eq(subscribe(e, "free", "s1", &took), 200);
    sql_ok(admin, "ROLLBACK");
    printf("stall (a held row lock): recovered in %lld ms\n",
           (long long)wait_recovered(e, "held", "the lock"));

    /* 2. The server stopped (SIGSTOP): it accepts connections, and answers nothing. */
    r = PQexec(admin, "SELECT pg_backend_pid()");
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    npids = server_pids((pid_t)atoi(PQgetvalue(r, 0, 0)), pids);
    PQclear(r);
    for (int i = 0; i < npids; i++)
        kill(pids[i], SIGSTOP);
    ck_assert_int_eq(pthread_create(&t, NULL, subscribe_main, &sub), 0);
    test_sleep_ms(300);
    hst = health(h, &took);
    pthread_join(t, NULL);
    printf("stall (a stopped server): subscribe %ld after %lld ms, /health during it "
           "%ld after %lld ms\n",
           sub.status, (long long)sub.took, hst, (long long)took);
    check_stalled(e, h, "stopped", "a stopped server", 1);
    for (int i = 0; i < npids; i++)
        kill(pids[i], SIGCONT);
    ck_assert_msg(sub.status == 503 && sub.took < test_timeout_scale(2000 + 1500),
                  "a stopped server: subscribe %ld after %lld ms", sub.status,
                  (long long)sub.took);
    ck_assert_msg(hst == 503 && took < test_timeout_scale(3500),
                  "a stopped server: /health %ld after %lld ms", hst, (long long)took);
    printf("stall (a stopped server): recovered in %lld ms\n",
           (long long)wait_recovered(e, "stopped", "SIGCONT"));

    /* 3. Commits wait for a synchronous standby that is not there. */
    sql_ok(admin, "ALTER SYSTEM SET synchronous_standby_names = 'streamy_absent'");
    sql_ok(admin, "SELECT pg_reload_conf()");
    test_sleep_ms(300);
    check_stalled(e, h, "nosync", "no synchronous standby", 0);
    sql_ok(admin, "ALTER SYSTEM RESET synchronous_standby_names");
    sql_ok(admin, "SELECT pg_reload_conf()");
    printf("stall (no synchronous standby): recovered in %lld ms\n",
           (long long)wait_recovered(e, "nosync", "the standby setting"));
    fflush(stdout);

    server_stop();
    PQfinish(admin);
    curl_easy_cleanup(e);
    curl_easy_cleanup(h);
    curl_easy_cleanup(sub.e);
}
END_TEST

static Suite *failover_suite(void)
{
    Suite *s = suite_create("postgresql failover");
    TCase *tc = tcase_create("failover");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, test_timeout_scale(90));
    tcase_add_test(tc, primary_killed_and_standby_promoted);
    suite_add_tcase(s, tc);
    tc = tcase_create("stall");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, test_timeout_scale(90));
    tcase_add_test(tc, stalled_store_answers_in_time_and_recovers);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 2 || (base_uri = getenv("STREAMY_PG_URI")) == NULL) {
        fprintf(stderr,
                "usage: tests/pg/pg_pair.sh [--sync] %s STREAMYCTL (CK_RUN_CASE=failover)"
                "\n       tests/pg/pg_harness.sh %s STREAMYCTL (CK_RUN_CASE=stall)\n",
                argv[0], argv[0]);
        return 2;
    }
    ctl_bin = argv[1];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return test_run_suite(failover_suite());
}
