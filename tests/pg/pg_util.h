/* SPDX-License-Identifier: MIT */
/* pg_util.h: what the PostgreSQL Check suites share: the harness's URI, a schema of the
 * test's own, an admin connection and SQL that must succeed. */
#ifndef STREAMY_PG_UTIL_H
#define STREAMY_PG_UTIL_H

#include <libpq-fe.h>
#include <stdint.h>

#include "streamy.h"
#include "test_util.h"

/* postgresql://streamy@127.0.0.1:PORT/postgres, from the harness (pg_harness.sh). */
extern const char *base_uri;
/* The last URI uri() made. */
extern char uri_buf[1024];

/* Read STREAMY_PG_URI into base_uri; 0, or 2 after a message when it is not set. */
int pg_util_init(const char *program);

int64_t mono_ms(void);

/* The base URI with a query string, e.g. uri("?streamy_schema=x"), in uri_buf. */
const char *uri(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A schema name of this test's own (Check runs each test in a process), in a static
 * buffer. */
const char *schema(const char *name);

/* A connection to base_uri (the test fails without one). */
PGconn *admin(void);

/* Run SQL on `c`; fails the test unless it succeeds. Returns the result. */
PGresult *sql(PGconn *c, const char *text);

/* The first column of the first row as a number (-1 for no row). */
long long sql_int(PGconn *c, const char *text);

/* streamy_open() that must succeed, on a PostgreSQL store. */
streamy *open_ok(const char *u, const streamy_options *o);

/* A clock reading *(int64_t *)payload. */
int64_t fixed_clock(void *payload);

/* --- sessions ----------------------------------------------------------------------- */

/* Whether `s` is a lease id as Streamy writes it: a lower-case UUID of version 4. */
int is_lease_id(const char *s);

/* The leases of one user as streamy_list() gives them. */
#define MAX_LEASES 8
typedef struct seen {
    int n;
    struct {
        char stream[STREAMY_ID_MAX + 1], id[STREAMY_LEASE_ID_LEN + 1];
        char device[STREAMY_DEVICE_MAX + 1];
        int64_t since, renewed, expires;
    } l[MAX_LEASES];
} seen;

/* A streamy_lease_cb filling a `seen` (the payload). */
int lease_collect(const streamy_lease *lease, void *payload);

/* The user's leases (the test fails if streamy_list() does). */
seen list_leases(streamy *h, const char *user);

/* A handle on the schema `name` of the test's own, with a TTL of 60 s, the clock *now
 * and `policy`. */
streamy *open_clocked(const char *name, int64_t *now, streamy_policy policy);

/* One call of streamy_subscribe_ex() (kind SUBSCRIBE), _renew_ex() or _unsubscribe_ex()
 * with these inputs, into `a`. */
int call_ex(streamy_answer *a, streamy *h, streamy_op_kind kind, const char *user,
            const char *stream, const char *lease_id, const char *device,
            int max_streams);

#define NONE STREAMY_MAX_STREAMS_NONE

/* The migration tests (pg_migration.c), for the suite of check_pg_sessions.c. */
void pg_migration_cases(Suite *s);

#endif /* STREAMY_PG_UTIL_H */
