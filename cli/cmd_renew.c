/* SPDX-License-Identifier: MIT */
/* cmd_renew.c: `streamyctl renew USER STREAM`, the heartbeat that keeps a lease alive. */
#include "cli.h"

static const struct option own_options[] = {
    {"lease", required_argument, NULL, CLI_OPT_LEASE},
    {NULL, 0, NULL, 0},
};

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
        "With --lease, only the lease that has that id is renewed: when another lease\n"
        "holds STREAM now (the player's was evicted or expired and the stream was\n"
        "started again), the answer is \"not found\" (exit 4) and says so (stale).\n"
        "\n"
        "JSON keys: command, result (ok or not_found), user, stream, active, limit,\n"
        "since_ms, expires_ms (null = never), expired, degraded, lease_id and device\n"
        "(the lease's; null when not found or unknown), stale (true when another lease\n"
        "than --lease holds STREAM).\n",
    .options =
        "  --lease ID               the lease id the player holds (subscribe printed\n"
        "                           it): renew that lease only\n",
    .min_args = 2,
    .max_args = 2,
    .own = own_options,
};

int cmd_renew(int argc, char **argv)
{
    return cli_decide(STREAMY_OP_RENEW, argc, argv, &spec);
}
