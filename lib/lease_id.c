/* SPDX-License-Identifier: MIT */
/* lease_id.c: new lease ids: random UUIDs from a per-thread block of kernel bytes. */
#include "streamy_int.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <uuid/uuid.h>

/* uuid_generate_random() makes one getrandom() call and more per id, which costs
 * several times a whole decision of the memory store (docs/PERFORMANCE.md, "Lease
 * ids"); the same kernel bytes drawn 64 ids at a time cost a few nanoseconds each.
 * A forked child must never hand out the ids its parent will: fork() bumps a
 * generation that empties the pool of the one thread a child has. */
#define POOL_BYTES 1024

struct pool {
    unsigned char bytes[POOL_BYTES];
    size_t used;
    unsigned long generation;
};

static __thread struct pool pool = {{0}, POOL_BYTES, 0};

static unsigned long fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void after_fork_in_child(void)
{
    __atomic_add_fetch(&fork_generation, 1, __ATOMIC_RELAXED);
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

static int refill(void)
{
    size_t got = 0;

    while (got < POOL_BYTES) {
        ssize_t n = getrandom(pool.bytes + got, POOL_BYTES - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return streamy__error(STREAMY_ESTORE,
                                  "cannot draw random bytes for a lease id: %s",
                                  strerror(errno));
        }
        got += (size_t)n;
    }
    pool.used = 0;
    return STREAMY_OK;
}

int streamy__lease_id_new(unsigned char id[16])
{
    unsigned long generation;
    unsigned char *u;
    int rc;

    pthread_once(&atfork_once, register_atfork);
    generation = __atomic_load_n(&fork_generation, __ATOMIC_RELAXED);
    if (pool.generation != generation) {
        pool.generation = generation;
        pool.used = POOL_BYTES;
    }
    if (pool.used + sizeof(uuid_t) > POOL_BYTES && (rc = refill()) != STREAMY_OK)
        return rc;
    u = pool.bytes + pool.used;
    pool.used += sizeof(uuid_t);
    u[6] = (unsigned char)((u[6] & 0x0F) | 0x40); /* version 4: random */
    u[8] = (unsigned char)((u[8] & 0x3F) | 0x80); /* the RFC 4122 variant */
    memcpy(id, u, sizeof(uuid_t));
    memset(u, 0, sizeof(uuid_t)); /* an id is handed out once */
    return STREAMY_OK;
}

/* uuid_unparse_lower()'s text without its cost: a store prints an id for every
 * decision that answers one, so each byte is one lookup of its two digits.
 * tests/check_id.c holds the two equal. */
static const char hex_pairs[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

void streamy__lease_id_text(char out[STREAMY_LEASE_ID_LEN + 1],
                            const unsigned char id[16])
{
    /* Where each byte's two digits go in 8-4-4-4-12. */
    static const unsigned char at[16] = {0,  2,  4,  6,  9,  11, 14, 16,
                                         19, 21, 24, 26, 28, 30, 32, 34};

    for (int i = 0; i < 16; i++)
        memcpy(out + at[i], hex_pairs + 2 * id[i], 2);
    out[8] = out[13] = out[18] = out[23] = '-';
    out[STREAMY_LEASE_ID_LEN] = '\0';
}

int streamy_lease_id_generate(char out[STREAMY_LEASE_ID_LEN + 1])
{
    unsigned char id[16];
    int rc;

    if (out == NULL)
        return streamy__error(STREAMY_EINVAL, "lease id buffer is NULL");
    if ((rc = streamy__lease_id_new(id)) != STREAMY_OK) {
        out[0] = '\0';
        return rc;
    }
    streamy__lease_id_text(out, id);
    return STREAMY_OK;
}
