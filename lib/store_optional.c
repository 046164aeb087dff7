/* SPDX-License-Identifier: MIT */
/* store_optional.c: stand-ins for the backends this build leaves out. */
#include "stores.h"

#ifndef STREAMY_HAVE_REDIS
int streamy__store_redis_open(streamy_store **out, const char *uri,
                              const streamy_options *o)
{
    STREAMY_UNUSED(out);
    STREAMY_UNUSED(uri);
    STREAMY_UNUSED(o);
    return streamy__error(STREAMY_EUNSUPPORTED,
                          "this libstreamy was built without Redis support");
}
#endif

#ifndef STREAMY_HAVE_POSTGRES
int streamy__store_pg_open(streamy_store **out, const char *uri, const streamy_options *o)
{
    STREAMY_UNUSED(out);
    STREAMY_UNUSED(uri);
    STREAMY_UNUSED(o);
    return streamy__error(STREAMY_EUNSUPPORTED,
                          "this libstreamy was built without PostgreSQL support");
}
#endif
