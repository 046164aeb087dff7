/* SPDX-License-Identifier: MIT */
/* bench_lease_id.c: what one new lease id costs, libuuid's generator beside the store's.
 */
#include <streamy/store.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

#define ROUNDS 7

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nanoseconds per id of `n` ids, one round. */
static double libuuid_round(long n, char *sink)
{
    double t0 = now_ns();
    uuid_t u;

    for (long i = 0; i < n; i++) {
        uuid_generate_random(u);
        uuid_unparse_lower(u, sink);
    }
    return (now_ns() - t0) / (double)n;
}

static double streamy_round(long n, char *sink)
{
    double t0 = now_ns();

    for (long i = 0; i < n; i++)
        if (streamy_lease_id_generate(sink) != STREAMY_OK) {
            fprintf(stderr, "bench_lease_id: %s\n", streamy_errmsg(NULL));
            exit(1);
        }
    return (now_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    double a[ROUNDS], b[ROUNDS];
    char sink[STREAMY_LEASE_ID_LEN + 1];

    if (n <= 0) {
        fprintf(stderr, "usage: streamy_bench_lease_id [IDS_PER_ROUND]\n");
        return 2;
    }
    /* Interleaved rounds, so both see the same machine. */
    for (int r = 0; r < ROUNDS; r++) {
        a[r] = libuuid_round(n, sink);
        b[r] = streamy_round(n, sink);
    }
    qsort(a, ROUNDS, sizeof(a[0]), by_value);
    qsort(b, ROUNDS, sizeof(b[0]), by_value);
    printf("ns per lease id, median of %d rounds of %ld (min-max):\n", ROUNDS, n);
    printf("  uuid_generate_random + uuid_unparse_lower: %.1f (%.1f-%.1f)\n",
           a[ROUNDS / 2], a[0], a[ROUNDS - 1]);
    printf("  streamy_lease_id_generate:                 %.1f (%.1f-%.1f)\n",
           b[ROUNDS / 2], b[0], b[ROUNDS - 1]);
    printf("  ratio: %.1fx\n", a[ROUNDS / 2] / b[ROUNDS / 2]);
    return 0;
}
