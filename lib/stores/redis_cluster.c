/* SPDX-License-Identifier: MIT */
/* redis_cluster.c: the slot of a key and the parsing of redirections (redis_cluster.h).
 */
#include "redis_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as Redis Cluster's
 * keyHashSlot uses it. Bitwise: keys are short, and this is far from the network's cost.
 */
static unsigned int crc16(const char *buf, size_t len)
{
    unsigned int crc = 0;

    for (size_t i = 0; i < len; i++) {
        crc ^= (unsigned int)(unsigned char)buf[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    return crc;
}

unsigned int streamy__redis_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len), *close;

    if (open != NULL) {
        size_t rest = len - (size_t)(open - key) - 1;
        close = memchr(open + 1, '}', rest);
        if (close != NULL && close > open + 1)
            return crc16(open + 1, (size_t)(close - open - 1)) & (CLUSTER_SLOTS - 1);
    }
    return crc16(key, len) & (CLUSTER_SLOTS - 1);
}

redir_kind streamy__redis_redirection(const char *err, size_t len, unsigned int *slot,
                                      char *host, size_t host_size, int *port)
{
    redir_kind kind;
    const char *p, *colon, *end = err + len;
    char *num_end;
    unsigned long v;

    if (len >= 8 && strncmp(err, "TRYAGAIN", 8) == 0)
        return REDIR_TRYAGAIN;
    if (len >= 11 && strncmp(err, "CLUSTERDOWN", 11) == 0)
        return REDIR_DOWN;
    if (len > 6 && strncmp(err, "MOVED ", 6) == 0)
        kind = REDIR_MOVED, p = err + 6;
    else if (len > 4 && strncmp(err, "ASK ", 4) == 0)
        kind = REDIR_ASK, p = err + 4;
    else
        return REDIR_NONE;
    /* "<slot> <host>:<port>": the host may be an IPv6 address, so the port follows
     * the last colon. The reply is NUL-terminated by hiredis. */
    v = strtoul(p, &num_end, 10);
    if (num_end == p || *num_end != ' ' || v >= CLUSTER_SLOTS)
        return REDIR_NONE;
    p = num_end + 1;
    colon = NULL;
    for (const char *s = p; s < end; s++)
        if (*s == ':')
            colon = s;
    if (colon == NULL || (size_t)(colon - p) >= host_size)
        return REDIR_NONE;
    *slot = (unsigned int)v;
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = '\0';
    v = strtoul(colon + 1, &num_end, 10);
    if (num_end == colon + 1 || v == 0 || v > 65535)
        return REDIR_NONE;
    *port = (int)v;
    return kind;
}

/* --- the cluster's map ------------------------------------------------------------ */

void streamy__redis_node_where(rnode *n, const char *path)
{
    if (n->host == NULL)
        snprintf(n->where, sizeof(n->where), "redis unix:%.200s", path);
    else
        snprintf(n->where, sizeof(n->where),
                 strchr(n->host, ':') ? "redis [%.200s]:%d" : "redis %.200s:%d", n->host,
                 n->port);
}

/* The index of the node host:port, added when new; -1 when the table is full. */
int streamy__redis_find_node(redis_store *r, const char *host, size_t hlen, int port)
{
    rnode *n;

    for (size_t i = 0; i < r->n_nodes; i++)
        if (r->nodes[i]->host != NULL && r->nodes[i]->port == port &&
            strlen(r->nodes[i]->host) == hlen &&
            memcmp(r->nodes[i]->host, host, hlen) == 0)
            return (int)i;
    if (r->n_nodes == NODES_MAX || (n = calloc(1, sizeof(*n))) == NULL)
        return -1;
    if ((n->host = strndup(host, hlen)) == NULL) {
        free(n);
        return -1;
    }
    n->port = port;
    streamy__redis_node_where(n, NULL);
    r->nodes[r->n_nodes] = n;
    return (int)r->n_nodes++;
}

/* Read CLUSTER SLOTS from node n into a new map; the map is kept when the reply is bad.
 */
int streamy__redis_read_map(redis_store *r, rnode *n)
{
    const char *argv[2] = {"CLUSTER", "SLOTS"};
    uint16_t *map = malloc(CLUSTER_SLOTS * sizeof(*map));
    redisReply *rep;
    size_t i;
    int rc = STREAMY_OK;

    if (map == NULL)
        return STREAMY_ENOMEM;
    if ((rep = redisCommandArgv(n->c, 2, argv, NULL)) == NULL) {
        free(map);
        return streamy__redis_conn_error(r, n, "CLUSTER SLOTS");
    }
    for (i = 0; i < CLUSTER_SLOTS; i++)
        map[i] = NO_NODE;
    if (rep->type == REDIS_REPLY_ERROR)
        rc = streamy__redis_reply_error(r, n->where, rep, "CLUSTER SLOTS");
    else if (rep->type != REDIS_REPLY_ARRAY)
        rc = streamy__redis_bad_reply(r, "CLUSTER SLOTS");
    for (i = 0; rc == STREAMY_OK && i < rep->elements; i++) {
        const redisReply *e = rep->element[i], *p;
        long long lo, hi;
        int idx;
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER ||
            (p = e->element[2])->type != REDIS_REPLY_ARRAY || p->elements < 2 ||
            p->element[0]->type != REDIS_REPLY_STRING ||
            p->element[1]->type != REDIS_REPLY_INTEGER) {
            rc = streamy__redis_bad_reply(r, "CLUSTER SLOTS");
            break;
        }
        lo = e->element[0]->integer;
        hi = e->element[1]->integer;
        if (lo < 0 || hi >= CLUSTER_SLOTS || lo > hi) {
            rc = streamy__redis_bad_reply(r, "CLUSTER SLOTS");
            break;
        }
        /* An empty host: the node did not know its address; it is the one asked. */
        idx = p->element[0]->len == 0 || strcmp(p->element[0]->str, "?") == 0
                  ? streamy__redis_find_node(r, n->host ? n->host : LOCALHOST,
                                             strlen(n->host ? n->host : LOCALHOST),
                                             (int)p->element[1]->integer)
                  : streamy__redis_find_node(r, p->element[0]->str, p->element[0]->len,
                                             (int)p->element[1]->integer);
        if (idx < 0) {
            streamy_store_set_error(&r->base, "%s: too many cluster nodes (most %d)",
                                    r->where, NODES_MAX);
            rc = STREAMY_ESTORE;
            break;
        }
        for (long long s = lo; s <= hi; s++)
            map[s] = (uint16_t)idx;
    }
    freeReplyObject(rep);
    if (rc == STREAMY_OK)
        memcpy(r->slots, map, CLUSTER_SLOTS * sizeof(*map));
    free(map);
    return rc;
}

/* Read the slot map again from the first node that answers: those connected first. */
int streamy__redis_refresh_map(redis_store *r)
{
    int rc = STREAMY_ESTORE;

    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < r->n_nodes; i++) {
            rnode *n = r->nodes[i];
            if ((pass == 0) != (n->c != NULL))
                continue;
            if (streamy__redis_ensure_conn(r, n) != STREAMY_OK)
                continue;
            if ((rc = streamy__redis_read_map(r, n)) == STREAMY_OK)
                return rc;
        }
    return rc;
}

/* The node that serves a slot (a single Redis serves them all); NULL if none. */
rnode *streamy__redis_route(redis_store *r, unsigned int slot)
{
    if (!r->cluster)
        return r->nodes[0];
    if (r->slots[slot] == NO_NODE)
        streamy__redis_refresh_map(r);
    return r->slots[slot] == NO_NODE ? NULL : r->nodes[r->slots[slot]];
}

int streamy__redis_node_index(const redis_store *r, const rnode *n)
{
    for (size_t i = 0; i < r->n_nodes; i++)
        if (r->nodes[i] == n)
            return (int)i;
    return -1;
}

/* The nodes that serve at least one slot (for a single Redis, the server). */
void streamy__redis_primaries(const redis_store *r, unsigned char used[NODES_MAX])
{
    memset(used, 0, NODES_MAX);
    if (!r->cluster) {
        used[0] = 1;
        return;
    }
    for (size_t s = 0; s < CLUSTER_SLOTS; s++)
        if (r->slots[s] != NO_NODE)
            used[r->slots[s]] = 1;
}
