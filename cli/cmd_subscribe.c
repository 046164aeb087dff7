/* SPDX-License-Identifier: MIT */
/* cmd_subscribe.c: `streamyctl subscribe USER STREAM`, the question Streamy answers. */
#include "cli.h"

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
        "Exits 0 when allowed and 3 when refused at the limit. JSON keys: command,\n"
        "result (ok or limit_reached), user, stream, created, active, limit, since_ms,\n"
        "expires_ms (null = never), retry_ms (null = no slot frees by itself), evicted,\n"
        "shadow_refused, expired, degraded.\n",
    .min_args = 2,
    .max_args = 2,
};

int cmd_subscribe(int argc, char **argv)
{
    return cli_decide(STREAMY_OP_SUBSCRIBE, argc, argv, &spec);
}
