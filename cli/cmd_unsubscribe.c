/* SPDX-License-Identifier: MIT */
/* cmd_unsubscribe.c: `streamyctl unsubscribe USER STREAM`, which frees a slot. */
#include "cli.h"

static const cli_command_spec spec = {
    "unsubscribe",
    "USER STREAM",
    "Remove USER's lease on STREAM if there is one. Removing a lease that is not\n"
    "there is not an error: the command is idempotent and exits 0 either way.\n"
    "\n"
    "JSON keys: command, result (ok), user, stream, removed, expired.\n",
    NULL,
    2,
    2,
    NULL};

int cmd_unsubscribe(int argc, char **argv)
{
    return cli_decide(STREAMY_OP_UNSUBSCRIBE, argc, argv, &spec);
}
