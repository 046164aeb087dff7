/* SPDX-License-Identifier: MIT */
/* pg_util.c: what the PostgreSQL Check suites share (pg_util.h). */
#include "pg_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *base_uri;
char uri_buf[1024];

int pg_util_init(const char *program)
{
    base_uri = getenv("STREAMY_PG_URI");
    if (base_uri == NULL || strncmp(base_uri, "postgresql://", 13) != 0) {
        fprintf(stderr,
                "%s: run me through tests/pg/pg_harness.sh (STREAMY_PG_URI "
                "is not set)\n",
                program);
        return 2;
    }
    return 0;
}

int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *uri(const char *fmt, ...)
{
    va_list ap;
    size_t n = (size_t)snprintf(uri_buf, sizeof(uri_buf), "%s", base_uri);

    va_start(ap, fmt);
    vsnprintf(uri_buf + n, sizeof(uri_buf) - n, fmt, ap);
    va_end(ap);
    return uri_buf;
}

const char *schema(const char *name)
{
    static char buf[64];
    snprintf(buf, sizeof(buf), "%s_%ld", name, (long)getpid());
    return buf;
}

PGconn *admin(void)
{
    PGconn *c = PQconnectdb(base_uri);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "admin connection: %s",
                  PQerrorMessage(c));
    return c;
}

PGresult *sql(PGconn *c, const char *text)
{
    PGresult *r = PQexec(c, text);
    ExecStatusType st = PQresultStatus(r);
    ck_assert_msg(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%.200s: %s", text,
                  PQresultErrorMessage(r));
    return r;
}

long long sql_int(PGconn *c, const char *text)
{
    PGresult *r = sql(c, text);
    long long v = PQntuples(r) > 0 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    return v;
}

streamy *open_ok(const char *u, const streamy_options *o)
{
    streamy *h = NULL;
    ck_assert_rc(streamy_open(&h, u, o), STREAMY_OK);
    ck_assert_str_eq(streamy_store_name(h), "postgresql");
    return h;
}

int64_t fixed_clock(void *payload)
{
    return *(int64_t *)payload;
}
