/* SPDX-License-Identifier: MIT */
/* commit_latency.c: the latency of each group of decisions on a SQLite file, as the
 * server's group commit makes them: one streamy_apply of GROUP mixed subscribes and
 * unsubscribes over USERS random users, again and again for SECONDS. Prints the
 * percentiles and the slowest, and how many groups took over 5 ms: a commit that also
 * checkpoints the WAL shows there.
 *
 *   streamy_commit_latency [PATH [SECONDS [GROUP [USERS]]]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "streamy.h"

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "commit_latency.db";
    double seconds = argc > 2 ? atof(argv[2]) : 10;
    size_t group = argc > 3 ? strtoul(argv[3], NULL, 10) : 8;
    unsigned users = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : 100000;
    streamy_options o = STREAMY_OPTIONS_INIT;
    streamy_op ops[1024];
    char ids[1024][2][24];
    size_t n = 0, cap = 1 << 20, slow = 0;
    int64_t *lat = malloc(cap * sizeof(*lat)), start, end;
    unsigned seed = 12345;
    streamy *h;

    if (lat == NULL || group == 0 || group > 1024 || users == 0) {
        fprintf(stderr, "usage: %s [PATH [SECONDS [GROUP (1-1024) [USERS]]]]\n", argv[0]);
        return 2;
    }
    o.limit = 3;
    remove(path);
    if (streamy_open(&h, path, &o) != STREAMY_OK) {
        fprintf(stderr, "%s: %s\n", path, streamy_errmsg(NULL));
        return 1;
    }
    end = now_us() + (int64_t)(seconds * 1e6);
    while ((start = now_us()) < end && n < cap) {
        for (size_t i = 0; i < group; i++) {
            unsigned u = (seed = seed * 1103515245u + 12345u) % users;
            snprintf(ids[i][0], sizeof(ids[i][0]), "user-%u", u);
            snprintf(ids[i][1], sizeof(ids[i][1]), "m%u", (seed >> 16) % 4);
            memset(&ops[i], 0, sizeof(ops[i]));
            ops[i].kind = (seed >> 8) & 1 ? STREAMY_OP_SUBSCRIBE : STREAMY_OP_UNSUBSCRIBE;
            ops[i].user = ids[i][0];
            ops[i].stream = ids[i][1];
        }
        if (streamy_apply(h, ops, group) != STREAMY_OK) {
            fprintf(stderr, "apply: %s\n", streamy_errmsg(h));
            return 1;
        }
        lat[n] = now_us() - start;
        slow += lat[n] > 5000;
        n++;
    }
    streamy_close(h);
    qsort(lat, n, sizeof(*lat), cmp);
    printf("%zu groups of %zu over %u users: p50 %lld us, p99 %lld us, p99.9 %lld us, "
           "max %lld us, %zu over 5 ms\n",
           n, group, users, (long long)lat[n / 2], (long long)lat[n * 99 / 100],
           (long long)lat[n * 999 / 1000], (long long)lat[n - 1], slow);
    free(lat);
    return 0;
}
