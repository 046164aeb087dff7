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

/* --- sessions ----------------------------------------------------------------------- */

/* Whether `s` is a lease id as Streamy writes it: a lower-case UUID of version 4. */
int is_lease_id(const char *s)
{
    if (strlen(s) != STREAMY_LEASE_ID_LEN)
        return 0;
    for (int i = 0; i < STREAMY_LEASE_ID_LEN; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-'
                 : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

int lease_collect(const streamy_lease *lease, void *payload)
{
    seen *s = payload;

    ck_assert_int_lt(s->n, MAX_LEASES);
    snprintf(s->l[s->n].stream, sizeof(s->l[s->n].stream), "%s", lease->stream);
    snprintf(s->l[s->n].id, sizeof(s->l[s->n].id), "%s", lease->lease_id);
    snprintf(s->l[s->n].device, sizeof(s->l[s->n].device), "%s", lease->device);
    s->l[s->n].since = lease->since_ms;
    s->l[s->n].renewed = lease->renewed_ms;
    s->l[s->n].expires = lease->expires_ms;
    s->n++;
    return 0;
}

seen list_leases(streamy *h, const char *user)
{
    seen s;

    memset(&s, 0, sizeof(s));
    ck_assert_rc(streamy_list(h, user, lease_collect, &s), STREAMY_OK);
    return s;
}

/* A handle on a schema of the test's own, with a TTL and the clock *now. */
streamy *open_clocked(const char *name, int64_t *now, streamy_policy policy)
{
    streamy_options o;

    ck_assert_rc(streamy_options_init(&o, STREAMY_OPTIONS_VERSION), STREAMY_OK);
    o.ttl_ms = 60000;
    o.clock = fixed_clock;
    o.clock_payload = now;
    o.policy = policy;
    return open_ok(uri("?streamy_schema=%s", schema(name)), &o);
}

int call_ex(streamy_answer *a, streamy *h, streamy_op_kind kind, const char *user,
            const char *stream, const char *lease_id, const char *device, int max_streams)
{
    streamy_call c = STREAMY_CALL_INIT;

    c.user = user;
    c.stream = stream;
    c.lease_id = lease_id;
    c.device = device;
    c.max_streams = max_streams;
    ck_assert_rc(streamy_answer_init(a, STREAMY_CALL_VERSION), STREAMY_OK);
    switch (kind) {
    case STREAMY_OP_SUBSCRIBE:
        return streamy_subscribe_ex(a, h, &c);
    case STREAMY_OP_RENEW:
        return streamy_renew_ex(a, h, &c);
    default:
        return streamy_unsubscribe_ex(a, h, &c);
    }
}
