/* SPDX-License-Identifier: MIT */
/* stores.h: openers of the optional built-in backends, by URI. */
#ifndef STREAMY_STORES_H
#define STREAMY_STORES_H

#include "streamy_int.h"

/* Each returns STREAMY_EUNSUPPORTED with a clear message when not built in. */
int streamy__store_redis_open(streamy_store **out, const char *uri,
                              const streamy_options *o);
int streamy__store_pg_open(streamy_store **out, const char *uri,
                           const streamy_options *o);

#endif /* STREAMY_STORES_H */
