/* SPDX-License-Identifier: MIT */
/* streamy_int.h: declarations shared between the library's own files; never installed. */
#ifndef STREAMY_INT_H
#define STREAMY_INT_H

#include "streamy.h"
#include "streamy/store.h"
#include "util.h"

#include <stdarg.h>
#include <stdint.h>

#define STREAMY_ERRMSG_SIZE 512

struct streamy {
    streamy_store *store;
    streamy_options opts;
    /* Counters are updated with relaxed atomics: they are statistics only. */
    uint64_t allowed, refused, evicted, expired, renewed, released, shadow_refused;
    uint64_t degraded; /* answered OK because the store failed (on_store_error allow) */
};

/* error.c: the thread's last error message, tagged with the handle it belongs to. */
void streamy__error_begin(const streamy *h);
int streamy__error(int rc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void streamy__error_v(const char *fmt, va_list ap);
int streamy__error_is_set(void);

/* id.c */
int streamy__id_check(char out[STREAMY_ID_MAX + 1], const char **canon, const char *field,
                      const char *id, int require_uuid);
/* A device label: the identifier rules, 1 to STREAMY_DEVICE_MAX bytes. */
int streamy__device_check(const char *device);
/* lease_id.c: a new lease id, 16 bytes of a random UUID, and its text. */
int streamy__lease_id_new(unsigned char id[16]);
void streamy__lease_id_text(char out[STREAMY_LEASE_ID_LEN + 1],
                            const unsigned char id[16]);
/* Copy a device label (NULL: none) into an answer's field; it was checked to fit. */
static inline void streamy__device_copy(char out[STREAMY_DEVICE_MAX + 1],
                                        const char *device)
{
    size_t n = 0;

    if (device != NULL)
        for (; n < STREAMY_DEVICE_MAX && device[n]; n++)
            out[n] = device[n];
    out[n] = '\0';
}
/* A lease id: a UUID in any case, written in lower case into `out`. */
int streamy__lease_id_check(char out[STREAMY_LEASE_ID_LEN + 1], const char *lease_id);

/* expiry.c: the expiries of a user's active leases, to tell when a slot frees. */
typedef struct streamy__expiries {
    int64_t *v;
    size_t n, cap;
    int64_t small[16];
    int lost; /* an allocation failed: the answer is unknown */
} streamy__expiries;

void streamy__expiries_init(streamy__expiries *e);
void streamy__expiries_add(streamy__expiries *e, int64_t expires_ms);
/* When enough leases have expired for one more to fit under `limit`: the
 * (active - limit + 1)-th earliest expiry; 0 if that never happens by itself. */
int64_t streamy__expiries_next_free(streamy__expiries *e, unsigned int active,
                                    unsigned int limit);
void streamy__expiries_free(streamy__expiries *e);

/* rules.c: the acquire rule that the C stores share (store.h, `acquire`), as a pure
 * function: a store reads, asks the rule what to do, then does it its own way. */

/* What a store read of the user, before changing anything. */
typedef struct streamy__acquire_scan {
    unsigned int active;  /* the user's unexpired leases */
    unsigned int expired; /* the user's expired leases, which the decision drops */
    unsigned int limit;   /* the user's own limit, else the request's */
    int exists;           /* the lease (user, stream) is one of the unexpired ones */
    int64_t since_ms;     /* when that lease started, if it exists */
    /* The unexpired leases an evict policy would remove: the one started first and
     * the one renewed least recently, ties to the smallest stream id; NULL when
     * there is none. */
    const char *oldest, *idlest;
    /* The unexpired leases' expiries, for a refusal's retry_ms (sorted by the rule);
     * NULL when the store collects them only once refused: the rule then answers
     * retry_ms 0, and the store asks again with them. */
    streamy__expiries *expiries;
} streamy__acquire_scan;

typedef enum streamy__acquire_action {
    STREAMY__ACQUIRE_REFRESH,       /* renew the existing lease */
    STREAMY__ACQUIRE_INSERT,        /* add the lease */
    STREAMY__ACQUIRE_EVICT,         /* remove `*victim`, then add the lease */
    STREAMY__ACQUIRE_INSERT_SHADOW, /* add the lease over the limit (shadow mode) */
    STREAMY__ACQUIRE_REFUSE         /* add nothing: STREAMY_LIMIT_REACHED */
} streamy__acquire_action;

/* Decide one acquire from `scan` and `req` (now, ttl, policy, shadow). Fills every
 * field of `*out` that the decision sets, as the store must report it once it has
 * acted (the user's expired leases are dropped whatever the action). `*victim` is
 * `scan->oldest` or `scan->idlest` for STREAMY__ACQUIRE_EVICT, else NULL. No I/O, no
 * allocation; thread-safe (it sorts `scan->expiries`, which is the caller's). */
streamy__acquire_action streamy__acquire_decide(streamy_decision *out,
                                                const char **victim,
                                                const streamy_store_req *req,
                                                const streamy__acquire_scan *scan);

#define STREAMY_UNUSED(x) (void)(x)

#endif /* STREAMY_INT_H */
