/* SPDX-License-Identifier: MIT */
/* buf.c: a growable byte buffer for text built piece by piece. */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for `n` more bytes and the terminating NUL. */
static int reserve(streamy__buf *b, size_t n)
{
    size_t cap;
    char *p;

    if (b->failed)
        return -1;
    if (b->len + n + 1 <= b->cap)
        return 0;
    if (n > SIZE_MAX / 2 - b->len - 1)
        goto fail;
    for (cap = b->cap ? b->cap : 256; cap < b->len + n + 1;)
        cap *= 2;
    if ((p = realloc(b->p, cap)) == NULL)
        goto fail;
    b->p = p;
    b->cap = cap;
    return 0;
fail:
    b->failed = 1;
    return -1;
}

int streamy__buf_put(streamy__buf *b, const void *s, size_t n)
{
    if (reserve(b, n) != 0)
        return -1;
    if (n > 0)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int streamy__buf_puts(streamy__buf *b, const char *s)
{
    return streamy__buf_put(b, s, strlen(s));
}

int streamy__buf_printf(streamy__buf *b, const char *fmt, ...)
{
    size_t room = b->failed || b->p == NULL ? 0 : b->cap - b->len;
    va_list ap;
    int n;

    if (b->failed)
        return -1;
    /* Most lines fit in the room left: then one formatting pass is enough. */
    va_start(ap, fmt);
    n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return -1;
    }
    if ((size_t)n >= room) {
        if (reserve(b, (size_t)n) != 0)
            return -1;
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
    return 0;
}

void streamy__buf_free(streamy__buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}
