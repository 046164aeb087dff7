/* SPDX-License-Identifier: MIT */
/* serve_batch.c: group commit: the decisions of concurrent requests share one transaction. */
#include "serve.h"

#include <stdio.h>

/* Each request is answered only after the transaction holding its decision has
 * committed: the connections are resumed after streamy_apply returns. */
unsigned serve_commit(streamy *h, serve_pending *list, streamy_op *ops)
{
    serve_pending *batch[SERVE_BATCH_MAX];
    unsigned commits = 0;

    while (list != NULL) {
        size_t n = 0, i;
        int rc;

        for (; list != NULL && n < SERVE_BATCH_MAX; list = list->next) {
            batch[n] = list;
            ops[n++] = list->op;
        }
        rc = streamy_apply(h, ops, n);
        commits++;
        for (i = 0; i < n; i++) {
            batch[i]->op = ops[i];
            if (rc < 0)
                snprintf(batch[i]->error, SERVE_ERROR_SIZE, "%s", streamy_errmsg(h));
            batch[i]->done = 1;
            MHD_resume_connection(batch[i]->conn);
        }
    }
    return commits;
}
