/* SPDX-License-Identifier: MIT */
/* rules.c: the acquire rule of include/streamy/store.h, once, for the C stores. */
#include "streamy_int.h"

#include <stdio.h>

streamy__acquire_action streamy__acquire_decide(streamy_decision *out,
                                                const char **victim,
                                                const streamy_store_req *req,
                                                const streamy__acquire_scan *scan)
{
    streamy__acquire_action action = STREAMY__ACQUIRE_INSERT;
    unsigned int active = scan->active, limit = scan->limit;
    int64_t expires = req->ttl_ms ? req->now_ms + req->ttl_ms : 0;

    *victim = NULL;
    out->limit = limit;
    out->expired = scan->expired;
    if (scan->exists) {
        out->active = active;
        out->since_ms = scan->since_ms;
        out->expires_ms = expires;
        return STREAMY__ACQUIRE_REFRESH;
    }
    if (active >= limit) {
        /* Evicting only makes room when the user is exactly at a limit above 0. */
        if (req->policy != STREAMY_POLICY_REJECT && limit > 0 && active == limit) {
            *victim =
                req->policy == STREAMY_POLICY_EVICT_OLDEST ? scan->oldest : scan->idlest;
            snprintf(out->evicted, sizeof(out->evicted), "%s", *victim);
            active--;
            action = STREAMY__ACQUIRE_EVICT;
        } else if (req->shadow) {
            out->shadow_refused = 1;
            action = STREAMY__ACQUIRE_INSERT_SHADOW;
        } else {
            out->active = active;
            out->retry_ms =
                scan->expiries != NULL
                    ? streamy__expiries_next_free(scan->expiries, active, limit)
                    : 0;
            return STREAMY__ACQUIRE_REFUSE;
        }
    }
    out->created = 1;
    out->active = active + 1;
    out->since_ms = req->now_ms;
    out->expires_ms = expires;
    return action;
}
