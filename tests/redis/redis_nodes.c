/* SPDX-License-Identifier: MIT */
/* redis_nodes.c: several `streamyctl serve` sharing one Redis under parallel clients,
 * and Redis stopped and started again under load, failing closed and failing open. */
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
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * Usage (under with_redis.sh, which sets REDIS_PORT, REDIS_PID and REDIS_DIR):
 *   redis_nodes multinode STREAMYCTL
 *   redis_nodes fault STREAMYCTL
 *   redis_nodes degraded STREAMYCTL
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

/* `on_store_error`: the value of --on-store-error, or NULL to leave the default. */
static void start_server(server *s, int idx, const char *prefix,
                         const char *on_store_error)
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
              "--access-log", "off", "--threads", "2",
              on_store_error ? "--on-store-error" : (char *)NULL, on_store_error,
              (char *)NULL);
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

/* What came back besides the status: the body (cut to fit) and the degraded mark. */
typedef struct answer {
    char body[8192];
    size_t len;
    int degraded; /* X-Streamy-Degraded: store-unavailable */
} answer;

static size_t collect(char *p, size_t size, size_t n, void *payload)
{
    answer *a = payload;
    size_t take = size * n;

    if (take > sizeof(a->body) - 1 - a->len)
        take = sizeof(a->body) - 1 - a->len;
    memcpy(a->body + a->len, p, take);
    a->len += take;
    a->body[a->len] = '\0';
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *payload)
{
    static const char mark[] = "X-Streamy-Degraded: store-unavailable\r\n";

    if (size * n == sizeof(mark) - 1 && strncasecmp(p, mark, sizeof(mark) - 1) == 0)
        ((answer *)payload)->degraded = 1;
    return size * n;
}

static CURL *client_new(void)
{
    CURL *c = curl_easy_init();

    if (c == NULL)
        fail("curl_easy_init failed");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L * mult);
    return c;
}

/* One request; the HTTP status, or -1 when there was no answer (`err` says why). The
 * body and the degraded mark go to `*a` when it is not NULL. */
static long http(CURL *c, const server *s, const char *method, const char *path,
                 const char *user, const char *stream, char err[CURL_ERROR_SIZE],
                 answer *a)
{
    char url[128], body[256];
    struct curl_slist *h = NULL;
    long status = -1;
    answer local;

    if (a == NULL)
        a = &local;
    a->len = 0;
    a->body[0] = '\0';
    a->degraded = 0;
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
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
    int degraded; /* answered 200 marked X-Streamy-Degraded */
} sub;

typedef struct client {
    int id;
    const server *s;
    pthread_t thread;
    sub *subs;
    size_t n, cap;
    long ok, refused, unavailable, deletes;
    char error[768];
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
                               s->stream, err, NULL);
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
                             s->stream, err, NULL);
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

/* Fault and degraded: subscribe a new user each time, so every answer is 200 while
 * Redis is up. A server that fails open (`allow_degraded`) answers 200 marked degraded
 * while it is down, with the original body; one that fails closed answers 503 and never
 * a degraded answer. */
static void subscribe_new_users(client *cl, const char *tag, int allow_degraded)
{
    CURL *c = client_new();
    char err[CURL_ERROR_SIZE], want[128];
    answer a;
    int seq = 0;

    while (!atomic_load(&stop_clients) && cl->error[0] == '\0') {
        sub *s;
        pause_point();
        s = add_sub(cl);
        snprintf(s->user, sizeof(s->user), "%s-%d-%d", tag, cl->id, seq++);
        snprintf(s->stream, sizeof(s->stream), "s");
        s->sent = now_s();
        s->status = http(c, cl->s, "POST", "/video-streams/subscription", s->user,
                         s->stream, err, &a);
        s->answered = now_s();
        s->degraded = a.degraded;
        snprintf(want, sizeof(want),
                 "{\"status\":200,\"data\":{\"userId\":\"%s\",\"videoStreamId\":\"s\"}}",
                 s->user);
        if (s->status == 200 && strcmp(a.body, want) == 0 &&
            (allow_degraded || !a.degraded))
            cl->ok++;
        else if (s->status == 503 && !allow_degraded)
            cl->unavailable++;
        else
            snprintf(cl->error, sizeof(cl->error), "POST %s %s: %ld%s %.200s %s", s->user,
                     s->stream, s->status, a.degraded ? " (degraded)" : "", a.body, err);
    }
    curl_easy_cleanup(c);
}

static void *fault_client(void *arg)
{
    subscribe_new_users(arg, "f", 0);
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

    start_server(&servers[0], 0, "mn:", NULL);
    start_server(&servers[1], 1, "mn:", NULL);
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

/* SHUTDOWN NOSAVE, and wait (bounded) until the port refuses connections. */
static void redis_shutdown(void)
{
    redisContext *c = redis_connect();
    redisReply *r = redisCommand(c, "SHUTDOWN NOSAVE"); /* no answer: it is gone */
    double deadline = now_s() + 10.0 * mult;

    if (r != NULL)
        freeReplyObject(r);
    redisFree(c);
    while (!redis_refused()) {
        if (now_s() > deadline)
            fail("redis-server did not stop");
        sleep_ms(10);
    }
}

/* Every 200 (not degraded) answered so far whose request went out at or after `since`
 * is in Redis, under the key prefix `prefix`. */
static long check_recorded(const char *prefix, double since, const char *when)
{
    redisContext *c = redis_connect();
    long n = 0;

    for (int i = 0; i < nclients; i++)
        for (size_t k = 0; k < clients[i].n; k++) {
            sub *s = &clients[i].subs[k];
            redisReply *r;
            if (s->status != 200 || s->degraded || s->sent < since)
                continue;
            r = redisCommand(c, "HEXISTS %sstreamy:{%s}:leases s", prefix, s->user);
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
    long st = http(c, &servers[0], "GET", "/health", NULL, NULL, err, NULL);

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
    double t_down1, t_back1, t_up1, t_down2, t_back2, t_up2;
    long rec1, rec2, rec3, down1, down2;

    if (harness_redis <= 0)
        fail("REDIS_PID is not set: run under with_redis.sh");
    start_server(&servers[0], 0, "fa:", NULL);
    start_clients(4, fault_client);
    wait_ok_since(0, 200, "before the first stop");

    /* 1. With the clients paused: every 200 so far is in Redis; then SHUTDOWN NOSAVE,
     * and the clients go on against a Redis that is gone. */
    pause_clients();
    rec1 = check_recorded("fa:", 0, "just before the first stop");
    redis_shutdown();
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
    rec2 = check_recorded("fa:", t_down1, "just before the second stop");
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
    rec3 = check_recorded("fa:", t_down2, "after the second restart");
    printf(
        "fault: %ld answers 200 recorded before the first stop, %ld between the stops, "
        "%ld after the second restart; %ld and %ld requests while Redis was down, all "
        "503\n",
        rec1, rec2, rec3, down1, down2);
    return 0;
}

/* --- degraded ------------------------------------------------------------------------
 */

/* Server 0 fails open (--on-store-error allow), server 1 closed (the default). */
static void *degraded_client(void *arg)
{
    client *cl = arg;

    subscribe_new_users(cl, "d", cl->s == &servers[0]);
    return NULL;
}

/* Answers 200 of the clients of server `srv`, degraded or recorded (`degraded` 0),
 * and answers 503, to requests sent in [from, to); the clients are paused or done. */
static void count_answers(long *ok, long *unavailable, int srv, int degraded, double from,
                          double to)
{
    *ok = *unavailable = 0;
    for (int i = 0; i < nclients; i++) {
        if (clients[i].s != &servers[srv])
            continue;
        for (size_t k = 0; k < clients[i].n; k++) {
            const sub *s = &clients[i].subs[k];
            if (s->sent < from || s->sent >= to)
                continue;
            *ok += s->status == 200 && s->degraded == degraded;
            *unavailable += s->status == 503;
        }
    }
}

/* Wait (bounded) until each server answered `n` requests sent after `since` with a
 * 200 that was recorded. */
static void wait_recorded_since(double since, long n, const char *what)
{
    double deadline = now_s() + 20.0 * mult;
    long got[MAX_SERVERS], unavailable;

    for (;;) {
        pause_clients();
        for (int srv = 0; srv < nservers; srv++)
            count_answers(&got[srv], &unavailable, srv, 0, since, 1e300);
        resume_clients();
        if (got[0] >= n && got[1] >= n)
            return;
        if (now_s() > deadline)
            fail("%s: %ld and %ld answers 200 in %d s", what, got[0], got[1], 20 * mult);
        sleep_ms(50);
    }
}

/* The value of an unlabelled sample in the server's /metrics. */
static double metric(const server *srv, const char *name)
{
    CURL *c = client_new();
    char err[CURL_ERROR_SIZE];
    static answer a; /* the main thread's only */
    long st = http(c, srv, "GET", "/metrics", NULL, NULL, err, &a);
    size_t len = strlen(name);

    curl_easy_cleanup(c);
    if (st != 200)
        fail("GET /metrics answered %ld %s", st, err);
    for (const char *p = a.body; (p = strstr(p, name)) != NULL; p += len)
        if ((p == a.body || p[-1] == '\n') && p[len] == ' ')
            return atof(p + len + 1);
    fail("/metrics has no %s: %s", name, a.body);
}

/* How many lines of the server's log hold `needle`. */
static int log_lines(const server *srv, const char *needle)
{
    char line[2048];
    FILE *fp = fopen(srv->log, "r");
    int n = 0;

    if (fp == NULL)
        fail("cannot read %s", srv->log);
    while (fgets(line, sizeof(line), fp) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(fp);
    return n;
}

#define BURST_BEGINS "store unavailable: subscribe and renew are answered degraded"
#define BURST_ENDS "store available again: decisions are normal"

static int run_degraded(void)
{
    double t_down, t_back, t_up, deadline;
    long pre, rec, ok[MAX_SERVERS], unavailable[MAX_SERVERS], seen = 0, keys = 0;
    char cursor[32] = "0";
    redisContext *c;
    redisReply *r;

    start_server(&servers[0], 0, "dg:", "allow");
    start_server(&servers[1], 1, "dg:", NULL);
    start_clients(MAX_THREADS / 2, degraded_client);
    wait_recorded_since(0, 50, "before the stop");

    /* 1. Redis goes away under load: server 0 answers 200 marked degraded, server 1
     * 503, and server 0 says so once. */
    pause_clients();
    pre = check_recorded("dg:", 0, "just before the stop");
    redis_shutdown();
    t_down = now_s();
    resume_clients();
    sleep_ms(600);
    if (metric(&servers[0], "streamy_degraded_total") < 1)
        fail("while Redis is down: server 0 counts no degraded answer");
    if (log_lines(&servers[0], BURST_BEGINS) != 1)
        fail("while Redis is down: server 0 logged %d lines \"%s\", expected 1",
             log_lines(&servers[0], BURST_BEGINS), BURST_BEGINS);
    t_back = now_s();
    redis_restart(1);
    t_up = now_s();

    /* 2. Back, without restarting either server: answers are recorded again. */
    wait_recorded_since(t_up, 50, "after the restart");
    join_clients();
    for (int srv = 0; srv < nservers; srv++)
        if (waitpid(servers[srv].pid, NULL, WNOHANG) != 0)
            fail("server %d is no longer running", srv);
    count_answers(&ok[0], &unavailable[0], 0, 1, t_down, t_back);
    count_answers(&ok[1], &unavailable[1], 1, 0, t_down, t_back);
    if (ok[0] < 5 || unavailable[0] != 0)
        fail("Redis down: server 0 (allow) answered %ld degraded 200s and %ld 503s",
             ok[0], unavailable[0]);
    if (unavailable[1] < 5 || ok[1] != 0)
        fail("Redis down: server 1 (deny) answered %ld 503s and %ld 200s", unavailable[1],
             ok[1]);

    /* 3. Only what was acknowledged and not degraded is in Redis: every degraded answer
     * was sent while Redis was gone, and left no lease. */
    rec = check_recorded("dg:", t_down, "after the restart");
    c = redis_connect();
    for (int i = 0; i < nclients; i++)
        for (size_t k = 0; k < clients[i].n; k++) {
            const sub *s = &clients[i].subs[k];
            if (!s->degraded)
                continue;
            seen++;
            if (s->sent < t_down || s->sent >= t_up)
                fail("%s was answered degraded while Redis was up", s->user);
            r = redisCommand(c, "EXISTS dg:streamy:{%s}:leases", s->user);
            if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != 0)
                fail("%s was answered degraded, yet Redis holds a lease for it", s->user);
            freeReplyObject(r);
        }
    do {
        r = redisCommand(c, "SCAN %s MATCH dg:streamy:{*}:leases COUNT 1000", cursor);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
            fail("SCAN failed: %s", c->errstr);
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        keys += (long)r->element[1]->elements;
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    redisFree(c);
    if (keys != rec)
        fail("Redis holds %ld users' leases; %ld subscribes were answered 200 and "
             "recorded "
             "since it came back",
             keys, rec);

    /* 4. The count and the log: every degraded answer counted, one line at the start
     * of the burst and one at its end. */
    if (metric(&servers[0], "streamy_degraded_total") != (double)seen)
        fail("server 0 counts %g degraded answers, the clients saw %ld",
             metric(&servers[0], "streamy_degraded_total"), seen);
    if (metric(&servers[1], "streamy_degraded_total") != 0)
        fail("server 1 (deny) counts degraded answers");
    deadline = now_s() + 10.0 * mult;
    while (log_lines(&servers[0], BURST_ENDS) == 0 && now_s() < deadline)
        sleep_ms(50);
    if (log_lines(&servers[0], BURST_BEGINS) != 1 ||
        log_lines(&servers[0], BURST_ENDS) != 1)
        fail("server 0 logged the burst in %d and %d lines, expected 1 and 1",
             log_lines(&servers[0], BURST_BEGINS), log_lines(&servers[0], BURST_ENDS));
    if (log_lines(&servers[1], BURST_BEGINS) != 0)
        fail("server 1 (deny) logged degraded answers");
    printf(
        "degraded: %ld answers 200 recorded before the stop; while Redis was down, "
        "server 0 (allow) answered %ld degraded 200s and server 1 (deny) %ld 503s; %ld "
        "degraded in all, none in Redis; %ld recorded since, and nothing else\n",
        pre, ok[0], unavailable[1], seen, rec);
    return 0;
}

int main(int argc, char **argv)
{
    const char *p = getenv("REDIS_PORT"), *m = getenv("STREAMY_TEST_TIMEOUT_MULTIPLIER");
    int rc;

    if (argc != 3 || p == NULL || (redis_dir = getenv("REDIS_DIR")) == NULL) {
        fprintf(stderr,
                "usage: with_redis.sh redis_nodes multinode|fault|degraded STREAMYCTL\n");
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
    else if (strcmp(argv[1], "degraded") == 0)
        rc = run_degraded();
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
