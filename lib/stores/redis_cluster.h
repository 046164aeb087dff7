/* SPDX-License-Identifier: MIT */
/* redis_cluster.h: the Redis store's handle and nodes, shared by redis.c (commands,
 * URIs) and redis_cluster.c (the cluster's routing: the slot of a key, the node table,
 * the slot map, the address in a MOVED or ASK redirection). Private. */
#ifndef STREAMY_REDIS_CLUSTER_H
#define STREAMY_REDIS_CLUSTER_H

#include "stores.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* The host of a node named without one (an empty host in CLUSTER SLOTS, MOVED or ASK)
 * when the node that named it was reached over a Unix socket. */
#define LOCALHOST "127.0.0.1"
/* A Redis Cluster has 16384 hash slots. */
#define CLUSTER_SLOTS 16384
/* Longest key prefix from the URI, in bytes. */
#define PREFIX_MAX 256
/* Nodes a handle knows: the URI's seeds, then the primaries the cluster names. */
#define NODES_MAX 256
#define NO_NODE 0xffff

/* One server: a single Redis, a seed, or a cluster node. */
typedef struct rnode {
    char *host; /* NULL for the Unix socket (redis_store.path) */
    int port;
    redisContext *c; /* NULL while disconnected */
    char where[300]; /* "redis 127.0.0.1:6379" or "redis unix:/path", for messages */
} rnode;

typedef struct redis_store {
    streamy_store base;
    pthread_mutex_t lock; /* the connections, used by one thread at a time */
    char sha[41]; /* the script's SHA1, from SCRIPT LOAD (the same on every node) */
    rnode *nodes[NODES_MAX];
    size_t n_nodes, n_seeds; /* nodes[0 .. n_seeds - 1] are the URI's hosts */
    int cluster;             /* a Redis Cluster: route by slot */
    uint16_t *slots;   /* cluster: index in nodes of each slot's primary, or NO_NODE */
    char *path;        /* the Unix socket, when the URI is unix:// */
    char *user, *pass; /* AUTH, when pass is set */
    long db;
    int connect_timeout_ms, timeout_ms;
    int wait; /* replicas every write waits for (WAIT), 0: none */
    char prefix[PREFIX_MAX + 1];
    size_t prefix_len;
    char where[300]; /* the single server's where, or "redis cluster h1:p1,h2:p2" */
} redis_store;

/* redis.c: report a node's failed connection and drop it; an error reply; a reply of
 * an unexpected shape; make sure a node is connected (reconnecting once). */
int streamy__redis_conn_error(redis_store *r, rnode *n, const char *what);
int streamy__redis_reply_error(redis_store *r, const char *where, const redisReply *rep,
                               const char *what);
int streamy__redis_bad_reply(redis_store *r, const char *what);
int streamy__redis_ensure_conn(redis_store *r, rnode *n);

/* redis_cluster.c: the node table and the slot map. */

/* Set a node's `where` for messages (`path`: the Unix socket, for a node without host).
 */
void streamy__redis_node_where(rnode *n, const char *path);
/* The index of node host:port in the table, added when new; -1 when the table is full. */
int streamy__redis_find_node(redis_store *r, const char *host, size_t hlen, int port);
/* Read CLUSTER SLOTS from node n into the map; the map is kept when the reply is bad. */
int streamy__redis_read_map(redis_store *r, rnode *n);
/* Read the map again from the first node that answers: those connected first. */
int streamy__redis_refresh_map(redis_store *r);
/* The node that serves a slot (a single Redis serves them all); NULL if none. */
rnode *streamy__redis_route(redis_store *r, unsigned int slot);
int streamy__redis_node_index(const redis_store *r, const rnode *n);
/* Mark in `used` the nodes that serve at least one slot (for a single Redis: the one). */
void streamy__redis_primaries(const redis_store *r, unsigned char used[NODES_MAX]);

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
