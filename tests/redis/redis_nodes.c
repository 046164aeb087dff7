/* SPDX-License-Identifier: MIT */
/* redis_nodes.c: several `streamyctl serve` sharing one Redis under parallel clients,
 * and Redis stopped and started again under load. */
#include <curl/curl.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * Usage (under with_redis.sh, which sets REDIS_PORT, REDIS_PID and REDIS_DIR):
 *   redis_nodes multinode STREAMYCTL
 *   redis_nodes fault STREAMYCTL
 * Exit 0 when every check held, 1 with a message on the first that did not.
 */

#define MAX_SERVERS 2
#define MAX_THREADS 8
#define LIMIT 3

static const char *ctl, *redis_dir;
static int redis_port, mult = 1;
static pid_t own_redis = -1; /* the redis-server this program started, if any */

typedef struct server {
    pid_t pid;
    int port;
    char base[64];
    char log[1024];
} server;

static server servers[MAX_SERVERS];
static int nservers;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void stop_children(void)
{
    for (int i = 0; i < nservers; i++)
        if (servers[i].pid > 0) {
            kill(servers[i].pid, SIGKILL);
            waitpid(servers[i].pid, NULL, 0);
            servers[i].pid = 0;
        }
    if (own_redis > 0) {
        kill(own_redis, SIGKILL);
        waitpid(own_redis, NULL, 0);
        own_redis = -1;
    }
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "redis_nodes: FAILED: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    for (int i = 0; i < nservers; i++) {
        char cmd[1200];
        fprintf(stderr, "--- the end of %s:\n", servers[i].log);
        snprintf(cmd, sizeof(cmd), "tail -n 5 '%s' >&2", servers[i].log);
        if (system(cmd) != 0)
            fprintf(stderr, "(cannot read it)\n");
    }
    stop_children();
    exit(1);
}

/* --- servers -------------------------------------------------------------------------
 */

static void start_server(server *s, int idx, const char *prefix)
{
    char db[256], line[512];
    size_t got = 0;
    double deadline = now_s() + 10.0 * mult;
    int out[2];
    const char *p;

    snprintf(db, sizeof(db), "redis://127.0.0.1:%d/0?prefix=%s", redis_port, prefix);
    snprintf(s->log, sizeof(s->log), "%s/serve%d.log", redis_dir, idx);
    if (pipe(out) != 0)
        fail("pipe: %s", strerror(errno));
    s->pid = fork();
    if (s->pid < 0)
        fail("fork: %s", strerror(errno));
    if (s->pid == 0) {
        FILE *log = fopen(s->log, "w");
        if (log == NULL)
            _exit(127);
        dup2(out[1], 1);
        dup2(fileno(log), 2);
        close(out[0]);
        execl(ctl, ctl, "--db", db, "--limit", "3", "serve", "--listen", "127.0.0.1:0",
              "--access-log", "off", "--threads", "2", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    nservers = idx + 1;
    /* "streamyctl serve: listening on http://127.0.0.1:PORT (store redis)" */
    while (memchr(line, '\n', got) == NULL) {
        struct pollfd pfd = {out[0], POLLIN, 0};
        ssize_t n;
        int left = (int)((deadline - now_s()) * 1000);
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            fail("server %d did not say where it listens", idx);
        n = read(out[0], line + got, sizeof(line) - 1 - got);
        if (n <= 0)
            fail("server %d ended before listening", idx);
        got += (size_t)n;
        line[got] = '\0';
    }
    close(out[0]);
    if (strstr(line, "(store redis)") == NULL ||
        (p = strstr(line, "http://127.0.0.1:")) == NULL)
        fail("server %d said: %s", idx, line);
    s->port = atoi(p + 17);
    snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
}

/* --- Redis ---------------------------------------------------------------------------
 */

static redisContext *redis_connect(void)
{
    struct timeval tv = {2 * mult, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);

    if (c == NULL || c->err)
        fail("cannot connect to redis on %d: %s", redis_port,
             c ? c->errstr : "no memory");
    redisSetTimeout(c, tv);
    return c;
}

/* Whether a new connection to the port is refused: the server is gone. */
static int redis_refused(void)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
    int refused = c == NULL || c->err != 0;

    redisFree(c);
    return refused;
}

static int redis_pings(void)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
    redisReply *r;
    int ok = 0;

    if (c != NULL && c->err == 0 && (r = redisCommand(c, "PING")) != NULL) {
        ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
        freeReplyObject(r);
    }
    redisFree(c);
    return ok;
}

/* Start redis-server again on the same port, as with_redis.sh did. */
static void redis_restart(int n)
{
    char logfile[1100], port[16];
    double deadline;

    snprintf(port, sizeof(port), "%d", redis_port);
    snprintf(logfile, sizeof(logfile), "%s/redis-restart%d.log", redis_dir, n);
    for (int attempt = 0; attempt < 20; attempt++) {
        own_redis = fork();
        if (own_redis < 0)
            fail("fork: %s", strerror(errno));
        if (own_redis == 0) {
            execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--dir", redis_dir, "--logfile",
                   logfile, "--daemonize", "no", (char *)NULL);
            _exit(127);
        }
        deadline = now_s() + 10.0 * mult;
        while (now_s() < deadline) {
            if (waitpid(own_redis, NULL, WNOHANG) == own_redis) {
                own_redis = -1; /* could not bind yet: try again */
                break;
            }
            if (redis_pings())
                return;
            sleep_ms(20);
        }
        if (own_redis > 0)
            fail("redis-server did not start again on port %d (see %s)", redis_port,
                 logfile);
        sleep_ms(100);
    }
    fail("redis-server could not listen on port %d again (see %s)", redis_port, logfile);
}

/* --- HTTP ----------------------------------------------------------------------------
 */

static size_t discard(char *p, size_t size, size_t n, void *payload)
{
    (void)p;
    (void)payload;
    return size * n;
}

static CURL *client_new(void)
{
    CURL *c = curl_easy_init();

    if (c == NULL)
        fail("curl_easy_init failed");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L * mult);
    return c;
}

/* One request; the HTTP status, or -1 when there was no answer (`err` says why). */
static long http(CURL *c, const server *s, const char *method, const char *path,
                 const char *user, const char *stream, char err[CURL_ERROR_SIZE])
{
    char url[128], body[256];
    struct curl_slist *h = NULL;
    long status = -1;

    snprintf(url, sizeof(url), "%s%s", s->base, path);
    err[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (user != NULL) {
        snprintf(body, sizeof(body), "{\"userId\":\"%s\",\"videoStreamId\":\"%s\"}", user,
                 stream);
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_HTTPGET, 0L);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    return status;
}

static uint64_t next_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* --- clients -------------------------------------------------------------------------
 */

/* One subscribe that was answered, and what became of it. */
typedef struct sub {
    char user[32], stream[32];
    double sent, answered;
    long status;
    int deleted;
} sub;

typedef struct client {
    int id;
    const server *s;
    pthread_t thread;
    sub *subs;
    size_t n, cap;
    long ok, refused, unavailable, deletes;
    char error[400];
} client;

static client clients[MAX_THREADS];
static int nclients;
static atomic_int stop_clients;

/* The fault test pauses the clients between two requests. */
static pthread_mutex_t pause_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pause_cond = PTHREAD_COND_INITIALIZER;
static int pause_wanted, paused;

static void pause_point(void)
{
    pthread_mutex_lock(&pause_lock);
    if (pause_wanted) {
        paused++;
        pthread_cond_broadcast(&pause_cond);
        while (pause_wanted)
            pthread_cond_wait(&pause_cond, &pause_lock);
        paused--;
    }
    pthread_mutex_unlock(&pause_lock);
}

static void pause_clients(void)
{
    struct timespec until;

    pthread_mutex_lock(&pause_lock);
    pause_wanted = 1;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20 * mult;
    while (paused < nclients)
        if (pthread_cond_timedwait(&pause_cond, &pause_lock, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&pause_lock);
            fail("the clients did not pause (a request hangs?)");
        }
    pthread_mutex_unlock(&pause_lock);
}

static void resume_clients(void)
{
    pthread_mutex_lock(&pause_lock);
    pause_wanted = 0;
    pthread_cond_broadcast(&pause_cond);
    pthread_mutex_unlock(&pause_lock);
}

static sub *add_sub(client *cl)
{
    if (cl->n == cl->cap) {
        size_t cap = cl->cap ? 2 * cl->cap : 256;
        sub *v = realloc(cl->subs, cap * sizeof(*v));
        if (v == NULL)
            fail("out of memory");
        cl->subs = v;
        cl->cap = cap;
    }
    memset(&cl->subs[cl->n], 0, sizeof(sub));
    return &cl->subs[cl->n++];
}

/* Multinode: subscribe new streams for a few shared users, unsubscribe some of the
 * streams this client got. */
static void *multinode_client(void *arg)
{
    client *cl = arg;
    uint64_t seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(cl->id + 1);
    CURL *c = client_new();
    char err[CURL_ERROR_SIZE];
    int seq = 0;

    while (!atomic_load(&stop_clients) && cl->error[0] == '\0') {
        size_t held = 0, pick;
        for (size_t i = 0; i < cl->n; i++)
            held += cl->subs[i].status == 200 && !cl->subs[i].deleted;
        if (held > 0 && next_rand(&seed) % 2 == 0) {
            pick = (size_t)(next_rand(&seed) % held);
            for (size_t i = 0; i < cl->n; i++) {
                sub *s = &cl->subs[i];
                if (s->status != 200 || s->deleted || pick-- > 0)
                    continue;
                long st = http(c, cl->s, "DELETE", "/video-streams/subscription", s->user,
                               s->stream, err);
                if (st != 204)
                    snprintf(cl->error, sizeof(cl->error), "DELETE %s %s: %ld %s",
                             s->user, s->stream, st, err);
                s->deleted = 1;
                cl->deletes++;
                break;
            }
        } else {
            sub *s = add_sub(cl);
            snprintf(s->user, sizeof(s->user), "mn-user-%d", (int)(next_rand(&seed) % 4));
            snprintf(s->stream, sizeof(s->stream), "c%d-%d", cl->id, seq++);
            s->status = http(c, cl->s, "POST", "/video-streams/subscription", s->user,
                             s->stream, err);
            if (s->status == 200)
                cl->ok++;
            else if (s->status == 429)
                cl->refused++;
            else
                snprintf(cl->error, sizeof(cl->error), "POST %s %s: %ld %s", s->user,
                         s->stream, s->status, err);
        }
    }
    curl_easy_cleanup(c);
    return NULL;
}

/* Fault: subscribe a new user each time, so every answer is 200 while Redis is up. */
static void *fault_client(void *arg)
{
    client *cl = arg;
    CURL *c = client_new();
    char err[CURL_ERROR_SIZE];
    int seq = 0;

    while (!atomic_load(&stop_clients) && cl->error[0] == '\0') {
        sub *s;
        pause_point();
        s = add_sub(cl);
        snprintf(s->user, sizeof(s->user), "f-%d-%d", cl->id, seq++);
        snprintf(s->stream, sizeof(s->stream), "s");
        s->sent = now_s();
        s->status = http(c, cl->s, "POST", "/video-streams/subscription", s->user,
                         s->stream, err);
        s->answered = now_s();
        if (s->status == 200)
            cl->ok++;
        else if (s->status == 503)
            cl->unavailable++;
        else
            snprintf(cl->error, sizeof(cl->error), "POST %s %s: %ld %s", s->user,
                     s->stream, s->status, err);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void start_clients(int n, void *(*fn)(void *))
{
    atomic_store(&stop_clients, 0);
    nclients = n;
    for (int i = 0; i < n; i++) {
        clients[i].id = i;
        clients[i].s = &servers[i % nservers];
        if (pthread_create(&clients[i].thread, NULL, fn, &clients[i]) != 0)
            fail("cannot start a client thread");
    }
}

static void join_clients(void)
{
    atomic_store(&stop_clients, 1);
    resume_clients();
    for (int i = 0; i < nclients; i++) {
        pthread_join(clients[i].thread, NULL);
        if (clients[i].error[0] != '\0')
            fail("client %d: %s", i, clients[i].error);
    }
}

/* --- multinode -----------------------------------------------------------------------
 */

static atomic_int stop_monitor;
static long polls, worst;
static char monitor_error[200];

/* Poll every user's lease count in Redis, as fast as it answers, during the run. */
static void *monitor(void *arg)
{
    redisContext *c = redis_connect();
    (void)arg;

    while (!atomic_load(&stop_monitor)) {
        for (int u = 0; u < 4; u++)
            redisAppendCommand(c, "HLEN mn:streamy:{mn-user-%d}:leases", u);
        for (int u = 0; u < 4; u++) {
            redisReply *r;
            if (redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL ||
                r->type != REDIS_REPLY_INTEGER) {
                snprintf(monitor_error, sizeof(monitor_error), "HLEN failed: %s",
                         c->errstr);
                redisFree(c);
                return NULL;
            }
            if (r->integer > worst)
                worst = r->integer;
            if (r->integer > LIMIT && monitor_error[0] == '\0')
                snprintf(monitor_error, sizeof(monitor_error),
                         "mn-user-%d holds %lld leases at poll %ld (limit %d)", u,
                         r->integer, polls, LIMIT);
            freeReplyObject(r);
        }
        polls++;
    }
    redisFree(c);
    return NULL;
}

static int run_multinode(void)
{
    pthread_t mon;
    redisContext *c;
    long ok = 0, refused = 0, deletes = 0, expected = 0;
    double t0;

    start_server(&servers[0], 0, "mn:");
    start_server(&servers[1], 1, "mn:");
    if (pthread_create(&mon, NULL, monitor, NULL) != 0)
        fail("cannot start the monitor");
    start_clients(MAX_THREADS, multinode_client);
    t0 = now_s();
    sleep_ms(3000);
    join_clients();
    atomic_store(&stop_monitor, 1);
    pthread_join(mon, NULL);
    if (monitor_error[0] != '\0')
        fail("monitor: %s", monitor_error);
    for (int i = 0; i < nclients; i++) {
        ok += clients[i].ok;
        refused += clients[i].refused;
        deletes += clients[i].deletes;
    }
    printf(
        "multinode: %d servers, %d clients, %.1f s: %ld subscribes answered 200, %ld "
        "answered 429, %ld unsubscribes; the monitor polled %ld times, the most leases "
        "it saw was %ld\n",
        nservers, nclients, now_s() - t0, ok, refused, deletes, polls, worst);
    if (polls < 100)
        fail("the monitor polled only %ld times", polls);
    if (ok < 20 || refused < 20)
        fail("too little contention to tell: %ld allowed, %ld refused", ok, refused);
    if (worst != LIMIT)
        fail("no user ever reached the limit (most seen: %ld)", worst);

    /* Every stream answered 200 and not deleted by its client is in Redis; nothing else.
     */
    c = redis_connect();
    for (int u = 0; u < 4; u++) {
        char user[32];
        redisReply *r;
        long want = 0;

        snprintf(user, sizeof(user), "mn-user-%d", u);
        for (int i = 0; i < nclients; i++)
            for (size_t k = 0; k < clients[i].n; k++) {
                sub *s = &clients[i].subs[k];
                if (s->status != 200 || s->deleted || strcmp(s->user, user) != 0)
                    continue;
                want++;
                r = redisCommand(c, "HEXISTS mn:streamy:{%s}:leases %s", user, s->stream);
                if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != 1)
                    fail("%s %s was answered 200 and never deleted, but is not in Redis",
                         user, s->stream);
                freeReplyObject(r);
            }
        r = redisCommand(c, "HLEN mn:streamy:{%s}:leases", user);
        if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != want)
            fail("%s holds %lld leases in Redis, %ld were granted and kept", user,
                 r ? r->integer : -1LL, want);
        freeReplyObject(r);
        expected += want;
    }
    redisFree(c);
    printf("multinode: the %ld leases granted and kept are in Redis, and nothing else\n",
           expected);
    return 0;
}

/* --- fault ---------------------------------------------------------------------------
 */

/* Every 200 answered so far whose request went out at or after `since` is in Redis. */
static long check_recorded(double since, const char *when)
{
    redisContext *c = redis_connect();
    long n = 0;

    for (int i = 0; i < nclients; i++)
        for (size_t k = 0; k < clients[i].n; k++) {
            sub *s = &clients[i].subs[k];
            redisReply *r;
            if (s->status != 200 || s->sent < since)
                continue;
            r = redisCommand(c, "HEXISTS fa:streamy:{%s}:leases s", s->user);
            if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != 1)
                fail("%s: %s was answered 200 but is not in Redis", when, s->user);
            freeReplyObject(r);
            n++;
        }
    redisFree(c);
    return n;
}

static long count_ok_since(double since)
{
    long n = 0;

    pthread_mutex_lock(&pause_lock);
    for (int i = 0; i < nclients; i++)
        for (size_t k = 0; k < clients[i].n; k++)
            n += clients[i].subs[k].status == 200 && clients[i].subs[k].sent >= since;
    pthread_mutex_unlock(&pause_lock);
    return n;
}

/* Wait (bounded) until the clients got `n` answers 200 to requests sent after `since`;
 * the clients are paused to count. */
static void wait_ok_since(double since, long n, const char *what)
{
    double deadline = now_s() + 20.0 * mult;

    for (;;) {
        long got;
        pause_clients();
        got = count_ok_since(since);
        resume_clients();
        if (got >= n)
            return;
        if (now_s() > deadline)
            fail("%s: only %ld answers 200 in %d s", what, got, 20 * mult);
        sleep_ms(50);
    }
}

/* Requests sent once Redis was gone and answered before it was back: all 503. */
static long check_downtime(double down, double up, const char *what)
{
    long n = 0;

    for (int i = 0; i < nclients; i++)
        for (size_t k = 0; k < clients[i].n; k++) {
            sub *s = &clients[i].subs[k];
            if (s->sent < down || s->answered > up)
                continue;
            if (s->status != 503)
                fail("%s: %s sent while Redis was down was answered %ld", what, s->user,
                     s->status);
            n++;
        }
    if (n == 0)
        fail("%s: no request ran while Redis was down", what);
    return n;
}

static void expect_health(long want, const char *what)
{
    CURL *c = client_new();
    char err[CURL_ERROR_SIZE];
    long st = http(c, &servers[0], "GET", "/health", NULL, NULL, err);

    curl_easy_cleanup(c);
    if (st != want)
        fail("%s: GET /health answered %ld, expected %ld %s", what, st, want, err);
}

static int run_fault(void)
{
    const char *pidtext = getenv("REDIS_PID");
    pid_t harness_redis = pidtext ? (pid_t)atoi(pidtext) : 0;
    /* t_back: when a new redis-server was started; requests answered before then
     * cannot have reached one. t_up: when it answered. */
    double t_down1, t_back1, t_up1, t_down2, t_back2, t_up2, deadline;
    long rec1, rec2, rec3, down1, down2;
    redisContext *c;
    redisReply *r;

    if (harness_redis <= 0)
        fail("REDIS_PID is not set: run under with_redis.sh");
    start_server(&servers[0], 0, "fa:");
    start_clients(4, fault_client);
    wait_ok_since(0, 200, "before the first stop");

    /* 1. With the clients paused: every 200 so far is in Redis; then SHUTDOWN NOSAVE,
     * and the clients go on against a Redis that is gone. */
    pause_clients();
    rec1 = check_recorded(0, "just before the first stop");
    c = redis_connect();
    r = redisCommand(c, "SHUTDOWN NOSAVE"); /* no answer: the server is gone */
    if (r != NULL)
        freeReplyObject(r);
    redisFree(c);
    deadline = now_s() + 10.0 * mult;
    while (!redis_refused()) {
        if (now_s() > deadline)
            fail("redis-server did not stop");
        sleep_ms(10);
    }
    t_down1 = now_s();
    resume_clients();
    sleep_ms(400);
    expect_health(503, "while Redis is down");
    t_back1 = now_s();
    redis_restart(1);
    t_up1 = now_s();
    wait_ok_since(t_up1, 100, "after the first restart");
    expect_health(200, "after the first restart");

    /* 2. Every 200 since Redis went down is in the new Redis; then kill it with SIGTERM
     * while requests are in flight. */
    pause_clients();
    rec2 = check_recorded(t_down1, "just before the second stop");
    resume_clients();
    sleep_ms(200);
    kill(own_redis, SIGTERM);
    waitpid(own_redis, NULL, 0);
    own_redis = -1;
    t_down2 = now_s();
    sleep_ms(400);
    t_back2 = now_s();
    redis_restart(2);
    t_up2 = now_s();
    wait_ok_since(t_up2, 100, "after the second restart");
    join_clients();
    expect_health(200, "at the end");
    if (waitpid(servers[0].pid, NULL, WNOHANG) != 0)
        fail("streamyctl serve is no longer running");

    down1 = check_downtime(t_down1, t_back1, "first stop");
    down2 = check_downtime(t_down2, t_back2, "second stop");
    rec3 = check_recorded(t_down2, "after the second restart");
    printf(
        "fault: %ld answers 200 recorded before the first stop, %ld between the stops, "
        "%ld after the second restart; %ld and %ld requests while Redis was down, all "
        "503\n",
        rec1, rec2, rec3, down1, down2);
    return 0;
}

int main(int argc, char **argv)
{
    const char *p = getenv("REDIS_PORT"), *m = getenv("STREAMY_TEST_TIMEOUT_MULTIPLIER");
    int rc;

    if (argc != 3 || p == NULL || (redis_dir = getenv("REDIS_DIR")) == NULL) {
        fprintf(stderr, "usage: with_redis.sh redis_nodes multinode|fault STREAMYCTL\n");
        return 2;
    }
    ctl = argv[2];
    redis_port = atoi(p);
    if (m != NULL && atoi(m) > 0)
        mult = atoi(m);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(argv[1], "multinode") == 0)
        rc = run_multinode();
    else if (strcmp(argv[1], "fault") == 0)
        rc = run_fault();
    else
        fail("unknown mode %s", argv[1]);
    for (int i = 0; i < nservers; i++) {
        int status;
        kill(servers[i].pid, SIGTERM);
        waitpid(servers[i].pid, &status, 0);
        servers[i].pid = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail("server %d did not stop cleanly", i);
    }
    stop_children();
    curl_global_cleanup();
    return rc;
}
