/* SPDX-License-Identifier: MIT */
/* cmd_unsubscribe.c: `streamyctl unsubscribe USER STREAM`, which frees a slot. */
#include "cli.h"

static const cli_command_spec spec = {
    .name = "unsubscribe",
    .args = "USER STREAM",
    .description =
        "Remove USER's lease on STREAM if there is one. Removing a lease that is not\n"
        "there is not an error: the command is idempotent and exits 0 either way.\n"
        "\n"
        "JSON keys: command, result (ok), user, stream, removed, expired.\n",
    .min_args = 2,
    .max_args = 2,
};

int cmd_unsubscribe(int argc, char **argv)
{
    return cli_decide(STREAMY_OP_UNSUBSCRIBE, argc, argv, &spec);
}
