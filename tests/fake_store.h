/* SPDX-License-Identifier: MIT */
/* fake_store.h: a store that counts calls and answers as told, to test the core alone. */
#ifndef STREAMY_FAKE_STORE_H
#define STREAMY_FAKE_STORE_H

#include "streamy/store.h"

typedef struct fake_store {
    streamy_store base;
    /* Calls seen. */
    int acquires, releases, renews, lists, counts, applies, frees;
    int set_limits, clear_limits, get_limits, purges, healths;
    /* The last request seen. */
    streamy_store_req last;
    char last_user[STREAMY_ID_MAX + 1], last_stream[STREAMY_ID_MAX + 1];
    /* What to answer: a result code, and optionally an error message. */
    int answer;
    const char *error;
    size_t last_apply_n;
    unsigned int apply_limits[8]; /* req.limit of each operation of the last apply */
    int *freed;                   /* set to 1 when freed, for ownership tests */
    /* Version 2 (fake_store_new_sessions): decide calls, the size of the last one, and
     * the session inputs of its first operation. */
    int decides;
    size_t last_decide_n;
    streamy_op_kind last_kind;
    char last_lease_id[STREAMY_LEASE_ID_LEN + 1]; /* "" for NULL */
    char last_device[STREAMY_DEVICE_MAX + 1];     /* "" for NULL */
    int last_lease_id_null, last_device_null;
    unsigned int decide_limits[8]; /* req.limit of each operation of the last decide */
} fake_store;

/* A fake of vtable version 1 with every method, or only the required ones if `minimal`.
 */
fake_store *fake_store_new(int minimal);

/* A fake of vtable version 2 that keeps sessions: every method of fake_store_new(0) and
 * `decide`, which answers each operation OK with FAKE_LEASE_ID and the call's device;
 * its list gives FAKE_LEASE_ID and "tv" for the first lease, and a NULL id and device
 * for the second. */
fake_store *fake_store_new_sessions(void);
#define FAKE_LEASE_ID "6f9619ff-8b86-4011-b42d-00c04fc964ff"

#endif /* STREAMY_FAKE_STORE_H */
