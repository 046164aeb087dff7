/* SPDX-License-Identifier: MIT */
/* cmd_health.c: `streamyctl health`, for monitors: does the store answer? */
#include "cli.h"

static const cli_command_spec spec = {
    .name = "health",
    .args = "",
    .description =
        "Open the store and check that it answers. Prints ok (exit 0) or unavailable\n"
        "with the store's own words (exit 1). A store that cannot even be opened is\n"
        "unavailable too; a malformed --db URI is a usage error (exit 2).\n"
        "\n"
        "JSON keys: status (ok or unavailable), store (its name, null when it could\n"
        "not be opened) and, when unavailable, error.\n",
    .min_args = 0,
    .max_args = 0,
};

static int report(const char *store, const char *error)
{
    if (cli_flag.json) {
        json_t *obj = json_pack("{s:s, s:s?}", "status", error ? "unavailable" : "ok",
                                "store", store);
        if (obj != NULL && error != NULL &&
            json_object_set_new(obj, "error", json_string(error)) != 0) {
            json_decref(obj);
            obj = NULL;
        }
        return cli_emit_json(obj);
    }
    if (error == NULL)
        printf("ok: %s store answers\n", store);
    else
        printf("unavailable: %s\n", error);
    return CLI_EXIT_OK;
}

int cmd_health(int argc, char **argv)
{
    cli_config cfg;
    streamy *h = NULL;
    cli_args args;
    int rc, out_rc;

    if ((rc = cli_parse(&args, &spec, argc, argv, NULL, NULL)) != CLI_CONTINUE)
        goto out;
    if ((rc = cli_config_resolve(&cfg)) != CLI_CONTINUE)
        goto out;
    rc = streamy_open(&h, cfg.db, &cfg.opts);
    if (rc == STREAMY_EINVAL) {
        rc = cli_open_error(rc, &cfg);
        goto out;
    }
    if (rc != STREAMY_OK) {
        out_rc = report(NULL, streamy_errmsg(NULL));
        rc = out_rc != CLI_EXIT_OK ? out_rc : CLI_EXIT_FAILURE;
        goto out;
    }
    rc = streamy_health(h);
    out_rc = report(streamy_store_name(h), rc == STREAMY_OK ? NULL : streamy_errmsg(h));
    rc = out_rc != CLI_EXIT_OK ? out_rc
         : rc == STREAMY_OK    ? CLI_EXIT_OK
                               : CLI_EXIT_FAILURE;
out:
    streamy_close(h);
    return rc;
}
