/* SPDX-License-Identifier: MIT */
/* cmd_count.c: `streamyctl count USER`: a user's leases against their limit. */
#include "cli.h"

static const cli_command_spec spec = {
    .name = "count",
    .args = "USER",
    .description =
        "Print how many unexpired leases USER holds, and the limit that applies to\n"
        "them (their own limit if one is set, else the default).\n"
        "\n"
        "JSON keys: user, count, limit.\n",
    .min_args = 1,
    .max_args = 1,
};

int cmd_count(int argc, char **argv)
{
    char user[STREAMY_ID_MAX + 1];
    unsigned int count, limit;
    streamy *h = NULL;
    cli_args args;
    int rc;

    if ((rc = cli_parse(&args, &spec, argc, argv, NULL, NULL)) != CLI_CONTINUE)
        goto out;
    if ((rc = cli_open(&h)) != CLI_CONTINUE)
        goto out;
    if ((rc = streamy_normalize_id(user, sizeof(user), h, "user", args.operand[0])) !=
            STREAMY_OK ||
        (rc = streamy_count(&count, h, user)) != STREAMY_OK ||
        (rc = streamy_get_limit(&limit, NULL, h, user)) != STREAMY_OK) {
        rc = cli_lib_error(rc, h, "cannot count");
        goto out;
    }
    if (cli_flag.json) {
        rc = cli_emit_json(json_pack("{s:s, s:I, s:I}", "user", user, "count",
                                     (json_int_t)count, "limit", (json_int_t)limit));
    } else {
        printf("user %s: %u of %u active\n", user, count, limit);
        rc = CLI_EXIT_OK;
    }
out:
    streamy_close(h);
    return rc;
}
