/* SPDX-License-Identifier: MIT */
/* stores/sqlite.h: the SQLite store's private parts that its tests, the benchmark and the
 * URI fuzzer hold it to: its statements and its URI parser; never installed. */
#ifndef STREAMY_STORES_SQLITE_H
#define STREAMY_STORES_SQLITE_H

/* Its prepared statements, by index; the texts (NULL past the end) are for the tests
 * and the benchmark, which hold SQLite to them. */
enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SCAN,
    ST_INSERT,
    ST_REFRESH,
    ST_DROP_EXPIRED,
    ST_LEASE,
    ST_EVICT,
    ST_RELEASE,
    ST_LIST,
    ST_COUNT,
    ST_GET_LIMIT,
    ST_SET_LIMIT,
    ST_CLEAR_LIMIT,
    ST_PURGE,
    ST_HEALTH,
    ST_COUNT_
};

const char *streamy__sqlite_sql(int i);

/* A SQLite store URI taken apart, before anything is opened. */
typedef struct streamy__sqlite_uri {
    char path[4096];      /* the file, or ":memory:" */
    int readonly;         /* ?mode=ro */
    int synchronous_full; /* ?synchronous=full|normal: 1 or 0; -1 when not given */
} streamy__sqlite_uri;

/* Read `sqlite:PATH[?mode=ro|rw&synchronous=normal|full]`, `sqlite::memory:` or, with
 * no scheme, a plain file path. Returns STREAMY_OK, or STREAMY_EINVAL with the
 * message set (no path, a path too long, an unknown parameter). Writes nothing else. */
int streamy__sqlite_uri_parse(streamy__sqlite_uri *out, const char *uri);

#endif /* STREAMY_STORES_SQLITE_H */
