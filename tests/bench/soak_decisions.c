/* SPDX-License-Identifier: MIT */
/* soak_decisions.c: decide for a long time through the library and sample the resident
 * memory every few seconds, to show it stays flat.
 *
 *   streamy_soak [--seconds S] [--interval S] [--threads N] [--users N] [--db URI]
 *
 * Each thread subscribes a random stream for a random user and unsubscribes the lease
 * it took 64 decisions earlier (as tests/bench/http_mix.lua does over HTTP), with now
 * and then a batch, a renew, a list and a count. Prints one line per sample:
 * "SECONDS RSS_KIB DECISIONS", then a summary. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "streamy.h"

typedef struct worker {
    streamy *h;
    int id;
    unsigned users;
    volatile int *stop;
    unsigned long decisions, errors;
} worker;

static long rss_kib(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;

    while (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    if (fp != NULL)
        fclose(fp);
    return kib;
}

static int count_lease(const streamy_lease *lease, void *payload)
{
    (void)lease;
    ++*(int *)payload;
    return 0;
}

#define RING 64

static void *work(void *arg)
{
    worker *w = arg;
    unsigned seed = (unsigned)w->id * 2654435761u + 1;
    char users[RING][24], streams[RING][24];
    unsigned long n = 0;

    memset(users, 0, sizeof(users));
    while (!*w->stop) {
        int slot = (int)(n % RING), rc, k = 0;
        unsigned int count;
        seed = seed * 1103515245u + 12345u;
        if (users[slot][0] != '\0') {
            rc = streamy_unsubscribe(NULL, w->h, users[slot], streams[slot]);
            w->errors += rc < 0;
            w->decisions++;
        }
        snprintf(users[slot], sizeof(users[slot]), "u%u", (seed >> 8) % w->users);
        snprintf(streams[slot], sizeof(streams[slot]), "t%d.%lu", w->id, n);
        rc = streamy_subscribe(NULL, w->h, users[slot], streams[slot]);
        w->errors += rc < 0;
        w->decisions++;
        if (n % 97 == 0) {
            streamy_op ops[2] = {{STREAMY_OP_RENEW, users[slot], streams[slot], 0, {0}},
                                 {STREAMY_OP_SUBSCRIBE, users[slot], "extra", 0, {0}}};
            w->errors += streamy_apply(w->h, ops, 2) < 0;
            w->errors += streamy_unsubscribe(NULL, w->h, users[slot], "extra") < 0;
            w->errors += streamy_list(w->h, users[slot], count_lease, &k) < 0;
            w->errors += streamy_count(&count, w->h, users[slot]) < 0;
            w->decisions += 3;
        }
        n++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *uri = NULL;
    int seconds = 600, interval = 5, threads = 2;
    unsigned users = 100000;
    static volatile int stop;
    streamy_options o;
    streamy *h;
    worker *ws;
    pthread_t *t;
    long first = -1, last = -1, min = -1, max = -1;
    unsigned long total = 0, errors = 0;
    char tmpl[] = "/tmp/streamy-soak-XXXXXX";
    char db[64];

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0)
            seconds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--interval") == 0)
            interval = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--users") == 0)
            users = (unsigned)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--db") == 0)
            uri = argv[i + 1];
        else {
            fprintf(stderr,
                    "usage: %s [--seconds S] [--interval S] [--threads N] "
                    "[--users N] [--db URI]\n",
                    argv[0]);
            return 2;
        }
    }
    if (seconds <= 0 || interval <= 0 || threads <= 0 || threads > 64 || users == 0) {
        fprintf(stderr, "streamy_soak: bad arguments\n");
        return 2;
    }
    if (uri == NULL) {
        if (mkdtemp(tmpl) == NULL)
            return 1;
        snprintf(db, sizeof(db), "sqlite:%s/soak.db", tmpl);
        uri = db;
    }
    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    o.ttl_ms = 3600 * 1000;
    if (streamy_open(&h, uri, &o) != STREAMY_OK) {
        fprintf(stderr, "streamy_soak: %s: %s\n", uri, streamy_errmsg(NULL));
        return 1;
    }
    ws = calloc((size_t)threads, sizeof(*ws));
    t = calloc((size_t)threads, sizeof(*t));
    if (ws == NULL || t == NULL)
        return 1;
    printf("# streamy_soak: %s, %d threads, %u users, %d s, a sample every %d s\n", uri,
           threads, users, seconds, interval);
    printf("# seconds rss_kib decisions\n");
    for (int i = 0; i < threads; i++) {
        ws[i].h = h;
        ws[i].id = i;
        ws[i].users = users;
        ws[i].stop = &stop;
        pthread_create(&t[i], NULL, work, &ws[i]);
    }
    for (int s = 0; s <= seconds; s += interval) {
        unsigned long d = 0;
        long r = rss_kib();
        for (int i = 0; i < threads; i++)
            d += ws[i].decisions;
        printf("%d %ld %lu\n", s, r, d);
        fflush(stdout);
        if (s == interval)
            first = r; /* after the first interval: caches warm */
        last = r;
        min = min < 0 || r < min ? r : min;
        max = r > max ? r : max;
        if (s + interval <= seconds)
            sleep((unsigned)interval);
    }
    stop = 1;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        total += ws[i].decisions;
        errors += ws[i].errors;
    }
    printf("# %lu decisions, %lu errors; RSS %ld KiB after %d s, %ld KiB at the end (min "
           "%ld, max %ld)\n",
           total, errors, first, interval, last, min, max);
    streamy_close(h);
    if (uri == db) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
        if (system(cmd) != 0)
            return 1;
    }
    free(ws);
    free(t);
    return errors == 0 ? 0 : 1;
}
