/* SPDX-License-Identifier: MIT */
/* serve_batch.c: group commit: the decisions of concurrent requests share one transaction. */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Take every queued decision (up to max_batch), decide them in one
 * streamy_apply, then resume each connection: a request is answered only after
 * the transaction holding its decision has committed. While one batch commits,
 * the next one gathers, so batches grow with the load and no timer is needed. */
static void *batch_main(void *arg)
{
    serve_batcher *b = arg;
    streamy_op *ops = b->ops;
    serve_pending **taken = b->taken;
    size_t n, i;
    int rc;

    for (;;) {
        pthread_mutex_lock(&b->lock);
        while (b->head == NULL && !b->stop)
            pthread_cond_wait(&b->wake, &b->lock);
        if (b->head == NULL && b->stop) {
            pthread_mutex_unlock(&b->lock);
            break;
        }
        for (n = 0; n < b->max_batch && b->head != NULL; n++) {
            taken[n] = b->head;
            b->head = b->head->next;
        }
        if (b->head == NULL)
            b->tail = NULL;
        b->batches++;
        b->batched_ops += n;
        pthread_mutex_unlock(&b->lock);

        for (i = 0; i < n; i++)
            ops[i] = taken[i]->op;
        rc = streamy_apply(b->h, ops, n);
        for (i = 0; i < n; i++) {
            taken[i]->op = ops[i];
            if (rc < 0)
                snprintf(taken[i]->error, SERVE_ERROR_SIZE, "%s", streamy_errmsg(b->h));
        }
        for (i = 0; i < n; i++) {
            struct MHD_Connection *conn = taken[i]->conn;
            __atomic_store_n(&taken[i]->done, 1, __ATOMIC_RELEASE);
            MHD_resume_connection(conn);
        }
    }
    return NULL;
}

int serve_batcher_start(serve_batcher *b, streamy *h, size_t max_batch)
{
    memset(b, 0, sizeof(*b));
    b->h = h;
    b->max_batch = max_batch ? max_batch : 1;
    b->ops = calloc(b->max_batch, sizeof(*b->ops));
    b->taken = calloc(b->max_batch, sizeof(*b->taken));
    if (b->ops == NULL || b->taken == NULL)
        goto fail;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->wake, NULL);
    if (pthread_create(&b->thread, NULL, batch_main, b) == 0)
        return 0;
    pthread_cond_destroy(&b->wake);
    pthread_mutex_destroy(&b->lock);
fail:
    free(b->ops);
    free(b->taken);
    b->ops = NULL;
    b->taken = NULL;
    return -1;
}

void serve_batcher_submit(serve_batcher *b, serve_pending *p)
{
    int wake;

    p->next = NULL;
    p->done = 0;
    pthread_mutex_lock(&b->lock);
    if (b->tail != NULL)
        b->tail->next = p;
    else
        b->head = p;
    b->tail = p;
    wake = b->head == p; /* the queue was empty: the thread may be asleep */
    pthread_mutex_unlock(&b->lock);
    /* Signalled after unlocking, so the woken thread does not wait at once on
     * the lock this thread still holds. */
    if (wake)
        pthread_cond_signal(&b->wake);
}

void serve_batcher_stop(serve_batcher *b)
{
    pthread_mutex_lock(&b->lock);
    b->stop = 1;
    pthread_cond_signal(&b->wake);
    pthread_mutex_unlock(&b->lock);
    pthread_join(b->thread, NULL);
    pthread_cond_destroy(&b->wake);
    pthread_mutex_destroy(&b->lock);
    free(b->ops);
    free(b->taken);
    b->ops = NULL;
    b->taken = NULL;
}
