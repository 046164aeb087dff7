/* SPDX-License-Identifier: MIT */
/* lease_id.c: new lease ids, random UUIDs drawn from a per-thread block of kernel bytes.
 */
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

void streamy__lease_id_text(char out[STREAMY_LEASE_ID_LEN + 1],
                            const unsigned char id[16])
{
    uuid_unparse_lower(id, out);
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
    uuid_unparse_lower(id, out);
    return STREAMY_OK;
}
