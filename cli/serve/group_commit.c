/* SPDX-License-Identifier: MIT */
/* group_commit.c: the decisions of concurrent requests share one transaction. */
#include "serve_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* With --on-store-error allow, a store that fails turns subscribes and renews into
 * degraded answers: one line says so when the first one is given, with the store's
 * words, and one when the store decides again, with how many there were; not one per
 * request. Called after each commit, on the commit thread. */
static void watch_degraded(serve_group_commit *gc, const streamy_batch_op *ops, size_t n,
                           int rc)
{
    uint64_t degraded = 0;
    char detail[64];

    for (size_t i = 0; i < n; i++)
        degraded += ops[i].result == STREAMY_OK && ops[i].answer->decision.degraded;
    if (degraded > 0) {
        if (gc->degraded_burst == 0)
            serve_log_event(gc->log, "warn",
                            "store unavailable: subscribe and renew are answered "
                            "degraded, nothing is recorded (--on-store-error allow)",
                            streamy_errmsg(gc->h));
        gc->degraded_burst += degraded;
    } else if (rc >= 0 && gc->degraded_burst > 0) {
        snprintf(detail, sizeof(detail), "%llu answers were degraded",
                 (unsigned long long)gc->degraded_burst);
        serve_log_event(gc->log, "info", "store available again: decisions are normal",
                        detail);
        gc->degraded_burst = 0;
    }
}

/* An operation that the library refused on its own while the rest of its group
 * committed is applied again alone: the library keeps the message of the last refused
 * operation only, and a store that keeps no sessions decides a group with one limit, so
 * the library refuses a caller's limit there in a group, not in a single call. Nothing of
 * it was decided, so this is as if it had come a moment later. */
static void apply_alone(serve_group_commit *gc, serve_pending *p, size_t n)
{
    if (n > 1)
        streamy_apply_ex(gc->h, &p->op, 1);
    if (p->op.result < 0) {
        snprintf(p->error, SERVE_ERROR_SIZE, "%s", streamy_errmsg(gc->h));
        p->refused = 1;
    }
}

/* Take every queued decision (up to max_group), decide them in one streamy_apply_ex,
 * then resume each connection: a request is answered only after the transaction
 * holding its decision has committed. While one group commits, the next one
 * gathers, so groups grow with the load and no timer is needed. */
static void *commit_main(void *arg)
{
    serve_group_commit *gc = arg;
    streamy_batch_op *ops = gc->ops;
    serve_pending **taken = gc->taken;
    size_t n, i;
    int rc;

    for (;;) {
        pthread_mutex_lock(&gc->lock);
        while (gc->head == NULL && !gc->stop)
            pthread_cond_wait(&gc->wake, &gc->lock);
        if (gc->head == NULL && gc->stop) {
            pthread_mutex_unlock(&gc->lock);
            break;
        }
        for (n = 0; n < gc->max_group && gc->head != NULL; n++) {
            taken[n] = gc->head;
            gc->head = gc->head->next;
        }
        if (gc->head == NULL)
            gc->tail = NULL;
        gc->commits++;
        gc->committed_ops += n;
        pthread_mutex_unlock(&gc->lock);

        for (i = 0; i < n; i++)
            ops[i] = taken[i]->op;
        rc = streamy_apply_ex(gc->h, ops, n);
        watch_degraded(gc, ops, n, rc);
        for (i = 0; i < n; i++) {
            taken[i]->op = ops[i];
            if (rc < 0)
                snprintf(taken[i]->error, SERVE_ERROR_SIZE, "%s", streamy_errmsg(gc->h));
            else if (ops[i].result < 0)
                apply_alone(gc, taken[i], n);
        }
        for (i = 0; i < n; i++) {
            struct MHD_Connection *conn = taken[i]->conn;
            __atomic_store_n(&taken[i]->done, 1, __ATOMIC_RELEASE);
            MHD_resume_connection(conn);
        }
    }
    return NULL;
}

int serve_group_commit_start(serve_group_commit *gc, streamy *h, size_t max_group,
                             struct serve_log *log)
{
    memset(gc, 0, sizeof(*gc));
    gc->h = h;
    gc->log = log;
    gc->max_group = max_group ? max_group : 1;
    gc->ops = calloc(gc->max_group, sizeof(*gc->ops));
    gc->taken = calloc(gc->max_group, sizeof(*gc->taken));
    if (gc->ops == NULL || gc->taken == NULL)
        goto fail;
    pthread_mutex_init(&gc->lock, NULL);
    pthread_cond_init(&gc->wake, NULL);
    if (pthread_create(&gc->thread, NULL, commit_main, gc) == 0)
        return 0;
    pthread_cond_destroy(&gc->wake);
    pthread_mutex_destroy(&gc->lock);
fail:
    free(gc->ops);
    free(gc->taken);
    gc->ops = NULL;
    gc->taken = NULL;
    return -1;
}

void serve_group_commit_submit(serve_group_commit *gc, serve_pending *p)
{
    int wake;

    p->next = NULL;
    p->done = 0;
    p->refused = 0;
    pthread_mutex_lock(&gc->lock);
    if (gc->tail != NULL)
        gc->tail->next = p;
    else
        gc->head = p;
    gc->tail = p;
    wake = gc->head == p; /* the queue was empty: the thread may be asleep */
    pthread_mutex_unlock(&gc->lock);
    /* Signalled after unlocking, so the woken thread does not wait at once on
     * the lock this thread still holds. */
    if (wake)
        pthread_cond_signal(&gc->wake);
}

void serve_group_commit_stop(serve_group_commit *gc)
{
    pthread_mutex_lock(&gc->lock);
    gc->stop = 1;
    pthread_cond_signal(&gc->wake);
    pthread_mutex_unlock(&gc->lock);
    pthread_join(gc->thread, NULL);
    pthread_cond_destroy(&gc->wake);
    pthread_mutex_destroy(&gc->lock);
    free(gc->ops);
    free(gc->taken);
    gc->ops = NULL;
    gc->taken = NULL;
}
