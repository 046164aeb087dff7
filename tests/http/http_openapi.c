/* SPDX-License-Identifier: MIT */
/* http_openapi.c: each answer checked against docs/openapi.json (schemas, headers, Allow)
 * and recorded for the final OpenAPI test. */
#include "http_util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_private.h"

/* --- the spec --------------------------------------------------------------------- */

json_t *http_spec_resolve(json_t *node)
{
    for (int depth = 0; node != NULL && depth < 16; depth++) {
        const char *ref = json_string_value(json_object_get(node, "$ref"));
        char buf[256], *part, *save = NULL;
        json_t *at = http_spec;

        if (ref == NULL)
            return node;
        if (strncmp(ref, "#/", 2) != 0 || strlen(ref) >= sizeof(buf))
            return NULL;
        snprintf(buf, sizeof(buf), "%s", ref + 2);
        for (part = strtok_r(buf, "/", &save); part != NULL && at != NULL;
             part = strtok_r(NULL, "/", &save))
            at = json_object_get(at, part);
        node = at;
    }
    return NULL;
}

const char *http_template_of(const char *path)
{
    static const struct {
        const char *suffix, *tmpl;
    } users[] = {{"/video-streams", "/users/{userId}/video-streams"},
                 {"/limit", "/users/{userId}/limit"}};
    static const char *const exact[] = {"/video-streams/subscription",
                                        "/video-streams/subscription/renew", "/health",
                                        "/metrics"};
    size_t len = strcspn(path, "?");

    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (strlen(exact[i]) == len && strncmp(path, exact[i], len) == 0)
            return exact[i];
    /* As the server routes: the user is everything between, at least one byte. */
    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        size_t slen = strlen(users[i].suffix);
        if (strncmp(path, "/users/", 7) == 0 && len > 7 + slen &&
            strncmp(path + len - slen, users[i].suffix, slen) == 0)
            return users[i].tmpl;
    }
    return NULL;
}

static int type_is(const char *type, json_t *v)
{
    if (strcmp(type, "object") == 0)
        return json_is_object(v);
    if (strcmp(type, "array") == 0)
        return json_is_array(v);
    if (strcmp(type, "string") == 0)
        return json_is_string(v);
    if (strcmp(type, "integer") == 0)
        return json_is_integer(v);
    if (strcmp(type, "number") == 0)
        return json_is_number(v);
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(v);
    return 0;
}

/* minLength and maxLength in characters (code points: jansson's strings are UTF-8), and
 * a pattern as a POSIX extended regular expression (the spec's are plain enough to
 * mean the same in both dialects). */
static int string_check(json_t *s, json_t *value, const char *where, char *err,
                        size_t size)
{
    json_t *min = json_object_get(s, "minLength"), *max = json_object_get(s, "maxLength");
    const char *text = json_string_value(value), *pattern;
    json_int_t chars = 0;
    regex_t re;
    int rc;

    for (size_t i = 0; i < json_string_length(value); i++)
        chars += ((unsigned char)text[i] & 0xC0) != 0x80;
    if ((min != NULL && chars < json_integer_value(min)) ||
        (max != NULL && chars > json_integer_value(max))) {
        snprintf(err, size, "%s: \"%.40s\" has %lld characters, out of range", where,
                 text, (long long)chars);
        return -1;
    }
    pattern = json_string_value(json_object_get(s, "pattern"));
    if (pattern == NULL)
        return 0;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0) {
        snprintf(err, size, "%s: the pattern %s does not compile", where, pattern);
        return -1;
    }
    rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    if (rc != 0) {
        snprintf(err, size, "%s: \"%.40s\" does not match %s", where, text, pattern);
        return -1;
    }
    return 0;
}

int http_schema_check(json_t *schema, json_t *value, const char *where, char *err,
                      size_t size)
{
    json_t *s = http_spec_resolve(schema), *e, *props, *v;
    const char *type, *key;
    size_t i;

    if (s == NULL || !json_is_object(s)) {
        snprintf(err, size, "%s: the schema does not resolve", where);
        return -1;
    }
    if (json_is_null(value)) {
        if (json_is_true(json_object_get(s, "nullable")))
            return 0;
        snprintf(err, size, "%s: null where the schema is not nullable", where);
        return -1;
    }
    type = json_string_value(json_object_get(s, "type"));
    if (type != NULL && !type_is(type, value)) {
        snprintf(err, size, "%s: expected %s", where, type);
        return -1;
    }
    if ((e = json_object_get(s, "enum")) != NULL) {
        int found = 0;
        json_array_foreach(e, i, v)
        {
            found |= json_equal(v, value);
        }
        if (!found) {
            snprintf(err, size, "%s: not one of the enum's values", where);
            return -1;
        }
    }
    if (json_is_string(value) && string_check(s, value, where, err, size) != 0)
        return -1;
    if (json_is_integer(value)) {
        json_int_t n = json_integer_value(value);
        json_t *min = json_object_get(s, "minimum"), *max = json_object_get(s, "maximum");
        if ((min != NULL && n < json_integer_value(min)) ||
            (max != NULL && n > json_integer_value(max))) {
            snprintf(err, size, "%s: %lld is out of range", where, (long long)n);
            return -1;
        }
    }
    if (json_is_object(value)) {
        json_array_foreach(json_object_get(s, "required"), i, v)
        {
            if (json_object_get(value, json_string_value(v)) == NULL) {
                snprintf(err, size, "%s: \"%s\" is required", where,
                         json_string_value(v));
                return -1;
            }
        }
        props = json_object_get(s, "properties");
        json_object_foreach(value, key, v)
        {
            json_t *p = json_object_get(props, key);
            char sub[256];
            snprintf(sub, sizeof(sub), "%s.%s", where, key);
            if (p == NULL) {
                if (json_is_false(json_object_get(s, "additionalProperties"))) {
                    snprintf(err, size, "%s: not in the schema", sub);
                    return -1;
                }
                continue;
            }
            if (http_schema_check(p, v, sub, err, size) != 0)
                return -1;
        }
    }
    if (json_is_array(value) && (e = json_object_get(s, "items")) != NULL) {
        json_array_foreach(value, i, v)
        {
            char sub[256];
            snprintf(sub, sizeof(sub), "%s[%zu]", where, i);
            if (http_schema_check(e, v, sub, err, size) != 0)
                return -1;
        }
    }
    return 0;
}

/* The media type of a Content-Type value, lower case, without parameters. */
static void media_type(char *out, size_t size, const char *value)
{
    size_t n = value ? strcspn(value, ";") : 0, i;

    while (n > 0 && isspace((unsigned char)value[n - 1]))
        n--;
    if (n >= size)
        n = size - 1;
    for (i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)value[i]);
    out[n] = '\0';
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The Allow of a 405 lists exactly the path's methods (HEAD with GET). */
static void check_allow(const http_response *r, json_t *item)
{
    const char *allow = http_header(r, "Allow");
    char expected[128] = "", got[128] = "", *names[16], *p, *save = NULL, copy[128];
    size_t n = 0;
    static const char *const methods[] = {"get",     "put",  "post",  "delete",
                                          "options", "head", "patch", "trace"};

    ck_assert_msg(allow != NULL, "%s %s: 405 without Allow", r->method, r->path);
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (json_object_get(item, methods[i]) == NULL)
            continue;
        names[n++] = http_strdup(methods[i]);
        if (strcmp(methods[i], "get") == 0 && json_object_get(item, "head") == NULL)
            names[n++] = http_strdup("head");
    }
    qsort(names, n, sizeof(names[0]), cmp_str);
    for (size_t i = 0; i < n; i++) {
        for (p = names[i]; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        snprintf(expected + strlen(expected), sizeof(expected) - strlen(expected), "%s%s",
                 i ? "," : "", names[i]);
    }
    snprintf(copy, sizeof(copy), "%s", allow);
    n = 0;
    for (p = strtok_r(copy, ", ", &save); p != NULL && n < 16;
         p = strtok_r(NULL, ", ", &save))
        names[n++] = p;
    qsort(names, n, sizeof(names[0]), cmp_str);
    for (size_t i = 0; i < n; i++)
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? "," : "",
                 names[i]);
    ck_assert_msg(strcmp(expected, got) == 0, "%s %s: Allow \"%s\", the spec says %s",
                  r->method, r->path, allow, expected);
}

/* Headers of the spec's response: required ones present, integers and enums held. */
static void check_headers(const http_response *r, json_t *resp)
{
    const char *name;
    json_t *h;

    json_object_foreach(json_object_get(resp, "headers"), name, h)
    {
        json_t *hdr = http_spec_resolve(h), *schema;
        const char *value = http_header(r, name), *type;
        char err[256];

        ck_assert_msg(hdr != NULL, "spec: header %s does not resolve", name);
        if (value == NULL) {
            ck_assert_msg(!json_is_true(json_object_get(hdr, "required")),
                          "%s %s: %ld without the required header %s", r->method, r->path,
                          r->status, name);
            continue;
        }
        schema = http_spec_resolve(json_object_get(hdr, "schema"));
        type = json_string_value(json_object_get(schema, "type"));
        if (type != NULL && strcmp(type, "integer") == 0) {
            json_t *n;
            ck_assert_msg(value[0] != '\0' &&
                              strspn(value, "0123456789") == strlen(value),
                          "%s %s: header %s: \"%s\" is not an integer", r->method,
                          r->path, name, value);
            n = json_integer(strtoll(value, NULL, 10));
            ck_assert_msg(http_schema_check(schema, n, name, err, sizeof(err)) == 0,
                          "%s %s: header %s: %s", r->method, r->path, name, err);
            json_decref(n);
        } else if (schema != NULL) {
            json_t *v = json_string(value);
            ck_assert_msg(http_schema_check(schema, v, name, err, sizeof(err)) == 0,
                          "%s %s: header %s \"%s\": %s", r->method, r->path, name, value,
                          err);
            json_decref(v);
        }
    }
}

/* application/json or a +json type. */
static int is_json(const char *mt)
{
    size_t n = strlen(mt);

    return strcmp(mt, "application/json") == 0 ||
           (n > 5 && strcmp(mt + n - 5, "+json") == 0);
}

static void check_body(const http_response *r, json_t *resp, int head)
{
    json_t *content = json_object_get(resp, "content"), *media, *doc;
    const char *type = http_header(r, "Content-Type");
    char mt[64];
    json_error_t jerr;
    char err[256];

    if (content == NULL || json_object_size(content) == 0) {
        ck_assert_msg(r->len == 0, "%s %s: %ld has a body where the spec has none: %s",
                      r->method, r->path, r->status, r->body);
        ck_assert_msg(type == NULL, "%s %s: %ld has a Content-Type (%s) but no body",
                      r->method, r->path, r->status, type);
        return;
    }
    media_type(mt, sizeof(mt), type);
    media = json_object_get(content, mt);
    ck_assert_msg(media != NULL,
                  "%s %s: %ld has Content-Type \"%s\", not one of the spec's", r->method,
                  r->path, r->status, type ? type : "(none)");
    if (head) {
        ck_assert_msg(r->len == 0, "%s %s: HEAD answered with a body", r->method,
                      r->path);
        return;
    }
    if (!is_json(mt))
        return; /* text: the media type is the contract */
    ck_assert_msg(strcmp(type, mt) == 0,
                  "%s %s: Content-Type \"%s\", expected exactly %s", r->method, r->path,
                  type, mt);
    doc = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(doc != NULL, "%s %s: %ld body is not JSON (%s): %s", r->method, r->path,
                  r->status, jerr.text, r->body);
    if (http_schema_check(json_object_get(media, "schema"), doc, "body", err,
                          sizeof(err)) != 0) {
        json_decref(doc);
        ck_abort_msg("%s %s: %ld body does not fit the spec's schema: %s; body %s",
                     r->method, r->path, r->status, err, r->body);
    }
    if (json_is_integer(json_object_get(doc, "status"))) {
        json_int_t st = json_integer_value(json_object_get(doc, "status"));
        json_decref(doc);
        ck_assert_msg(st == r->status, "%s %s: body status %lld, HTTP status %ld",
                      r->method, r->path, (long long)st, r->status);
    } else {
        json_decref(doc);
    }
}

/* One line per answer: operation, template and status, then the media type of a JSON
 * body other than application/json, so that each of the spec's media types must be
 * exercised. */
static void record(const char *op, const char *tmpl, long status, const char *type)
{
    char line[256], mt[64];
    int fd, n;

    if (http_record_path == NULL)
        return;
    media_type(mt, sizeof(mt), type);
    if (type != NULL && is_json(mt) && strcmp(mt, "application/json") != 0)
        n = snprintf(line, sizeof(line), "%s %s %ld %s\n", op, tmpl, status, mt);
    else
        n = snprintf(line, sizeof(line), "%s %s %ld\n", op, tmpl, status);
    fd = open(http_record_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ck_assert_msg(fd >= 0, "cannot open %s: %s", http_record_path, strerror(errno));
    /* One write of a short line: O_APPEND keeps the lines of parallel tests whole. */
    ck_assert_int_eq(write(fd, line, (size_t)n), n);
    close(fd);
}

/* Check an answer against the spec and record (operation, template, status). */
void http__check_and_record(const http_response *r)
{
    const char *tmpl = http_template_of(r->path);
    int head = strcmp(r->method, "HEAD") == 0;
    char op[16];
    json_t *item = NULL, *operation = NULL, *responses, *resp;
    char code[8];

    if (http_spec == NULL)
        return;
    for (size_t i = 0; i <= strlen(r->method) && i < sizeof(op); i++)
        op[i] = (char)tolower((unsigned char)r->method[i]);
    if (tmpl != NULL)
        item = json_object_get(json_object_get(http_spec, "paths"), tmpl);
    if (item != NULL) {
        operation = json_object_get(item, op);
        if (operation == NULL && head && json_object_get(item, "get") != NULL) {
            operation = json_object_get(item, "get");
            snprintf(op, sizeof(op), "get");
        }
    }
    if (operation != NULL) {
        responses = json_object_get(operation, "responses");
    } else {
        json_t *other = json_object_get(http_spec, "x-streamy-other-requests");
        responses = json_object_get(
            json_object_get(other, item ? "otherMethod" : "unknownPath"), "responses");
        snprintf(op, sizeof(op), "%s", item ? "other" : "any");
        tmpl = item ? tmpl : "*";
    }
    snprintf(code, sizeof(code), "%ld", r->status);
    resp = http_spec_resolve(json_object_get(responses, code));
    record(op, tmpl, r->status, http_header(r, "Content-Type"));
    if (resp == NULL)
        return; /* not in the spec: the OpenAPI test names it */
    check_headers(r, resp);
    check_body(r, resp, head);
    if (r->status == 405 && item != NULL)
        check_allow(r, item);
}
