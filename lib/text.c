/* SPDX-License-Identifier: MIT */
/* text.c: UTF-8, hexadecimal, percent-encoding and decimal numbers. */
#include "util.h"

#include "streamy.h"

#include <stdlib.h>

size_t streamy__utf8_seq(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    /* Overlong forms, UTF-16 surrogates and values past U+10FFFF. */
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

int streamy__hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

char *streamy__percent_decode(const char *s, size_t len, int *bad)
{
    char *out = malloc(len + 1), *o = out;

    if (bad != NULL)
        *bad = 0;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;

        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        if (i + 2 >= len || (hi = streamy__hexval(s[i + 1])) < 0 ||
            (lo = streamy__hexval(s[i + 2])) < 0 || hi * 16 + lo == 0) {
            free(out);
            if (bad != NULL)
                *bad = 1;
            return NULL;
        }
        *o++ = (char)(hi * 16 + lo);
        i += 2;
    }
    *o = '\0';
    return out;
}

int streamy__parse_uint(unsigned long long *out, const char *text, unsigned long long max)
{
    unsigned long long v = 0;
    const char *p = text;

    if (text == NULL || *p == '\0')
        return STREAMY_EINVAL;
    for (; *p; p++) {
        unsigned long long d = (unsigned long long)(*p - '0');

        if (*p < '0' || *p > '9')
            return STREAMY_EINVAL;
        /* v * 10 + d <= max, without wrapping: also when the digit alone passes max. */
        if (d > max || v > (max - d) / 10)
            return STREAMY_EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return STREAMY_OK;
}
