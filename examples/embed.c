/* SPDX-License-Identifier: MIT */
/* embed.c: the smallest embedding of libstreamy: with a limit of 3, the fourth stream is
 * refused.
 *
 * Build by hand against an installed libstreamy:
 *   cc embed.c $(pkg-config --cflags --libs streamy) -o embed
 *   ./embed [STORE-URI]        (default: sqlite:streamy-example.db)
 */
#include <stdio.h>
#include <streamy.h>

int main(int argc, char **argv)
{
    const char *uri = argc > 1 ? argv[1] : "sqlite:streamy-example.db";
    const char *streams[] = {"movie-1", "movie-2", "movie-3", "movie-4"};
    streamy_options opts = STREAMY_OPTIONS_INIT;
    streamy_decision d;
    streamy *h;
    int rc, i, refused = 0;

    opts.limit = 3;
    if ((rc = streamy_open(&h, uri, &opts)) != STREAMY_OK) {
        fprintf(stderr, "embed: cannot open %s: %s\n", uri, streamy_errmsg(NULL));
        return 1;
    }
    printf("libstreamy %s, store %s, limit %u\n", streamy_version(),
           streamy_store_name(h), opts.limit);
    for (i = 0; i < 4; i++) {
        rc = streamy_subscribe(&d, h, "user-42", streams[i]);
        if (rc == STREAMY_OK)
            printf("subscribe %s: allowed (%u of %u active)\n", streams[i], d.active,
                   d.limit);
        else if (rc == STREAMY_LIMIT_REACHED) {
            printf("subscribe %s: refused, limit reached (%u of %u active)\n", streams[i],
                   d.active, d.limit);
            refused++;
        } else
            fprintf(stderr, "embed: subscribe: %s\n", streamy_errmsg(h));
    }
    /* Leave the store as we found it, so the example can run again. */
    for (i = 0; i < 4; i++)
        streamy_unsubscribe(NULL, h, "user-42", streams[i]);
    streamy_close(h);
    return refused == 1 ? 0 : 1;
}
