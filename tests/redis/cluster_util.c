/* SPDX-License-Identifier: MIT */
/* cluster_util.c: what the cluster tests (cluster_nodes.c) share: the nodes and servers
 * they start, looking at the cluster directly, one HTTP request. */
#include "cluster_util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *ctl, *cluster_dir;
int ports[NODES], mult = 1;
atomic_int dead_port;          /* the primary killed by the failover test */
pid_t restarted[2] = {-1, -1}; /* nodes this program started again */
int nrestarted;

server servers[MAX_SERVERS];
int nservers;

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

pid_t kids[MAX_THREADS];

void stop_children(void)
{
    for (int i = 0; i < MAX_THREADS; i++)
        if (kids[i] > 0) {
            kill(kids[i], SIGKILL);
            waitpid(kids[i], NULL, 0);
            kids[i] = 0;
        }
    for (int i = 0; i < nservers; i++)
        if (servers[i].pid > 0) {
            kill(servers[i].pid, SIGKILL);
            waitpid(servers[i].pid, NULL, 0);
            servers[i].pid = 0;
        }
    for (int i = 0; i < nrestarted; i++)
        if (restarted[i] > 0) {
            kill(restarted[i], SIGTERM);
            waitpid(restarted[i], NULL, 0);
            restarted[i] = -1;
        }
}

void fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "cluster_nodes: FAILED: ");
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

/* The slot of a user's keys: CRC16 (XMODEM) of the hash tag, as Redis computes it. */
unsigned int user_slot(const char *user)
{
    unsigned int crc = 0;

    for (const char *p = user; *p; p++) {
        crc ^= (unsigned int)(unsigned char)*p << 8;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    return crc & 16383;
}

/* --- servers ------------------------------------------------------------------------ */

void start_server(server *s, int idx, const char *db)
{
    char line[512];
    size_t got = 0;
    double deadline = now_s() + 10.0 * mult;
    int out[2];
    const char *p;

    snprintf(s->log, sizeof(s->log), "%s/serve%d.log", cluster_dir, idx);
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

/* The store URI: every node a seed. */
void cluster_uri(char *out, size_t size, const char *prefix, const char *params)
{
    size_t o = (size_t)snprintf(out, size, "redis://");

    for (int i = 0; i < NODES; i++)
        o +=
            (size_t)snprintf(out + o, size - o, "%s127.0.0.1:%d", i ? "," : "", ports[i]);
    snprintf(out + o, size - o, "/0?prefix=%s%s", prefix, params);
}

/* --- the cluster, seen directly ----------------------------------------------------- */

redisContext *node(int port)
{
    struct timeval tv = {2 * mult, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);

    if (c != NULL && c->err) {
        redisFree(c);
        return NULL;
    }
    if (c != NULL)
        redisSetTimeout(c, tv);
    return c;
}

/* Whether INFO on a live node holds `words`. */
int info_has(int port, const char *section, const char *words)
{
    redisContext *c = port == atomic_load(&dead_port) ? NULL : node(port);
    redisReply *r;
    int has = 0;

    if (c == NULL)
        return 0;
    if ((r = redisCommand(c, "INFO %s", section)) != NULL) {
        has = r->type == REDIS_REPLY_STRING ? strstr(r->str, words) != NULL : 0;
        freeReplyObject(r);
    }
    redisFree(c);
    return has;
}

int is_primary(int port)
{
    return info_has(port, "replication", "role:master");
}

/* The port of the primary serving a slot now, from a live node's CLUSTER SLOTS. */
int slot_owner(unsigned int slot)
{
    for (int i = 0; i < NODES; i++) {
        redisContext *c = ports[i] == atomic_load(&dead_port) ? NULL : node(ports[i]);
        redisReply *r;
        int owner = 0;
        if (c == NULL || (r = redisCommand(c, "CLUSTER SLOTS")) == NULL) {
            redisFree(c);
            continue;
        }
        for (size_t k = 0; r->type == REDIS_REPLY_ARRAY && k < r->elements; k++) {
            redisReply *e = r->element[k];
            if ((long long)slot >= e->element[0]->integer &&
                (long long)slot <= e->element[1]->integer)
                owner = (int)e->element[2]->element[1]->integer;
        }
        freeReplyObject(r);
        redisFree(c);
        if (owner != 0)
            return owner;
    }
    return 0;
}

/* HEXISTS / HLEN on the user's node: the primaries are asked in turn, MOVED skipped. */
long long user_cmd(const char *fmt, const char *prefix, const char *user,
                   const char *stream)
{
    int owner = slot_owner(user_slot(user));
    redisContext *c = owner ? node(owner) : NULL;
    redisReply *r;
    long long v = -1;

    if (c == NULL)
        fail("no node serves %s", user);
    r = redisCommand(c, fmt, prefix, user, stream);
    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else
        fail("%s on %d: %s", user, owner, r && r->str ? r->str : c->errstr);
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* --- HTTP --------------------------------------------------------------------------- */

size_t discard(char *p, size_t size, size_t n, void *payload)
{
    (void)p;
    (void)payload;
    return size * n;
}

long http(CURL *c, const server *s, const char *method, const char *user,
          const char *stream, char err[CURL_ERROR_SIZE])
{
    char url[128], body[256];
    struct curl_slist *h = NULL;
    long status = -1;

    snprintf(url, sizeof(url), "%s/video-streams/subscription", s->base);
    snprintf(body, sizeof(body), "{\"userId\":\"%s\",\"videoStreamId\":\"%s\"}", user,
             stream);
    err[0] = '\0';
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    return status;
}

uint64_t next_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

void stop_servers(void)
{
    for (int i = 0; i < nservers; i++) {
        int status;
        kill(servers[i].pid, SIGTERM);
        waitpid(servers[i].pid, &status, 0);
        servers[i].pid = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail("server %d did not stop cleanly", i);
    }
    nservers = 0;
}

long long info_int(int port, const char *section, const char *field)
{
    redisContext *c = node(port);
    redisReply *r;
    const char *p;
    long long v = -1;

    if (c == NULL)
        return -1;
    r = redisCommand(c, "INFO %s", section);
    if (r != NULL && r->str != NULL && (p = strstr(r->str, field)) != NULL)
        v = atoll(p + strlen(field));
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* Start a killed node again, on its port and files: it joins as a replica. */
void restart_node(int port)
{
    char p[16], dir[1100], conf[1200], log[1200];

    snprintf(p, sizeof(p), "%d", port);
    snprintf(dir, sizeof(dir), "%s/%d", cluster_dir, port);
    snprintf(conf, sizeof(conf), "%s/nodes.conf", dir);
    snprintf(log, sizeof(log), "%s/redis-again.log", dir);
    if (nrestarted == 2)
        fail("restarted too many nodes");
    if ((restarted[nrestarted++] = fork()) == 0) {
        execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--dir", dir, "--cluster-enabled",
               "yes", "--cluster-config-file", conf, "--cluster-node-timeout", "1000",
               "--logfile", log, "--repl-diskless-sync-delay", "0", (char *)NULL);
        _exit(127);
    }
}
