/* SPDX-License-Identifier: MIT */
/* schemes.c: the one table of store URI schemes; each store reads the rest of its URI. */
#include "schemes.h"
#include "stores.h"

#include <string.h>

static const streamy__scheme schemes[] = {
    {"memory:", streamy__store_memory_open}, {"sqlite:", streamy__store_sqlite_open},
    {"redis://", streamy__store_redis_open}, {"rediss://", streamy__store_redis_open},
    {"unix://", streamy__store_redis_open},  {"postgresql://", streamy__store_pg_open},
    {"postgres://", streamy__store_pg_open},
};

/* A URI without a scheme is the path of a SQLite file. */
static const streamy__scheme plain_path = {"", streamy__store_sqlite_open};

/* A leading `word:` that no backend claims is a typo of a scheme, not a path. */
static int looks_like_scheme(const char *uri)
{
    const char *p = uri;

    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
        return 0;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
           (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.')
        p++;
    return *p == ':';
}

int streamy__scheme_find(const streamy__scheme **out, const char *uri)
{
    size_t i;

    if (uri[0] == '\0')
        return streamy__error(STREAMY_EINVAL, "store URI is empty");
    for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        if (strncmp(uri, schemes[i].scheme, strlen(schemes[i].scheme)) == 0) {
            *out = &schemes[i];
            return STREAMY_OK;
        }
    }
    if (looks_like_scheme(uri))
        return streamy__error(
            STREAMY_EINVAL,
            "store URI scheme of \"%.64s\" is unknown (use sqlite:, memory:, "
            "redis:// or postgresql://, or a file path)",
            uri);
    *out = &plain_path;
    return STREAMY_OK;
}
