/* SPDX-License-Identifier: MIT */
/* errors.c: diagnostics on stderr, and the mapping of library results to exit codes. */
#include "cli.h"

#include <stdarg.h>

static const char *current_command;

void cli_set_command(const char *name)
{
    current_command = name;
}

int cli_exit_code(int rc)
{
    switch (rc) {
    case STREAMY_OK:
        return CLI_EXIT_OK;
    case STREAMY_LIMIT_REACHED:
        return CLI_EXIT_LIMIT;
    case STREAMY_NOT_FOUND:
        return CLI_EXIT_NOT_FOUND;
    case STREAMY_EINVAL:
        return CLI_EXIT_USAGE;
    default:
        return CLI_EXIT_FAILURE;
    }
}

static void vdiag(const char *fmt, va_list ap, const char *detail)
{
    fputs("streamyctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    if (detail != NULL)
        fprintf(stderr, ": %s", detail);
    fputc('\n', stderr);
}

int cli_usage(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vdiag(fmt, ap, NULL);
    va_end(ap);
    if (current_command != NULL)
        fprintf(stderr, "Try 'streamyctl help %s'.\n", current_command);
    else
        fputs("Try 'streamyctl help'.\n", stderr);
    return CLI_EXIT_USAGE;
}

int cli_invalid(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vdiag(fmt, ap, NULL);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vdiag(fmt, ap, NULL);
    va_end(ap);
    return CLI_EXIT_FAILURE;
}

int cli_lib_error(int rc, const streamy *h, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vdiag(fmt, ap, streamy_errmsg(h));
    va_end(ap);
    return cli_exit_code(rc);
}

void cli_degraded_warning(const char *what, const char *why)
{
    fprintf(stderr,
            "streamyctl: the store failed, %s (--on-store-error allow: nothing was "
            "recorded): %s\n",
            what, why);
}
