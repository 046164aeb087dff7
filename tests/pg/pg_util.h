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

#endif /* STREAMY_PG_UTIL_H */
