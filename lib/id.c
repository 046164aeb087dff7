/* SPDX-License-Identifier: MIT */
/* id.c: identifier validation and UUID canonicalisation. */
#include "streamy_int.h"

#include <string.h>

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Exactly what libuuid's uuid_parse accepts: 36 characters, dashes at 8, 13, 18
 * and 23, hex digits elsewhere (tests/check_id.c holds it to libuuid). Checked
 * here because uuid_parse's strtoul calls cost more than the rest of a
 * decision in the memory store. */
static int is_uuid(const char *id, size_t len)
{
    if (len != 36)
        return 0;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (id[i] != '-')
                return 0;
        } else if (!is_hex(id[i])) {
            return 0;
        }
    }
    return 1;
}

/* A UUID's canonical text, uuid_unparse_lower of what uuid_parse read, is its
 * input in lower case. */
static void lower_copy(char *out, const char *id, size_t len)
{
    for (size_t i = 0; i < len; i++)
        out[i] = (id[i] >= 'A' && id[i] <= 'F') ? (char)(id[i] + ('a' - 'A')) : id[i];
    out[len] = '\0';
}

/* The character rules of identifiers and device labels: 1 to `max` bytes of UTF-8
 * without control characters. `field` and `noun` name the text in the message
 * ("user" "id"). */
static int text_check(size_t *out_len, const char *field, const char *noun,
                      const char *text, size_t max)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t len, i, n;

    if (text == NULL)
        return streamy__error(STREAMY_EINVAL, "%s %s is missing (NULL)", field, noun);
    for (len = 0; len <= max && s[len]; len++) {
    }
    if (len == 0)
        return streamy__error(STREAMY_EINVAL, "%s %s is empty", field, noun);
    if (len > max)
        return streamy__error(STREAMY_EINVAL, "%s %s is longer than %zu bytes", field,
                              noun, max);
    for (i = 0; i < len; i += n) {
        if (s[i] < 0x20 || s[i] == 0x7F)
            return streamy__error(STREAMY_EINVAL,
                                  "%s %s contains a control character (byte %zu)", field,
                                  noun, i + 1);
        n = streamy__utf8_seq(s + i, len - i);
        if (n == 0)
            return streamy__error(STREAMY_EINVAL, "%s %s is not valid UTF-8 (byte %zu)",
                                  field, noun, i + 1);
    }
    *out_len = len;
    return STREAMY_OK;
}

int streamy__device_check(const char *device)
{
    size_t len;

    return text_check(&len, "device", "label", device, STREAMY_DEVICE_MAX);
}

int streamy__lease_id_check(char out[STREAMY_LEASE_ID_LEN + 1], const char *lease_id)
{
    size_t len = lease_id ? strnlen(lease_id, STREAMY_LEASE_ID_LEN + 1) : 0;

    if (lease_id == NULL || !is_uuid(lease_id, len))
        return streamy__error(STREAMY_EINVAL, "lease id %s%.40s%s is not a UUID",
                              lease_id ? "\"" : "", lease_id ? lease_id : "(NULL)",
                              lease_id ? "\"" : "");
    lower_copy(out, lease_id, len);
    return STREAMY_OK;
}

int streamy__id_check(char out[STREAMY_ID_MAX + 1], const char **canon, const char *field,
                      const char *id, int require_uuid)
{
    size_t len;
    int rc;

    if ((rc = text_check(&len, field, "id", id, STREAMY_ID_MAX)) != STREAMY_OK)
        return rc;
    if (is_uuid(id, len)) {
        lower_copy(out, id, len);
        *canon = out;
        return STREAMY_OK;
    }
    if (require_uuid)
        return streamy__error(STREAMY_EINVAL, "%s id is not a UUID (UUIDs are required)",
                              field);
    *canon = id;
    return STREAMY_OK;
}

int streamy_normalize_id(char *out, size_t out_size, const streamy *h, const char *field,
                         const char *id)
{
    char buf[STREAMY_ID_MAX + 1];
    const char *canon;
    size_t len;
    int rc;

    streamy__error_begin(h);
    if (field == NULL)
        field = "identifier";
    if (out == NULL)
        return streamy__error(STREAMY_EINVAL, "output buffer is NULL");
    rc = streamy__id_check(buf, &canon, field, id, h ? h->opts.require_uuid : 0);
    if (rc != STREAMY_OK)
        return rc;
    len = strlen(canon);
    if (out_size <= len)
        return streamy__error(STREAMY_EINVAL, "output buffer of %zu bytes is too small",
                              out_size);
    memcpy(out, canon, len + 1);
    return STREAMY_OK;
}
