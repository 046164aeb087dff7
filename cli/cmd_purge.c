/* SPDX-License-Identifier: MIT */
/* cmd_purge.c: `streamyctl purge`, which deletes every expired lease at once. */
#include "cli.h"

static const cli_command_spec spec = {
    .name = "purge",
    .args = "",
    .description =
        "Delete every expired lease of every user and print how many were removed.\n"
        "Decisions already ignore expired leases; purge only reclaims their space, so\n"
        "it suits a periodic job.\n"
        "\n"
        "JSON keys: removed.\n",
    .min_args = 0,
    .max_args = 0,
};

int cmd_purge(int argc, char **argv)
{
    streamy *h = NULL;
    uint64_t removed;
    cli_args args;
    int rc;

    if ((rc = cli_parse(&args, &spec, argc, argv, NULL, NULL)) != CLI_CONTINUE)
        goto out;
    if ((rc = cli_open(&h)) != CLI_CONTINUE)
        goto out;
    if ((rc = streamy_purge(&removed, h)) != STREAMY_OK) {
        rc = cli_lib_error(rc, h, "cannot purge");
        goto out;
    }
    if (cli_flag.json) {
        rc = cli_emit_json(json_pack("{s:I}", "removed", (json_int_t)removed));
    } else {
        printf("purged %llu expired lease%s\n", (unsigned long long)removed,
               removed == 1 ? "" : "s");
        rc = CLI_EXIT_OK;
    }
out:
    streamy_close(h);
    return rc;
}
