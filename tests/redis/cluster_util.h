/* SPDX-License-Identifier: MIT */
/* cluster_util.h: what the cluster tests share (cluster_util.c). */
#ifndef STREAMY_CLUSTER_UTIL_H
#define STREAMY_CLUSTER_UTIL_H

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define MAX_SERVERS 2
#define MAX_THREADS 8
#define NODES 6
#define USERS 6
#define LIMIT 3

typedef struct server {
    pid_t pid;
    int port;
    char base[64];
    char log[1024];
} server;

extern const char *ctl, *cluster_dir;
extern int ports[NODES], mult;
extern atomic_int dead_port; /* the primary killed by the failover test */
extern pid_t restarted[2];   /* nodes this program started again */
extern int nrestarted;
extern server servers[MAX_SERVERS];
extern int nservers;
extern pid_t kids[MAX_THREADS]; /* client processes */

double now_s(void);
void sleep_ms(long ms);
/* Kill every process this program started. */
void stop_children(void);
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* The slot of a user's keys, as Redis computes it. */
unsigned int user_slot(const char *user);
/* Start `streamyctl serve` on `db` as server idx; stop them all, checking their exit.
 */
void start_server(server *s, int idx, const char *db);
void stop_servers(void);
/* The store URI with every node a seed. */
void cluster_uri(char *out, size_t size, const char *prefix, const char *params);
/* A connection to a node, NULL when it does not answer. */
redisContext *node(int port);
int info_has(int port, const char *section, const char *words);
long long info_int(int port, const char *section, const char *field);
int is_primary(int port);
/* The port of the primary serving a slot now. */
int slot_owner(unsigned int slot);
/* A command with an integer answer on the user's node (fmt takes prefix, user,
 * stream). */
long long user_cmd(const char *fmt, const char *prefix, const char *user,
                   const char *stream);
/* Start a killed node again, on its port and files: it joins as a replica. */
void restart_node(int port);
/* One subscribe (POST) or unsubscribe (DELETE); the HTTP status, -1 without answer.
 */
long http(CURL *c, const server *s, const char *method, const char *user,
          const char *stream, char err[CURL_ERROR_SIZE]);
size_t discard(char *p, size_t size, size_t n, void *payload);
uint64_t next_rand(uint64_t *s);

#endif /* STREAMY_CLUSTER_UTIL_H */
