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
    int *freed; /* set to 1 when freed, for ownership tests */
} fake_store;

/* A fake with every method, or only the required ones if `minimal`. */
fake_store *fake_store_new(int minimal);

#endif /* STREAMY_FAKE_STORE_H */
