/* SPDX-License-Identifier: MIT */
/* cmd_list.c: `streamyctl list USER`, a user's active leases, oldest first. */
#include "cli.h"

#include <stdlib.h>

static const cli_command_spec spec = {
    .name = "list",
    .args = "USER",
    .description =
        "Print USER's unexpired leases, oldest first, one per line with their start,\n"
        "last renewal and expiry as ISO-8601 UTC times.\n"
        "\n"
        "JSON: one object with the keys user, count, limit and leases, an array of\n"
        "{stream, since_ms, renewed_ms, expires_ms (null = never)}.\n",
    .min_args = 1,
    .max_args = 1,
};

typedef struct lease_list {
    json_t *leases;
    int failed;
} lease_list;

static int add_lease(const streamy_lease *lease, void *payload)
{
    lease_list *list = payload;
    json_t *item =
        json_pack("{s:s, s:I, s:I, s:o}", "stream", lease->stream, "since_ms",
                  (json_int_t)lease->since_ms, "renewed_ms",
                  (json_int_t)lease->renewed_ms, "expires_ms",
                  lease->expires_ms != 0 ? json_integer((json_int_t)lease->expires_ms)
                                         : json_null());

    /* Stop at the first failure: a short list must not pass for the whole one. */
    if (item == NULL || json_array_append_new(list->leases, item) != 0) {
        list->failed = 1;
        return 1;
    }
    return 0;
}

static void print_human(const char *user, json_t *leases, unsigned int limit)
{
    char since[40], renewed[40], expires[40];
    size_t i;
    json_t *l;

    printf("user %s: %zu of %u active\n", user, json_array_size(leases), limit);
    json_array_foreach(leases, i, l)
    {
        cli_format_time(since, sizeof(since),
                        json_integer_value(json_object_get(l, "since_ms")));
        cli_format_time(renewed, sizeof(renewed),
                        json_integer_value(json_object_get(l, "renewed_ms")));
        cli_format_time(expires, sizeof(expires),
                        json_integer_value(json_object_get(l, "expires_ms")));
        printf("  %s  since %s  renewed %s  expires %s\n",
               json_string_value(json_object_get(l, "stream")), since, renewed, expires);
    }
}

int cmd_list(int argc, char **argv)
{
    char user[STREAMY_ID_MAX + 1];
    lease_list list = {NULL, 0};
    unsigned int limit;
    streamy *h = NULL;
    cli_args args;
    int rc;

    if ((rc = cli_parse(&args, &spec, argc, argv, NULL, NULL)) != CLI_CONTINUE)
        goto out;
    if ((rc = cli_open(&h)) != CLI_CONTINUE)
        goto out;
    if ((rc = streamy_normalize_id(user, sizeof(user), h, "user", args.operand[0])) !=
        STREAMY_OK) {
        rc = cli_lib_error(rc, h, "cannot list");
        goto out;
    }
    if ((list.leases = json_array()) == NULL) {
        rc = cli_error("cannot list: out of memory");
        goto out;
    }
    if ((rc = streamy_list(h, user, add_lease, &list)) != STREAMY_OK ||
        (rc = streamy_get_limit(&limit, NULL, h, user)) != STREAMY_OK) {
        rc = cli_lib_error(rc, h, "cannot list");
        goto out;
    }
    if (list.failed) {
        rc = cli_error("cannot list: out of memory");
        goto out;
    }
    if (cli_flag.json) {
        rc = cli_emit_json(json_pack("{s:s, s:I, s:I, s:O}", "user", user, "count",
                                     (json_int_t)json_array_size(list.leases), "limit",
                                     (json_int_t)limit, "leases", list.leases));
    } else {
        print_human(user, list.leases, limit);
        rc = CLI_EXIT_OK;
    }
out:
    json_decref(list.leases);
    streamy_close(h);
    return rc;
}
