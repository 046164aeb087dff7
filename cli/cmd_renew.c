/* SPDX-License-Identifier: MIT */
/* cmd_renew.c: `streamyctl renew USER STREAM`, the heartbeat that keeps a lease alive. */
#include "cli.h"

static const cli_command_spec spec = {
    .name = "renew",
    .args = "USER STREAM",
    .description =
        "Extend USER's unexpired lease on STREAM by the TTL (--ttl). A player sends it\n"
        "as a heartbeat, so a crashed player frees its slot by itself. When there is\n"
        "no such active lease the answer is \"not found\" (exit 4): the player must\n"
        "subscribe again, which checks the limit again. With --on-store-error allow, a\n"
        "store that fails answers ok, marked degraded, and records nothing.\n"
        "\n"
        "JSON keys: command, result (ok or not_found), user, stream, active, limit,\n"
        "since_ms, expires_ms (null = never), expired, degraded.\n",
    .min_args = 2,
    .max_args = 2,
};

int cmd_renew(int argc, char **argv)
{
    return cli_decide(STREAMY_OP_RENEW, argc, argv, &spec);
}
