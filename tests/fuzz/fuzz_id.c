/* SPDX-License-Identifier: MIT */
/* fuzz_id.c: identifier validation and UUID canonicalisation against an independent model
 * and libuuid. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uuid/uuid.h>

#include "streamy.h"

#define ID_INPUT_MAX 512

static streamy *uuid_handle; /* opened with require_uuid */

#define FUZZ_WHERE() fputs("fuzz_id: ", stderr)
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    streamy_options o = STREAMY_OPTIONS_INIT;

    (void)argc;
    (void)argv;
    o.require_uuid = 1;
    if (streamy_open(&uuid_handle, "memory:", &o) != STREAMY_OK)
        abort();
    return 0;
}

/* The model of README.md's identifier rule (1 to STREAMY_ID_MAX bytes of valid UTF-8
 * without control characters), written apart from lib/id.c: the length of the
 * well-formed UTF-8 sequence at s (RFC 3629, table 3-7 of Unicode), or 0. */
static size_t model_utf8(const unsigned char *s, size_t left)
{
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n;

    if (s[0] <= 0x7F)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        n = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        n = 3;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        n = 4;
    else
        return 0;
    if (s[0] == 0xE0)
        lo = 0xA0;
    else if (s[0] == 0xED)
        hi = 0x9F;
    else if (s[0] == 0xF0)
        lo = 0x90;
    else if (s[0] == 0xF4)
        hi = 0x8F;
    if (left < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

/* 1 when `id` is an identifier by README.md's rule. */
static int model_valid(const char *id)
{
    const unsigned char *s = (const unsigned char *)id;
    size_t len = strlen(id), i, n;

    if (len == 0 || len > STREAMY_ID_MAX)
        return 0;
    for (i = 0; i < len; i += n) {
        if (s[i] < 0x20 || s[i] == 0x7F)
            return 0;
        if ((n = model_utf8(s + i, len - i)) == 0)
            return 0;
    }
    return 1;
}

/* A UUID as libuuid reads it, in libuuid's own lower-case text. */
static int libuuid_canonical(char out[37], const char *id)
{
    uuid_t u;

    if (uuid_parse(id, u) != 0)
        return 0;
    uuid_unparse_lower(u, out);
    return 1;
}

/* Normalise into a heap buffer of exactly `size` bytes, so ASan sees any overrun. */
static int normalize(char *copy, size_t size, const streamy *h, const char *field,
                     const char *id)
{
    char *out = malloc(size);
    int rc;

    if (out == NULL)
        abort();
    rc = streamy_normalize_id(out, size, h, field, id);
    if (rc == STREAMY_OK)
        memcpy(copy, out, strlen(out) + 1);
    free(out);
    return rc;
}

static void check_one(const char *id, const streamy *h, const char *field)
{
    char out[STREAMY_ID_MAX + 1], again[STREAMY_ID_MAX + 1], uu[37];
    int valid = model_valid(id), is_uuid = libuuid_canonical(uu, id);
    int want = valid && (is_uuid || h == NULL);
    int rc = normalize(out, STREAMY_ID_MAX + 1, h, field, id);
    size_t len;

    if (rc != STREAMY_OK) {
        const char *msg = streamy_errmsg(h);
        CHECK(rc == STREAMY_EINVAL, "rc %d", rc);
        CHECK(!want, "valid %s id refused: %s", field, msg);
        /* The message names the field first ("user id is empty"). */
        CHECK(strncmp(msg, field, strlen(field)) == 0 && msg[strlen(field)] == ' ',
              "message \"%s\" does not name the field \"%s\"", msg, field);
        return;
    }
    CHECK(want, "invalid %s id accepted as \"%s\"", field, out);
    len = strlen(out);
    CHECK(len >= 1 && len <= STREAMY_ID_MAX, "length %zu", len);
    CHECK(model_valid(out), "output \"%s\" is not a valid identifier", out);
    if (is_uuid)
        CHECK(strcmp(out, uu) == 0, "UUID \"%s\" came out as \"%s\", not \"%s\"", id, out,
              uu);
    else
        CHECK(strcmp(out, id) == 0, "non-UUID \"%s\" changed to \"%s\"", id, out);
    /* Idempotent, with the same answer from a buffer of exactly the right size. */
    CHECK(normalize(again, len + 1, h, field, out) == STREAMY_OK, "%s",
          streamy_errmsg(h));
    CHECK(strcmp(again, out) == 0, "\"%s\" then \"%s\"", out, again);
    /* One byte short is refused, without writing past the buffer. */
    CHECK(normalize(again, len, h, field, out) == STREAMY_EINVAL,
          "short buffer accepted");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char id[ID_INPUT_MAX + 1];

    if (size > ID_INPUT_MAX)
        size = ID_INPUT_MAX;
    memcpy(id, data, size);
    id[size] = '\0'; /* the identifier is the input up to its first NUL */
    check_one(id, NULL, "user");
    check_one(id, uuid_handle, "stream");
    return 0;
}
