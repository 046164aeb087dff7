/* SPDX-License-Identifier: MIT */
/* schemes.h: the one table of store URI schemes through which the core reaches the
 * built-in stores; never installed. */
#ifndef STREAMY_SCHEMES_H
#define STREAMY_SCHEMES_H

#include "streamy_int.h"

/* Opens the store that `uri` names, reading the rest of the URI itself; the caller
 * owns `*out`. As the openers in stores.h. */
typedef int (*streamy__open_fn)(streamy_store **out, const char *uri,
                                const streamy_options *o);

typedef struct streamy__scheme {
    const char
        *scheme; /* how the URI starts: "memory:", "redis://", ...; "" for a path */
    streamy__open_fn open;
} streamy__scheme;

/* The entry whose scheme starts `uri`, else, when `uri` has no scheme, the one that
 * takes it as the path of a SQLite file. Returns STREAMY_OK, or STREAMY_EINVAL with
 * the message set for an empty URI or an unknown scheme. `*out` is static. */
int streamy__scheme_find(const streamy__scheme **out, const char *uri);

#endif /* STREAMY_SCHEMES_H */
