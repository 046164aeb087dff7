/* SPDX-License-Identifier: MIT */
/* fuzz_http.c: raw bytes sent to a real `streamyctl serve` server; every answer must be
 * well-formed HTTP and JSON. */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "serve_int.h"

#define TOKEN "fuzz-token"
#define ANSWER_MAX (256 * 1024)
#define WAIT_MS 2000 /* for the end of an answer: a hung server fails the input */
#define IDLE_MS 100  /* of silence, after which a half-closed connection is given up */

#define FUZZ_WHERE() fputs("fuzz_http: ", stderr)
#include "fuzz.h"

static serve_server *server;
static struct sockaddr_in addr;
static char answer[ANSWER_MAX + 1];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    streamy_options o = STREAMY_OPTIONS_INIT;
    serve_config cfg = {0};
    streamy *h = NULL;
    const char *url;
    sigset_t mask;

    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    o.limit = 2;
    o.ttl_ms = 60000;
    if (streamy_open(&h, "memory:", &o) != STREAMY_OK)
        abort();
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cfg.addr = (const struct sockaddr *)&addr;
    cfg.threads = 1;
    cfg.max_body = 512;
    cfg.max_connections = 32;
    cfg.conn_timeout_s = 5;
    cfg.group_max = 64;
    cfg.token = TOKEN;
    /* Problems the server logs go nowhere: the checks below judge the answers. */
    cfg.log_file = "/dev/null";
    cfg.json_log = 1;
    cfg.access_log = 0;
    /* serve_start() blocks the signals that serve_run() waits for; this target never
     * calls serve_run(), so its own thread takes them again, for libFuzzer. */
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    if (serve_open(&server, &cfg) != SERVE_OK || serve_start(server, h) != SERVE_OK)
        abort();
    pthread_sigmask(SIG_SETMASK, &mask, NULL);
    url = strrchr(serve_url(server), ':');
    if (url == NULL || atoi(url + 1) <= 0)
        abort();
    addr.sin_port = htons((uint16_t)atoi(url + 1));
    return 0;
}

static int64_t now_ms(void)
{
    return streamy__monotonic_us() / 1000;
}

/* Send `data`, half-close, and read until the server closes; the answer's length.
 * MHD (0.9.75, epoll) may miss a FIN that arrives together with the data it
 * reads, and then keeps the connection until --conn-timeout: so the client
 * waits a moment before half-closing, and gives up after `idle_ms` of silence
 * (only complete answers are then judged). */
static size_t exchange(const void *data, size_t size, int idle_ms, int *cut)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    int64_t deadline = now_ms() + WAIT_MS;
    size_t got = 0, sent = 0;
    struct pollfd p = {fd, POLLIN, 0};

    *cut = 0;
    CHECK(fd >= 0, "socket: %s", strerror(errno));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* libFuzzer's SIGALRM (its -timeout watch) interrupts calls: they go on. */
    if (connect(fd, (const struct sockaddr *)&addr, sizeof(addr)) != 0) {
        struct pollfd w = {fd, POLLOUT, 0};
        int err = errno;
        socklen_t len = sizeof(err);

        if (err == EINTR) {
            while (poll(&w, 1, WAIT_MS) < 0 && errno == EINTR) {
            }
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
        }
        CHECK(err == 0, "connect: %s", strerror(err));
    }
    /* The server may answer and close before reading everything: that is fine. */
    while (sent < size) {
        ssize_t n = send(fd, (const char *)data + sent, size - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    while (poll(&p, 1, 1) < 0 && errno == EINTR) {
    }
    shutdown(fd, SHUT_WR);
    for (;;) {
        int64_t left = deadline - now_ms();
        ssize_t n;
        int ready;

        CHECK(left > 0, "no end of the answer within %d ms (%zu bytes so far)", WAIT_MS,
              got);
        ready = poll(&p, 1, left < idle_ms ? (int)left : idle_ms);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready == 0) {
            *cut = 1;
            break;
        }
        n = recv(fd, answer + got, ANSWER_MAX - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* closed, or reset after an answer it no longer needed to finish */
        got += (size_t)n;
        CHECK(got < ANSWER_MAX, "answer larger than %d bytes", ANSWER_MAX);
    }
    close(fd);
    answer[got] = '\0';
    return got;
}

static int is_tchar(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Check one response at `p` (of `left` bytes); its length, or 0 when the rest is
 * a response cut short by the connection's end (allowed only for HEAD, whose
 * answer has no body). `*status` receives its code. */
static size_t check_response(const char *p, size_t left, int head_seen, int cut,
                             unsigned *status)
{
    const char *end = memmem(p, left, "\r\n\r\n", 4), *line, *eol;
    const char *type = NULL;
    long long clen = -1;
    size_t hlen, n;
    char code[4];

    if (end == NULL && cut)
        return 0; /* the rest had not come when the client gave up */
    CHECK(end != NULL, "no end of headers in \"%.*s\"", (int)(left > 200 ? 200 : left),
          p);
    hlen = (size_t)(end - p) + 4;
    CHECK(left >= 13 && memcmp(p, "HTTP/1.1 ", 9) == 0 && p[9] >= '1' && p[9] <= '5' &&
              p[10] >= '0' && p[10] <= '9' && p[11] >= '0' && p[11] <= '9' &&
              (p[12] == ' ' || p[12] == '\r'),
          "status line \"%.40s\"", p);
    memcpy(code, p + 9, 3);
    code[3] = '\0';
    *status = (unsigned)atoi(code);
    eol = memmem(p, hlen, "\r\n", 2);
    for (line = eol + 2; line < end; line = eol + 2) {
        const char *colon;

        eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        for (colon = line; colon < eol && is_tchar((unsigned char)*colon); colon++) {
        }
        CHECK(colon > line && colon < eol && *colon == ':', "header line \"%.*s\"",
              (int)(eol - line), line);
        for (const char *c = colon + 1; c < eol; c++)
            CHECK(*c == '\t' || ((unsigned char)*c >= 0x20 && *c != 0x7F),
                  "control byte in header \"%.*s\"", (int)(eol - line), line);
        if ((size_t)(colon - line) == 14 && strncasecmp(line, "Content-Length", 14) == 0)
            clen = strtoll(colon + 1, NULL, 10);
        else if ((size_t)(colon - line) == 12 &&
                 strncasecmp(line, "Content-Type", 12) == 0)
            type = colon + 1 + strspn(colon + 1, " ");
    }
    /* libmicrohttpd 0.9.75 sends the headers of its own error page for a bad
     * Content-Length (400, 413) twice, before any of Streamy's code runs. */
    if (*status >= 400 && type == NULL && left - hlen >= hlen &&
        memcmp(p, p + hlen, hlen) == 0)
        return hlen;
    if (*status < 200 || *status == 204 || *status == 304) {
        CHECK(clen <= 0, "%u with a body of %lld", *status, clen);
        return hlen;
    }
    CHECK(clen >= 0, "%u without Content-Length", *status);
    /* A HEAD's answer announces a length but has no body: the next answer follows. */
    if (head_seen && left - hlen >= 9 && memcmp(p + hlen, "HTTP/1.1 ", 9) == 0)
        return hlen;
    if ((size_t)clen > left - hlen) {
        CHECK(cut || (head_seen && left == hlen),
              "body cut short: %lld announced, %zu there", clen, left - hlen);
        return 0;
    }
    n = hlen + (size_t)clen;
    if (type != NULL &&
        (strncmp(type, "application/json", 16) == 0 ||
         strncmp(type, "application/vnd.streamy+json", 28) == 0) &&
        clen > 0) {
        json_error_t err;
        json_t *doc = json_loadb(p + hlen, (size_t)clen, 0, &err), *st;

        CHECK(doc != NULL, "%u: body is not JSON (%s): \"%.*s\"", *status, err.text,
              (int)clen, p + hlen);
        st = json_object_get(doc, "status");
        CHECK(json_is_object(doc) && json_is_integer(st) &&
                  json_integer_value(st) == (json_int_t)*status,
              "status %u, body \"%.*s\"", *status, (int)clen, p + hlen);
        CHECK(*status < 400 || json_is_string(json_object_get(doc, "error")),
              "error without a message: \"%.*s\"", (int)clen, p + hlen);
        json_decref(doc);
    }
    return n;
}

static void check_answers(const uint8_t *data, size_t size, size_t got, int cut)
{
    int head_seen = memmem(data, size, "HEAD", 4) != NULL;
    size_t pos = 0, n;
    unsigned status;

    while (pos < got) {
        n = check_response(answer + pos, got - pos, head_seen, cut, &status);
        if (n == 0)
            break;
        pos += n;
    }
}

static void check_alive(void)
{
    static const char health[] = "GET /health HTTP/1.1\r\nHost: fuzz\r\n\r\n";
    unsigned status = 0;
    int cut;
    /* A busy machine may be slow: a second before the server counts as gone. */
    size_t got = exchange(health, sizeof(health) - 1, 1000, &cut);

    CHECK(got > 0, "the server no longer answers /health");
    CHECK(check_response(answer, got, 0, 0, &status) == got && status == 200,
          "/health: \"%s\"", answer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int cut;
    size_t got = exchange(data, size, IDLE_MS, &cut);

    check_answers(data, size, got, cut);
    check_alive();
    return 0;
}
