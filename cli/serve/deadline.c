/* SPDX-License-Identifier: MIT */
/* deadline.c: a deadline for receiving each whole request, which a client sending one
 * byte at a time (slowloris) cannot stretch as it stretches the idle timeout. */
#include "serve_int.h"

#include <stdlib.h>
#include <sys/socket.h>

/* One open connection. `since_us` is when it began to wait for its next request; while
 * `receiving`, that request must be whole before the deadline. */
typedef struct serve_conn {
    struct serve_conn *prev, *next;
    int fd;
    int receiving; /* 1: waiting for or reading a request; 0: answering; 2: cut */
    int64_t since_us;
} serve_conn;

static serve_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

void *serve_deadline_open(serve_deadline *dl, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    serve_conn *c;

    if (ci == NULL || (c = calloc(1, sizeof(*c))) == NULL)
        return NULL; /* no deadline: the idle timeout still applies */
    c->fd = ci->connect_fd;
    c->receiving = 1;
    c->since_us = streamy__monotonic_us();
    pthread_mutex_lock(&dl->lock);
    c->next = dl->head;
    if (dl->head != NULL)
        dl->head->prev = c;
    dl->head = c;
    pthread_mutex_unlock(&dl->lock);
    return c;
}

void serve_deadline_close(serve_deadline *dl, void *context)
{
    serve_conn *c = context;

    if (c == NULL)
        return;
    pthread_mutex_lock(&dl->lock);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        dl->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&dl->lock);
    free(c);
}

void serve_deadline_received(struct MHD_Connection *conn)
{
    serve_conn *c = conn_of(conn);

    if (c != NULL)
        __atomic_store_n(&c->receiving, 0, __ATOMIC_RELEASE);
}

void serve_deadline_idle(struct MHD_Connection *conn)
{
    serve_conn *c = conn_of(conn);

    if (c != NULL) {
        __atomic_store_n(&c->since_us, streamy__monotonic_us(), __ATOMIC_RELAXED);
        __atomic_store_n(&c->receiving, 1, __ATOMIC_RELEASE);
    }
}

/* Shut down the sockets of the connections past the deadline: libmicrohttpd then reads
 * the end of the stream and closes them on its own thread. The list lock keeps each
 * socket open while it is shut down (a connection leaves the list before its socket is
 * closed). */
unsigned serve_deadline_sweep(serve_deadline *dl, int64_t timeout_us)
{
    int64_t now = streamy__monotonic_us();
    unsigned cut = 0;

    pthread_mutex_lock(&dl->lock);
    for (serve_conn *c = dl->head; c != NULL; c = c->next) {
        if (__atomic_load_n(&c->receiving, __ATOMIC_ACQUIRE) == 1 &&
            now - __atomic_load_n(&c->since_us, __ATOMIC_RELAXED) > timeout_us) {
            shutdown(c->fd, SHUT_RDWR);
            c->receiving = 2;
            cut++;
        }
    }
    pthread_mutex_unlock(&dl->lock);
    return cut;
}
