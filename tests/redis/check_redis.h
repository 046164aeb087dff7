/* SPDX-License-Identifier: MIT */
/* check_redis.h: the fixture and helpers that check_redis.c's sections share. */
#ifndef STREAMY_CHECK_REDIS_H
#define STREAMY_CHECK_REDIS_H

#include <hiredis/hiredis.h>

#include "test_util.h"

/* The throwaway server of with_redis.sh: its port, "redis://127.0.0.1:PORT", a key
 * prefix unique to each test, and the test's own connection, to look inside. */
extern int port;
extern char base[128];
extern char prefix[64];
extern redisContext *rc;
/* A clock for handles with an injected one. */
extern test_clock clk;

void setup(void);
void teardown(void);

/* Run a command on the test's own connection; the caller frees the reply. */
redisReply *cmd(const char *fmt, ...);
/* The same, for a command that answers an integer. */
long long cmd_int(const char *fmt, ...);

/* A handle on the test's prefix with `o` (NULL for defaults). */
streamy *open_ok(const streamy_options *o);

/* check_redis_sessions.c: lease ids, devices, fences, max_streams, values of 0.2.0. */
void add_session_cases(Suite *s);

#endif /* STREAMY_CHECK_REDIS_H */
