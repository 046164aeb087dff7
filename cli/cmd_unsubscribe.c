/* SPDX-License-Identifier: MIT */
/* cmd_unsubscribe.c: `streamyctl unsubscribe USER STREAM`, which frees a slot. */
#include "cli.h"

static const struct option own_options[] = {
    {"lease", required_argument, NULL, CLI_OPT_LEASE},
    {NULL, 0, NULL, 0},
};

static const cli_command_spec spec = {
    .name = "unsubscribe",
    .args = "USER STREAM",
    .description =
        "Remove USER's lease on STREAM if there is one. Removing a lease that is not\n"
        "there is not an error: the command is idempotent and exits 0 either way.\n"
        "\n"
        "With --lease, only the lease that has that id is removed: when another lease\n"
        "holds STREAM now (a newer session), nothing is removed and the answer says so\n"
        "(stale); it still exits 0.\n"
        "\n"
        "JSON keys: command, result (ok), user, stream, removed, expired, lease_id and\n"
        "device (the removed lease's, or null), stale (true when another lease than\n"
        "--lease holds STREAM, so nothing was removed).\n",
    .options =
        "  --lease ID               the lease id the player holds (subscribe printed\n"
        "                           it): remove that lease only\n",
    .min_args = 2,
    .max_args = 2,
    .own = own_options,
};

int cmd_unsubscribe(int argc, char **argv)
{
    return cli_decide(STREAMY_OP_UNSUBSCRIBE, argc, argv, &spec);
}
