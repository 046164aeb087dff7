/* SPDX-License-Identifier: MIT */
/* http_metrics.c: samples read from the Prometheus text of /metrics. */
#include "http_util.h"

#include <stdlib.h>
#include <string.h>

#include "http_private.h"

/* --- metrics ---------------------------------------------------------------------- */

double http_metric(const char *text, const char *series)
{
    size_t n = strlen(series);
    const char *line;

    for (line = text; *line; line += strcspn(line, "\n"), line += *line == '\n') {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
    }
    return -1;
}
