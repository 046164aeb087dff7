/* SPDX-License-Identifier: MIT */
/* stores.h: openers of the built-in backends, by URI (schemes.c names them). */
#ifndef STREAMY_STORES_H
#define STREAMY_STORES_H

#include "streamy_int.h"

/* `memory:` exactly (memory.c); `sqlite:PATH[?...]`, `sqlite::memory:` or a plain
 * path (sqlite.c, which reads the parameters). */
int streamy__store_memory_open(streamy_store **out, const char *uri,
                               const streamy_options *o);
int streamy__store_sqlite_open(streamy_store **out, const char *uri,
                               const streamy_options *o);

/* Each returns STREAMY_EUNSUPPORTED with a clear message when not built in. */
int streamy__store_redis_open(streamy_store **out, const char *uri,
                              const streamy_options *o);
int streamy__store_pg_open(streamy_store **out, const char *uri,
                           const streamy_options *o);

#endif /* STREAMY_STORES_H */
