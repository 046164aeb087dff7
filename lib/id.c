/* SPDX-License-Identifier: MIT */
/* id.c: identifier validation and UUID canonicalisation. */
#include "streamy_int.h"

#include <string.h>
#include <uuid/uuid.h>

/* Length of the valid UTF-8 sequence at s (at most `left` bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t left)
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

static int looks_like_uuid(const char *id, size_t len)
{
    if (len != 36)
        return 0;
    return id[8] == '-' && id[13] == '-' && id[18] == '-' && id[23] == '-';
}

/* A valid UUID's canonical text (uuid_unparse_lower of what uuid_parse read) is
 * its input in lower case; copying it so costs less than unparsing. */
static void lower_copy(char *out, const char *id, size_t len)
{
    for (size_t i = 0; i < len; i++)
        out[i] = (id[i] >= 'A' && id[i] <= 'F') ? (char)(id[i] + ('a' - 'A')) : id[i];
    out[len] = '\0';
}

int streamy__id_check(char out[STREAMY_ID_MAX + 1], const char **canon, const char *field,
                      const char *id, int require_uuid)
{
    const unsigned char *s = (const unsigned char *)id;
    size_t len, i, n;
    uuid_t u;

    if (id == NULL)
        return streamy__error(STREAMY_EINVAL, "%s id is missing (NULL)", field);
    for (len = 0; len <= STREAMY_ID_MAX && s[len]; len++) {
    }
    if (len == 0)
        return streamy__error(STREAMY_EINVAL, "%s id is empty", field);
    if (len > STREAMY_ID_MAX)
        return streamy__error(STREAMY_EINVAL, "%s id is longer than %d bytes", field,
                              STREAMY_ID_MAX);
    for (i = 0; i < len; i += n) {
        if (s[i] < 0x20 || s[i] == 0x7F)
            return streamy__error(STREAMY_EINVAL,
                                  "%s id contains a control character (byte %zu)", field,
                                  i + 1);
        n = utf8_seq(s + i, len - i);
        if (n == 0)
            return streamy__error(STREAMY_EINVAL, "%s id is not valid UTF-8 (byte %zu)",
                                  field, i + 1);
    }
    if (looks_like_uuid(id, len) && uuid_parse(id, u) == 0) {
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
