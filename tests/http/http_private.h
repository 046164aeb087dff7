/* SPDX-License-Identifier: MIT */
/* http_private.h: what the http_*.c files of the test library share and the tests do
 * not see. */
#ifndef STREAMY_HTTP_PRIVATE_H
#define STREAMY_HTTP_PRIVATE_H

#include <sys/types.h>

#include <jansson.h>

#include "http_util.h"

/* http_fixture.c: a child process of the test, ended by http_teardown unless
 * http__child_done says it has been waited for; its exit status as an exit code
 * (128 + signal when killed); a JSON document released by http_teardown; the number
 * of the next server of the test (1 for the first), naming its log. */
pid_t http__fork_child(void);
void http__child_done(pid_t pid);
int http__exit_code(int status);
json_t *http__track_json(json_t *j);
int http__next_server(void);

/* http_openapi.c: check an answer against the spec and record (operation, template,
 * status). */
void http__check_and_record(const http_response *r);

#endif /* STREAMY_HTTP_PRIVATE_H */
