/* SPDX-License-Identifier: MIT */
/* cmd_limit.c: `streamyctl limit USER [N | --clear]`, a user's own limit. */
#include "cli.h"
#include "util.h"

#include <limits.h>

enum { OPT_CLEAR = CLI_OPT_COMMAND };

static const struct option own_options[] = {
    {"clear", no_argument, NULL, OPT_CLEAR},
    {NULL, 0, NULL, 0},
};

static const cli_command_spec spec = {
    .name = "limit",
    .args = "USER [N | --clear]",
    .description =
        "Without N, print the limit that applies to USER. With N, store N as USER's own\n"
        "limit (0 blocks the user; at most 100000). Lowering a limit cuts no running\n"
        "stream: new subscribes are refused until USER is under it. With --clear,\n"
        "remove USER's own limit, so the default (--limit) applies again. Each form\n"
        "prints the limit that applies afterwards.\n"
        "\n"
        "JSON keys: user, limit, override (true when USER has a limit of their own).\n",
    .options = "  --clear                  remove USER's own limit\n",
    .min_args = 1,
    .max_args = 2,
    .own = own_options,
};

static int on_option(int val, const char *arg, void *payload)
{
    (void)arg;
    if (val == OPT_CLEAR)
        *(int *)payload = 1;
    return CLI_CONTINUE;
}

int cmd_limit(int argc, char **argv)
{
    char user[STREAMY_ID_MAX + 1];
    unsigned long long n = 0;
    unsigned int limit;
    int clear = 0, is_override, rc;
    streamy *h = NULL;
    cli_args args;

    if ((rc = cli_parse(&args, &spec, argc, argv, on_option, &clear)) != CLI_CONTINUE)
        goto out;
    if (clear && args.count == 2) {
        rc = cli_usage("limit takes either N or --clear, not both");
        goto out;
    }
    /* The library judges the range; we only need a number that fits its type. */
    if (args.count == 2 &&
        streamy__parse_uint(&n, args.operand[1], UINT_MAX) != STREAMY_OK) {
        rc = cli_invalid("invalid limit \"%s\": expected a whole number from 0 to %u",
                         args.operand[1], STREAMY_LIMIT_MAX);
        goto out;
    }
    if ((rc = cli_open(&h)) != CLI_CONTINUE)
        goto out;
    if ((rc = streamy_normalize_id(user, sizeof(user), h, "user", args.operand[0])) !=
        STREAMY_OK) {
        rc = cli_lib_error(rc, h, "cannot use the limit");
        goto out;
    }
    if (clear)
        rc = streamy_clear_limit(h, user);
    else if (args.count == 2)
        rc = streamy_set_limit(h, user, (unsigned int)n);
    if (rc != STREAMY_OK) {
        rc = cli_lib_error(rc, h, "cannot %s the limit", clear ? "clear" : "set");
        goto out;
    }
    if ((rc = streamy_get_limit(&limit, &is_override, h, user)) != STREAMY_OK) {
        rc = cli_lib_error(rc, h, "cannot read the limit");
        goto out;
    }
    if (cli_flag.json) {
        rc = cli_emit_json(json_pack("{s:s, s:I, s:b}", "user", user, "limit",
                                     (json_int_t)limit, "override", is_override));
    } else {
        printf("user %s: limit %u (%s)\n", user, limit,
               is_override ? "their own" : "the default");
        rc = CLI_EXIT_OK;
    }
out:
    streamy_close(h);
    return rc;
}
