/* SPDX-License-Identifier: MIT */
/* expiry.c: when does a refused user get a free slot? From their leases' expiries. */
#include "streamy_int.h"

#include <stdlib.h>
#include <string.h>

void streamy__expiries_init(streamy__expiries *e)
{
    e->v = e->small;
    e->n = 0;
    e->cap = sizeof(e->small) / sizeof(e->small[0]);
    e->lost = 0;
}

void streamy__expiries_add(streamy__expiries *e, int64_t expires_ms)
{
    if (expires_ms == 0 || e->lost)
        return; /* a lease that never expires frees no slot */
    if (e->n == e->cap) {
        size_t cap = 2 * e->cap;
        int64_t *v =
            e->v == e->small ? malloc(cap * sizeof(*v)) : realloc(e->v, cap * sizeof(*v));
        if (v == NULL) {
            e->lost = 1;
            return;
        }
        if (e->v == e->small)
            memcpy(v, e->small, sizeof(e->small));
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n++] = expires_ms;
}

static int by_value(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t streamy__expiries_next_free(streamy__expiries *e, unsigned int active,
                                    unsigned int limit)
{
    size_t k;

    if (limit == 0 || e->lost || active < limit)
        return 0;
    k = (size_t)(active - limit) + 1; /* leases that must go before one more fits */
    if (k > e->n)
        return 0;
    qsort(e->v, e->n, sizeof(*e->v), by_value);
    return e->v[k - 1];
}

void streamy__expiries_free(streamy__expiries *e)
{
    if (e->v != e->small)
        free(e->v);
    streamy__expiries_init(e);
}
