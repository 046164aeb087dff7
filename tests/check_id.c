/* SPDX-License-Identifier: MIT */
/* check_id.c: identifier validation and UUID canonicalisation. */
#include <ctype.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "test_util.h"

#include <streamy/store.h>

static const struct {
    const char *id;
    const char *canonical; /* NULL: refused */
    const char *why;       /* words the message must hold */
} cases[] = {
    {"alice", "alice", NULL},
    {"Alice", "Alice", NULL}, /* not a UUID: case is kept */
    {"a b", "a b", NULL},     /* spaces are fine */
    {"\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9", NULL},
    {"\xf0\x9f\x8e\xac", "\xf0\x9f\x8e\xac", NULL},
    {"\xef\xbf\xbf", "\xef\xbf\xbf", NULL}, /* U+FFFF is a valid scalar */
    {"\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf", NULL},
    {"123E4567-E89B-12D3-A456-426614174000", "123e4567-e89b-12d3-a456-426614174000",
     NULL},
    {"123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000",
     NULL},
    {"123e4567-e89b-12d3-a456-42661417400", "123e4567-e89b-12d3-a456-42661417400", NULL},
    {"123e4567-e89b-12d3-a456-42661417400g", "123e4567-e89b-12d3-a456-42661417400g",
     NULL},
    {"{123e4567-e89b-12d3-a456-426614174000}", "{123e4567-e89b-12d3-a456-426614174000}",
     NULL},
    {"", NULL, "empty"},
    {"a\x01", NULL, "control character (byte 2)"},
    {"\x1f", NULL, "control character (byte 1)"},
    {"x\x7f", NULL, "control character"},
    {"a\nb", NULL, "control character"},
    {"\x80", NULL, "not valid UTF-8 (byte 1)"},
    {"ab\xc3", NULL, "not valid UTF-8 (byte 3)"},
    {"\xc1\xbf", NULL, "UTF-8"},         /* overlong */
    {"\xe0\x80\xaf", NULL, "UTF-8"},     /* overlong */
    {"\xf0\x80\x80\xaf", NULL, "UTF-8"}, /* overlong */
    {"\xed\xbf\xbf", NULL, "UTF-8"},     /* surrogate */
    {"\xf5\x80\x80\x80", NULL, "UTF-8"}, /* past U+10FFFF */
    {"\xe2\x82", NULL, "UTF-8"},         /* truncated */
    {"\xe2\x28\xa1", NULL, "UTF-8"},     /* bad continuation */
    {"\xfe", NULL, "UTF-8"},
};

START_TEST(table)
{
    char out[STREAMY_ID_MAX + 1];
    int rc = streamy_normalize_id(out, sizeof(out), NULL, "user", cases[_i].id);

    if (cases[_i].canonical != NULL) {
        ck_assert_msg(rc == STREAMY_OK, "case %d refused: %s", _i, streamy_errmsg(NULL));
        ck_assert_str_eq(out, cases[_i].canonical);
    } else {
        ck_assert_msg(rc == STREAMY_EINVAL, "case %d accepted", _i);
        ck_assert_msg(strstr(streamy_errmsg(NULL), "user id") != NULL, "%s",
                      streamy_errmsg(NULL));
        ck_assert_msg(strstr(streamy_errmsg(NULL), cases[_i].why) != NULL, "case %d: %s",
                      _i, streamy_errmsg(NULL));
    }
}
END_TEST

/* The canonical form is exactly libuuid's, for every UUID written in any case. */
START_TEST(canonical_form_is_libuuids)
{
    char in[37], out[STREAMY_ID_MAX + 1], want[37];
    unsigned seed = 7;
    uuid_t u;

    for (int n = 0; n < 2000; n++) {
        uuid_generate(u);
        uuid_unparse_upper(u, in);
        for (int i = 0; i < 36; i++) { /* mix the cases */
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 16) & 1)
                in[i] = (char)tolower((unsigned char)in[i]);
        }
        uuid_unparse_lower(u, want);
        ck_assert_rc(streamy_normalize_id(out, sizeof(out), NULL, "user", in),
                     STREAMY_OK);
        ck_assert_str_eq(out, want);
    }
}
END_TEST

/* Near-UUIDs: the library takes as a UUID exactly what uuid_parse takes. */
START_TEST(uuid_shape_is_libuuids)
{
    static const char alphabet[] = "0123456789abcdefABCDEFgGzZ-_{} .:x";
    char in[40], out[STREAMY_ID_MAX + 1], want[40];
    unsigned seed = 99;
    long accepted = 0;
    uuid_t u;

    for (int n = 0; n < 50000; n++) {
        size_t len = 36;
        uuid_generate(u);
        uuid_unparse(u, in);
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 16) % 10 == 0) /* a length off by one */
            len = (seed >> 20) & 1 ? 35 : 37;
        in[35] = len == 35 ? '\0' : in[35];
        if (len == 37) {
            in[36] = 'a';
            in[37] = '\0';
        }
        for (int k = (int)((seed >> 8) % 3); k > 0; k--) { /* up to two changed bytes */
            seed = seed * 1103515245u + 12345u;
            in[(seed >> 16) % (len < 36 ? len : 36)] =
                alphabet[(seed >> 4) % (sizeof(alphabet) - 1)];
        }
        ck_assert_rc(streamy_normalize_id(out, sizeof(out), NULL, "user", in),
                     STREAMY_OK);
        if (uuid_parse(in, u) == 0) {
            uuid_unparse_lower(u, want);
            ck_assert_str_eq(out, want);
            accepted++;
        } else {
            ck_assert_str_eq(out, in); /* not a UUID: kept as it is */
        }
    }
    ck_assert_int_gt(accepted, 5000);
    ck_assert_int_lt(accepted, 45000);
}
END_TEST

START_TEST(length_limits)
{
    char id[STREAMY_ID_MAX + 2], out[STREAMY_ID_MAX + 1];

    memset(id, 'x', sizeof(id));
    id[STREAMY_ID_MAX] = '\0';
    ck_assert_rc(streamy_normalize_id(out, sizeof(out), NULL, "stream", id), STREAMY_OK);
    ck_assert_str_eq(out, id);
    id[STREAMY_ID_MAX] = 'x';
    id[STREAMY_ID_MAX + 1] = '\0';
    ck_assert_rc(streamy_normalize_id(out, sizeof(out), NULL, "stream", id),
                 STREAMY_EINVAL);
    ck_assert_ptr_nonnull(
        strstr(streamy_errmsg(NULL), "stream id is longer than 128 bytes"));
    /* A multi-byte character straddling the limit counts in bytes. */
    memset(id, 'x', sizeof(id));
    memcpy(id + STREAMY_ID_MAX - 1, "\xc3\xa9", 3);
    ck_assert_rc(streamy_normalize_id(out, sizeof(out), NULL, "stream", id),
                 STREAMY_EINVAL);
    ck_assert_rc(streamy_normalize_id(out, 3, NULL, "stream", "abc"), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "too small"));
    ck_assert_rc(streamy_normalize_id(out, 4, NULL, "stream", "abc"), STREAMY_OK);
    ck_assert_rc(streamy_normalize_id(NULL, 4, NULL, "stream", "abc"), STREAMY_EINVAL);
    ck_assert_rc(streamy_normalize_id(out, 4, NULL, "stream", NULL), STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(NULL), "missing"));
}
END_TEST

START_TEST(require_uuid_follows_the_handle)
{
    streamy_options o;
    streamy *h;
    char out[STREAMY_ID_MAX + 1];

    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    o.require_uuid = 1;
    ck_assert_rc(streamy_open(&h, "memory:", &o), STREAMY_OK);
    ck_assert_rc(streamy_normalize_id(out, sizeof(out), h, "user", "alice"),
                 STREAMY_EINVAL);
    ck_assert_ptr_nonnull(strstr(streamy_errmsg(h), "not a UUID"));
    ck_assert_rc(streamy_normalize_id(out, sizeof(out), h, "user",
                                      "123E4567-E89B-12D3-A456-426614174000"),
                 STREAMY_OK);
    ck_assert_str_eq(out, "123e4567-e89b-12d3-a456-426614174000");
    ck_assert_rc(streamy_normalize_id(out, sizeof(out), NULL, "user", "alice"),
                 STREAMY_OK);
    streamy_close(h);
}
END_TEST

/* A lease id is a random (version 4, RFC 4122 variant) UUID in lower case, as libuuid
 * parses and prints it. */
START_TEST(lease_ids_are_random_uuids)
{
    char id[STREAMY_LEASE_ID_LEN + 1], back[STREAMY_LEASE_ID_LEN + 1];
    uuid_t u;

    for (int i = 0; i < 1000; i++) {
        ck_assert_rc(streamy_lease_id_generate(id), STREAMY_OK);
        ck_assert_uint_eq(strlen(id), STREAMY_LEASE_ID_LEN);
        ck_assert_int_eq(uuid_parse(id, u), 0);
        ck_assert_int_eq(uuid_type(u), UUID_TYPE_DCE_RANDOM);
        ck_assert_int_eq(uuid_variant(u), UUID_VARIANT_DCE);
        uuid_unparse_lower(u, back);
        ck_assert_str_eq(back, id);
    }
    ck_assert_rc(streamy_lease_id_generate(NULL), STREAMY_EINVAL);
}
END_TEST

#define FORK_IDS 300

static ssize_t read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n <= 0)
            return n;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static int by_string(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Ids are never handed out twice: not by threads, and not by a parent and the children
 * it forked after drawing its random bytes (each child starts from the parent's state,
 * which must not give the parent's next ids). */
START_TEST(lease_ids_are_unique_across_fork)
{
    enum { CHILDREN = 8 };
    static char ids[(CHILDREN + 1) * FORK_IDS][STREAMY_LEASE_ID_LEN + 1];
    int fds[CHILDREN][2];
    pid_t pids[CHILDREN];
    size_t n = 0;

    /* The parent's block is partly used before each fork. */
    ck_assert_rc(streamy_lease_id_generate(ids[n++]), STREAMY_OK);
    for (int c = 0; c < CHILDREN; c++) {
        ck_assert_int_eq(pipe(fds[c]), 0);
        pids[c] = fork();
        ck_assert_int_ge(pids[c], 0);
        if (pids[c] == 0) {
            char id[STREAMY_LEASE_ID_LEN + 1];
            close(fds[c][0]);
            for (int i = 0; i < FORK_IDS; i++) {
                if (streamy_lease_id_generate(id) != STREAMY_OK ||
                    write(fds[c][1], id, sizeof(id)) != (ssize_t)sizeof(id))
                    _exit(1);
            }
            _exit(0);
        }
        close(fds[c][1]);
    }
    for (int i = 1; i < FORK_IDS; i++)
        ck_assert_rc(streamy_lease_id_generate(ids[n++]), STREAMY_OK);
    for (int c = 0; c < CHILDREN; c++) {
        int status;
        for (int i = 0; i < FORK_IDS; i++)
            ck_assert_int_eq(read_full(fds[c][0], ids[n++], sizeof(ids[0])),
                             (ssize_t)sizeof(ids[0]));
        close(fds[c][0]);
        ck_assert_int_eq(waitpid(pids[c], &status, 0), pids[c]);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    qsort(ids, n, sizeof(ids[0]), by_string);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(strcmp(ids[i - 1], ids[i]) != 0, "lease id %s handed out twice",
                      ids[i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("id");
    TCase *tc = tcase_create("id");

    tcase_add_loop_test(tc, table, 0, (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, canonical_form_is_libuuids);
    tcase_add_test(tc, uuid_shape_is_libuuids);
    tcase_add_test(tc, length_limits);
    tcase_add_test(tc, require_uuid_follows_the_handle);
    tcase_add_test(tc, lease_ids_are_random_uuids);
    tcase_add_test(tc, lease_ids_are_unique_across_fork);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
