/* SPDX-License-Identifier: MIT */
/* streamy.h: the public API of libstreamy, a per-user concurrent stream limiter. */
#ifndef STREAMY_H
#define STREAMY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @name Version
 * The one place the version lives; CMake reads it from here.
 * @{ */
#define STREAMY_VERSION_MAJOR 0
#define STREAMY_VERSION_MINOR 3
#define STREAMY_VERSION_PATCH 0
#define STREAMY_VERSION "0.3.0"
/** 0xMMmmpp, for use in `#if`. */
#define STREAMY_VERSION_NUMBER                                                           \
    ((STREAMY_VERSION_MAJOR << 16) | (STREAMY_VERSION_MINOR << 8) | STREAMY_VERSION_PATCH)
/** @} */

#if defined(_WIN32)
#define STREAMY_EXTERN
#elif defined(__GNUC__) && __GNUC__ >= 4
#define STREAMY_EXTERN __attribute__((visibility("default")))
#else
#define STREAMY_EXTERN
#endif

/** Longest identifier, in bytes (without the terminating NUL). */
#define STREAMY_ID_MAX 128
/** Largest limit a user may be given. */
#define STREAMY_LIMIT_MAX 100000u
/** Longest lease TTL: one year, in milliseconds. */
#define STREAMY_TTL_MAX_MS (366LL * 24 * 3600 * 1000)
/** Longest busy timeout: one hour, in milliseconds. */
#define STREAMY_BUSY_TIMEOUT_MAX_MS (3600 * 1000)
/** Length of a lease id: a UUID in its 36-character text form, lower case. */
#define STREAMY_LEASE_ID_LEN 36
/** Longest device label, in bytes (without the terminating NUL). */
#define STREAMY_DEVICE_MAX 64
/** streamy_call.max_streams when the caller gives no limit of its own. */
#define STREAMY_MAX_STREAMS_NONE (-1)

/**
 * Result codes, kept in one list so the enum and streamy_strerror() agree.
 * Zero is success, positive values are answers ("the store said no"),
 * negative values are errors. Numbers never change once released.
 */
#define STREAMY_RESULT_MAP(XX)                                                           \
    XX(OK, 0, "ok")                                                                      \
    XX(LIMIT_REACHED, 1, "limit reached")                                                \
    XX(NOT_FOUND, 2, "not found")                                                        \
    XX(EINVAL, -1, "invalid argument")                                                   \
    XX(EBUSY, -2, "store busy")                                                          \
    XX(ESTORE, -3, "store failure")                                                      \
    XX(ENOMEM, -4, "out of memory")                                                      \
    XX(EUNSUPPORTED, -5, "operation not supported by this store")

typedef enum streamy_result {
#define STREAMY_RESULT_ENUM_(name, value, msg) STREAMY_##name = value,
    STREAMY_RESULT_MAP(STREAMY_RESULT_ENUM_)
#undef STREAMY_RESULT_ENUM_
} streamy_result;

/** The opaque handle. Users only ever hold a pointer to it. */
typedef struct streamy streamy;

/** What subscribe does when the user already holds their limit. */
typedef enum streamy_policy {
    STREAMY_POLICY_REJECT = 0,   /**< refuse; change nothing (the default) */
    STREAMY_POLICY_EVICT_OLDEST, /**< remove the lease started first, add the new one */
    STREAMY_POLICY_EVICT_IDLE    /**< remove the lease renewed least recently, add the new
                                    one */
} streamy_policy;

/** Kinds of decision an observer sees. */
typedef enum streamy_event_kind {
    STREAMY_EVENT_ALLOWED = 1, /**< a subscribe was allowed (new or refreshed lease) */
    STREAMY_EVENT_REFUSED,     /**< a subscribe was refused at the limit */
    STREAMY_EVENT_EVICTED,     /**< a lease was evicted by the policy */
    STREAMY_EVENT_EXPIRED,     /**< expired leases were dropped (see `count`) */
    STREAMY_EVENT_RENEWED,     /**< a lease was renewed */
    STREAMY_EVENT_RELEASED,    /**< an unsubscribe removed a lease */
    STREAMY_EVENT_DEGRADED     /**< a subscribe or renew failed in the store and was
                                    answered OK degraded (`on_store_error` allow):
                                    nothing was recorded. `active` is 0, `limit` the
                                    handle's default */
} streamy_event_kind;

/**
 * One decision, as an observer sees it. Every pointer is valid only during
 * the callback.
 */
typedef struct streamy_event {
    streamy_event_kind kind;
    const char *user;    /**< canonical user id; NULL for a purge */
    const char *stream;  /**< the stream concerned (the evicted one for EVICTED);
                              NULL for EXPIRED */
    unsigned int count;  /**< EXPIRED: how many leases were dropped; otherwise 1 */
    unsigned int active; /**< the user's leases after the decision (ALLOWED, REFUSED;
                              0 for DEGRADED) */
    unsigned int limit;  /**< the limit that applied (ALLOWED, REFUSED; the handle's
                              default for DEGRADED) */
    int shadow_refused;  /**< ALLOWED in shadow mode where it would have been refused */
    int64_t at_ms;       /**< when, in milliseconds since the Unix epoch, by the
                              handle's clock (Redis and PostgreSQL decide by their
                              server's, which may differ a little) */
} streamy_event;

/**
 * Observer callback: sees every decision made through a handle.
 * It runs on the calling thread after the store has committed (for DEGRADED:
 * after it failed), must not call the library on the same handle, and should
 * return quickly.
 */
typedef void (*streamy_observer_cb)(const streamy_event *event, void *payload);

/** Clock callback: the current time in milliseconds since the Unix epoch. */
typedef int64_t (*streamy_clock_cb)(void *payload);

/**
 * What subscribe and renew answer when the store cannot decide (STREAMY_ESTORE or
 * STREAMY_EBUSY): the option `on_store_error` (options version 2).
 */
typedef enum streamy_on_store_error {
    STREAMY_ON_STORE_ERROR_DENY = 0, /**< return the error (the default): fail closed */
    STREAMY_ON_STORE_ERROR_ALLOW     /**< answer STREAMY_OK marked `degraded`, record
                                          nothing: fail open. The limit is then not
                                          enforced until the store answers again */
} streamy_on_store_error;

/**
 * The options version this header describes. Version 2 appended `on_store_error`;
 * a caller built against version 1 (a smaller struct with `version` 1) keeps
 * working: the library reads only the version-1 fields from it, and
 * `on_store_error` is then STREAMY_ON_STORE_ERROR_DENY.
 */
#define STREAMY_OPTIONS_VERSION 2

/**
 * Options for streamy_open(). Initialise with STREAMY_OPTIONS_INIT or
 * streamy_options_init(); fields are only ever appended.
 */
typedef struct streamy_options {
    unsigned int version;   /**< STREAMY_OPTIONS_VERSION */
    unsigned int limit;     /**< default per-user limit; 3. 0 blocks everyone. */
    int64_t ttl_ms;         /**< lease lifetime without renew; 0 = never expire */
    streamy_policy policy;  /**< what subscribe does at the limit; reject */
    int shadow;             /**< decide and record, but always allow */
    int require_uuid;       /**< refuse identifiers that are not UUIDs */
    int busy_timeout_ms;    /**< how long to wait for a locked store; 5000 */
    int synchronous_full;   /**< SQLite: synchronous=FULL instead of NORMAL */
    streamy_clock_cb clock; /**< time source; NULL = real time for SQLite and memory,
                                 the server's time for Redis and PostgreSQL. Meant
                                 for tests: every client must use the same clock */
    void *clock_payload;
    streamy_observer_cb observer; /**< sees every decision; may be NULL */
    void *observer_payload;
    /* Version 1 ends here. */
    streamy_on_store_error on_store_error; /**< subscribe and renew when the store
                                                fails: deny (the default) or allow */
    /* Version 2 ends here. Later fields are appended below this line. */
} streamy_options;

#define STREAMY_OPTIONS_INIT                                                             \
    {                                                                                    \
        STREAMY_OPTIONS_VERSION, 3, 0, STREAMY_POLICY_REJECT, 0, 0, 5000, 0, NULL, NULL, \
            NULL, NULL, STREAMY_ON_STORE_ERROR_DENY                                      \
    }

/**
 * Fill @p opts with the defaults of options version @p version, writing only the
 * fields of that version (a version-1 struct is smaller than this header's).
 * @return STREAMY_OK, or STREAMY_EINVAL if @p opts is NULL or @p version is
 *         not one this library knows.
 * Thread-safe.
 */
STREAMY_EXTERN int streamy_options_init(streamy_options *opts, unsigned int version);

/**
 * The answer to one subscribe, unsubscribe or renew. The caller provides it;
 * fields a call does not set are zero. Its size never changes: `degraded` was added
 * in what was padding at its end (one byte, so that it fits on every ABI).
 */
typedef struct streamy_decision {
    int created;         /**< subscribe: 1 if a new lease was added, 0 if an
                              existing one was refreshed */
    int removed;         /**< unsubscribe: 1 if an active lease was removed */
    int shadow_refused;  /**< subscribe in shadow mode: 1 if it would have been refused */
    unsigned int active; /**< subscribe, renew: the user's active leases afterwards */
    unsigned int limit;  /**< subscribe, renew: the limit that applied */
    unsigned int expired; /**< expired leases of this user dropped by the call */
    int64_t since_ms;     /**< subscribe, renew: when the lease started */
    int64_t expires_ms;   /**< subscribe, renew: when it expires; 0 = never */
    int64_t retry_ms;     /**< LIMIT_REACHED: when enough leases will have expired for
                               one more to fit; 0 = never by itself */
    char evicted[STREAMY_ID_MAX + 1]; /**< subscribe: the stream evicted, or "" */
    unsigned char degraded; /**< subscribe, renew: 1 when the store failed and the answer
                       is STREAMY_OK only because `on_store_error` is allow: nothing was
                       recorded, `active` is 0, `limit` is the handle's default and
                       the other fields are zero. 0 for every other answer. Added
                       with options version 2 */
} streamy_decision;

/**
 * One lease, as streamy_list() reports it. The library fills it, so fields are only
 * ever appended: a caller built against an older header reads the fields it knows.
 */
typedef struct streamy_lease {
    const char *stream; /**< valid only during the callback */
    int64_t since_ms;   /**< when it started */
    int64_t renewed_ms; /**< when it was last subscribed or renewed */
    int64_t expires_ms; /**< when it expires; 0 = never */
    /* Release 0.2 ends here. */
    const char *lease_id; /**< its id (STREAMY_LEASE_ID_LEN characters), or "" from a
                               store that keeps no ids (vtable version 1); valid only
                               during the callback. Since 0.3 */
    const char *device;   /**< its device label, or "" when it has none; valid only
                               during the callback. Since 0.3 */
} streamy_lease;

/** Lease callback for streamy_list(); return non-zero to stop early. */
typedef int (*streamy_lease_cb)(const streamy_lease *lease, void *payload);

/** Decision counters of a handle, since it was opened. */
typedef struct streamy_counters {
    uint64_t allowed;        /**< subscribes answered OK */
    uint64_t refused;        /**< subscribes answered LIMIT_REACHED */
    uint64_t evicted;        /**< leases evicted by the policy */
    uint64_t expired;        /**< expired leases dropped (decisions and purge) */
    uint64_t renewed;        /**< renews answered OK */
    uint64_t released;       /**< unsubscribes that removed a lease */
    uint64_t shadow_refused; /**< allowed only because of shadow mode */
} streamy_counters;

/** The statistics version this header describes. */
#define STREAMY_STATISTICS_VERSION 1

/**
 * Everything streamy_statistics_get() reports about a handle, since it was opened.
 * Unlike streamy_counters it is versioned, so fields can be appended: set `version`
 * (STREAMY_STATISTICS_INIT does) and the library fills the fields of that version.
 */
typedef struct streamy_statistics {
    unsigned int version;      /**< STREAMY_STATISTICS_VERSION */
    streamy_counters counters; /**< as streamy_stats() returns them */
    uint64_t degraded;         /**< subscribes and renews answered OK degraded because the
                                    store failed (`on_store_error` allow); they are not
                                    counted in `counters` */
    /* Version 1 ends here. Later fields are appended below this line. */
} streamy_statistics;

#define STREAMY_STATISTICS_INIT                                                          \
    {                                                                                    \
        STREAMY_STATISTICS_VERSION, {0, 0, 0, 0, 0, 0, 0}, 0                             \
    }

/** Operations of a batch (streamy_apply()). */
typedef enum streamy_op_kind {
    STREAMY_OP_SUBSCRIBE = 1,
    STREAMY_OP_UNSUBSCRIBE,
    STREAMY_OP_RENEW
} streamy_op_kind;

/** One operation of a batch: the inputs, then its answer. */
typedef struct streamy_op {
    streamy_op_kind kind;      /**< in */
    const char *user;          /**< in */
    const char *stream;        /**< in */
    int result;                /**< out: what the single call would have returned */
    streamy_decision decision; /**< out */
} streamy_op;

/**
 * The call version this header describes. streamy_call and streamy_answer carry
 * the version they were built with and grow only by appending; the library reads and
 * writes only the fields of that version.
 */
#define STREAMY_CALL_VERSION 1

/**
 * The inputs of one subscribe, renew or unsubscribe through the `_ex` functions
 * (and of a streamy_batch_op). Initialise with STREAMY_CALL_INIT or
 * streamy_call_init(): every optional field then says "not given", and the call
 * behaves exactly as the plain function. The caller owns it and every string it
 * points to; the library reads them during the call only.
 */
typedef struct streamy_call {
    unsigned int version; /**< STREAMY_CALL_VERSION */
    const char *user;     /**< the user id, as for streamy_subscribe() */
    const char *stream;   /**< the stream id */
    const char *lease_id; /**< renew, unsubscribe: the lease id the caller holds, or
                               NULL. When the current lease of (user, stream) has
                               another id, renew answers STREAMY_NOT_FOUND and
                               unsubscribe removes nothing; `stale` says so. Any
                               case; must be a UUID. Subscribe: must be NULL */
    const char *device;   /**< subscribe: a device label to store with the lease, or
                               NULL (a refresh then keeps the lease's own label):
                               1 to STREAMY_DEVICE_MAX bytes of UTF-8 without control
                               characters, as identifiers. Renew, unsubscribe: NULL */
    int max_streams;      /**< subscribe: the limit the caller's entitlement gives the
                               user now, 0 to STREAMY_LIMIT_MAX, or
                               STREAMY_MAX_STREAMS_NONE. A limit stored for the user
                               wins over it; it wins over the handle's default. It is
                               not stored. Renew, unsubscribe: NONE */
    /* Version 1 ends here. Later fields are appended below this line. */
} streamy_call;

#define STREAMY_CALL_INIT                                                                \
    {                                                                                    \
        STREAMY_CALL_VERSION, NULL, NULL, NULL, NULL, STREAMY_MAX_STREAMS_NONE           \
    }

/**
 * Fill @p call with the defaults of call version @p version (nothing given), writing
 * only the fields of that version.
 * @return STREAMY_OK, or STREAMY_EINVAL if @p call is NULL or @p version is unknown.
 * Thread-safe.
 */
STREAMY_EXTERN int streamy_call_init(streamy_call *call, unsigned int version);

/**
 * The answer to one call through the `_ex` functions: the plain functions' decision,
 * and the session it concerns. The caller provides it with `version` set
 * (STREAMY_ANSWER_INIT or streamy_answer_init()); the library zeroes and fills the
 * fields of that version. Strings are NUL-terminated; "" when there is nothing.
 */
typedef struct streamy_answer {
    unsigned int version;      /**< STREAMY_CALL_VERSION */
    streamy_decision decision; /**< exactly what the plain function answers */
    char lease_id[STREAMY_LEASE_ID_LEN + 1]; /**< subscribe, renew (OK): the lease's id,
                                     kept by a refresh and a renew, new for a new
                                     lease; unsubscribe: the id of the lease removed.
                                     "" from a store that keeps no ids, or degraded */
    char device[STREAMY_DEVICE_MAX + 1];     /**< subscribe, renew (OK): the lease's
                                                  device label */
    char evicted_lease_id[STREAMY_LEASE_ID_LEN + 1]; /**< subscribe: the id of the lease
                                                          evicted (`decision.evicted`) */
    char evicted_device[STREAMY_DEVICE_MAX + 1];     /**< and its device label */
    int stale; /**< renew, unsubscribe: 1 when the call named a lease id and the
                    unexpired lease of (user, stream) has another one: renew answered
                    STREAMY_NOT_FOUND and unsubscribe removed nothing */
    /* Version 1 ends here. Later fields are appended below this line. */
} streamy_answer;

#define STREAMY_ANSWER_INIT                                                              \
    {                                                                                    \
        STREAMY_CALL_VERSION, {0, 0, 0, 0, 0, 0, 0, 0, 0, {0}, 0}, {0}, {0}, {0}, {0}, 0 \
    }

/**
 * Zero @p answer and set its version, writing only the fields of that version.
 * @return STREAMY_OK, or STREAMY_EINVAL if @p answer is NULL or @p version is unknown.
 * Thread-safe.
 */
STREAMY_EXTERN int streamy_answer_init(streamy_answer *answer, unsigned int version);

/**
 * One operation of a batch through streamy_apply_ex(). It holds pointers, so its
 * size never changes: new inputs go into streamy_call, new outputs into
 * streamy_answer.
 */
typedef struct streamy_batch_op {
    streamy_op_kind kind;     /**< in */
    const streamy_call *call; /**< in: the caller's; read during the call only */
    int result;               /**< out: what the single call would have returned */
    streamy_answer *answer;   /**< out: the caller's, `version` set; may be NULL */
} streamy_batch_op;

/**
 * Open a handle on the store named by @p uri.
 *
 * URIs: `sqlite:PATH` or a plain path (SQLite file, created 0600; append
 * `?mode=ro` to open read-only), `sqlite::memory:` (private SQLite in memory),
 * `memory:` (the in-process memory store, private to this handle),
 * `redis://...` and `postgresql://...` when built in. NULL means `streamy.db`.
 *
 * @param out   receives the handle; set to NULL on failure.
 * @param uri   the store; see above.
 * @param opts  options, or NULL for the defaults.
 * @return STREAMY_OK; STREAMY_EINVAL for a bad URI or option; STREAMY_EUNSUPPORTED
 *         for a backend not built in; STREAMY_ESTORE if the store cannot be
 *         opened or is not a Streamy store (it is then left untouched);
 *         STREAMY_EBUSY; STREAMY_ENOMEM. On failure streamy_errmsg(NULL) says why.
 * The caller owns `*out` and frees it with streamy_close().
 * Thread-safe.
 */
STREAMY_EXTERN int streamy_open(streamy **out, const char *uri,
                                const streamy_options *opts);

/**
 * Close a handle and its store. NULL is a no-op.
 * Not safe to call while another thread uses @p h.
 */
STREAMY_EXTERN void streamy_close(streamy *h);

/**
 * Subscribe: may @p user start @p stream now? In one atomic store step: drop
 * the user's expired leases; refresh the lease if it exists; else add it if
 * the user is under their limit; else apply the policy.
 *
 * When the store fails (STREAMY_ESTORE or STREAMY_EBUSY) and the handle's
 * `on_store_error` is allow, the answer is STREAMY_OK with `out->degraded` set:
 * nothing was recorded, the observer sees STREAMY_EVENT_DEGRADED, and
 * streamy_errmsg() still gives the store's error. Invalid input is never degraded.
 *
 * @param out  receives the answer's details; may be NULL.
 * @return STREAMY_OK (allowed, or degraded as above), STREAMY_LIMIT_REACHED
 *         (refused, nothing changed), or an error: STREAMY_EINVAL (bad argument,
 *         named in streamy_errmsg()), STREAMY_EBUSY, STREAMY_ESTORE, STREAMY_ENOMEM.
 *         On an error nothing was written.
 * Thread-safe: a handle may be shared by threads.
 */
STREAMY_EXTERN int streamy_subscribe(streamy_decision *out, streamy *h, const char *user,
                                     const char *stream);

/**
 * Unsubscribe: remove the lease if present (idempotent). `out->removed` tells
 * whether an active lease was removed. A store error is returned whatever
 * `on_store_error` says: there is nothing to allow.
 * @return STREAMY_OK, or an error as for streamy_subscribe().
 * Thread-safe.
 */
STREAMY_EXTERN int streamy_unsubscribe(streamy_decision *out, streamy *h,
                                       const char *user, const char *stream);

/**
 * Renew (heartbeat): extend an unexpired lease by the TTL. A store error is
 * answered OK degraded with `on_store_error` allow, as for streamy_subscribe().
 * @return STREAMY_OK, STREAMY_NOT_FOUND (no such active lease: subscribe
 *         again), or an error as for streamy_subscribe().
 * Thread-safe.
 */
STREAMY_EXTERN int streamy_renew(streamy_decision *out, streamy *h, const char *user,
                                 const char *stream);

/**
 * Decide a batch of operations in order, inside ONE store transaction, at one
 * instant (the clock is read once for the whole batch; Redis and PostgreSQL
 * take each decision's time from their server).
 * Redis has no transactions to roll back: there a batch is one pipeline, each
 * decision atomic and in order, and a failed batch acknowledges nothing,
 * though decisions that reached the server before the failure may stand (as
 * when an answer is lost on the way).
 * Each `ops[i].result` and `ops[i].decision` are exactly what the same calls
 * one by one would have given at that instant (an invalid operation gets
 * STREAMY_EINVAL and the others go on). streamy_errmsg() then holds the message
 * of the last invalid operation only; streamy_normalize_id() gives each one's.
 *
 * @return STREAMY_OK when the transaction committed; otherwise the error
 *         (STREAMY_EINVAL for a NULL argument, STREAMY_EBUSY, STREAMY_ESTORE,
 *         STREAMY_ENOMEM, STREAMY_EUNSUPPORTED for a store without batches),
 *         every `ops[i].result` is set to it, and nothing was written. Except,
 *         with `on_store_error` allow, when the error is STREAMY_ESTORE or
 *         STREAMY_EBUSY: the error is still returned and nothing was written, but
 *         each subscribe and renew answers STREAMY_OK degraded (as the single call
 *         would), each unsubscribe gets the error, and an invalid operation keeps
 *         STREAMY_EINVAL.
 * Thread-safe.
 */
STREAMY_EXTERN int streamy_apply(streamy *h, streamy_op *ops, size_t n);

/**
 * Subscribe with the inputs of @p call (device label, the caller's limit): the same
 * decision as streamy_subscribe(), and the lease's id and device in @p out.
 *
 * @param out   receives the answer; may be NULL; its `version` must be set.
 * @param call  the inputs; `user` and `stream` are required.
 * @return as streamy_subscribe(); also STREAMY_EINVAL for a bad call or answer
 *         version, a bad device label or max_streams, or a lease id (subscribe takes
 *         none), named in streamy_errmsg(); STREAMY_EUNSUPPORTED when the call gives
 *         a device label and the store keeps none (vtable version 1): nothing is
 *         then decided. The caller's limit works with every store.
 * Thread-safe.
 */
STREAMY_EXTERN int streamy_subscribe_ex(streamy_answer *out, streamy *h,
                                        const streamy_call *call);

/**
 * Renew with the inputs of @p call: with `lease_id`, only the lease that has that id
 * is renewed (otherwise STREAMY_NOT_FOUND, `out->stale` 1 when another lease holds
 * (user, stream)).
 * @return as streamy_renew(); also STREAMY_EINVAL for bad inputs (a lease id that
 *         is not a UUID, a device label or max_streams, which renew does not take);
 *         STREAMY_EUNSUPPORTED for a lease id sent to a store that keeps no ids.
 * Thread-safe.
 */
STREAMY_EXTERN int streamy_renew_ex(streamy_answer *out, streamy *h,
                                    const streamy_call *call);

/**
 * Unsubscribe with the inputs of @p call: with `lease_id`, only the lease that has
 * that id is removed; otherwise nothing is (`decision.removed` 0, `stale` 1 when
 * another lease holds (user, stream)). Still STREAMY_OK: unsubscribe is idempotent.
 * @return as streamy_unsubscribe(); also STREAMY_EINVAL and STREAMY_EUNSUPPORTED as
 *         for streamy_renew_ex().
 * Thread-safe.
 */
STREAMY_EXTERN int streamy_unsubscribe_ex(streamy_answer *out, streamy *h,
                                          const streamy_call *call);

/**
 * streamy_apply() with the `_ex` inputs and answers: @p n operations decided in
 * order inside ONE store transaction, each `ops[i].result` and `*ops[i].answer`
 * exactly what the `_ex` call would have given at that instant. Every rule of
 * streamy_apply() holds; an invalid operation (NULL call, bad inputs, unsupported
 * inputs) gets its own error and the others go on.
 * Thread-safe.
 */
STREAMY_EXTERN int streamy_apply_ex(streamy *h, streamy_batch_op *ops, size_t n);

/**
 * List the user's unexpired leases, oldest first. The leases are read first
 * and then passed to @p cb, so @p cb may call the library.
 * @return STREAMY_OK (also when @p cb stopped early), or an error.
 * Thread-safe.
 */
STREAMY_EXTERN int streamy_list(streamy *h, const char *user, streamy_lease_cb cb,
                                void *payload);

/**
 * Count the user's unexpired leases into `*out`.
 * @return STREAMY_OK or an error. Thread-safe.
 */
STREAMY_EXTERN int streamy_count(unsigned int *out, streamy *h, const char *user);

/**
 * Store a per-user limit (0 blocks the user). Lowering a limit cuts no
 * running stream: new subscribes are refused until the user is under it.
 * @return STREAMY_OK, STREAMY_EINVAL if @p limit > STREAMY_LIMIT_MAX, or an
 *         error; STREAMY_EUNSUPPORTED if the store keeps no limits.
 * Thread-safe.
 */
STREAMY_EXTERN int streamy_set_limit(streamy *h, const char *user, unsigned int limit);

/**
 * Remove a per-user limit: the user is back to the default.
 * @return STREAMY_OK (also when there was none) or an error. Thread-safe.
 */
STREAMY_EXTERN int streamy_clear_limit(streamy *h, const char *user);

/**
 * The limit that applies to @p user, into `*out`; `*is_override` (may be
 * NULL) says whether it is a per-user limit.
 * @return STREAMY_OK or an error. Thread-safe.
 */
STREAMY_EXTERN int streamy_get_limit(unsigned int *out, int *is_override, streamy *h,
                                     const char *user);

/**
 * Delete every expired lease; `*removed` (may be NULL) receives how many.
 * @return STREAMY_OK or an error. Thread-safe.
 */
STREAMY_EXTERN int streamy_purge(uint64_t *removed, streamy *h);

/**
 * Check that the store answers.
 * @return STREAMY_OK, or STREAMY_EBUSY / STREAMY_ESTORE. Thread-safe.
 */
STREAMY_EXTERN int streamy_health(streamy *h);

/**
 * Copy the handle's decision counters into `*out`. streamy_statistics_get() also
 * gives the counters that streamy_counters has no room for.
 * @return STREAMY_OK, or STREAMY_EINVAL for a NULL argument. Thread-safe.
 */
STREAMY_EXTERN int streamy_stats(streamy_counters *out, const streamy *h);

/**
 * Fill the fields of `*out` that its `version` asks for (the caller sets it, e.g.
 * with STREAMY_STATISTICS_INIT); nothing past them is written.
 * @return STREAMY_OK, or STREAMY_EINVAL for a NULL argument or a version this
 *         library does not know (then `*out` is unchanged).
 * The caller owns `*out`. Thread-safe.
 */
STREAMY_EXTERN int streamy_statistics_get(streamy_statistics *out, const streamy *h);

/**
 * Validate @p id as the handle would and write its canonical form (UUIDs in
 * lower case) into @p out, which must hold STREAMY_ID_MAX + 1 bytes.
 * @p field names the identifier in the error message ("user", "stream", ...).
 * @return STREAMY_OK or STREAMY_EINVAL. Thread-safe.
 */
STREAMY_EXTERN int streamy_normalize_id(char *out, size_t out_size, const streamy *h,
                                        const char *field, const char *id);

/**
 * Parse a duration such as "90s", "5m", "1h", "250ms", "2d" or a plain number
 * of seconds into milliseconds. "0" is zero.
 * @return STREAMY_OK or STREAMY_EINVAL (then `*out_ms` is unchanged).
 * Thread-safe.
 */
STREAMY_EXTERN int streamy_parse_duration(int64_t *out_ms, const char *text);

/**
 * Parse a policy name: "reject", "evict-oldest" or "evict-idle".
 * @return STREAMY_OK or STREAMY_EINVAL. Thread-safe.
 */
STREAMY_EXTERN int streamy_parse_policy(streamy_policy *out, const char *text);

/** The name of a policy ("reject", ...), or NULL if unknown. Static string. */
STREAMY_EXTERN const char *streamy_policy_name(streamy_policy policy);

/**
 * The name of the store behind a handle ("sqlite", "memory", ...).
 * The string belongs to the store and lives as long as the handle.
 */
STREAMY_EXTERN const char *streamy_store_name(const streamy *h);

/** A static description of a result code. Thread-safe. */
STREAMY_EXTERN const char *streamy_strerror(int rc);

/**
 * The detailed message of the last call this thread made on @p h: it names
 * the bad field or gives the backend's own words. With @p h NULL, the
 * message of this thread's last call (for a failed streamy_open()). After an
 * answer marked `degraded`, it is the store's error that caused it.
 * The string is thread-local and stays valid until this thread's next call
 * into the library.
 */
STREAMY_EXTERN const char *streamy_errmsg(const streamy *h);

/** The run-time version, "MAJOR.MINOR.PATCH". Static string. */
STREAMY_EXTERN const char *streamy_version(void);

#ifdef __cplusplus
}
#endif

#endif /* STREAMY_H */
