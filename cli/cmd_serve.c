/* SPDX-License-Identifier: MIT */
/* cmd_serve.c: `streamyctl serve`: its flags, as the settings of the HTTP server. */
#include "cli.h"
#include "serve.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    OPT_LISTEN = CLI_OPT_COMMAND,
    OPT_THREADS,
    OPT_MAX_BODY,
    OPT_MAX_CONNECTIONS,
    OPT_CONN_TIMEOUT,
    OPT_AUTH_TOKEN_FILE,
    OPT_LOG_FORMAT,
    OPT_ACCESS_LOG,
    OPT_LOG_FILE,
    OPT_INSECURE,
    OPT_GRACE,
};

static const struct option own_options[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
    {"conn-timeout", required_argument, NULL, OPT_CONN_TIMEOUT},
    {"auth-token-file", required_argument, NULL, OPT_AUTH_TOKEN_FILE},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"access-log", required_argument, NULL, OPT_ACCESS_LOG},
    {"log-file", required_argument, NULL, OPT_LOG_FILE},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"grace", required_argument, NULL, OPT_GRACE},
    {NULL, 0, NULL, 0},
};

static const cli_command_spec spec = {
    .name = "serve",
    .args = "",
    .description =
        "Serve the HTTP API of the original service on --listen (default\n"
        "127.0.0.1:3000):\n"
        "  POST   /video-streams/subscription        subscribe {userId, videoStreamId}\n"
        "  DELETE /video-streams/subscription        unsubscribe (204)\n"
        "  POST   /video-streams/subscription/renew  heartbeat (404: subscribe again)\n"
        "  GET    /users/{userId}/video-streams      the user's leases and limit\n"
        "  GET|PUT|DELETE /users/{userId}/limit      the user's own limit\n"
        "  GET    /health                            200 while the store answers\n"
        "  GET    /metrics                           Prometheus text format\n"
        "The decisions of concurrent requests are grouped into one store transaction,\n"
        "and each request is answered only after its transaction committed. A store\n"
        "that is busy or down gets 503; with --on-store-error allow, subscribe and\n"
        "renew get the usual 200 instead, marked X-Streamy-Degraded: store-unavailable\n"
        "and recorded nowhere, and one log line says when that begins and one when\n"
        "it ends.\n"
        "SIGINT or SIGTERM: stop accepting, finish the requests in flight, close the\n"
        "store, exit 0. SIGHUP: reopen the --log-file.\n",
    .options =
        "  --listen ADDR:PORT        address to listen on; [ADDR]:PORT for IPv6; port 0\n"
        "                            picks a free one [default 127.0.0.1:3000]\n"
        "  --threads N               HTTP threads, 1 to 64 [default: the CPUs]\n"
        "  --max-body BYTES          largest request body [default 16384]\n"
        "  --max-connections N       open connections at most [default 1024]\n"
        "  --conn-timeout DURATION   close a connection idle this long, or that takes\n"
        "                            this long to send a request [default 30s]\n"
        "  --auth-token-file FILE    require 'Authorization: Bearer <token>' on every\n"
        "                            route but /health and /metrics\n"
        "  --insecure                listen beyond loopback without a token\n"
        "  --log-format json|text    log lines on standard error [default json]\n"
        "  --access-log on|off       one log line per request [default on]\n"
        "  --log-file FILE           log there instead of standard error\n"
        "  --grace DURATION          wait this long for requests in flight at\n"
        "                            shutdown [default 10s]\n",
    .min_args = 0,
    .max_args = 0,
    .own = own_options,
};

typedef struct serve_flags {
    const char *listen, *token_file, *log_file;
    unsigned long long threads, max_body, max_connections;
    int64_t conn_timeout_ms, grace_ms;
    int json_log, access_log, insecure;
} serve_flags;

static int parse_duration_flag(int64_t *out, const char *name, const char *arg)
{
    if (streamy_parse_duration(out, arg) != STREAMY_OK)
        return cli_invalid("invalid %s \"%s\": %s", name, arg, streamy_errmsg(NULL));
    return CLI_CONTINUE;
}

static int on_option(int val, const char *arg, void *payload)
{
    serve_flags *f = payload;

    switch (val) {
    case OPT_LISTEN:
        f->listen = arg;
        break;
    case OPT_THREADS:
        if (streamy__parse_uint(&f->threads, arg, 64) != STREAMY_OK || f->threads == 0)
            return cli_invalid("invalid --threads \"%s\": expected 1 to 64", arg);
        break;
    case OPT_MAX_BODY:
        if (streamy__parse_uint(&f->max_body, arg, 1 << 20) != STREAMY_OK ||
            f->max_body == 0)
            return cli_invalid("invalid --max-body \"%s\": expected 1 to 1048576 bytes",
                               arg);
        break;
    case OPT_MAX_CONNECTIONS:
        if (streamy__parse_uint(&f->max_connections, arg, 100000) != STREAMY_OK ||
            f->max_connections == 0)
            return cli_invalid("invalid --max-connections \"%s\": expected 1 to 100000",
                               arg);
        break;
    case OPT_CONN_TIMEOUT:
        if (parse_duration_flag(&f->conn_timeout_ms, "--conn-timeout", arg) !=
            CLI_CONTINUE)
            return CLI_EXIT_USAGE;
        if (f->conn_timeout_ms < 1000)
            return cli_invalid("invalid --conn-timeout \"%s\": at least 1s", arg);
        break;
    case OPT_GRACE:
        return parse_duration_flag(&f->grace_ms, "--grace", arg);
    case OPT_AUTH_TOKEN_FILE:
        f->token_file = arg;
        break;
    case OPT_LOG_FORMAT:
        if (strcmp(arg, "json") != 0 && strcmp(arg, "text") != 0)
            return cli_invalid("invalid --log-format \"%s\": use json or text", arg);
        f->json_log = strcmp(arg, "json") == 0;
        break;
    case OPT_ACCESS_LOG:
        if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0)
            return cli_invalid("invalid --access-log \"%s\": use on or off", arg);
        f->access_log = strcmp(arg, "on") == 0;
        break;
    case OPT_LOG_FILE:
        f->log_file = arg;
        break;
    case OPT_INSECURE:
        f->insecure = 1;
        break;
    default:
        return cli_error("internal error: option %d is not handled", val);
    }
    return CLI_CONTINUE;
}

/* ADDR:PORT, [V6ADDR]:PORT, or :PORT for every IPv4 address. */
static int parse_listen(struct sockaddr_storage *ss, const char *text)
{
    char host[256];
    const char *colon, *port;
    struct addrinfo hints, *res = NULL;
    unsigned long long p;
    size_t hlen;
    int rc;

    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (end == NULL || end[1] != ':')
            return -1;
        hlen = (size_t)(end - text - 1);
        memcpy(host, text + 1, hlen < sizeof(host) ? hlen : 0);
        port = end + 2;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL)
            return -1;
        hlen = (size_t)(colon - text);
        if (hlen >= sizeof(host))
            return -1;
        memcpy(host, text, hlen);
        port = colon + 1;
    }
    if (hlen >= sizeof(host) || streamy__parse_uint(&p, port, 65535) != STREAMY_OK)
        return -1;
    host[hlen] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(hlen ? host : "0.0.0.0", port, &hints, &res);
    if (rc != 0 || res == NULL || res->ai_addrlen > sizeof(*ss))
        return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

static int is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)ss;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)ss;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
               (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
                in6->sin6_addr.s6_addr[12] == 127);
    }
    return 0;
}

/* The token: printable ASCII without spaces; a trailing newline is not part of it. */
static int read_token(char *token, size_t size, const char *path, int *shared)
{
    struct stat st;
    size_t n;
    FILE *fp = fopen(path, "r");

    if (fp == NULL)
        return cli_invalid("cannot read --auth-token-file %s: %s", path, strerror(errno));
    /* A secret others can read is worth a warning (it is not refused: the
     * operator may have reasons, e.g. a group of services sharing it). */
    *shared = fstat(fileno(fp), &st) == 0 && (st.st_mode & 0077) != 0;
    n = fread(token, 1, size, fp);
    fclose(fp);
    if (n == size)
        return cli_invalid("--auth-token-file %s: the token is longer than %zu bytes",
                           path, size - 1);
    while (n > 0 && (token[n - 1] == '\n' || token[n - 1] == '\r'))
        n--;
    if (n == 0)
        return cli_invalid("--auth-token-file %s: the file holds no token", path);
    for (size_t i = 0; i < n; i++) {
        if (token[i] < 0x21 || token[i] > 0x7e)
            return cli_invalid("--auth-token-file %s: the token must be printable ASCII "
                               "without spaces",
                               path);
    }
    token[n] = '\0';
    return CLI_CONTINUE;
}

int cmd_serve(int argc, char **argv)
{
    serve_flags f = {"127.0.0.1:3000", NULL, NULL, 0, 16384, 1024, 30000, 10000, 1, 1, 0};
    serve_server *srv = NULL;
    serve_config cfg;
    struct sockaddr_storage ss;
    char token[4097];
    streamy *h = NULL;
    cli_args args;
    long cpus;
    int rc;

    cpus = sysconf(_SC_NPROCESSORS_ONLN);
    f.threads = cpus > 0 && cpus <= 64 ? (unsigned long long)cpus : 2;
    if ((rc = cli_parse(&args, &spec, argc, argv, on_option, &f)) != CLI_CONTINUE)
        return rc;
    if (parse_listen(&ss, f.listen) != 0)
        return cli_invalid("invalid --listen \"%s\": expected ADDR:PORT or [ADDR]:PORT",
                           f.listen);
    memset(&cfg, 0, sizeof(cfg));
    cfg.addr = (const struct sockaddr *)&ss;
    cfg.threads = (unsigned)f.threads;
    cfg.max_body = f.max_body;
    cfg.max_connections = (unsigned)f.max_connections;
    cfg.conn_timeout_s = (unsigned)(f.conn_timeout_ms / 1000);
    cfg.grace_ms = f.grace_ms;
    cfg.log_file = f.log_file;
    cfg.json_log = f.json_log;
    cfg.access_log = f.access_log;
    if (f.token_file != NULL) {
        rc = read_token(token, sizeof(token), f.token_file, &cfg.token_shared);
        if (rc != CLI_CONTINUE)
            return rc;
        cfg.token = token;
        cfg.token_file = f.token_file;
    }
    if (!is_loopback(&ss) && cfg.token == NULL && !f.insecure)
        return cli_invalid("refusing to listen on %s without --auth-token-file; add "
                           "--insecure if that is really wanted",
                           f.listen);
    switch (serve_open(&srv, &cfg)) {
    case SERVE_OK:
        break;
    case SERVE_ELOG:
        return cli_invalid("cannot open --log-file %s: %s", f.log_file, strerror(errno));
    default:
        return cli_error("out of memory");
    }
    if ((rc = cli_open(&h)) != CLI_CONTINUE)
        goto out;
    switch (serve_start(srv, h)) {
    case SERVE_OK:
        break;
    case SERVE_ELISTEN:
        rc = cli_error("cannot listen on %s: %s", f.listen, strerror(errno));
        goto out;
    default:
        rc = cli_error("cannot start the commit thread");
        goto out;
    }
    /* One line on standard output says where to connect, for people and scripts. */
    printf("streamyctl serve: listening on %s (store %s)\n", serve_url(srv),
           streamy_store_name(h));
    fflush(stdout);
    serve_run(srv);
    rc = CLI_EXIT_OK;
out:
    serve_stop(srv); /* it owns the store from serve_start() on */
    return rc;
}
