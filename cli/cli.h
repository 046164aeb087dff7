/* SPDX-License-Identifier: MIT */
/* cli.h: what the streamyctl commands share: exit codes, settings, parsing and output. */
#ifndef STREAMY_CLI_H
#define STREAMY_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "streamy.h"

/* Exit codes: a contract, stated in the man page (cli/streamyctl.1, EXIT STATUS) and the
 * README, and listed in --help. */
#define CLI_EXIT_OK 0        /* done */
#define CLI_EXIT_FAILURE 1   /* store or internal error */
#define CLI_EXIT_USAGE 2     /* usage or invalid input */
#define CLI_EXIT_LIMIT 3     /* limit reached */
#define CLI_EXIT_NOT_FOUND 4 /* not found (renew of a missing lease) */

/* Returned by the parsing helpers when the command should go on. */
#define CLI_CONTINUE (-1)

/* Longest operand list a command collects; more are counted and refused. */
#define CLI_OPERANDS_MAX 4

/* Values of a command's own long options start here (below are the common ones). */
#define CLI_OPT_COMMAND 0x200

/* The session options of subscribe (--device, --max-streams) and of renew and
 * unsubscribe (--lease), handled by cli_decide (decide.c). */
enum { CLI_OPT_DEVICE = CLI_OPT_COMMAND + 0x40, CLI_OPT_MAX_STREAMS, CLI_OPT_LEASE };

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

/* One entry of the command table. */
typedef struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} cli_command;

/* What a command's --help prints, and how many operands it takes. */
typedef struct cli_command_spec {
    const char *name;        /* "subscribe" */
    const char *args;        /* operand synopsis: "USER STREAM" */
    const char *description; /* paragraph(s) after the usage line */
    const char *options;     /* help lines of the command's own options, or NULL */
    int min_args, max_args;
    const struct option
        *own; /* the command's own long options ({0}-terminated), or NULL */
} cli_command_spec;

/* The operands left after the options. `count` may exceed CLI_OPERANDS_MAX. */
typedef struct cli_args {
    char *operand[CLI_OPERANDS_MAX];
    int count;
} cli_args;

/* Options given on the command line (before or after the command); NULL/0 when absent. */
typedef struct cli_flags {
    const char *db, *limit, *ttl, *policy, *busy_timeout, *sync, *on_store_error;
    int shadow, require_uuid, json, help, version;
} cli_flags;

/* Settings after flags, environment and defaults have been applied. */
typedef struct cli_config {
    const char *db;
    const char *db_source; /* "--db", "STREAMY_DB" or NULL for the default */
    streamy_options opts;
} cli_config;

/* A command's own option: called with the option's value and argument. */
typedef int (*cli_option_cb)(int val, const char *arg, void *payload);

/* main.c */
extern cli_flags cli_flag;
const cli_command *cli_find_command(const char *name);
void cli_print_main_help(FILE *fp);

/* settings.c */
extern const struct option cli_common_options[];
int cli_parse_global(int *command_index, int argc, char **argv);
int cli_parse(cli_args *args, const cli_command_spec *spec, int argc, char **argv,
              cli_option_cb cb, void *payload);
int cli_config_resolve(cli_config *cfg);
int cli_open(streamy **out);
int cli_open_error(int rc, const cli_config *cfg);
void cli_print_common_help(FILE *fp);
void cli_print_version(void);

/* errors.c: each helper prints one diagnostic to stderr and returns the exit code. */
int cli_exit_code(int rc);
int cli_usage(const char *fmt, ...) CLI_PRINTF(1, 2);
int cli_invalid(const char *fmt, ...) CLI_PRINTF(1, 2);
int cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);
int cli_lib_error(int rc, const streamy *h, const char *fmt, ...) CLI_PRINTF(3, 4);
/* A store failure answered degraded (on_store_error allow) is no error, but stderr says
 * so: `what` names the answers ("answered degraded"), `why` is the store's message. */
void cli_degraded_warning(const char *what, const char *why);
void cli_set_command(const char *name);

/* output.c */
typedef struct cli_outcome {
    long line;            /* batch: the 1-based input line; 0 for a single command */
    streamy_op_kind kind; /* subscribe, unsubscribe or renew */
    int result;           /* STREAMY_OK, STREAMY_LIMIT_REACHED or STREAMY_NOT_FOUND */
    const char *user;     /* canonical ids */
    const char *stream;
    const char *lease_id; /* renew, unsubscribe: the lease id the caller named, or NULL */
    const streamy_answer *a;
} cli_outcome;

const char *cli_error_code(int rc);
void cli_format_time(char *buf, size_t size, int64_t ms);
int cli_emit_json(json_t *obj);
int cli_print_outcome(const cli_outcome *o);
int cli_print_line_error(long line, int rc, const char *msg);

/* decide.c: the session inputs of subscribe, renew and unsubscribe (flags or batch
 * fields), checked before the store is asked, and one decision. Each check returns
 * NULL when `text` is fine, else why not (a static string, or `why`). */
const char *cli_check_lease_id(const char *text);
const char *cli_check_device(char why[64], const char *text);
const char *cli_check_max_streams(int *out, const char *text);
/* At most 32 bytes of untrusted input, as printable ASCII, for a message. */
void cli_printable(char out[40], const char *in);
int cli_decide(streamy_op_kind kind, int argc, char **argv, const cli_command_spec *spec);

/* cmd_batch.c: one line of `batch` input, and a whole batch. */
/* The longest input line; a valid one needs under 500 bytes. */
#define CLI_BATCH_LINE_MAX 4096

typedef struct cli_batch_line {
    streamy_op_kind kind;                    /* when it is an operation */
    char user[STREAMY_ID_MAX + 1];           /* canonical ids */
    char stream[STREAMY_ID_MAX + 1];         /* canonical ids */
    char lease_id[STREAMY_LEASE_ID_LEN + 1]; /* lease=ID, as given, or "" */
    char device[STREAMY_DEVICE_MAX + 1];     /* device=LABEL, or "" */
    int max_streams; /* max-streams=N, or STREAMY_MAX_STREAMS_NONE */
    char error[256]; /* why an invalid line is refused */
} cli_batch_line;

/* Parse one input line, without its newline; when `len` is at most
 * CLI_BATCH_LINE_MAX, line[len] must be writable (the line is split in place).
 * Returns 1 for an operation, 0 for a line that prints nothing (blank or a
 * comment), -1 for an invalid line. */
int cli_batch_parse_line(cli_batch_line *out, const streamy *h, char *line, size_t len);
/* Decide the lines read from `fd` until its end, printing one result line per
 * command line on stdout; returns the exit code of `streamyctl batch`. */
int cli_batch_run(streamy *h, int fd);

/* The commands, one file each. */
int cmd_subscribe(int argc, char **argv);
int cmd_unsubscribe(int argc, char **argv);
int cmd_renew(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_count(int argc, char **argv);
int cmd_limit(int argc, char **argv);
int cmd_purge(int argc, char **argv);
int cmd_health(int argc, char **argv);
int cmd_batch(int argc, char **argv);
int cmd_help(int argc, char **argv);
#ifdef STREAMY_CLI_HAVE_SERVE
int cmd_serve(int argc, char **argv); /* cmd_serve.c, built with the HTTP server */
#endif

#endif /* STREAMY_CLI_H */
