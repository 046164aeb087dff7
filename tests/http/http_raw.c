/* SPDX-License-Identifier: MIT */
/* http_raw.c: raw TCP connections to the server, for what libcurl would not send or wait
 * for. */
#include "http_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_private.h"

/* --- raw sockets ------------------------------------------------------------------ */

int http_raw_connect(const http_server *s)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)s->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

void http_raw_send(int fd, const char *data)
{
    size_t len = strlen(data), off = 0;

    while (off < len) {
        ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_msg(n > 0, "send: %s", strerror(errno));
        off += (size_t)n;
    }
}

/* The first `needle` in `hay`, ignoring case. */
static const char *find_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

int http_raw_response(int fd, int timeout_ms, char *got, size_t size)
{
    int64_t deadline = http_mono_ms() + timeout_ms;
    size_t len = 0;

    got[0] = '\0';
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = deadline - http_mono_ms();
        const char *end = strstr(got, "\r\n\r\n"), *cl;
        ssize_t n;

        if (end != NULL) {
            size_t body = 0;
            cl = find_nocase(got, "\r\nContent-Length:");
            if (cl != NULL && cl < end)
                body = strtoul(cl + 17, NULL, 10);
            if (len >= (size_t)(end + 4 - got) + body)
                return 1;
        }
        if (left <= 0)
            return 0;
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ck_assert_uint_lt(len, size - 1);
        n = recv(fd, got + len, size - 1 - len, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return -1;
        len += (size_t)n;
        got[len] = '\0';
    }
}

int http_raw_wait_close(int fd, int timeout_ms, char *got, size_t size)
{
    int64_t deadline = http_mono_ms() + timeout_ms;
    size_t len = got ? strlen(got) : 0;

    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = deadline - http_mono_ms();
        char chunk[1024];
        ssize_t n;

        if (left <= 0)
            return 0;
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        n = recv(fd, chunk, sizeof(chunk), 0);
        if (n == 0)
            return 1;
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return errno == ECONNRESET ? 2 : 1;
        }
        if (got != NULL && len + 1 < size) {
            size_t k = (size_t)n < size - 1 - len ? (size_t)n : size - 1 - len;
            memcpy(got + len, chunk, k);
            len += k;
            got[len] = '\0';
        }
    }
}
