/* SPDX-License-Identifier: MIT */
/* cmd_list.c: `streamyctl list USER`, a user's active leases, oldest first. */
#include "cli.h"
#include "util.h"

static const cli_command_spec spec = {
    .name = "list",
    .args = "USER",
    .description =
        "Print USER's unexpired leases, oldest first, one per line with their lease id,\n"
        "device label (when the lease has one), start, last renewal and expiry as\n"
        "ISO-8601 UTC times.\n"
        "\n"
        "JSON: one object with the keys user, count, limit and leases, an array of\n"
        "{stream, since_ms, renewed_ms, expires_ms (null = never), lease_id, device\n"
        "(null when the lease has none)}.\n",
    .min_args = 1,
    .max_args = 1,
};

/* The leases as they come: the lines of the human output (printed after the count,
 * once it is known), or the array of the --json object. */
typedef struct lease_list {
    streamy__buf text;
    json_t *json;
    size_t count;
    int failed;
} lease_list;

/* Each stops the listing at the first failure: a short list must not pass for the
 * whole one. */
static int add_text_lease(const streamy_lease *lease, void *payload)
{
    lease_list *list = payload;
    char since[40], renewed[40], expires[40];

    cli_format_time(since, sizeof(since), lease->since_ms);
    cli_format_time(renewed, sizeof(renewed), lease->renewed_ms);
    cli_format_time(expires, sizeof(expires), lease->expires_ms);
    streamy__buf_printf(&list->text, "  %s", lease->stream);
    if (lease->lease_id != NULL && lease->lease_id[0] != '\0')
        streamy__buf_printf(&list->text, "  lease %s", lease->lease_id);
    if (lease->device != NULL && lease->device[0] != '\0')
        streamy__buf_printf(&list->text, "  device \"%s\"", lease->device);
    if (streamy__buf_printf(&list->text, "  since %s  renewed %s  expires %s\n", since,
                            renewed, expires) != 0) {
        list->failed = 1;
        return 1;
    }
    list->count++;
    return 0;
}

static int add_json_lease(const streamy_lease *lease, void *payload)
{
    lease_list *list = payload;
    const char *id = lease->lease_id != NULL ? lease->lease_id : "";
    const char *device = lease->device != NULL ? lease->device : "";
    json_t *item =
        json_pack("{s:s, s:I, s:I, s:o, s:o, s:o}", "stream", lease->stream, "since_ms",
                  (json_int_t)lease->since_ms, "renewed_ms",
                  (json_int_t)lease->renewed_ms, "expires_ms",
                  lease->expires_ms != 0 ? json_integer((json_int_t)lease->expires_ms)
                                         : json_null(),
                  "lease_id", id[0] != '\0' ? json_string(id) : json_null(), "device",
                  device[0] != '\0' ? json_string(device) : json_null());

    if (item == NULL || json_array_append_new(list->json, item) != 0) {
        list->failed = 1;
        return 1;
    }
    list->count++;
    return 0;
}

int cmd_list(int argc, char **argv)
{
    char user[STREAMY_ID_MAX + 1];
    lease_list list = {STREAMY__BUF_INIT, NULL, 0, 0};
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
    if (cli_flag.json && (list.json = json_array()) == NULL) {
        rc = cli_error("cannot list: out of memory");
        goto out;
    }
    if ((rc = streamy_list(h, user, cli_flag.json ? add_json_lease : add_text_lease,
                           &list)) != STREAMY_OK ||
        (rc = streamy_get_limit(&limit, NULL, h, user)) != STREAMY_OK) {
        rc = cli_lib_error(rc, h, "cannot list");
        goto out;
    }
    if (list.failed) {
        rc = cli_error("cannot list: out of memory");
        goto out;
    }
    if (cli_flag.json) {
        rc = cli_emit_json(json_pack("{s:s, s:I, s:I, s:o}", "user", user, "count",
                                     (json_int_t)list.count, "limit", (json_int_t)limit,
                                     "leases", list.json));
        list.json = NULL; /* taken by the object, even when packing it failed */
    } else {
        printf("user %s: %zu of %u active\n%s", user, list.count, limit,
               list.text.p != NULL ? list.text.p : "");
        rc = CLI_EXIT_OK;
    }
out:
    json_decref(list.json);
    streamy__buf_free(&list.text);
    streamy_close(h);
    return rc;
}
