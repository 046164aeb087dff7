/* SPDX-License-Identifier: MIT */
/* cmd_subscribe.c: `streamyctl subscribe USER STREAM`, the question Streamy answers. */
#include "cli.h"

static const struct option own_options[] = {
    {"device", required_argument, NULL, CLI_OPT_DEVICE},
    {"max-streams", required_argument, NULL, CLI_OPT_MAX_STREAMS},
    {NULL, 0, NULL, 0},
};

static const cli_command_spec spec = {
    .name = "subscribe",
    .args = "USER STREAM",
    .description =
        "Ask whether USER may start STREAM now. In one atomic step the library drops\n"
        "USER's expired leases, refreshes the lease if it exists (a stream counts "
        "once),\n"
        "adds it if USER holds fewer leases than their limit, and otherwise applies the\n"
        "policy: reject changes nothing; evict-oldest and evict-idle remove the lease\n"
        "started first or renewed least recently and add the new one. With --shadow the\n"
        "answer is always yes, and says when it would have been no. With\n"
        "--on-store-error allow, a store that fails answers yes, marked degraded, and\n"
        "records nothing.\n"
        "\n"
        "Every allowed answer names the lease's id, a UUID that stays the same while "
        "the\n"
        "lease lives (a refresh or a renew keeps it); a player keeps it for renew and\n"
        "unsubscribe --lease. Which limit applies: USER's own (streamyctl limit), else\n"
        "--max-streams, else the default (--limit). When refused, 'streamyctl list "
        "USER'\n"
        "shows the leases that hold the slots.\n"
        "\n"
        "Exits 0 when allowed and 3 when refused at the limit. JSON keys: command,\n"
        "result (ok or limit_reached), user, stream, created, active, limit, since_ms,\n"
        "expires_ms (null = never), retry_ms (null = no slot frees by itself), evicted,\n"
        "shadow_refused, expired, degraded, lease_id and device (the lease's; null when\n"
        "refused or unknown), evicted_lease_id and evicted_device (the evicted lease's,\n"
        "or null).\n",
    .options =
        "  --device LABEL           store LABEL with the lease so lists show which "
        "screen\n"
        "                           holds it, e.g. \"Living-room TV\": 1 to 64 bytes of\n"
        "                           UTF-8, no control characters; subscribing again "
        "with\n"
        "                           a label replaces the lease's own\n"
        "  --max-streams N          the limit that USER's plan gives now, 0 to 100000, "
        "for\n"
        "                           this call only (it is not stored): a limit stored "
        "with\n"
        "                           'streamyctl limit USER N' wins over it, and it wins\n"
        "                           over --limit, the default for every user\n",
    .min_args = 2,
    .max_args = 2,
    .own = own_options,
};

int cmd_subscribe(int argc, char **argv)
{
    return cli_decide(STREAMY_OP_SUBSCRIBE, argc, argv, &spec);
}
