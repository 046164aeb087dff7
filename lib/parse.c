/* SPDX-License-Identifier: MIT */
/* parse.c: durations, policies and unsigned numbers from text. */
#include "streamy_int.h"

#include <string.h>

int streamy_parse_duration(int64_t *out_ms, const char *text)
{
    static const struct {
        const char *suffix;
        int64_t ms;
    } units[] = {{"ms", 1},        {"s", 1000},        {"", 1000},
                 {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 86400 * 1000}};
    char digits[24];
    unsigned long long v;
    size_t n = 0, z = 0, i;

    streamy__error_begin(NULL);
    if (out_ms == NULL || text == NULL)
        return streamy__error(STREAMY_EINVAL, "duration is missing (NULL)");
    while (text[n] >= '0' && text[n] <= '9')
        n++;
    /* Leading zeros add nothing, however many there are; one digit stays. */
    while (z + 1 < n && text[z] == '0')
        z++;
    if (n == 0 || n - z >= sizeof(digits))
        return streamy__error(STREAMY_EINVAL,
                              "duration \"%.32s\" is not a number with an optional unit "
                              "(ms, s, m, h, d)",
                              text);
    memcpy(digits, text + z, n - z);
    digits[n - z] = '\0';
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(text + n, units[i].suffix) != 0)
            continue;
        if (streamy__parse_uint(&v, digits, (unsigned long long)STREAMY_TTL_MAX_MS) !=
                STREAMY_OK ||
            v > (unsigned long long)(STREAMY_TTL_MAX_MS / units[i].ms))
            return streamy__error(STREAMY_EINVAL,
                                  "duration \"%.32s\" is longer than a year", text);
        *out_ms = (int64_t)v * units[i].ms;
        return STREAMY_OK;
    }
    return streamy__error(STREAMY_EINVAL,
                          "duration \"%.32s\" has an unknown unit (use ms, s, m, h or d)",
                          text);
}

static const char *const policy_names[] = {"reject", "evict-oldest", "evict-idle"};

int streamy_parse_policy(streamy_policy *out, const char *text)
{
    streamy__error_begin(NULL);
    if (out == NULL || text == NULL)
        return streamy__error(STREAMY_EINVAL, "policy is missing (NULL)");
    for (size_t i = 0; i < sizeof(policy_names) / sizeof(policy_names[0]); i++) {
        if (strcmp(text, policy_names[i]) == 0) {
            *out = (streamy_policy)i;
            return STREAMY_OK;
        }
    }
    return streamy__error(STREAMY_EINVAL,
                          "policy \"%.32s\" is unknown (use reject, evict-oldest or "
                          "evict-idle)",
                          text);
}

const char *streamy_policy_name(streamy_policy policy)
{
    if ((unsigned)policy >= sizeof(policy_names) / sizeof(policy_names[0]))
        return NULL;
    return policy_names[policy];
}
