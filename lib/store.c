/* SPDX-License-Identifier: MIT */
/* store.c: the helpers that include/streamy/store.h gives a store, apart from the core
 * that uses the stores (streamy_store_set_error() is in error.c). */
#include "streamy_int.h"

#include <stddef.h>
#include <string.h>

int streamy_store_init(streamy_store *st, unsigned int version)
{
    static const streamy_store blank = STREAMY_STORE_INIT;

    streamy__error_begin(NULL);
    if (st == NULL)
        return streamy__error(STREAMY_EINVAL, "store pointer is NULL");
    if (version == 0 || version > STREAMY_STORE_VERSION)
        return streamy__error(STREAMY_EINVAL,
                              "store version %u is unknown (this library knows 1 to %d)",
                              version, STREAMY_STORE_VERSION);
    /* A store built against version 1 is smaller: write only its fields. */
    memcpy(st, &blank, version == 1 ? offsetof(streamy_store, decide) : sizeof(*st));
    st->version = version;
    return STREAMY_OK;
}
