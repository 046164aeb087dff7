/* SPDX-License-Identifier: MIT */
/* fuzz.h: what the libFuzzer targets share. */
#ifndef STREAMY_FUZZ_H
#define STREAMY_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

/* Abort, naming the check that failed, when `cond` is false: libFuzzer then keeps the
 * input. Each target defines FUZZ_WHERE() before it includes this file: it prints to
 * stderr where the target was (its name, and for a sequence the step). */
#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            FUZZ_WHERE();                                                                \
            fprintf(stderr, "%s: ", #cond);                                              \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
            abort();                                                                     \
        }                                                                                \
    } while (0)

#endif /* STREAMY_FUZZ_H */
