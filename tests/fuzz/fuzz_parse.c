/* SPDX-License-Identifier: MIT */
/* fuzz_parse.c: store URIs, durations, policies, numbers and streamyctl's settings from
 * hostile text. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "schemes.h"
#include "stores.h"
#include "stores/sqlite.h"
#include "streamy_int.h"

/* main.c is streamyctl's; the settings code only needs its flags. */
cli_flags cli_flag;

#define TEXT_MAX 600

#define FUZZ_WHERE() fputs("fuzz_parse: ", stderr)
#include "fuzz.h"

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    devnull = fopen("/dev/null", "w");
    if (devnull == NULL)
        abort();
    return 0;
}

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* --- store URIs ------------------------------------------------------------------------
 */

/* A refusal: EINVAL, a message about the URI or the path, and never a URI that is
 * good whatever follows. */
static void check_refused(int rc, const char *text)
{
    CHECK(rc == STREAMY_EINVAL, "rc %d for \"%s\"", rc, text);
    CHECK(strstr(streamy_errmsg(NULL), "URI") != NULL ||
              strstr(streamy_errmsg(NULL), "path") != NULL,
          "message \"%s\"", streamy_errmsg(NULL));
    CHECK(strcmp(text, "memory:") != 0 && strcmp(text, "sqlite::memory:") != 0 &&
              !starts(text, "redis://") && !starts(text, "postgresql://"),
          "\"%s\" refused", text);
}

/* The SQLite store's own reading of its URI (or of a plain path). */
static void check_sqlite_uri(const char *text, int plain)
{
    streamy__sqlite_uri u;
    int rc = streamy__sqlite_uri_parse(&u, text);
    const char *q;

    if (rc != STREAMY_OK) {
        check_refused(rc, text);
        return;
    }
    CHECK(u.synchronous_full >= -1 && u.synchronous_full <= 1, "%d", u.synchronous_full);
    CHECK(u.readonly == 0 || u.readonly == 1, "%d", u.readonly);
    CHECK(u.path[0] != '\0' && strlen(u.path) < sizeof(u.path), "path");
    if (strcmp(text, "sqlite::memory:") == 0) {
        CHECK(strcmp(u.path, ":memory:") == 0, "%s", u.path);
    } else if (!plain) {
        /* The path is what lies between the scheme and the first '?'. */
        q = strchr(text + 7, '?');
        CHECK(strlen(u.path) == (q ? (size_t)(q - text - 7) : strlen(text + 7)) &&
                  strncmp(u.path, text + 7, strlen(u.path)) == 0,
              "\"%s\" gave the path \"%s\"", text, u.path);
        if (q == NULL)
            CHECK(!u.readonly && u.synchronous_full == -1, "parameters without '?'");
        if (u.readonly)
            CHECK(strstr(q, "mode=ro") != NULL, "read-only without mode=ro");
    } else {
        CHECK(strcmp(u.path, text) == 0 && !u.readonly && u.synchronous_full == -1,
              "plain path \"%s\" became \"%s\"", text, u.path);
    }
}

static void check_uri(const char *text)
{
    const streamy__scheme *scheme = NULL;
    streamy_store *st = NULL;
    int rc = streamy__scheme_find(&scheme, text);

    if (rc != STREAMY_OK) {
        check_refused(rc, text);
        return;
    }
    CHECK(text[0] != '\0', "empty URI accepted");
    CHECK(scheme != NULL && starts(text, scheme->scheme), "\"%s\" taken as %s", text,
          scheme ? scheme->scheme : "nothing");
    if (scheme->open == streamy__store_memory_open) {
        /* Opening a memory store touches nothing outside the process. */
        rc = streamy__store_memory_open(&st, text, NULL);
        if (rc != STREAMY_OK)
            check_refused(rc, text);
        else
            CHECK(strcmp(text, "memory:") == 0, "\"%s\" taken as memory:", text);
        if (st != NULL)
            st->free(st);
    } else if (scheme->open == streamy__store_redis_open) {
        CHECK(starts(text, "redis://") || starts(text, "rediss://") ||
                  starts(text, "unix://"),
              "\"%s\" taken as Redis", text);
    } else if (scheme->open == streamy__store_pg_open) {
        CHECK(starts(text, "postgresql://") || starts(text, "postgres://"),
              "\"%s\" taken as PostgreSQL", text);
    } else if (scheme->open == streamy__store_sqlite_open) {
        CHECK(scheme->scheme[0] == '\0'
                  ? !starts(text, "sqlite:") && !starts(text, "memory:")
                  : strcmp(scheme->scheme, "sqlite:") == 0,
              "\"%s\" taken as SQLite", text);
        check_sqlite_uri(text, scheme->scheme[0] == '\0');
    } else {
        CHECK(0, "\"%s\": no known store", text);
    }
}

/* --- durations -----------------------------------------------------------------------
 */

static void check_duration(const char *text)
{
    static const struct {
        const char *unit;
        long long ms;
    } units[] = {{"ms", 1},    {"s", 1000},    {"", 1000},
                 {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    const int64_t sentinel = -424242;
    int64_t ms = sentinel, again = sentinel;
    size_t n = strspn(text, "0123456789"), i;
    long long unit = 0;
    unsigned __int128 want = 0;
    char buf[64];
    int rc = streamy_parse_duration(&ms, text);

    for (i = 0; n > 0 && i < sizeof(units) / sizeof(units[0]); i++)
        if (strcmp(text + n, units[i].unit) == 0)
            unit = units[i].ms;
    /* The model: digits and a known unit, at most a year, whatever the leading zeros. */
    for (i = 0; i < n && want <= (unsigned __int128)STREAMY_TTL_MAX_MS; i++)
        want = want * 10 + (unsigned)(text[i] - '0');
    want *= (unsigned __int128)(unit ? unit : 1);
    if (rc != STREAMY_OK) {
        CHECK(rc == STREAMY_EINVAL, "rc %d", rc);
        CHECK(ms == sentinel, "refused \"%s\" but wrote %lld", text, (long long)ms);
        CHECK(strstr(streamy_errmsg(NULL), "duration") != NULL, "%s",
              streamy_errmsg(NULL));
        CHECK(unit == 0 || want > (unsigned __int128)STREAMY_TTL_MAX_MS,
              "\"%s\" refused: %s", text, streamy_errmsg(NULL));
        return;
    }
    CHECK(unit != 0, "\"%s\" accepted", text);
    CHECK(ms >= 0 && ms <= STREAMY_TTL_MAX_MS, "\"%s\" is %lld ms", text, (long long)ms);
    CHECK((unsigned __int128)ms == want, "\"%s\" is %lld ms", text, (long long)ms);
    /* Its text round-trips, in milliseconds and in the unit it was given in. */
    snprintf(buf, sizeof(buf), "%lldms", (long long)ms);
    CHECK(streamy_parse_duration(&again, buf) == STREAMY_OK && again == ms, "%s", buf);
    snprintf(buf, sizeof(buf), "%lld%s", (long long)(ms / unit), text + n);
    CHECK(streamy_parse_duration(&again, buf) == STREAMY_OK && again == ms, "%s", buf);
}

/* --- policies and numbers ------------------------------------------------------------
 */

static void check_policy(const char *text)
{
    streamy_policy p = (streamy_policy)99;
    int rc = streamy_parse_policy(&p, text);

    if (rc != STREAMY_OK) {
        CHECK(rc == STREAMY_EINVAL && p == (streamy_policy)99, "rc %d", rc);
        CHECK(strcmp(text, "reject") != 0 && strcmp(text, "evict-oldest") != 0 &&
                  strcmp(text, "evict-idle") != 0,
              "\"%s\" refused", text);
        return;
    }
    CHECK(streamy_policy_name(p) != NULL && strcmp(streamy_policy_name(p), text) == 0,
          "\"%s\" read as %d", text, (int)p);
}

static void check_uint(const char *text)
{
    static const unsigned long maxes[] = {0, 1, 64, 65535, 100000, 1048576, ULONG_MAX};
    size_t n = strlen(text), i, k;

    for (k = 0; k < sizeof(maxes) / sizeof(maxes[0]); k++) {
        unsigned long max = maxes[k];
        unsigned long long lv = 7;
        unsigned __int128 want = 0;
        int digits = n > 0 && strspn(text, "0123456789") == n;

        for (i = 0; digits && i < n && want <= max; i++)
            want = want * 10 + (unsigned)(text[i] - '0');
        if (streamy__parse_uint(&lv, text, max) == STREAMY_OK)
            CHECK(digits && want <= max && lv == want, "\"%s\" read as %llu", text, lv);
        else
            CHECK(!digits || want > max, "\"%s\" refused by the library (max %lu)", text,
                  max);
    }
}

/* --- streamyctl's settings: flags, then environment, then defaults
 * ---------------------- */

static const char *const env_names[] = {"STREAMY_DB",           "STREAMY_MAX_STREAMS",
                                        "STREAMY_LEASE_TTL",    "STREAMY_POLICY",
                                        "STREAMY_BUSY_TIMEOUT", "STREAMY_SYNC",
                                        "STREAMY_SHADOW",       "STREAMY_REQUIRE_UUID"};

/* Fields of the input separated by newlines: each goes to a flag or a variable. */
static void check_settings(const uint8_t *data, size_t size)
{
    char buf[TEXT_MAX + 1], *field[8] = {NULL}, *p;
    unsigned mask = size > 0 ? data[0] : 0;
    const char **flags[6] = {&cli_flag.db,     &cli_flag.limit,        &cli_flag.ttl,
                             &cli_flag.policy, &cli_flag.busy_timeout, &cli_flag.sync};
    cli_config cfg;
    streamy *h = NULL;
    FILE *saved;
    int rc, n = 0;

    if (size > 0) {
        data++;
        size--;
    }
    if (size > TEXT_MAX)
        size = TEXT_MAX;
    memcpy(buf, data, size);
    buf[size] = '\0';
    for (p = buf; n < 8; n++) {
        field[n] = p;
        if ((p = strchr(p, '\n')) == NULL)
            break;
        *p++ = '\0';
    }
    memset(&cli_flag, 0, sizeof(cli_flag));
    for (int i = 0; i < 8; i++) {
        /* A flag (the first six) or, else, the variable; unset when the field is absent.
         */
        if (i < 6 && field[i] != NULL && (mask >> i) & 1) {
            *flags[i] = field[i];
            unsetenv(env_names[i]);
        } else if (field[i] != NULL) {
            setenv(env_names[i], field[i], 1);
        } else {
            unsetenv(env_names[i]);
        }
    }
    cli_flag.shadow = (mask >> 6) & 1;
    cli_flag.require_uuid = (mask >> 7) & 1;
    saved = stderr;
    stderr = devnull; /* the CLI's diagnostics; sanitizer reports go to fd 2 as before */
    rc = cli_config_resolve(&cfg);
    stderr = saved;
    if (rc != CLI_CONTINUE) {
        CHECK(rc == CLI_EXIT_USAGE, "exit %d", rc);
        return;
    }
    CHECK(cfg.db != NULL && (cfg.db[0] != '\0' || cli_flag.db != NULL), "no store");
    CHECK(cfg.opts.limit <= STREAMY_LIMIT_MAX, "limit %u", cfg.opts.limit);
    CHECK(cfg.opts.ttl_ms >= 0 && cfg.opts.ttl_ms <= STREAMY_TTL_MAX_MS, "ttl %lld",
          (long long)cfg.opts.ttl_ms);
    CHECK(streamy_policy_name(cfg.opts.policy) != NULL, "policy %d",
          (int)cfg.opts.policy);
    CHECK(cfg.opts.busy_timeout_ms >= 0 &&
              cfg.opts.busy_timeout_ms <= STREAMY_BUSY_TIMEOUT_MAX_MS,
          "busy timeout %d", cfg.opts.busy_timeout_ms);
    CHECK((cfg.opts.shadow == 0 || cfg.opts.shadow == 1) &&
              (cfg.opts.require_uuid == 0 || cfg.opts.require_uuid == 1) &&
              (cfg.opts.synchronous_full == 0 || cfg.opts.synchronous_full == 1),
          "flags");
    if (cli_flag.shadow)
        CHECK(cfg.opts.shadow == 1, "--shadow lost");
    /* Whatever the CLI accepts, the library accepts too. */
    CHECK(streamy_open(&h, "memory:", &cfg.opts) == STREAMY_OK, "%s",
          streamy_errmsg(NULL));
    streamy_close(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[TEXT_MAX + 1];
    size_t n = size > TEXT_MAX ? TEXT_MAX : size;

    memcpy(text, data, n);
    text[n] = '\0';
    check_uri(text);
    check_duration(text);
    check_policy(text);
    check_uint(text);
    check_settings(data, size);
    return 0;
}
