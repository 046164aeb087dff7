/* SPDX-License-Identifier: MIT */
/* check_core.h: the core suite's parts kept in files of their own. */
#ifndef STREAMY_CHECK_CORE_H
#define STREAMY_CHECK_CORE_H

#include <check.h>

/* Add the session cases (check_core_sessions.c): the `_ex` calls and batches over
 * version-1 and version-2 fakes. */
void core_add_session_cases(Suite *s);

#endif /* STREAMY_CHECK_CORE_H */
