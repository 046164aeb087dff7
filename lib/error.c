/* SPDX-License-Identifier: MIT */
/* error.c: result code names and the thread-local detailed error message. */
#include "streamy_int.h"

#include <stdio.h>
#include <string.h>

/* One message per thread, so a handle shared by threads never hands one
 * thread another thread's error; `owner` is the handle of the call that set it. */
static _Thread_local struct {
    const streamy *owner;
    char msg[STREAMY_ERRMSG_SIZE];
} tls_error;

const char *streamy_strerror(int rc)
{
    switch (rc) {
#define STREAMY_STRERROR_CASE_(name, value, text)                                        \
    case value:                                                                          \
        return text;
        STREAMY_RESULT_MAP(STREAMY_STRERROR_CASE_)
#undef STREAMY_STRERROR_CASE_
    }
    return "unknown result code";
}

const char *streamy_errmsg(const streamy *h)
{
    if (h != NULL && h != tls_error.owner)
        return "not an error";
    return tls_error.msg[0] ? tls_error.msg : "not an error";
}

void streamy__error_begin(const streamy *h)
{
    tls_error.owner = h;
    tls_error.msg[0] = '\0';
}

void streamy__error_v(const char *fmt, va_list ap)
{
    vsnprintf(tls_error.msg, sizeof(tls_error.msg), fmt, ap);
}

int streamy__error(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    streamy__error_v(fmt, ap);
    va_end(ap);
    return rc;
}

int streamy__error_is_set(void)
{
    return tls_error.msg[0] != '\0';
}

void streamy_store_set_error(streamy_store *st, const char *fmt, ...)
{
    va_list ap;
    STREAMY_UNUSED(st);
    va_start(ap, fmt);
    streamy__error_v(fmt, ap);
    va_end(ap);
}
