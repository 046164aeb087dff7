/* SPDX-License-Identifier: MIT */
/* check_http_openapi.c: the OpenAPI document itself, and that it and the answers the
 * other cases recorded cover each other. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check_http.h"

/* --- 12. docs/openapi.json -------------------------------------------------------- */

static const char *const http_methods[] = {"get",     "put",  "post",  "delete",
                                           "options", "head", "patch", "trace"};

static int is_method(const char *key)
{
    for (size_t i = 0; i < sizeof(http_methods) / sizeof(http_methods[0]); i++)
        if (strcmp(key, http_methods[i]) == 0)
            return 1;
    return 0;
}

/* Every "$ref" in the document resolves; every example fits its schema. */
static void check_refs_and_examples(json_t *node, const char *where)
{
    const char *key;
    json_t *v;
    size_t i;
    char err[256];

    if (json_is_array(node)) {
        json_array_foreach(node, i, v)
        {
            check_refs_and_examples(v, where);
        }
        return;
    }
    if (!json_is_object(node))
        return;
    if (json_object_get(node, "$ref") != NULL)
        ck_assert_msg(http_spec_resolve(node) != NULL, "%s: $ref %s does not resolve",
                      where, json_string_value(json_object_get(node, "$ref")));
    if (json_object_get(node, "schema") != NULL &&
        json_object_get(node, "example") != NULL)
        ck_assert_msg(http_schema_check(json_object_get(node, "schema"),
                                        json_object_get(node, "example"), "example", err,
                                        sizeof(err)) == 0,
                      "%s: the example does not fit its schema: %s", where, err);
    json_object_foreach(node, key, v)
    {
        char sub[256];
        snprintf(sub, sizeof(sub), "%s/%s", where, key);
        check_refs_and_examples(v, sub);
    }
}

START_TEST(spec_is_openapi_3_in_json)
{
    json_t *paths = json_object_get(http_spec, "paths"), *item, *op, *scheme;
    const char *path, *method, *desc;
    int ops = 0;

    ck_assert_msg(http_spec != NULL, "docs/openapi.json did not load");
    ck_assert_msg(
        strncmp(json_string_value(json_object_get(http_spec, "openapi")), "3.0.", 4) == 0,
        "openapi: %s", json_string_value(json_object_get(http_spec, "openapi")));
    desc = json_string_value(
        json_object_get(json_object_get(http_spec, "info"), "description"));
    ck_assert_msg(desc != NULL && strstr(desc, "JSON subset of YAML") != NULL,
                  "info.description must say the file is JSON");
    scheme = json_object_get(
        json_object_get(json_object_get(http_spec, "components"), "securitySchemes"),
        "bearer");
    ck_assert_str_eq(json_string_value(json_object_get(scheme, "type")), "http");
    ck_assert_str_eq(json_string_value(json_object_get(scheme, "scheme")), "bearer");
    ck_assert_ptr_nonnull(json_object_get(
        json_array_get(json_object_get(http_spec, "security"), 0), "bearer"));
    check_refs_and_examples(http_spec, "#");

    json_object_foreach(paths, path, item)
    {
        int open = strcmp(path, "/health") == 0 || strcmp(path, "/metrics") == 0;
        ck_assert_msg(http_template_of(path) != NULL &&
                          strcmp(http_template_of(path), path) == 0,
                      "%s is not a route of the server", path);
        json_object_foreach(item, method, op)
        {
            json_t *security = json_object_get(op, "security"), *responses;
            if (!is_method(method))
                continue;
            ops++;
            responses = json_object_get(op, "responses");
            ck_assert_msg(json_object_size(responses) > 0, "%s %s: no responses", method,
                          path);
            ck_assert_msg(json_is_string(json_object_get(op, "operationId")),
                          "%s %s: no operationId", method, path);
            if (open) {
                ck_assert_msg(json_is_array(security) && json_array_size(security) == 0,
                              "%s %s must say security: []", method, path);
                ck_assert_msg(json_object_get(responses, "401") == NULL, "%s %s: 401",
                              method, path);
            } else {
                ck_assert_msg(security == NULL, "%s %s: the token applies to it", method,
                              path);
                ck_assert_msg(json_object_get(responses, "401") != NULL,
                              "%s %s: no 401 for a missing token", method, path);
            }
            if (json_object_get(op, "requestBody") != NULL)
                ck_assert_msg(json_object_get(responses, "413") != NULL,
                              "%s %s takes a body but has no 413", method, path);
        }
    }
    ck_assert_int_eq(ops, 9);
}
END_TEST

/* Every (operation, path, status) of the spec was exercised, and nothing else was. */
START_TEST(spec_matches_what_the_server_did)
{
    json_t *seen = json_object(), *paths = json_object_get(http_spec, "paths"), *item,
           *op, *resp, *responses;
    json_t *other = json_object_get(http_spec, "x-streamy-other-requests");
    json_t *unknown = json_object_get(json_object_get(other, "unknownPath"), "responses");
    json_t *wrong = json_object_get(json_object_get(other, "otherMethod"), "responses");
    char line[512], *missing = http_strdup(""), *extra = http_strdup("");
    const char *path, *method, *code, *key;
    FILE *fp;
    int lines = 0;

    ck_assert_msg(http_record_path != NULL, "usage: check_http STREAMYCTL SPEC RECORD");
    fp = fopen(http_record_path, "r");
    ck_assert_msg(fp != NULL, "%s: %s (run the whole HTTP suite: ctest -R http)",
                  http_record_path, strerror(errno));
    while (fgets(line, sizeof(line), fp) != NULL) {
        char m[16], p[256], mt[64];
        long st;
        int fields = sscanf(line, "%15s %255s %ld %63s", m, p, &st, mt);
        ck_assert_msg(fields == 3 || fields == 4, "record: %s", line);
        json_object_set_new(seen, http_printf("%s %s %ld", m, p, st), json_true());
        if (fields == 4)
            json_object_set_new(seen, http_printf("%s %s %ld %s", m, p, st, mt),
                                json_true());
        lines++;
    }
    fclose(fp);
    ck_assert_msg(lines > 0, "nothing recorded in %s", http_record_path);

    /* The spec's, exercised: every status of every operation, a wrong method on every
     * path, and every answer to a request the operations do not describe. */
    json_object_foreach(paths, path, item)
    {
        json_object_foreach(item, method, op)
        {
            if (!is_method(method))
                continue;
            responses = json_object_get(op, "responses");
            json_object_foreach(responses, code, resp)
            {
                json_t *media;
                const char *mt;
                if (json_object_get(seen, http_printf("%s %s %s", method, path, code)) ==
                    NULL)
                    missing = http_printf("%s\n  %s %s %s", missing, method, path, code);
                /* Each JSON media type beyond application/json, too (http_openapi.c
                 * records those). */
                json_object_foreach(json_object_get(http_spec_resolve(resp), "content"),
                                    mt, media)
                {
                    if (strlen(mt) > 5 && strcmp(mt + strlen(mt) - 5, "+json") == 0 &&
                        json_object_get(seen, http_printf("%s %s %s %s", method, path,
                                                          code, mt)) == NULL)
                        missing = http_printf("%s\n  %s %s %s as %s", missing, method,
                                              path, code, mt);
                }
            }
        }
        if (json_object_get(seen, http_printf("other %s 405", path)) == NULL)
            missing = http_printf("%s\n  a wrong method on %s: 405", missing, path);
    }
    json_object_foreach(unknown, code, resp)
    {
        if (json_object_get(seen, http_printf("any * %s", code)) == NULL)
            missing = http_printf("%s\n  an unknown path: %s", missing, code);
    }
    json_object_foreach(wrong, code, resp)
    {
        int found = 0;
        json_object_foreach(paths, path, item)
        {
            found |=
                json_object_get(seen, http_printf("other %s %s", path, code)) != NULL;
        }
        if (!found)
            missing = http_printf("%s\n  a wrong method: %s", missing, code);
    }

    /* What was exercised, in the spec. */
    json_object_foreach(seen, key, resp)
    {
        char m[16], p[256], c[8], mt[64];
        int fields = sscanf(key, "%15s %255s %7s %63s", m, p, c, mt);
        ck_assert(fields == 3 || fields == 4);
        if (strcmp(m, "any") == 0)
            responses = unknown;
        else if (strcmp(m, "other") == 0)
            responses = wrong;
        else
            responses = json_object_get(json_object_get(json_object_get(paths, p), m),
                                        "responses");
        if (json_object_get(responses, c) == NULL ||
            (fields == 4 &&
             json_object_get(
                 json_object_get(http_spec_resolve(json_object_get(responses, c)),
                                 "content"),
                 mt) == NULL))
            extra = http_printf("%s\n  %s", extra, key);
    }
    json_decref(seen);
    ck_assert_msg(
        missing[0] == '\0' && extra[0] == '\0',
        "docs/openapi.json and the server differ.\nIn the spec, never exercised:%s\n"
        "Exercised, not in the spec:%s",
        missing[0] ? missing : " none", extra[0] ? extra : " none");
}
END_TEST

void http_case_openapi(TCase *tc)
{
    tcase_add_test(tc, spec_is_openapi_3_in_json);
    tcase_add_test(tc, spec_matches_what_the_server_did);
}
