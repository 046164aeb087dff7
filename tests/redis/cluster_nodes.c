/* SPDX-License-Identifier: MIT */
/* cluster_nodes.c: `streamyctl serve` on a Redis Cluster under parallel clients: two
 * servers with a watcher on every primary, slots moved under load, and a primary killed
 * under load (failover), with wait=0 and wait=1. */
#include "cluster_util.h"

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
 * Usage (under with_cluster.sh, which sets CLUSTER_PORTS and CLUSTER_DIR):
 *   cluster_nodes multinode|reshard|failover STREAMYCTL
 * Exit 0 when every check held, 1 with a message on the first that did not.
 */
/* --- clients ------------------------------------------------------------------------ */

typedef struct sub {
    char user[32], stream[32];
    double sent, answered;
    long status;
    int deleted; /* 1: answered 204; 2: the DELETE failed (503): unknown */
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
static int nclients, allow_503;
static atomic_int stop_clients;
static pthread_mutex_t subs_lock = PTHREAD_MUTEX_INITIALIZER;

static sub *add_sub(client *cl)
{
    pthread_mutex_lock(&subs_lock);
    if (cl->n == cl->cap) {
        size_t cap = cl->cap ? 2 * cl->cap : 256;
        sub *v = realloc(cl->subs, cap * sizeof(*v));
        if (v == NULL)
            fail("out of memory");
        cl->subs = v;
        cl->cap = cap;
    }
    memset(&cl->subs[cl->n], 0, sizeof(sub));
    cl->n++;
    pthread_mutex_unlock(&subs_lock);
    return &cl->subs[cl->n - 1];
}

/* Contention: subscribe new streams for a few shared users, unsubscribe some. 503 is
 * allowed while slots move (allow_503): such a request's outcome is unknown. */
static void *contend_client(void *arg)
{
    client *cl = arg;
    uint64_t seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(cl->id + 1);
    CURL *c = curl_easy_init();
    char err[CURL_ERROR_SIZE];
    int seq = 0;

    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L * mult);
    while (!atomic_load(&stop_clients) && cl->error[0] == '\0') {
        size_t held = 0, pick;
        for (size_t i = 0; i < cl->n; i++)
            held += cl->subs[i].status == 200 && !cl->subs[i].deleted;
        if (held > 0 && next_rand(&seed) % 2 == 0) {
            pick = (size_t)(next_rand(&seed) % held);
            for (size_t i = 0; i < cl->n; i++) {
                sub *s = &cl->subs[i];
                long st;
                if (s->status != 200 || s->deleted || pick-- > 0)
                    continue;
                st = http(c, cl->s, "DELETE", s->user, s->stream, err);
                s->deleted = st == 204 ? 1 : 2;
                if (st == 503 && allow_503)
                    cl->unavailable++;
                else if (st != 204)
                    snprintf(cl->error, sizeof(cl->error), "DELETE %s %s: %ld %s",
                             s->user, s->stream, st, err);
                cl->deletes++;
                break;
            }
        } else {
            sub *s = add_sub(cl);
            snprintf(s->user, sizeof(s->user), "cn-user-%d",
                     (int)(next_rand(&seed) % USERS));
            snprintf(s->stream, sizeof(s->stream), "c%d-%d", cl->id, seq++);
            s->status = http(c, cl->s, "POST", s->user, s->stream, err);
            if (s->status == 200)
                cl->ok++;
            else if (s->status == 429)
                cl->refused++;
            else if (s->status == 503 && allow_503)
                cl->unavailable++;
            else
                snprintf(cl->error, sizeof(cl->error), "POST %s %s: %ld %s", s->user,
                         s->stream, s->status, err);
        }
    }
    curl_easy_cleanup(c);
    return NULL;
}

/* Failover: a new user each time, so every answer is 200 while its node is up. */
static void *fresh_client(void *arg)
{
    client *cl = arg;
    CURL *c = curl_easy_init();
    char err[CURL_ERROR_SIZE];
    int seq = 0;

    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L * mult);
    while (!atomic_load(&stop_clients) && cl->error[0] == '\0') {
        sub *s = add_sub(cl);
        snprintf(s->user, sizeof(s->user), "fo-%d-%d", cl->id, seq++);
        snprintf(s->stream, sizeof(s->stream), "s");
        s->sent = now_s();
        s->status = http(c, cl->s, "POST", s->user, s->stream, err);
        s->answered = now_s();
        if (s->status == 200)
            cl->ok++;
        else if (s->status == 503)
            cl->unavailable++;
        else
            snprintf(cl->error, sizeof(cl->error), "POST %s: %ld %s", s->user, s->status,
                     err);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void start_clients(int n, void *(*fn)(void *))
{
    atomic_store(&stop_clients, 0);
    nclients = n;
    for (int i = 0; i < n; i++) {
        free(clients[i].subs);
        memset(&clients[i], 0, sizeof(clients[i]));
        clients[i].id = i;
        clients[i].s = &servers[i % nservers];
        if (pthread_create(&clients[i].thread, NULL, fn, &clients[i]) != 0)
            fail("cannot start a client thread");
    }
}

static void join_clients(void)
{
    atomic_store(&stop_clients, 1);
    for (int i = 0; i < nclients; i++) {
        pthread_join(clients[i].thread, NULL);
        if (clients[i].error[0] != '\0')
            fail("client %d: %s", i, clients[i].error);
    }
}

/* --- the watcher: every primary, as fast as they answer ----------------------------- */

static atomic_int stop_watch;
static long polls, worst;
static char watch_error[200];

static void *watcher(void *arg)
{
    redisContext *c[NODES] = {NULL};
    (void)arg;

    for (int i = 0; i < NODES; i++)
        c[i] = node(ports[i]);
    while (!atomic_load(&stop_watch) && watch_error[0] == '\0') {
        for (int i = 0; i < NODES; i++) {
            if (c[i] == NULL)
                continue;
            for (int u = 0; u < USERS; u++)
                redisAppendCommand(c[i], "HLEN cn:streamy:{cn-user-%d}:leases", u);
            for (int u = 0; u < USERS; u++) {
                redisReply *r;
                if (redisGetReply(c[i], (void **)&r) != REDIS_OK || r == NULL) {
                    redisFree(c[i]);
                    c[i] = NULL;
                    break;
                }
                /* A replica or another primary answers MOVED: not its user. */
                if (r->type == REDIS_REPLY_INTEGER && r->integer > worst)
                    worst = r->integer;
                if (r->type == REDIS_REPLY_INTEGER && r->integer > LIMIT)
                    snprintf(watch_error, sizeof(watch_error),
                             "cn-user-%d holds %lld leases on %d (limit %d)", u,
                             r->integer, ports[i], LIMIT);
                freeReplyObject(r);
            }
        }
        polls++;
    }
    for (int i = 0; i < NODES; i++)
        redisFree(c[i]);
    return NULL;
}

/* Every 200 kept is in the cluster; a user holds at most that plus the uncertain ones. */
static long check_kept(void)
{
    long expected = 0;

    for (int u = 0; u < USERS; u++) {
        char user[32];
        long want = 0, unsure = 0;
        long long have;

        snprintf(user, sizeof(user), "cn-user-%d", u);
        for (int i = 0; i < nclients; i++)
            for (size_t k = 0; k < clients[i].n; k++) {
                sub *s = &clients[i].subs[k];
                if (strcmp(s->user, user) != 0)
                    continue;
                if (s->status == 503 || s->deleted == 2)
                    unsure++;
                if (s->status != 200 || s->deleted)
                    continue;
                want++;
                if (user_cmd("HEXISTS %sstreamy:{%s}:leases %s", "cn:", user,
                             s->stream) != 1)
                    fail("%s %s was answered 200 and never deleted, but is not in Redis",
                         user, s->stream);
            }
        have = user_cmd("HLEN %sstreamy:{%s}:leases%s", "cn:", user, "");
        if (have < want || have > want + unsure)
            fail("%s holds %lld leases, %ld were granted and kept (%ld unknown)", user,
                 have, want, unsure);
        expected += want;
    }
    return expected;
}

/* --- client processes -------------------------------------------------------------- */

static void on_usr1(int sig)
{
    (void)sig;
    atomic_store(&stop_clients, 1);
}

/* The contention clients as processes of their own: each runs contend_client until
 * SIGUSR1 and writes what it was answered to CLUSTER_DIR/clientN.txt. */
static void start_client_processes(void)
{
    atomic_store(&stop_clients, 0);
    nclients = MAX_THREADS;
    for (int i = 0; i < nclients; i++) {
        memset(&clients[i], 0, sizeof(clients[i]));
        clients[i].id = i;
        clients[i].s = &servers[i % nservers];
        if ((kids[i] = fork()) < 0)
            fail("fork: %s", strerror(errno));
        if (kids[i] == 0) {
            char path[1100];
            FILE *f;
            nservers = 0; /* the parent's children, not this process's */
            memset(kids, 0, sizeof(kids));
            signal(SIGUSR1, on_usr1);
            contend_client(&clients[i]);
            snprintf(path, sizeof(path), "%s/client%d.txt", cluster_dir, i);
            if ((f = fopen(path, "w")) == NULL)
                _exit(3);
            fprintf(f, "%ld %ld %ld %ld\nE%s\n", clients[i].ok, clients[i].refused,
                    clients[i].unavailable, clients[i].deletes, clients[i].error);
            for (size_t k = 0; k < clients[i].n; k++)
                fprintf(f, "%s %s %ld %d\n", clients[i].subs[k].user,
                        clients[i].subs[k].stream, clients[i].subs[k].status,
                        clients[i].subs[k].deleted);
            _exit(fclose(f) == 0 ? 0 : 3);
        }
    }
}

/* Stop the client processes and read back what each was answered. */
static void join_client_processes(void)
{
    for (int i = 0; i < nclients; i++)
        kill(kids[i], SIGUSR1);
    for (int i = 0; i < nclients; i++) {
        char path[1100], line[512];
        int status;
        FILE *f;
        client *cl = &clients[i];
        waitpid(kids[i], &status, 0);
        kids[i] = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail("client process %d ended with status %d", i, status);
        snprintf(path, sizeof(path), "%s/client%d.txt", cluster_dir, i);
        if ((f = fopen(path, "r")) == NULL ||
            fscanf(f, "%ld %ld %ld %ld\n", &cl->ok, &cl->refused, &cl->unavailable,
                   &cl->deletes) != 4 ||
            fgets(cl->error, sizeof(cl->error), f) == NULL)
            fail("cannot read %s", path);
        if (strcmp(cl->error, "E\n") != 0)
            fail("client %d: %s", i, cl->error + 1);
        while (fgets(line, sizeof(line), f) != NULL) {
            sub *s = add_sub(cl);
            if (sscanf(line, "%31s %31s %ld %d", s->user, s->stream, &s->status,
                       &s->deleted) != 4)
                fail("%s: bad line %s", path, line);
        }
        fclose(f);
    }
}

static void contend(int seconds, void (*during)(void))
{
    pthread_t w;
    long ok = 0, refused = 0, unavailable = 0, kept;
    char db[1024];

    cluster_uri(db, sizeof(db), "cn:", "");
    start_server(&servers[0], 0, db);
    start_server(&servers[1], 1, db);
    start_client_processes();
    if (pthread_create(&w, NULL, watcher, NULL) != 0)
        fail("cannot start the watcher");
    sleep_ms(seconds * 1000L);
    if (during != NULL)
        during();
    join_client_processes();
    atomic_store(&stop_watch, 1);
    pthread_join(w, NULL);
    if (watch_error[0] != '\0')
        fail("watcher: %s", watch_error);
    for (int i = 0; i < nclients; i++) {
        ok += clients[i].ok;
        refused += clients[i].refused;
        unavailable += clients[i].unavailable;
    }
    kept = check_kept();
    printf("%d servers, %d client processes: %ld answered 200, %ld 429, %ld 503; the "
           "watcher read "
           "every primary %ld times, the most leases it saw was %ld; the %ld leases "
           "granted and kept are in the cluster\n",
           nservers, nclients, ok, refused, unavailable, polls, worst, kept);
    if (polls < 50)
        fail("the watcher polled only %ld times", polls);
    if (ok < 20 || refused < 20)
        fail("too little contention to tell: %ld allowed, %ld refused", ok, refused);
    if (worst != LIMIT)
        fail("no user ever reached the limit (most seen: %ld)", worst);
    stop_servers();
}

/* --- resharding --------------------------------------------------------------------- */

static void expect_ok(redisContext *c, const char *what, redisReply *r)
{
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        fail("%s: %s", what, r ? r->str : c->errstr);
    freeReplyObject(r);
}

static void my_id(redisContext *c, char id[64])
{
    redisReply *r = redisCommand(c, "CLUSTER MYID");

    if (r == NULL || r->type != REDIS_REPLY_STRING || r->len >= 64)
        fail("CLUSTER MYID failed");
    memcpy(id, r->str, r->len + 1);
    freeReplyObject(r);
}

/* Move one slot between primaries as redis-cli --cluster reshard does, slowly enough
 * that clients meet ASK and TRYAGAIN: IMPORTING / MIGRATING, a pause, MIGRATE of its
 * keys, a pause, then SETSLOT NODE on every primary (MOVED from then on). */
static void move_slot(unsigned int slot, int from, int to)
{
    redisContext *src = node(from), *dst = node(to);
    char sid[64], did[64];
    redisReply *r;
    long moved = 0;

    if (src == NULL || dst == NULL)
        fail("cannot connect to %d or %d", from, to);
    my_id(src, sid);
    my_id(dst, did);
    expect_ok(dst, "IMPORTING",
              redisCommand(dst, "CLUSTER SETSLOT %u IMPORTING %s", slot, sid));
    expect_ok(src, "MIGRATING",
              redisCommand(src, "CLUSTER SETSLOT %u MIGRATING %s", slot, did));
    sleep_ms(150);
    for (;;) {
        const char *argv[108];
        char port[16];
        int argc = 0;
        r = redisCommand(src, "CLUSTER GETKEYSINSLOT %u 100", slot);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY)
            fail("GETKEYSINSLOT failed");
        if (r->elements == 0) {
            freeReplyObject(r);
            break;
        }
        snprintf(port, sizeof(port), "%d", to);
        argv[argc++] = "MIGRATE";
        argv[argc++] = "127.0.0.1";
        argv[argc++] = port;
        argv[argc++] = "";
        argv[argc++] = "0";
        argv[argc++] = "5000";
        argv[argc++] = "KEYS";
        for (size_t k = 0; k < r->elements; k++)
            argv[argc++] = r->element[k]->str;
        moved += (long)r->elements;
        expect_ok(src, "MIGRATE", redisCommandArgv(src, argc, argv, NULL));
        freeReplyObject(r);
    }
    sleep_ms(150);
    expect_ok(dst, "SETSLOT NODE",
              redisCommand(dst, "CLUSTER SETSLOT %u NODE %s", slot, did));
    expect_ok(src, "SETSLOT NODE",
              redisCommand(src, "CLUSTER SETSLOT %u NODE %s", slot, did));
    for (int i = 0; i < NODES; i++)
        if (ports[i] != from && ports[i] != to && is_primary(ports[i])) {
            redisContext *o = node(ports[i]);
            expect_ok(o, "SETSLOT NODE",
                      redisCommand(o, "CLUSTER SETSLOT %u NODE %s", slot, did));
            redisFree(o);
        }
    printf("reshard: slot %u (%ld keys) moved from %d to %d\n", slot, moved, from, to);
    redisFree(src);
    redisFree(dst);
}

/* While the clients run: move every user's slot to the next primary. */
static void reshard_users(void)
{
    int prim[NODES], np = 0;

    for (int i = 0; i < NODES; i++)
        if (is_primary(ports[i]))
            prim[np++] = ports[i];
    if (np != 3)
        fail("%d primaries, not 3", np);
    for (int u = 0; u < USERS; u++) {
        char user[32];
        unsigned int slot;
        int from, to = 0;
        snprintf(user, sizeof(user), "cn-user-%d", u);
        slot = user_slot(user);
        from = slot_owner(slot);
        for (int k = 0; k < np; k++)
            if (prim[k] == from)
                to = prim[(k + 1) % np];
        if (to == 0)
            fail("%s: slot %u has no owner", user, slot);
        move_slot(slot, from, to);
        if (slot_owner(slot) != to)
            fail("slot %u did not move to %d", slot, to);
        sleep_ms(300);
    }
}

/* A field of one line of INFO commandstats, e.g. cmdstat_evalsha's rejected_calls. */
static long long cmdstat(int port, const char *cmd, const char *field)
{
    redisContext *c = node(port);
    redisReply *r;
    const char *line, *eol, *f;
    long long v = 0;

    if (c == NULL)
        return 0;
    r = redisCommand(c, "INFO commandstats");
    if (r != NULL && r->type == REDIS_REPLY_STRING &&
        (line = strstr(r->str, cmd)) != NULL) {
        eol = strchr(line, '\n');
        if ((f = strstr(line, field)) != NULL && (eol == NULL || f < eol))
            v = atoll(f + strlen(field));
    }
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* The store met the migrations: it sent ASKING (only the store does), and its EVALSHAs
 * were redirected (MOVED, ASK, TRYAGAIN: "rejected" in Redis's command statistics). */
static void check_redirections(void)
{
    long long asking = 0, rejected = 0;

    for (int i = 0; i < NODES; i++) {
        asking += cmdstat(ports[i], "cmdstat_asking:", "calls=");
        rejected += cmdstat(ports[i], "cmdstat_evalsha:", "rejected_calls=");
    }
    printf("reshard: the store followed ASK %lld times; %lld of its scripts were "
           "redirected or told to try again\n",
           asking, rejected);
    if (asking == 0 || rejected == 0)
        fail("the store met no ASK (%lld ASKING) or no redirection (%lld): the test "
             "tested nothing",
             asking, rejected);
}

/* --- failover ----------------------------------------------------------------------- */

static long count_ok(void)
{
    long n = 0;

    pthread_mutex_lock(&subs_lock);
    for (int i = 0; i < nclients; i++)
        n += clients[i].ok;
    pthread_mutex_unlock(&subs_lock);
    return n;
}

/* One failover under load: kill -9 a primary that has a replica; measure until a user of
 * its slots is served again; count the answers 200 that the cluster lost. */
static void failover(int wait, double *window, long *lost, long *unavailable)
{
    char db[1024];
    int victim = 0, lo[64], hi[64], nr = 0;
    long long pid;
    double t_kill, deadline, first = 0;
    redisContext *c;
    redisReply *r;

    cluster_uri(db, sizeof(db), "fo:", wait ? "&wait=1&timeout=1s" : "&timeout=1s");
    start_server(&servers[0], 0, db);
    start_clients(4, fresh_client);
    deadline = now_s() + 20.0 * mult;
    while (count_ok() < 200)
        if (now_s() > deadline)
            fail("wait=%d: fewer than 200 answers 200 before the kill", wait);
        else
            sleep_ms(20);
    for (int i = 0; i < NODES && victim == 0; i++)
        if (ports[i] != atomic_load(&dead_port) && is_primary(ports[i]) &&
            info_has(ports[i], "replication", "state=online"))
            victim = ports[i];
    if (victim == 0 || (c = node(victim)) == NULL)
        fail("no primary with an online replica");
    r = redisCommand(c, "CLUSTER SLOTS");
    for (size_t k = 0; r != NULL && k < r->elements && nr < 64; k++)
        if (r->element[k]->element[2]->element[1]->integer == victim) {
            lo[nr] = (int)r->element[k]->element[0]->integer;
            hi[nr++] = (int)r->element[k]->element[1]->integer;
        }
    freeReplyObject(r);
    redisFree(c);
    pid = info_int(victim, "server", "process_id:");
    if (pid <= 0)
        fail("no process_id for %d", victim);
    t_kill = now_s();
    atomic_store(&dead_port, victim);
    kill((pid_t)pid, SIGKILL);
    deadline = t_kill + 20.0 * mult;
    /* With wait=1 the promoted replica needs a replica of its own before a write is
     * acknowledged: once the promotion shows, the killed node is started again and
     * joins as its replica, as an operator would do. */
    while (wait && (slot_owner((unsigned int)lo[0]) == victim ||
                    slot_owner((unsigned int)lo[0]) == 0))
        if (now_s() > deadline)
            fail("wait=1: no replica of %d was promoted", victim);
        else
            sleep_ms(20);
    if (wait) {
        printf("failover wait=1: promoted %.0f ms after the kill; the killed node starts "
               "again as its replica\n",
               (now_s() - t_kill) * 1000);
        restart_node(victim);
    }
    while (first == 0) {
        if (now_s() > deadline)
            fail("wait=%d: the users of %d were not served again within %d s", wait,
                 victim, 20 * mult);
        sleep_ms(20);
        pthread_mutex_lock(&subs_lock);
        for (int i = 0; i < nclients; i++)
            for (size_t k = 0; k < clients[i].n; k++) {
                sub *s = &clients[i].subs[k];
                unsigned int sl = user_slot(s->user);
                if (s->sent < t_kill || s->status != 200)
                    continue;
                for (int j = 0; j < nr; j++)
                    if ((int)sl >= lo[j] && (int)sl <= hi[j] &&
                        (first == 0 || s->answered < first))
                        first = s->answered;
            }
        pthread_mutex_unlock(&subs_lock);
    }
    sleep_ms(500);
    join_clients();
    stop_servers();
    *window = first - t_kill;
    *lost = *unavailable = 0;
    for (int i = 0; i < nclients; i++) {
        *unavailable += clients[i].unavailable;
        for (size_t k = 0; k < clients[i].n; k++) {
            sub *s = &clients[i].subs[k];
            if (s->status == 200 &&
                user_cmd("HEXISTS %sstreamy:{%s}:leases %s", "fo:", s->user, "s") != 1)
                (*lost)++;
        }
    }
    printf("failover wait=%d: killed primary %d; its users served again %.0f ms later; "
           "%ld answers 503; %ld of %ld answers 200 lost\n",
           wait, victim, *window * 1000, *unavailable, *lost, count_ok());
}

static void run_failover(void)
{
    double w0, w1;
    long lost0, lost1, u0, u1;
    int killed, promoted = 0;
    double deadline;

    failover(0, &w0, &lost0, &u0);
    /* The killed node comes back as a replica of its successor, so that every primary
     * has a replica again for wait=1. */
    killed = atomic_load(&dead_port);
    restart_node(killed);
    deadline = now_s() + 20.0 * mult;
    for (;;) {
        atomic_store(&dead_port, 0);
        for (int i = 0; i < NODES && !promoted; i++)
            if (ports[i] != killed && is_primary(ports[i]) &&
                !info_has(ports[i], "replication", "state=online"))
                promoted = -1;
        if (promoted == 0 && info_has(killed, "replication", "master_link_status:up"))
            break;
        promoted = 0;
        if (now_s() > deadline)
            fail("the killed node did not come back as a replica");
        sleep_ms(100);
    }
    failover(1, &w1, &lost1, &u1);
    if (lost1 != 0)
        fail("wait=1: %ld acknowledged subscribes lost in the failover", lost1);
    printf("failover: window %.0f ms (wait=0), %.0f ms (wait=1); lost %ld (wait=0), %ld "
           "(wait=1)\n",
           w0 * 1000, w1 * 1000, lost0, lost1);
}

int main(int argc, char **argv)
{
    const char *p = getenv("CLUSTER_PORTS"),
               *m = getenv("STREAMY_TEST_TIMEOUT_MULTIPLIER");
    int n = 0;

    if (argc != 3 || p == NULL || (cluster_dir = getenv("CLUSTER_DIR")) == NULL) {
        fprintf(stderr, "usage: with_cluster.sh cluster_nodes multinode|reshard|failover "
                        "STREAMYCTL\n");
        return 2;
    }
    ctl = argv[2];
    for (char *e; n < NODES && *p; p = e) {
        long v = strtol(p, &e, 10);
        if (e == p)
            break;
        ports[n++] = (int)v;
    }
    if (n != NODES)
        fail("CLUSTER_PORTS has %d ports, not %d", n, NODES);
    if (m != NULL && atoi(m) > 0)
        mult = atoi(m);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(argv[1], "multinode") == 0) {
        contend(3, NULL);
    } else if (strcmp(argv[1], "reshard") == 0) {
        allow_503 = 1;
        contend(1, reshard_users);
        check_redirections();
    } else if (strcmp(argv[1], "failover") == 0) {
        run_failover();
    } else {
        fail("unknown mode %s", argv[1]);
    }
    stop_children();
    for (int i = 0; i < MAX_THREADS; i++)
        free(clients[i].subs);
    curl_global_cleanup();
    return 0;
}
