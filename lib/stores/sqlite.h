/* SPDX-License-Identifier: MIT */
/* stores/sqlite.h: the SQLite store's private parts that its tests and the benchmark
 * hold it to: its statements; never installed. */
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
    ST_DELETE_ONE,
    ST_RELEASE,
    ST_RELEASE_EXPIRED,
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

#endif /* STREAMY_STORES_SQLITE_H */
