/* SPDX-License-Identifier: MIT */
/* check_pg_nodes.c: several `streamyctl serve` sharing one PostgreSQL, under parallel
 * clients; and PostgreSQL stopped and started again under load. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#define LIMIT 3
#define MAX_SERVERS 4
#define MAX_CLIENTS 8
#define MAX_USERS 8

static const char *ctl_bin;  /* streamyctl */
static const char *base_uri; /* from pg_harness.sh */
static const char *pg_ctl;   /* $STREAMY_PG_CTL: stop | start */

/* --- the servers ------------------------------------------------------------------- */

typedef struct server {
    pid_t pid;
    unsigned port;
    char log[512];
} server;

/* Start `streamyctl --db DB --limit 3 serve --listen 127.0.0.1:0` and read its port
 * from the one line it prints, which must name the postgresql store. */
static void server_start(server *sv, const char *db, const char *dir, int idx)
{
    int out[2];
    char line[512];
    size_t n = 0;
    int64_t deadline = test_monotonic_us() + test_bound_us(20000);

    snprintf(sv->log, sizeof(sv->log), "%s/server%d.log", dir, idx);
    ck_assert_int_eq(pipe(out), 0);
    sv->pid = fork();
    ck_assert_int_ge(sv->pid, 0);
    if (sv->pid == 0) {
        int log = open(sv->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(out[1], 1);
        if (log >= 0)
            dup2(log, 2);
        close(out[0]);
        execl(ctl_bin, ctl_bin, "--db", db, "--limit", "3", "--busy-timeout", "5s",
              "serve", "--listen", "127.0.0.1:0", "--access-log", "off", "--threads", "2",
              (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    while (n + 1 < sizeof(line) && (n == 0 || line[n - 1] != '\n')) {
        struct pollfd p = {out[0], POLLIN, 0};
        int64_t left = deadline - test_monotonic_us();
        ssize_t got;
        ck_assert_msg(left > 0, "server %d did not say where it listens (log %s)", idx,
                      sv->log);
        if (poll(&p, 1, (int)(left / 1000) + 1) <= 0)
            continue;
        got = read(out[0], line + n, 1);
        ck_assert_msg(got == 1, "server %d ended before listening (log %s)", idx,
                      sv->log);
        n++;
    }
    line[n] = '\0';
    close(out[0]);
    ck_assert_msg(sscanf(line, "streamyctl serve: listening on http://127.0.0.1:%u",
                         &sv->port) == 1,
                  "unexpected first line: %s", line);
    ck_assert_msg(strstr(line, "(store postgresql)") != NULL, "wrong store: %s", line);
}

static void server_stop(server *sv)
{
    int64_t deadline = test_monotonic_us() + test_bound_us(20000);
    int status;
    pid_t w;

    kill(sv->pid, SIGTERM);
    while ((w = waitpid(sv->pid, &status, WNOHANG)) == 0 &&
           test_monotonic_us() < deadline)
        test_sleep_ms(10);
    if (w == 0) {
        kill(sv->pid, SIGKILL);
        waitpid(sv->pid, &status, 0);
        ck_abort_msg("server on port %u did not stop on SIGTERM", sv->port);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "server on port %u ended with status %d (log %s)", sv->port, status,
                  sv->log);
}

/* --- the clients ---------------------------------------------------------------------
 */

/* Progress of all clients, in memory shared across fork(). */
typedef struct shared {
    atomic_long requests, ok, unavailable, other;
    atomic_int stop;
} shared;

static shared *progress;

typedef struct client_cfg {
    int id, nservers, nusers;
    unsigned ports[MAX_SERVERS];
    long max_ops; /* 0: until progress->stop */
    int go;       /* when >= 0: start when this pipe's write end closes */
    int go_write; /* that write end, which the client closes */
    char out[512];
} client_cfg;

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n;
}

static long http(CURL *e, unsigned port, const char *method, const char *user,
                 const char *stream)
{
    char url[128], body[256];
    long status = 0;

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/video-streams/subscription", port);
    snprintf(body, sizeof(body), "{\"userId\":\"%s\",\"videoStreamId\":\"%s\"}", user,
             stream);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* A client's streams of one user, in two lists: held (answered 200) and in doubt (a
 * request on it answered 503, so it may or may not be in the store). */
#define PER_USER 64
typedef struct streams {
    char held[PER_USER][32], doubt[PER_USER][32];
    int nheld, ndoubt;
} streams;

static void take(char (*list)[32], int *n, int k, char *out)
{
    snprintf(out, 32, "%s", list[k]);
    memmove(list[k], list[--*n], 32);
}

/*
 * One client process: subscribe new streams and unsubscribe its own, for a few users
 * shared with every other client, through every server. Streams left in doubt by a
 * 503 are unsubscribed again later (unsubscribe is idempotent). It writes:
 *   R start_us end_us METHOD status       every request
 *   H user stream                         held: answered 200, never unsubscribed since
 *   A user stream                         still in doubt at the end
 */
static void client_main(const client_cfg *cfg)
{
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    CURL *e[MAX_SERVERS];
    static streams st[MAX_USERS];
    unsigned seed = 2654435761u * (unsigned)(cfg->id + 1);
    FILE *out = fopen(cfg->out, "w");
    long seq = 0;

    if (cfg->go >= 0) {
        char b;
        close(cfg->go_write);
        if (read(cfg->go, &b, 1) != 0)
            test_child_exit(4);
        close(cfg->go);
    }
    if (out == NULL || hdr == NULL)
        test_child_exit(3);
    for (int i = 0; i < cfg->nservers; i++) {
        e[i] = curl_easy_init();
        curl_easy_setopt(e[i], CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(e[i], CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(e[i], CURLOPT_TIMEOUT_MS, 30000L);
        curl_easy_setopt(e[i], CURLOPT_NOSIGNAL, 1L);
    }
    for (long op = 0; cfg->max_ops ? op < cfg->max_ops : !atomic_load(&progress->stop);
         op++) {
        char user[16], stream[32];
        int u, del, srv;
        int64_t t0, t1;
        long status;
        streams *s;

        seed = seed * 1103515245u + 12345u;
        u = (int)((seed >> 16) % (unsigned)cfg->nusers);
        srv = (int)((seed >> 8) % (unsigned)cfg->nservers);
        s = &st[u];
        snprintf(user, sizeof(user), "user%d", u);
        if (s->ndoubt > 0 && (s->ndoubt == PER_USER || (seed >> 24) % 2 == 0)) {
            del = 1;
            take(s->doubt, &s->ndoubt, (int)((seed >> 4) % (unsigned)s->ndoubt), stream);
        } else if (s->nheld > 0 && (s->nheld == PER_USER || (seed >> 25) % 2 == 0)) {
            del = 1;
            take(s->held, &s->nheld, (int)((seed >> 4) % (unsigned)s->nheld), stream);
        } else {
            del = 0;
            snprintf(stream, sizeof(stream), "c%d-%ld", cfg->id, seq++);
        }
        t0 = test_monotonic_us();
        status = http(e[srv], cfg->ports[srv], del ? "DELETE" : "POST", user, stream);
        t1 = test_monotonic_us();
        fprintf(out, "R %lld %lld %s %ld\n", (long long)t0, (long long)t1,
                del ? "DELETE" : "POST", status);
        atomic_fetch_add(&progress->requests, 1);
        if (status == 200 || status == 204)
            atomic_fetch_add(&progress->ok, 1);
        else if (status == 503)
            atomic_fetch_add(&progress->unavailable, 1);
        else if (status != 429)
            atomic_fetch_add(&progress->other, 1);
        if (!del && status == 200)
            snprintf(s->held[s->nheld++], 32, "%s", stream);
        else if (status != 200 && status != 204 && status != 429)
            snprintf(s->doubt[s->ndoubt++], 32, "%s", stream);
    }
    /* Settle what is in doubt: unsubscribe it once more. */
    for (int u = 0; u < cfg->nusers; u++) {
        char user[16], stream[32];
        int left = st[u].ndoubt;
        snprintf(user, sizeof(user), "user%d", u);
        while (left-- > 0) {
            take(st[u].doubt, &st[u].ndoubt, 0, stream);
            if (http(e[0], cfg->ports[0], "DELETE", user, stream) != 204)
                snprintf(st[u].doubt[st[u].ndoubt++], 32, "%s", stream);
        }
    }
    for (int u = 0; u < cfg->nusers; u++) {
        for (int k = 0; k < st[u].nheld; k++)
            fprintf(out, "H user%d %s\n", u, st[u].held[k]);
        for (int k = 0; k < st[u].ndoubt; k++)
            fprintf(out, "A user%d %s\n", u, st[u].doubt[k]);
    }
    fclose(out);
    for (int i = 0; i < cfg->nservers; i++)
        curl_easy_cleanup(e[i]);
    curl_slist_free_all(hdr);
    test_child_exit(0);
}

static pid_t client_start(const client_cfg *cfg)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        client_main(cfg);
    return pid;
}

static void clients_wait(const pid_t *pids, int n, int timeout_ms)
{
    int64_t deadline = test_monotonic_us() + test_bound_us(timeout_ms);

    for (int i = 0; i < n; i++) {
        int status;
        pid_t w;
        while ((w = waitpid(pids[i], &status, WNOHANG)) == 0 &&
               test_monotonic_us() < deadline)
            test_sleep_ms(10);
        if (w == 0) {
            for (int k = i; k < n; k++)
                kill(pids[k], SIGKILL);
            ck_abort_msg("client %d did not finish in time", i);
        }
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "client %d ended with status %d", i, status);
    }
}

/* --- what the clients know, against what the store holds -----------------------------
 */

typedef struct lease_set {
    char (*v)[48];
    size_t n, cap;
} lease_set;

static void set_add(lease_set *s, const char *user, const char *stream)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        ck_assert_ptr_nonnull(s->v);
    }
    snprintf(s->v[s->n++], sizeof(s->v[0]), "%s %s", user, stream);
}

static int set_has(const lease_set *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], key) == 0)
            return 1;
    return 0;
}

/* Requests of all clients, for the timing checks of the fault test. */
typedef struct request {
    int64_t start, end;
    long status;
} request;

typedef struct outcome {
    lease_set held, unknown, table;
    request *req;
    size_t nreq, capreq;
    long posts_ok, posts_refused, deletes_ok, unavailable, unexpected;
} outcome;

static void read_client(outcome *o, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[256], a[64], b[64], m[16];
    long long t0, t1;
    long st;

    ck_assert_msg(f != NULL, "no client output %s", path);
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "R %lld %lld %15s %ld", &t0, &t1, m, &st) == 4) {
            if (o->nreq == o->capreq) {
                o->capreq = o->capreq ? 2 * o->capreq : 1024;
                o->req = realloc(o->req, o->capreq * sizeof(*o->req));
                ck_assert_ptr_nonnull(o->req);
            }
            o->req[o->nreq++] = (request){t0, t1, st};
            if (strcmp(m, "POST") == 0 && st == 200)
                o->posts_ok++;
            else if (strcmp(m, "POST") == 0 && st == 429)
                o->posts_refused++;
            else if (strcmp(m, "DELETE") == 0 && st == 204)
                o->deletes_ok++;
            else if (st == 503)
                o->unavailable++;
            else
                o->unexpected++;
        } else if (sscanf(line, "H %63s %63s", a, b) == 2) {
            set_add(&o->held, a, b);
        } else if (sscanf(line, "A %63s %63s", a, b) == 2) {
            set_add(&o->unknown, a, b);
        }
    }
    fclose(f);
}

static PGconn *pg_connect(void)
{
    PGconn *c = PQconnectdb(base_uri);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    return c;
}

static void read_table(outcome *o, const char *schema)
{
    PGconn *c = pg_connect();
    char sql[256];
    PGresult *r;

    snprintf(sql, sizeof(sql), "SELECT user_id, stream_id FROM \"%s\".leases", schema);
    r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    for (int i = 0; i < PQntuples(r); i++)
        set_add(&o->table, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
    PQclear(r);
    PQfinish(c);
}

/* Every lease a client holds is in the table, and the table holds nothing else but
 * leases whose fate a failed request left unknown. */
static void check_table(const outcome *o)
{
    for (size_t i = 0; i < o->held.n; i++)
        ck_assert_msg(set_has(&o->table, o->held.v[i]),
                      "acknowledged but not in the store: %s", o->held.v[i]);
    for (size_t i = 0; i < o->table.n; i++)
        ck_assert_msg(set_has(&o->held, o->table.v[i]) ||
                          set_has(&o->unknown, o->table.v[i]),
                      "in the store but never acknowledged: %s", o->table.v[i]);
}

static void outcome_free(outcome *o)
{
    free(o->held.v);
    free(o->unknown.v);
    free(o->table.v);
    free(o->req);
}

/* --- the monitor: polls PostgreSQL for a user over the limit, during the load ------- */

typedef struct monitor {
    const char *schema;
    atomic_int stop;
    long polls, failed_polls;
    char violation[256];
    pthread_t thread;
} monitor;

static void *monitor_main(void *arg)
{
    monitor *m = arg;
    PGconn *c = PQconnectdb(base_uri);
    char sql[256];

    snprintf(
        sql, sizeof(sql),
        "SELECT user_id, count(*) FROM \"%s\".leases GROUP BY 1 HAVING count(*) > %d",
        m->schema, LIMIT);
    while (!atomic_load(&m->stop)) {
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            m->polls++;
            if (PQntuples(r) > 0 && m->violation[0] == '\0')
                snprintf(m->violation, sizeof(m->violation),
                         "%s holds %s leases (limit %d)", PQgetvalue(r, 0, 0),
                         PQgetvalue(r, 0, 1), LIMIT);
        } else {
            m->failed_polls++; /* the table may not exist yet */
        }
        PQclear(r);
        test_sleep_ms(1);
    }
    PQfinish(c);
    return NULL;
}

/* --- the tests ------------------------------------------------------------------------
 */

static char *tmp;

static void setup(void)
{
    tmp = test_tmpdir();
    progress = mmap(NULL, sizeof(*progress), PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(progress, MAP_FAILED);
    memset(progress, 0, sizeof(*progress));
}

static void teardown(void)
{
    munmap(progress, sizeof(*progress));
    test_tmpdir_free(tmp);
}

static void db_uri(char *out, size_t size, const char *schema)
{
    snprintf(out, size, "%s?streamy_schema=%s&application_name=streamy_%s", base_uri,
             schema, schema);
}

START_TEST(nodes_share_one_database)
{
    enum { SERVERS = 3, CLIENTS = 6, USERS = 3, OPS = 400 };
    server sv[SERVERS];
    pid_t pids[CLIENTS];
    client_cfg cfg;
    monitor mon;
    outcome o;
    char db[1024];
    int go[2];

    memset(&o, 0, sizeof(o));
    memset(&mon, 0, sizeof(mon));
    db_uri(db, sizeof(db), "nodes");
    /* The servers start together: they create the schema together. */
    for (int i = 0; i < SERVERS; i++)
        server_start(&sv[i], db, tmp, i);
    memset(&cfg, 0, sizeof(cfg));
    cfg.nservers = SERVERS;
    cfg.nusers = USERS;
    cfg.max_ops = OPS;
    for (int i = 0; i < SERVERS; i++)
        cfg.ports[i] = sv[i].port;
    /* The clients are forked before the monitor thread exists (a child of a threaded
     * process would hold the monitor's memory, unreachable for its leak check), and
     * start once it runs. */
    ck_assert_int_eq(pipe(go), 0);
    cfg.go = go[0];
    cfg.go_write = go[1];
    for (int i = 0; i < CLIENTS; i++) {
        cfg.id = i;
        snprintf(cfg.out, sizeof(cfg.out), "%s/client%d.out", tmp, i);
        pids[i] = client_start(&cfg);
    }
    close(go[0]);
    mon.schema = "nodes";
    ck_assert_int_eq(pthread_create(&mon.thread, NULL, monitor_main, &mon), 0);
    close(go[1]);
    clients_wait(pids, CLIENTS, 90000);
    atomic_store(&mon.stop, 1);
    pthread_join(mon.thread, NULL);
    for (int i = 0; i < SERVERS; i++)
        server_stop(&sv[i]);

    ck_assert_msg(mon.violation[0] == '\0', "the limit was broken: %s", mon.violation);
    ck_assert_msg(mon.polls >= 50, "the monitor polled only %ld times", mon.polls);
    for (int i = 0; i < CLIENTS; i++) {
        snprintf(cfg.out, sizeof(cfg.out), "%s/client%d.out", tmp, i);
        read_client(&o, cfg.out);
    }
    read_table(&o, "nodes");
    fprintf(stderr,
            "nodes: %zu requests: %ld subscribes allowed, %ld refused, %ld unsubscribes; "
            "%zu leases at the end; the monitor polled %ld times\n",
            o.nreq, o.posts_ok, o.posts_refused, o.deletes_ok, o.table.n, mon.polls);
    ck_assert_int_eq((long)o.nreq, CLIENTS * OPS);
    ck_assert_msg(o.unavailable == 0 && o.unexpected == 0,
                  "%ld answers 503 and %ld unexpected answers without any fault",
                  o.unavailable, o.unexpected);
    ck_assert_msg(o.posts_refused > 0 && o.posts_ok > 0 && o.deletes_ok > 0,
                  "the load did not reach the limit");
    ck_assert_int_eq(o.unknown.n, 0);
    check_table(&o);
    outcome_free(&o);
}
END_TEST

static long health(unsigned port)
{
    CURL *e = curl_easy_init();
    char url[128];
    long status = 0;

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/health", port);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    return status;
}

static void pg_control(const char *what)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "\"%s\" %s", pg_ctl, what);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
}

/* The servers of the test in progress, whose logs a failure shows. */
static server *servers;
static int nservers;

static void show_logs(void)
{
    for (int i = 0; i < nservers; i++) {
        char line[1024];
        FILE *f = fopen(servers[i].log, "r");
        long n = 0;
        fprintf(stderr, "--- the end of %s\n", servers[i].log);
        while (f != NULL && fgets(line, sizeof(line), f))
            if (++n > 0)
                fputs(line, stderr);
        if (f != NULL)
            fclose(f);
    }
}

/* Wait until `*counter` reaches `target` (bounded). */
static void wait_for(atomic_long *counter, long target, const char *what)
{
    int64_t deadline = test_monotonic_us() + test_bound_us(30000);
    while (atomic_load(counter) < target) {
        if (test_monotonic_us() >= deadline) {
            show_logs();
            ck_abort_msg(
                "timed out waiting for %s (%ld of %ld); requests %ld: ok %ld, 503 "
                "%ld, other %ld",
                what, atomic_load(counter), target, atomic_load(&progress->requests),
                atomic_load(&progress->ok), atomic_load(&progress->unavailable),
                atomic_load(&progress->other));
        }
        test_sleep_ms(5);
    }
}

START_TEST(database_stopped_and_started_under_load)
{
    enum { SERVERS = 2, CLIENTS = 4, USERS = 4 };
    server sv[SERVERS];
    pid_t pids[CLIENTS];
    client_cfg cfg;
    outcome o;
    char db[1024];
    int64_t stopped, starting, started, deadline;
    long in_window = 0, after = 0;

    memset(&o, 0, sizeof(o));
    db_uri(db, sizeof(db), "fault");
    servers = sv;
    nservers = SERVERS;
    for (int i = 0; i < SERVERS; i++)
        server_start(&sv[i], db, tmp, i);
    memset(&cfg, 0, sizeof(cfg));
    cfg.nservers = SERVERS;
    cfg.nusers = USERS;
    cfg.go = -1;
    for (int i = 0; i < SERVERS; i++)
        cfg.ports[i] = sv[i].port;
    for (int i = 0; i < CLIENTS; i++) {
        cfg.id = i;
        snprintf(cfg.out, sizeof(cfg.out), "%s/client%d.out", tmp, i);
        pids[i] = client_start(&cfg);
    }
    /* Load, then the database goes away at once. */
    wait_for(&progress->ok, 200, "answers before the stop");
    pg_control("stop");
    stopped = test_monotonic_us();
    /* While it is away every decision fails, with 503. */
    wait_for(&progress->unavailable, atomic_load(&progress->unavailable) + 100,
             "503 answers while the database is down");
    for (int i = 0; i < SERVERS; i++)
        ck_assert_int_eq(health(sv[i].port), 503);
    starting = test_monotonic_us();
    pg_control("start");
    started = test_monotonic_us();
    /* The servers recover by themselves. */
    deadline = test_monotonic_us() + test_bound_us(30000);
    for (int i = 0; i < SERVERS; i++)
        while (health(sv[i].port) != 200) {
            ck_assert_msg(test_monotonic_us() < deadline, "server %d does not recover",
                          i);
            test_sleep_ms(20);
        }
    wait_for(&progress->ok, atomic_load(&progress->ok) + 200,
             "answers after the restart");
    atomic_store(&progress->stop, 1);
    clients_wait(pids, CLIENTS, 60000);
    for (int i = 0; i < SERVERS; i++)
        server_stop(&sv[i]);

    for (int i = 0; i < CLIENTS; i++) {
        snprintf(cfg.out, sizeof(cfg.out), "%s/client%d.out", tmp, i);
        read_client(&o, cfg.out);
    }
    for (size_t i = 0; i < o.nreq; i++) {
        const request *r = &o.req[i];
        if (r->start >= stopped && r->end <= starting) {
            in_window++;
            ck_assert_msg(r->status == 503,
                          "a request made while the database was down was answered %ld",
                          r->status);
        }
        if (r->start >= started && (r->status == 200 || r->status == 204))
            after++;
    }
    read_table(&o, "fault");
    fprintf(
        stderr,
        "fault: %zu requests, %ld while the database was down (all 503), %ld answered "
        "after the restart; %zu leases held, %zu unknown, %zu in the store\n",
        o.nreq, in_window, after, o.held.n, o.unknown.n, o.table.n);
    ck_assert_int_ge(in_window, 50);
    ck_assert_int_ge(after, 100);
    ck_assert_msg(o.unexpected == 0, "%ld unexpected answers", o.unexpected);
    /* Every 200 survived the restart; nothing unacknowledged appeared. */
    check_table(&o);
    outcome_free(&o);
}
END_TEST

static Suite *nodes_suite(void)
{
    Suite *s = suite_create("postgresql nodes");
    TCase *tc = tcase_create("nodes");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, test_timeout_scale(120));
    tcase_add_test(tc, nodes_share_one_database);
    suite_add_tcase(s, tc);
    tc = tcase_create("fault");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, test_timeout_scale(120));
    tcase_add_test(tc, database_stopped_and_started_under_load);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 2 || (base_uri = getenv("STREAMY_PG_URI")) == NULL ||
        (pg_ctl = getenv("STREAMY_PG_CTL")) == NULL) {
        fprintf(stderr, "usage: tests/pg/pg_harness.sh %s STREAMYCTL\n", argv[0]);
        return 2;
    }
    ctl_bin = argv[1];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return test_run_suite(nodes_suite());
}
