/* SPDX-License-Identifier: MIT */
/* redis_cluster.h: the pure parts of Redis Cluster routing for the Redis store (redis.c):
 * the slot of a key, and the address in a MOVED or ASK redirection. Private. */
#ifndef STREAMY_REDIS_CLUSTER_H
#define STREAMY_REDIS_CLUSTER_H

#include <stddef.h>

/* A Redis Cluster has 16384 hash slots. */
#define CLUSTER_SLOTS 16384

/* The slot of a key, as Redis computes it: CRC16 (XMODEM) of the key's hash tag (the
 * bytes between the first '{' and the next '}', when not empty) or of the whole key,
 * modulo 16384. */
unsigned int streamy__redis_key_slot(const char *key, size_t len);

/* The kinds of error reply that the routing handles. */
typedef enum redir_kind {
    REDIR_NONE,     /* not a routing error */
    REDIR_MOVED,    /* MOVED slot host:port: the slot lives elsewhere, for good */
    REDIR_ASK,      /* ASK slot host:port: this key is being migrated there */
    REDIR_TRYAGAIN, /* TRYAGAIN: a multi-key command during a migration */
    REDIR_DOWN      /* CLUSTERDOWN: the cluster cannot serve the slot right now */
} redir_kind;

/* Classify an error reply's text; for MOVED and ASK also its slot and address (host is
 * empty when Redis did not know its own address: the caller then uses the host it asked).
 * A MOVED or ASK that cannot be parsed is REDIR_NONE: a plain error. */
redir_kind streamy__redis_redirection(const char *err, size_t len, unsigned int *slot,
                                      char *host, size_t host_size, int *port);

#endif /* STREAMY_REDIS_CLUSTER_H */
