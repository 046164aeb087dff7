/* SPDX-License-Identifier: MIT */
/* streamy/store.h: the storage vtable, for people who write a Streamy backend. */
#ifndef STREAMY_STORE_H
#define STREAMY_STORE_H

#include "../streamy.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The vtable version this header describes. The core accepts a store whose
 * `version` is between 1 and this value, and refuses anything else.
 */
#define STREAMY_STORE_VERSION 2

typedef struct streamy_store streamy_store;

/**
 * The inputs of one store operation. The core has validated and canonicalised
 * `user` and `stream` and fills every field; strings live until the method
 * returns.
 */
typedef struct streamy_store_req {
    const char *user;      /**< canonical user id */
    const char *stream;    /**< canonical stream id; NULL for user-only methods */
    int64_t now_ms;        /**< the handle's clock; shared stores use their server's
                                time unless `injected_clock` is set */
    int64_t ttl_ms;        /**< lease lifetime; 0 = never expire */
    unsigned int limit;    /**< the default limit; a per-user limit in the store wins */
    streamy_policy policy; /**< what acquire does at the limit */
    int shadow;            /**< allow and record even at the limit, and say so */
    int injected_clock;    /**< 1: `now_ms` comes from the caller's clock callback
                                (tests); a shared store then uses it instead of its
                                server's time */
} streamy_store_req;

/** One operation of a batch handed to `apply`. */
typedef struct streamy_store_op {
    streamy_op_kind kind;  /**< in: acquire, release or renew */
    streamy_store_req req; /**< in */
    int result;            /**< out: OK, LIMIT_REACHED or NOT_FOUND */
    streamy_decision *out; /**< out: zeroed by the core, filled by the store */
} streamy_store_op;

/**
 * Version 2: one operation with its session inputs and outputs, handed to `decide`.
 * The core has validated every input.
 */
typedef struct streamy_store_call {
    streamy_op_kind kind;  /**< in: acquire, release or renew */
    streamy_store_req req; /**< in; `req.limit` is the caller's max_streams when the
                                call gave one, else the default: a limit stored for
                                the user wins over either */
    const char *lease_id;  /**< in: renew, release: the id the caller holds (lower
                                case, STREAMY_LEASE_ID_LEN characters), or NULL for
                                whatever lease holds (user, stream) */
    const char *device;    /**< in: acquire: the label to store with the lease, or
                                NULL: a refresh keeps the lease's own, a new lease
                                has none */
    int result;            /**< out: OK, LIMIT_REACHED or NOT_FOUND */
    streamy_answer *out;   /**< out: version STREAMY_CALL_VERSION, zeroed by the core;
                                the store fills `decision` as the version-1 method
                                would, and `lease_id`, `device`, `evicted_lease_id`,
                                `evicted_device` and `stale` */
} streamy_store_call;

/**
 * A storage backend: a table of functions. A backend's private struct starts
 * with `streamy_store base;` and the core only ever sees `&base`.
 *
 * Every method returns a streamy_result. Errors are reported by returning a
 * negative code after calling streamy_store_set_error() with the details,
 * never by printing. On an error the method must have written nothing.
 *
 * Methods of one store may be called from several threads at once: the
 * backend serialises them as it needs to. Results go into caller-provided
 * structs; no memory crosses the boundary.
 */
struct streamy_store {
    unsigned int version; /**< STREAMY_STORE_VERSION when the backend was built */
    const char *name;     /**< "sqlite", "memory", ...; static */

    /**
     * Required (unless `decide` is set). The atomic check-and-insert, in ONE step that no
     * other decision on the same user can interleave with: drop the user's expired leases
     * (count them in `out->expired`); if the lease (user, stream) exists, refresh it
     * (`created` 0); else resolve the user's limit (the per-user one, else `req->limit`)
     * and add the lease if the user holds fewer; else, with an evict policy and exactly
     * `limit` (> 0) leases, remove the oldest / least recently renewed one (name it in
     * `out->evicted`) and add the new one; else with `req->shadow` add it and
     * set `shadow_refused`; else change nothing and return
     * STREAMY_LIMIT_REACHED with `retry_ms` = when enough leases will have
     * expired for one more to fit (the (active - limit + 1)-th earliest
     * expiry), or 0 if that never happens by itself.
     * Fill `active`, `limit`, `since_ms`, `expires_ms` (0 = never).
     */
    int (*acquire)(streamy_store *st, const streamy_store_req *req,
                   streamy_decision *out);

    /**
     * Required (unless `decide` is set). Remove the lease (user, stream) if present:
     * `out->removed` is 1 if it was unexpired, `out->expired` is 1 if it had expired. The
     * user's other expired leases may stay until their next subscribe or renew.
     */
    int (*release)(streamy_store *st, const streamy_store_req *req,
                   streamy_decision *out);

    /**
     * Required (unless `decide` is set). Extend an unexpired lease: renewed = now,
     * expires = now + ttl (0 with no TTL). Drops the user's expired leases. Returns
     * STREAMY_NOT_FOUND when there is no unexpired lease. Fills `active`,
     * `limit`, `since_ms`, `expires_ms`.
     */
    int (*renew)(streamy_store *st, const streamy_store_req *req, streamy_decision *out);

    /**
     * Required. Call @p cb for each unexpired lease of `req->user`, oldest
     * first; stop when it returns non-zero. Writes nothing.
     */
    int (*list)(streamy_store *st, const streamy_store_req *req, streamy_lease_cb cb,
                void *payload);

    /** Optional (the core counts through `list`). Unexpired leases of the user. */
    int (*count)(streamy_store *st, const streamy_store_req *req, unsigned int *out);

    /** Optional (NULL: STREAMY_EUNSUPPORTED). Store a per-user limit. */
    int (*set_limit)(streamy_store *st, const char *user, unsigned int limit);

    /** Optional (NULL: STREAMY_EUNSUPPORTED). Remove a per-user limit. */
    int (*clear_limit)(streamy_store *st, const char *user);

    /**
     * Optional (NULL: every user has the default). Read a per-user limit:
     * `*found` is 1 and `*limit` set when there is one, else `*found` is 0.
     */
    int (*get_limit)(streamy_store *st, const char *user, unsigned int *limit,
                     int *found);

    /**
     * Optional (NULL: STREAMY_EUNSUPPORTED). Delete every lease expired at
     * `req->now_ms` (`user` and `stream` are NULL).
     */
    int (*purge)(streamy_store *st, const streamy_store_req *req, uint64_t *removed);

    /** Optional (NULL: always healthy). STREAMY_OK while the store answers. */
    int (*health)(streamy_store *st);

    /**
     * Optional (NULL: batches of more than one operation are unsupported).
     * Decide @p n operations in order inside ONE transaction: each as the
     * single method would, its answer in `ops[i].result` and `*ops[i].out`.
     * The core gives every operation of a batch the same `now_ms`, `ttl_ms`,
     * `limit`, `policy`, `shadow` and `injected_clock`.
     * Return an error, having written nothing, if the transaction fails. A
     * store without transactions (Redis) must at least keep each decision
     * atomic and the order, and return an error for the whole batch if any
     * answer is lost: then nothing is acknowledged.
     */
    int (*apply)(streamy_store *st, streamy_store_op *ops, size_t n);

    /** Required. Release everything the store holds, including itself. */
    void (*free)(streamy_store *st);

    /* Version 1 ends here. */

    /**
     * Version 2, optional: sessions. A store that sets it keeps lease ids and device
     * labels, and the core sends it every acquire, release, renew and batch (so it
     * may leave those four version-1 methods NULL); its `list` fills
     * streamy_lease's `lease_id` and `device`.
     *
     * Decide @p n (>= 1) operations in order inside ONE transaction, as `apply`
     * does, each as its version-1 method would, and besides:
     * - a new lease gets a new id from streamy_lease_id_generate(); a refresh and a
     *   renew keep the lease's id (a lease without one, written by an earlier
     *   release, gets a new one then); `out->lease_id` and `out->device` are the
     *   lease's after an OK acquire or renew, and the removed lease's after a release;
     * - acquire stores `device` when it is not NULL (a refresh too);
     * - an evicted lease's id and device go to `evicted_lease_id` and
     *   `evicted_device`;
     * - with `lease_id`, when the unexpired lease of (user, stream) has another id:
     *   renew changes nothing and answers STREAMY_NOT_FOUND, release removes nothing
     *   (`removed` 0); both set `stale`. An expired lease is nobody's: it is treated
     *   as without `lease_id`.
     * Operations of one batch may have different `req.limit`s.
     */
    int (*decide)(streamy_store *st, streamy_store_call *calls, size_t n);

    /* Version 2 ends here. Later methods are appended below this line. */
};

/** Designated initialiser for a store: zero methods, current version. */
#define STREAMY_STORE_INIT                                                               \
    {                                                                                    \
        STREAMY_STORE_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,     \
            NULL, NULL, NULL, NULL, NULL                                                 \
    }

/**
 * Zero @p st and set its version.
 * @return STREAMY_OK, or STREAMY_EINVAL if @p st is NULL or @p version is not
 *         between 1 and STREAMY_STORE_VERSION. Thread-safe.
 */
STREAMY_EXTERN int streamy_store_init(streamy_store *st, unsigned int version);

/**
 * Record the details of a store failure, printf-style, as the message that
 * streamy_errmsg() returns for the call in progress on this thread.
 * Thread-safe.
 */
STREAMY_EXTERN void streamy_store_set_error(streamy_store *st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/**
 * Write a new lease id into @p out: a random (version 4) UUID in lower case, 36
 * characters and a NUL. The random bytes come from the kernel (getrandom), drawn a
 * block at a time per thread, never shared across fork(); libuuid gives the text.
 * For stores of vtable version 2.
 * @return STREAMY_OK, or STREAMY_ESTORE if the kernel gives no random bytes (the
 *         message says why). Thread-safe.
 */
STREAMY_EXTERN int streamy_lease_id_generate(char out[STREAMY_LEASE_ID_LEN + 1]);

/**
 * Open a handle over a caller's own store.
 * Takes ownership of @p st on success AND on failure: the core calls
 * `st->free` when the handle is closed or the open fails.
 * @return STREAMY_OK; STREAMY_EINVAL for a NULL argument, a bad option, an
 *         unknown vtable version or a missing required method.
 * The caller owns `*out` and frees it with streamy_close(). Thread-safe.
 */
STREAMY_EXTERN int streamy_open_store(streamy **out, streamy_store *st,
                                      const streamy_options *opts);

/**
 * The built-in SQLite store over the file @p path (":memory:" for a private
 * in-memory database). @p opts gives busy_timeout_ms and synchronous_full;
 * NULL means the defaults. @p readonly opens the file read-only.
 * @return STREAMY_OK, STREAMY_ESTORE (cannot open, not a Streamy database,
 *         newer schema), STREAMY_EBUSY, STREAMY_ENOMEM, STREAMY_EINVAL.
 * The caller owns `*out` (pass it to streamy_open_store()). Thread-safe.
 */
STREAMY_EXTERN int streamy_store_sqlite_new(streamy_store **out, const char *path,
                                            int readonly, const streamy_options *opts);

/**
 * The built-in in-process memory store (thread-safe, private to its handle).
 * @return STREAMY_OK or STREAMY_ENOMEM. The caller owns `*out`.
 */
STREAMY_EXTERN int streamy_store_memory_new(streamy_store **out);

#ifdef __cplusplus
}
#endif

#endif /* STREAMY_STORE_H */
