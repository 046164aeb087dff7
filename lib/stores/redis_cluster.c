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
