/* SPDX-License-Identifier: MIT */
/* group_commit.c: the decisions of concurrent requests share one transaction. */
#include "serve_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Take every queued decision (up to max_group), decide them in one streamy_apply,
 * then resume each connection: a request is answered only after the transaction
 * holding its decision has committed. While one group commits, the next one
 * gathers, so groups grow with the load and no timer is needed. */
static void *commit_main(void *arg)
{
    serve_group_commit *gc = arg;
    streamy_op *ops = gc->ops;
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
        rc = streamy_apply(gc->h, ops, n);
        for (i = 0; i < n; i++) {
            taken[i]->op = ops[i];
            if (rc < 0)
                snprintf(taken[i]->error, SERVE_ERROR_SIZE, "%s", streamy_errmsg(gc->h));
        }
        for (i = 0; i < n; i++) {
            struct MHD_Connection *conn = taken[i]->conn;
            __atomic_store_n(&taken[i]->done, 1, __ATOMIC_RELEASE);
            MHD_resume_connection(conn);
        }
    }
    return NULL;
}

int serve_group_commit_start(serve_group_commit *gc, streamy *h, size_t max_group)
{
    memset(gc, 0, sizeof(*gc));
    gc->h = h;
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
