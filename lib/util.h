/* SPDX-License-Identifier: MIT */
/* util.h: the small helpers that the library, streamyctl and its server share; never
 * installed. Built into libstreamy (hidden) and, as the static library streamy_util,
 * into the programs, so each is written once. */
#ifndef STREAMY_UTIL_H
#define STREAMY_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* clock.c: the wall clock in milliseconds since the epoch, and a monotonic clock in
 * microseconds for timeouts and deadlines. */
int64_t streamy__now_ms(void);
int64_t streamy__monotonic_us(void);

/* text.c */

/* Length of the valid UTF-8 sequence at `s` (at most `left` bytes), or 0 when the
 * bytes there are not one: a stray continuation byte, an overlong form, a UTF-16
 * surrogate or a value past U+10FFFF. */
size_t streamy__utf8_seq(const unsigned char *s, size_t left);

/* The value of one hexadecimal digit, or -1. */
int streamy__hexval(int c);

/* Percent-decode `len` bytes of `s` into a new string that the caller frees; NULL
 * on a bad escape, an escaped NUL, or out of memory (`*bad` tells which: 1 for bad
 * input, 0 for memory; `bad` may be NULL). */
char *streamy__percent_decode(const char *s, size_t len, int *bad);

/* A whole decimal number from 0 to `max`: no sign, no spaces, no unit. Returns
 * STREAMY_OK (0), or STREAMY_EINVAL with `*out` untouched. */
int streamy__parse_uint(unsigned long long *out, const char *text,
                        unsigned long long max);

/* buf.c: a growable, always NUL-terminated byte buffer. A failed allocation sets
 * `failed` and turns every later append into a no-op, so a caller checks once at
 * the end. Start from STREAMY__BUF_INIT; free with streamy__buf_free(). */
typedef struct streamy__buf {
    char *p;
    size_t len, cap;
    int failed;
} streamy__buf;

#define STREAMY__BUF_INIT                                                                \
    {                                                                                    \
        NULL, 0, 0, 0                                                                    \
    }

/* Each returns 0, or -1 once the buffer has failed. */
int streamy__buf_put(streamy__buf *b, const void *s, size_t n);
int streamy__buf_puts(streamy__buf *b, const char *s);
int streamy__buf_printf(streamy__buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void streamy__buf_free(streamy__buf *b);

#endif /* STREAMY_UTIL_H */
