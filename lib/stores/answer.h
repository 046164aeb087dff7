/* SPDX-License-Identifier: MIT */
/* answer.h: the order of a decision's answer as the Redis and PostgreSQL stores' server
 * code returns it (redis.lua's array, the OUT parameters of pg_schema.sql's functions):
 * the result, then streamy_decision's fields in their order, then (vtable version 2)
 * streamy_answer's session fields in theirs. Fields are only ever appended. */
#ifndef STREAMY_ANSWER_H
#define STREAMY_ANSWER_H

enum {
    ANSWER_RC, /* STREAMY_OK, STREAMY_LIMIT_REACHED or STREAMY_NOT_FOUND, by value */
    ANSWER_CREATED,
    ANSWER_REMOVED,
    ANSWER_SHADOW_REFUSED,
    ANSWER_ACTIVE,
    ANSWER_LIMIT,
    ANSWER_EXPIRED,
    ANSWER_SINCE,
    ANSWER_EXPIRES,
    ANSWER_RETRY,
    ANSWER_EVICTED, /* text: the stream evicted, or empty (NULL in PostgreSQL) */
    /* Version 2: sessions. Text fields are empty (NULL in PostgreSQL) when unset. */
    ANSWER_LEASE_ID, /* text: the lease's id (acquire, renew), the removed one's */
    ANSWER_DEVICE,   /* text: that lease's device label */
    ANSWER_EVICTED_LEASE_ID, /* text: the evicted lease's id */
    ANSWER_EVICTED_DEVICE,   /* text: the evicted lease's device label */
    ANSWER_STALE,            /* 1: the call's lease id named another lease */
    ANSWER_FIELDS
};

#endif /* STREAMY_ANSWER_H */
