/* SPDX-License-Identifier: MIT */
/* check_cli.h: what the check_cli_*.c files share: running streamyctl, reading its JSON
 * lines, the test's directory and store, and each file's test case. */
#ifndef STREAMY_CHECK_CLI_H
#define STREAMY_CHECK_CLI_H

#include <check.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "test_util.h"

/* This test's own directory, the streamyctl working directory, and a store in it. */
extern char tmp[1024];
extern char db[1100];

/* What one run of streamyctl gave. */
typedef struct result {
    int status; /* exit code, or 128 + signal */
    char *out, *err;
    size_t out_len, err_len;
} result;

/* --- the fixture (check_cli.c) ---------------------------------------------------- */

/* Released by the fixture's teardown; path_in_tmp and fmt return tracked strings. */
void *track(void *p);
json_t *track_json(json_t *j);
char *path_in_tmp(const char *name);
char *fmt(const char *f, const char *a);

int64_t now_ms(void); /* wall clock */

/* A streamyctl running in the test's directory, its standard streams piped. */
typedef struct proc {
    pid_t pid;
    int in, out, err;
} proc;

void proc_start(proc *p, const char *const *env, const char *const *args);
int proc_wait(proc *p);
result run(const char *input, size_t input_len, const char *const *env,
           const char *const *args);

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})
/* streamyctl ARGS..., with no input and the test's clean environment. */
#define CLI(...) run(NULL, 0, NULL, ARGS(__VA_ARGS__))
#define CLI_ENV(env, ...) run(NULL, 0, env, ARGS(__VA_ARGS__))
#define CLI_IN(input, ...) run(input, strlen(input), NULL, ARGS(__VA_ARGS__))

/* Each check names the line of the test, as the helpers are shared. */
#define expect_exit(r, code) expect_exit_at((r), (code), __LINE__)
#define expect_failure(r, code, needle) expect_failure_at((r), (code), (needle), __LINE__)

void expect_exit_at(result r, int code, int line);
void expect_failure_at(result r, int code, const char *needle, int line);

/* --- reading the output (check_cli.c) --------------------------------------------- */

size_t count_lines(const char *s);
json_t *json_next(const char **p, size_t lineno);
json_t *json_line(const char *text, size_t i);
json_t *json_only(const result *r);
json_t *get(json_t *o, const char *key);
json_int_t jint(json_t *o, const char *key);
const char *jstr(json_t *o, const char *key);
int jbool(json_t *o, const char *key);
void jnull(json_t *o, const char *key);
void expect_keys(json_t *o, const char *const *keys);
/* A lease id as the library prints it: a UUID in lower case. Ids are random. */
#define expect_lease_id(s) expect_lease_id_at((s), __LINE__)
void expect_lease_id_at(const char *s, int line);
json_int_t count_of(const char *user);

/* --- the test cases: each adds its tests to `tc` ---------------------------------- */

void cli_case_commands(TCase *tc);     /* check_cli_commands.c */
void cli_case_settings(TCase *tc);     /* check_cli_settings.c */
void cli_case_store_errors(TCase *tc); /* check_cli_store_errors.c */
void cli_case_help(TCase *tc);         /* check_cli_help.c */
void cli_case_batch(TCase *tc);        /* check_cli_batch.c */
void cli_case_sessions(TCase *tc);     /* check_cli_sessions.c */

#endif /* STREAMY_CHECK_CLI_H */
