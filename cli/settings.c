/* SPDX-License-Identifier: MIT */
/* settings.c: option parsing, and settings from flag, then environment, then default. */
#include "cli.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    OPT_DB = 0x100,
    OPT_LIMIT,
    OPT_TTL,
    OPT_POLICY,
    OPT_SHADOW,
    OPT_REQUIRE_UUID,
    OPT_BUSY_TIMEOUT,
    OPT_SYNC,
    OPT_ON_STORE_ERROR,
    OPT_JSON
};

#define COMMON_OPTIONS 12

const struct option cli_common_options[COMMON_OPTIONS + 1] = {
    {"db", required_argument, NULL, OPT_DB},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"policy", required_argument, NULL, OPT_POLICY},
    {"shadow", no_argument, NULL, OPT_SHADOW},
    {"require-uuid", no_argument, NULL, OPT_REQUIRE_UUID},
    {"busy-timeout", required_argument, NULL, OPT_BUSY_TIMEOUT},
    {"sync", required_argument, NULL, OPT_SYNC},
    {"on-store-error", required_argument, NULL, OPT_ON_STORE_ERROR},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* Room for the common options, a command's own and the terminator. */
#define OPTIONS_MAX 32

void cli_print_common_help(FILE *fp)
{
    fputs(
        "Options (accepted before or after the command):\n"
        "  --db URI                 the store: sqlite:PATH or a plain path, "
        "sqlite::memory:,\n"
        "                           memory:, redis://..., postgresql://...\n"
        "                           [STREAMY_DB; default streamy.db]\n"
        "  --limit N                default per-user limit, 0 to 100000 (0 blocks "
        "everyone)\n"
        "                           for users without their own limit and subscribes\n"
        "                           without --max-streams\n"
        "                           [STREAMY_MAX_STREAMS; default 3]\n"
        "  --ttl DURATION           lease lifetime without a renew, e.g. 90s, 5m, 1h;\n"
        "                           0 = leases never expire [STREAMY_LEASE_TTL; default "
        "0]\n"
        "  --policy POLICY          at the limit: reject, evict-oldest or evict-idle\n"
        "                           [STREAMY_POLICY; default reject]\n"
        "  --shadow                 decide and record, but always allow, reporting what\n"
        "                           would have been refused [STREAMY_SHADOW=1]\n"
        "  --require-uuid           refuse identifiers that are not UUIDs\n"
        "                           [STREAMY_REQUIRE_UUID=1]\n"
        "  --busy-timeout DURATION  how long to wait for a locked store, up to 1h\n"
        "                           [STREAMY_BUSY_TIMEOUT; default 5s]\n"
        "  --sync normal|full       SQLite durability: full syncs every commit\n"
        "                           [STREAMY_SYNC; default normal]\n"
        "  --on-store-error deny|allow\n"
        "                           when the store fails: deny answers the error; allow\n"
        "                           answers subscribe and renew ok, marked degraded, "
        "and\n"
        "                           records nothing (the limit is not enforced)\n"
        "                           [STREAMY_ON_STORE_ERROR; default deny]\n"
        "  --json                   print one JSON object per result line\n"
        "  -h, --help               show help (also: streamyctl help COMMAND)\n"
        "  -V, --version            show the versions of streamyctl and libstreamy\n"
        "A flag beats its environment variable, which beats the default. Durations\n"
        "take a unit: ms, s, m, h or d (a plain number is seconds). Use -- before an\n"
        "identifier that starts with '-'.\n"
        "\n"
        "Exit status:\n"
        "  0  done\n"
        "  1  store or internal error\n"
        "  2  usage or invalid input\n"
        "  3  limit reached\n"
        "  4  not found (renew of a lease that is not active)\n",
        fp);
}

void cli_print_version(void)
{
    printf("streamyctl %s (libstreamy %s)\n", STREAMY_VERSION, streamy_version());
}

/* Record one common option; `opt` is the argv element, for messages. */
static int common_option(int c, const char *arg, const char *opt)
{
    switch (c) {
    case OPT_DB:
        cli_flag.db = arg;
        break;
    case OPT_LIMIT:
        cli_flag.limit = arg;
        break;
    case OPT_TTL:
        cli_flag.ttl = arg;
        break;
    case OPT_POLICY:
        cli_flag.policy = arg;
        break;
    case OPT_SHADOW:
        cli_flag.shadow = 1;
        break;
    case OPT_REQUIRE_UUID:
        cli_flag.require_uuid = 1;
        break;
    case OPT_BUSY_TIMEOUT:
        cli_flag.busy_timeout = arg;
        break;
    case OPT_SYNC:
        cli_flag.sync = arg;
        break;
    case OPT_ON_STORE_ERROR:
        cli_flag.on_store_error = arg;
        break;
    case OPT_JSON:
        cli_flag.json = 1;
        break;
    case 'h':
        cli_flag.help = 1;
        break;
    case 'V':
        cli_flag.version = 1;
        break;
    case ':':
        return cli_usage("option %s needs a value", opt);
    case '?':
        /* getopt sets optopt to the option for a short one, and for a long one
         * that was given a value it takes none. */
        if (strncmp(opt, "--", 2) != 0)
            return cli_usage("unknown option -%c", optopt);
        if (optopt != 0)
            return cli_usage("option %.*s takes no value", (int)strcspn(opt, "="), opt);
        return cli_usage("unknown or ambiguous option %s", opt);
    default:
        return cli_error("internal error: option %d is not handled", c);
    }
    return CLI_CONTINUE;
}

/* Options that only some commands take, so that another command can say so. */
static const struct {
    const char *name, *owners;
} command_options[] = {
    {"device", "subscribe takes it"},
    {"max-streams", "subscribe takes it"},
    {"lease", "renew and unsubscribe take it"},
    {"clear", "limit takes it"},
};

/* A long option that is unknown here but belongs to a command: say whose it is. `spec`
 * is the command given, or NULL before the command. */
static int foreign_option(const cli_command_spec *spec, const char *opt)
{
    size_t len;

    if (strncmp(opt, "--", 2) != 0)
        return CLI_CONTINUE;
    opt += 2;
    len = strcspn(opt, "=");
    for (size_t i = 0; i < sizeof(command_options) / sizeof(command_options[0]); i++) {
        if (strlen(command_options[i].name) == len &&
            strncmp(command_options[i].name, opt, len) == 0) {
            if (spec == NULL)
                return cli_usage("option --%s goes after the command (%s)",
                                 command_options[i].name, command_options[i].owners);
            return cli_usage("%s takes no option --%s (%s)", spec->name,
                             command_options[i].name, command_options[i].owners);
        }
    }
    return CLI_CONTINUE;
}

/* Options before the command. getopt stops at the first operand (the command). */
int cli_parse_global(int *command_index, int argc, char **argv)
{
    int c, rc;

    opterr = 0;
    optind = 0; /* glibc: 0 also resets getopt's internal state */
    while ((c = getopt_long(argc, argv, "+:hV", cli_common_options, NULL)) != -1) {
        if (c == '?' && optopt == 0 &&
            (rc = foreign_option(NULL, argv[optind - 1])) != CLI_CONTINUE)
            return rc;
        if ((rc = common_option(c, optarg, argv[optind - 1])) != CLI_CONTINUE)
            return rc;
    }
    *command_index = optind;
    return CLI_CONTINUE;
}

static void print_command_help(const cli_command_spec *spec, FILE *fp)
{
    fprintf(fp, "Usage: streamyctl %s [options]%s%s\n", spec->name,
            spec->args[0] ? " " : "", spec->args);
    fprintf(fp, "\n%s\n", spec->description);
    if (spec->options != NULL)
        fprintf(fp, "Options of %s:\n%s\n", spec->name, spec->options);
    cli_print_common_help(fp);
}

/* getopt's "-" mode hands operands back in order, whatever POSIXLY_CORRECT says. */
static void add_operand(cli_args *args, char *arg)
{
    if (args->count < CLI_OPERANDS_MAX)
        args->operand[args->count] = arg;
    args->count++;
}

int cli_parse(cli_args *args, const cli_command_spec *spec, int argc, char **argv,
              cli_option_cb cb, void *payload)
{
    struct option all[OPTIONS_MAX];
    size_t n = 0;
    int c, rc;

    memset(args, 0, sizeof(*args));
    for (size_t i = 0; i < COMMON_OPTIONS; i++)
        all[n++] = cli_common_options[i];
    for (const struct option *o = spec->own; o != NULL && o->name != NULL; o++) {
        if (n == OPTIONS_MAX - 1)
            return cli_error("internal error: %s has too many options", spec->name);
        all[n++] = *o;
    }
    memset(&all[n], 0, sizeof(all[n]));

    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, "-:hV", all, NULL)) != -1) {
        if (c == 1) {
            add_operand(args, optarg);
            continue;
        }
        if (c >= CLI_OPT_COMMAND) {
            if (cb == NULL)
                return cli_error("internal error: option %s is not handled",
                                 argv[optind - 1]);
            if ((rc = cb(c, optarg, payload)) != CLI_CONTINUE)
                return rc;
            continue;
        }
        if (c == '?' && optopt == 0 &&
            (rc = foreign_option(spec, argv[optind - 1])) != CLI_CONTINUE)
            return rc;
        if ((rc = common_option(c, optarg, argv[optind - 1])) != CLI_CONTINUE)
            return rc;
    }
    for (; optind < argc; optind++)
        add_operand(args, argv[optind]);

    if (cli_flag.version) {
        cli_print_version();
        return CLI_EXIT_OK;
    }
    if (cli_flag.help) {
        print_command_help(spec, stdout);
        return CLI_EXIT_OK;
    }
    if (args->count < spec->min_args || args->count > spec->max_args) {
        if (spec->args[0] == '\0')
            return cli_usage("%s takes no arguments", spec->name);
        return cli_usage("%s takes %s (got %d argument%s)", spec->name, spec->args,
                         args->count, args->count == 1 ? "" : "s");
    }
    return CLI_CONTINUE;
}

/* The flag if given, else the environment variable if set and not empty. */
static const char *pick(const char *flag, const char *flag_name, const char *env,
                        const char **source)
{
    const char *v;

    if (flag != NULL) {
        *source = flag_name;
        return flag;
    }
    v = getenv(env);
    *source = env;
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static int parse_bool(int *out, const char *text)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int duration(int64_t *out, const char *text, const char *source)
{
    if (streamy_parse_duration(out, text) != STREAMY_OK)
        return cli_invalid("invalid %s \"%s\": %s", source, text, streamy_errmsg(NULL));
    return CLI_CONTINUE;
}

int cli_config_resolve(cli_config *cfg)
{
    const char *v, *src;
    unsigned long long n;
    int64_t ms;
    int rc, b;

    streamy_options_init(&cfg->opts, STREAMY_OPTIONS_VERSION);
    cfg->db = pick(cli_flag.db, "--db", "STREAMY_DB", &cfg->db_source);
    if (cfg->db == NULL) {
        cfg->db = "streamy.db";
        cfg->db_source = NULL;
    }

    if ((v = pick(cli_flag.limit, "--limit", "STREAMY_MAX_STREAMS", &src)) != NULL) {
        if (streamy__parse_uint(&n, v, STREAMY_LIMIT_MAX) != STREAMY_OK)
            return cli_invalid("invalid %s \"%s\": expected a whole number from 0 to %u",
                               src, v, STREAMY_LIMIT_MAX);
        cfg->opts.limit = (unsigned int)n;
    }
    if ((v = pick(cli_flag.ttl, "--ttl", "STREAMY_LEASE_TTL", &src)) != NULL) {
        if ((rc = duration(&ms, v, src)) != CLI_CONTINUE)
            return rc;
        cfg->opts.ttl_ms = ms;
    }
    if ((v = pick(cli_flag.policy, "--policy", "STREAMY_POLICY", &src)) != NULL &&
        streamy_parse_policy(&cfg->opts.policy, v) != STREAMY_OK)
        return cli_invalid("invalid %s \"%s\": %s", src, v, streamy_errmsg(NULL));
    if (cli_flag.shadow) {
        cfg->opts.shadow = 1;
    } else if ((v = pick(NULL, NULL, "STREAMY_SHADOW", &src)) != NULL) {
        if (parse_bool(&b, v) != 0)
            return cli_invalid("invalid STREAMY_SHADOW \"%s\": use 1 or 0", v);
        cfg->opts.shadow = b;
    }
    if (cli_flag.require_uuid) {
        cfg->opts.require_uuid = 1;
    } else if ((v = pick(NULL, NULL, "STREAMY_REQUIRE_UUID", &src)) != NULL) {
        if (parse_bool(&b, v) != 0)
            return cli_invalid("invalid STREAMY_REQUIRE_UUID \"%s\": use 1 or 0", v);
        cfg->opts.require_uuid = b;
    }
    if ((v = pick(cli_flag.busy_timeout, "--busy-timeout", "STREAMY_BUSY_TIMEOUT",
                  &src)) != NULL) {
        if ((rc = duration(&ms, v, src)) != CLI_CONTINUE)
            return rc;
        if (ms > STREAMY_BUSY_TIMEOUT_MAX_MS)
            return cli_invalid("invalid %s \"%s\": longer than one hour", src, v);
        cfg->opts.busy_timeout_ms = (int)ms;
    }
    if ((v = pick(cli_flag.sync, "--sync", "STREAMY_SYNC", &src)) != NULL) {
        if (strcmp(v, "normal") == 0)
            cfg->opts.synchronous_full = 0;
        else if (strcmp(v, "full") == 0)
            cfg->opts.synchronous_full = 1;
        else
            return cli_invalid("invalid %s \"%s\": use normal or full", src, v);
    }
    if ((v = pick(cli_flag.on_store_error, "--on-store-error", "STREAMY_ON_STORE_ERROR",
                  &src)) != NULL) {
        if (strcmp(v, "deny") == 0)
            cfg->opts.on_store_error = STREAMY_ON_STORE_ERROR_DENY;
        else if (strcmp(v, "allow") == 0)
            cfg->opts.on_store_error = STREAMY_ON_STORE_ERROR_ALLOW;
        else
            return cli_invalid("invalid %s \"%s\": use deny or allow", src, v);
    }
    return CLI_CONTINUE;
}

/* Name where the store came from, so a bad STREAMY_DB is easy to find; the URI
 * itself may hold a password, and the library's message names what it needs. */
int cli_open_error(int rc, const cli_config *cfg)
{
    if (cfg->db_source == NULL)
        return cli_lib_error(rc, NULL, "cannot open the default store");
    return cli_lib_error(rc, NULL, "cannot open the store given by %s", cfg->db_source);
}

int cli_open(streamy **out)
{
    cli_config cfg;
    int rc;

    *out = NULL;
    if ((rc = cli_config_resolve(&cfg)) != CLI_CONTINUE)
        return rc;
    rc = streamy_open(out, cfg.db, &cfg.opts);
    if (rc != STREAMY_OK)
        return cli_open_error(rc, &cfg);
    return CLI_CONTINUE;
}
