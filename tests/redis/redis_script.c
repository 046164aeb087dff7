/* SPDX-License-Identifier: MIT */
/* redis_script.c: print the Redis store's Lua script, for redis-benchmark to run it. */
#include <stdio.h>

const char *streamy__redis_script(void);

int main(void)
{
    return fputs(streamy__redis_script(), stdout) < 0;
}
