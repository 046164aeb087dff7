/* SPDX-License-Identifier: MIT */
/* main.c: streamyctl's entry point: the command table, global options and help. */
#include "cli.h"

#include <errno.h>
#include <string.h>

cli_flags cli_flag;

static const cli_command commands[] = {
    {"subscribe", cmd_subscribe,
     "may USER start STREAM now? adds or refreshes the lease"},
    {"unsubscribe", cmd_unsubscribe, "stop STREAM for USER: remove the lease if present"},
    {"renew", cmd_renew, "heartbeat: extend USER's active lease on STREAM by the TTL"},
    {"list", cmd_list, "show USER's active leases"},
    {"count", cmd_count, "count USER's active leases and show their limit"},
    {"limit", cmd_limit, "show, set or clear USER's own limit"},
    {"purge", cmd_purge, "delete every expired lease"},
    {"health", cmd_health, "check that the store answers"},
    {"batch", cmd_batch,
     "decide subscribe/unsubscribe/renew lines read from standard input"},
/* The HTTP API (cmd_serve.c) joins the table when it is built. */
#ifdef STREAMY_CLI_HAVE_SERVE
    {"serve", cmd_serve, "serve the HTTP API"},
#endif
    {"help", cmd_help, "show help for streamyctl or one of its commands"},
};

const cli_command *cli_find_command(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    }
    return NULL;
}

void cli_print_main_help(FILE *fp)
{
    fputs(
        "Usage: streamyctl [options] COMMAND [ARGS]\n"
        "\n"
        "Streamy limits how many streams a user may watch at once. streamyctl asks the\n"
        "library and prints its answers; it decides nothing itself.\n"
        "\n"
        "Commands:\n",
        fp);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(fp, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fputs("\n", fp);
    cli_print_common_help(fp);
}

static const cli_command_spec help_spec = {
    .name = "help",
    .args = "[COMMAND]",
    .description =
        "Without COMMAND, list the commands and the common options. With COMMAND, print\n"
        "the same text as 'streamyctl COMMAND --help'.\n",
    .min_args = 0,
    .max_args = 1,
};

int cmd_help(int argc, char **argv)
{
    const cli_command *cmd;
    cli_args args;
    char *sub[3];
    int rc;

    if ((rc = cli_parse(&args, &help_spec, argc, argv, NULL, NULL)) != CLI_CONTINUE)
        return rc;
    if (args.count == 0) {
        cli_print_main_help(stdout);
        return CLI_EXIT_OK;
    }
    cmd = cli_find_command(args.operand[0]);
    if (cmd == NULL)
        return cli_usage("unknown command \"%s\"", args.operand[0]);
    /* Run the command's own --help, so both spellings print the same text. */
    sub[0] = (char *)cmd->name;
    sub[1] = "--help";
    sub[2] = NULL;
    cli_set_command(cmd->name);
    return cmd->fn(2, sub);
}

int main(int argc, char **argv)
{
    const cli_command *cmd;
    int rc, first;

    if ((rc = cli_parse_global(&first, argc, argv)) != CLI_CONTINUE)
        goto out;
    if (cli_flag.version) {
        cli_print_version();
        rc = CLI_EXIT_OK;
        goto out;
    }
    if (first >= argc) {
        if (cli_flag.help) {
            cli_print_main_help(stdout);
            rc = CLI_EXIT_OK;
        } else {
            rc = cli_usage("no command given");
        }
        goto out;
    }
    cmd = cli_find_command(argv[first]);
    if (cmd == NULL) {
        rc = cli_usage("unknown command \"%s\"", argv[first]);
        goto out;
    }
    cli_set_command(cmd->name);
    rc = cmd->fn(argc - first, argv + first);
out:
    /* An answer that could not be written is no answer. A failure already
     * reported (batch checks each chunk) is not reported twice. */
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc != CLI_EXIT_FAILURE &&
        rc != CLI_EXIT_USAGE)
        rc = cli_error("cannot write the output: %s", strerror(errno));
    return rc;
}
