/* SPDX-License-Identifier: MIT */
/* check_faults.c: faults of the SQLite store through the library and through the real
 * `streamyctl serve`: locks, a directory it cannot write, a full disk, corrupt pages,
 * foreign and newer files. Each is a clear error, writes nothing wrong, and the same
 * process serves again once the fault is gone. */
#define _GNU_SOURCE /* prlimit */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <linux/capability.h>
#include <sqlite3.h>

#include "http_util.h"
#include "test_util.h"

#define SUB "/video-streams/subscription"

static char *db_path(void)
{
    return http_path("t.db");
}

static streamy *open_store(const char *path, int busy_ms)
{
    streamy_options o;
    streamy *h = NULL;

    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    o.busy_timeout_ms = busy_ms;
    o.limit = 1000;
    ck_assert_rc(streamy_open(&h, path, &o), STREAMY_OK);
    return h;
}

static void expect_msg(const char *msg, const char *needle, const char *what)
{
    const char *at = msg != NULL ? strstr(msg, needle) : NULL;
    const char *line = at;

    ck_assert_msg(at != NULL, "%s: the message does not say \"%s\": %s", what, needle,
                  msg ? msg : "(none)");
    /* Show the one line that says it. */
    while (line > msg && line[-1] != '\n')
        line--;
    printf("faults %s: %.*s\n", what, (int)strcspn(line, "\n"), line);
    fflush(stdout);
}

static void integrity_ok(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;

    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static long long count_of(const char *path, const char *user)
{
    char *q = http_printf("SELECT count(*) FROM leases WHERE user = '%s'", user);
    return http_db_int(path, q);
}

/* --- the library ----------------------------------------------------------------- */

/* Another process holds the WAL's write and recovery locks: even reads wait, then fail
 * busy (check_sqlite covers a plain writer, under which reads go on). */
START_TEST(store_held_by_another_process)
{
    char *path = db_path();
    streamy *h = open_store(path, 200);
    http_store_lock lock;
    unsigned int n = 9;
    streamy_op ops[2] = {{STREAMY_OP_SUBSCRIBE, "u", "a", 0, {0}},
                         {STREAMY_OP_UNSUBSCRIBE, "u", "s", 0, {0}}};

    ck_assert_rc(streamy_subscribe(NULL, h, "u", "s"), STREAMY_OK);
    http_store_hold(&lock, path);
    ck_assert_rc(streamy_count(&n, h, "u"), STREAMY_EBUSY);
    expect_msg(streamy_errmsg(h), "locked", "library, store held: count");
    ck_assert_rc(streamy_health(h), STREAMY_EBUSY);
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "t"), STREAMY_EBUSY);
    ck_assert_rc(streamy_apply(h, ops, 2), STREAMY_EBUSY);
    http_store_release(&lock);
    /* The same handle, without reopening. */
    ck_assert_rc(streamy_health(h), STREAMY_OK);
    ck_assert_rc(streamy_count(&n, h, "u"), STREAMY_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "t"), STREAMY_OK);
    streamy_close(h);
    integrity_ok(path);
    ck_assert_int_eq(count_of(path, "u"), 2);
}
END_TEST

/* As another user: the file is writable, its directory is not, so SQLite cannot create
 * the -wal and -shm files. The error says so (it used to call the file "not a Streamy
 * database"), and the file is left as it was. */
START_TEST(directory_not_writable)
{
    char *path = db_path();
    streamy *h = open_store(path, 1000);
    struct stat before, after;
    pid_t pid;
    int status;

    ck_assert_rc(streamy_subscribe(NULL, h, "u", "s"), STREAMY_OK);
    streamy_close(h);
    ck_assert_int_eq(stat(path, &before), 0);
    if (geteuid() == 0)
        ck_assert_int_eq(chown(path, 65534, 65534), 0);
    ck_assert_int_eq(chmod(http_tmp(), 0555), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        streamy *x = NULL;
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(3);
        if (access(http_tmp(), W_OK) == 0)
            _exit(4); /* the test would prove nothing */
        if (streamy_open(&x, path, NULL) != STREAMY_ESTORE)
            _exit(5);
        printf("faults library, directory not writable: %s\n", streamy_errmsg(NULL));
        fflush(stdout);
        if (strstr(streamy_errmsg(NULL), "directory is not writable") == NULL ||
            strstr(streamy_errmsg(NULL), "not a Streamy database") != NULL)
            _exit(6);
        test_child_exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(chmod(http_tmp(), 0700), 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exit %d",
                  WEXITSTATUS(status));
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert_int_eq(before.st_size, after.st_size);
    ck_assert_int_eq(before.st_mtime, after.st_mtime);
    /* Once writable again, everything is there. */
    h = open_store(path, 1000);
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "t"), STREAMY_OK);
    streamy_close(h);
    ck_assert_int_eq(count_of(path, "u"), 2);
}
END_TEST

static void set_fsize(rlim_t limit)
{
    struct rlimit rl;

    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
    rl.rlim_cur = limit == RLIM_INFINITY ? rl.rlim_max : limit;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static off_t size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* In a child of the test, which Check's own files must not share the limit with. */
#define REQUIRE(cond)                                                                    \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "line %d: %s: %s\n", __LINE__, #cond, streamy_errmsg(h));    \
            _exit(1);                                                                    \
        }                                                                                \
    } while (0)

/* A full disk, as a file size limit on the process (SIGXFSZ ignored: writes past it
 * fail with EFBIG, which SQLite reports as a full disk). */
static void disk_full_child(const char *path, const char *wal)
{
    streamy *h = NULL;
    streamy_op ops[2] = {{STREAMY_OP_SUBSCRIBE, "u", "a", 0, {0}},
                         {STREAMY_OP_UNSUBSCRIBE, "u", "s0", 0, {0}}};
    streamy_options o;
    unsigned int n = 0;
    int acked = 0, rc = STREAMY_OK;
    char user[32] = "";

    signal(SIGXFSZ, SIG_IGN);
    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    REQUIRE(streamy_open(&h, path, &o) == STREAMY_OK);
    REQUIRE(streamy_subscribe(NULL, h, "u", "s0") == STREAMY_OK);

    /* No write at all gets through. */
    set_fsize(0);
    REQUIRE(streamy_subscribe(NULL, h, "u", "s1") == STREAMY_ESTORE);
    REQUIRE(strstr(streamy_errmsg(h), "disk I/O error") != NULL);
    printf("faults library, disk full: %s\n", streamy_errmsg(h));
    REQUIRE(streamy_unsubscribe(NULL, h, "u", "s0") == STREAMY_ESTORE);
    REQUIRE(streamy_set_limit(h, "u", 5) == STREAMY_ESTORE);
    REQUIRE(streamy_apply(h, ops, 2) == STREAMY_ESTORE);
    REQUIRE(streamy_count(&n, h, "u") == STREAMY_OK && n == 1); /* reads go on */
    set_fsize(RLIM_INFINITY);
    REQUIRE(streamy_subscribe(NULL, h, "u", "s1") == STREAMY_OK);

    /* The disk fills while decisions are written: some commits get through, then one
     * fails part-way through its WAL frames. */
    set_fsize((rlim_t)size_of(wal) + 24 * 1024);
    for (int i = 0; i < 20000; i++) {
        snprintf(user, sizeof(user), "fill%d", i);
        rc = streamy_subscribe(NULL, h, user, "s");
        if (rc != STREAMY_OK)
            break;
        acked++;
    }
    REQUIRE(rc == STREAMY_ESTORE && strstr(streamy_errmsg(h), "disk I/O error") != NULL);
    set_fsize(RLIM_INFINITY);
    printf("faults library, disk filling up: %d decisions committed, then: %s\n", acked,
           streamy_errmsg(h));
    REQUIRE(acked > 0);
    /* The same handle decides again. */
    REQUIRE(streamy_subscribe(NULL, h, "after", "s") == STREAMY_OK);
    streamy_close(h);
    fflush(stdout);
    /* The parent checks what is in the file. */
    test_child_exit(acked >= 250 ? 250 : acked + 2);
}

START_TEST(disk_full)
{
    char *path = db_path(), *wal = http_path("t.db-wal");
    pid_t pid = fork();
    int status, acked;

    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        disk_full_child(path, wal);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) >= 2, "the child failed: %#x",
                  status);
    acked = WEXITSTATUS(status) - 2;
    /* Every acknowledged decision is there, the failed one is not, the file is sound. */
    integrity_ok(path);
    if (acked < 248)
        ck_assert_int_eq(
            http_db_int(path, "SELECT count(*) FROM leases WHERE user LIKE 'fill%'"),
            acked);
    ck_assert_int_eq(count_of(path, http_printf("fill%d", acked)), 0);
    ck_assert_int_eq(count_of(path, "u"), 2);
    ck_assert_int_eq(count_of(path, "after"), 1);
    ck_assert_int_eq(http_db_int(path, "SELECT count(*) FROM limits"), 0);
}
END_TEST

/* Overwrite one page in the middle of a database with garbage. */
static void corrupt_a_page(const char *path)
{
    int fd = open(path, O_RDWR);
    off_t size = size_of(path);
    char junk[4096];
    off_t at;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_gt(size, 16 * 4096);
    memset(junk, 0xa5, sizeof(junk));
    at = (size / 4096 / 2) * 4096;
    ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), at), (ssize_t)sizeof(junk));
    close(fd);
}

static void fill_users(const char *path, int users)
{
    streamy *h = open_store(path, 1000);
    streamy_op ops[100];
    char names[100][16];

    for (int i = 0; i < users; i += 100) {
        for (int k = 0; k < 100; k++) {
            snprintf(names[k], sizeof(names[k]), "user%05d", i + k);
            ops[k].kind = STREAMY_OP_SUBSCRIBE;
            ops[k].user = names[k];
            ops[k].stream = "s";
        }
        ck_assert_rc(streamy_apply(h, ops, 100), STREAMY_OK);
    }
    streamy_close(h); /* checkpoints: everything is in the main file */
}

START_TEST(corrupt_page)
{
    char *path = db_path();
    streamy *h = NULL;
    int failed = 0, rc = STREAMY_OK;
    char user[32];

    fill_users(path, 3000);
    corrupt_a_page(path);
    rc = streamy_open(&h, path, NULL);
    if (rc != STREAMY_OK) {
        expect_msg(streamy_errmsg(NULL), "malformed", "library, corrupt page: open");
        return;
    }
    for (int i = 0; i < 3000 && !failed; i++) {
        snprintf(user, sizeof(user), "user%05d", i);
        rc = streamy_subscribe(NULL, h, user, "t");
        failed = rc != STREAMY_OK;
    }
    ck_assert_msg(failed, "no decision noticed the corrupt page");
    ck_assert_rc(rc, STREAMY_ESTORE);
    expect_msg(streamy_errmsg(h), "malformed", "library, corrupt page");
    streamy_close(h);
}
END_TEST

/* --- the server -------------------------------------------------------------------- */

static http_response *subscribe(http_server *s, const char *user, const char *stream)
{
    return http_request(
        s, "POST", SUB,
        http_printf("{\"userId\":\"%s\",\"videoStreamId\":\"%s\"}", user, stream), NULL);
}

static void expect_503(const http_response *r)
{
    http_expect(r, 503);
    ck_assert_ptr_nonnull(http_header(r, "Retry-After"));
}

/* A writer in another process, past --busy-timeout: decisions are 503 with Retry-After,
 * reads go on, and once it commits the server decides again. */
START_TEST(serve_writer_held)
{
    static const char *const args[] = {"--busy-timeout", "200ms", NULL};
    http_server s;
    sqlite3 *other;
    char *err = NULL;

    http_server_start(&s, args);
    http_expect(subscribe(&s, "u", "keep"), 200);
    ck_assert_int_eq(sqlite3_open(s.db, &other), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, &err), SQLITE_OK);
    expect_503(subscribe(&s, "u", "new"));
    expect_503(http_request(&s, "DELETE", SUB,
                            "{\"userId\":\"u\",\"videoStreamId\":\"keep\"}", NULL));
    http_expect(http_request(&s, "GET", "/users/u/video-streams", NULL, NULL), 200);
    http_expect(http_request(&s, "GET", "/health", NULL, NULL), 200);
    expect_msg(http_server_log(&s), "database is locked", "serve, writer held: log");
    ck_assert_int_eq(sqlite3_exec(other, "COMMIT", NULL, NULL, &err), SQLITE_OK);
    sqlite3_close(other);
    http_expect(subscribe(&s, "u", "new"), 200);
    ck_assert_int_eq(http_server_stop(&s), 0);
    ck_assert_int_eq(count_of(s.db, "u"), 2);
}
END_TEST

static void set_server_fsize(const http_server *s, rlim_t limit)
{
    struct rlimit rl;

    ck_assert_int_eq(prlimit(s->pid, RLIMIT_FSIZE, NULL, &rl), 0);
    rl.rlim_cur = limit == RLIM_INFINITY ? rl.rlim_max : limit;
    ck_assert_int_eq(prlimit(s->pid, RLIMIT_FSIZE, &rl, NULL), 0);
}

/* The server's disk fills up (a file size limit set on the running server, with SIGXFSZ
 * ignored as it inherits it from here): decisions are 503, nothing is recorded, reads go
 * on, and once there is room the same process decides again. */
START_TEST(serve_disk_full)
{
    static const char *const args[] = {"--access-log", "off", NULL};
    http_server s;
    http_response *r;
    char *wal;

    signal(SIGXFSZ, SIG_IGN);
    http_server_start(&s, args);
    http_expect(subscribe(&s, "u", "keep"), 200);
    /* Grow the WAL past the log file, then let nothing more be appended to it (the
     * log, much smaller, still takes its lines). */
    wal = http_printf("%s-wal", s.db);
    for (int i = 0; size_of(wal) < (1 << 20); i++) {
        ck_assert_int_lt(i, 5000);
        http_expect(subscribe(&s, http_printf("grow%d", i), "s"), 200);
    }
    ck_assert_int_lt(size_of(s.log), size_of(wal) / 2);
    set_server_fsize(&s, (rlim_t)size_of(wal));
    r = subscribe(&s, "u", "new");
    expect_503(r);
    ck_assert_str_eq(r->body,
                     "{\"status\":503,\"error\":\"store unavailable, retry later\"}");
    expect_503(http_request(&s, "DELETE", SUB,
                            "{\"userId\":\"u\",\"videoStreamId\":\"keep\"}", NULL));
    expect_503(http_request(&s, "PUT", "/users/u/limit", "{\"limit\":9}", NULL));
    http_expect(http_request(&s, "GET", "/users/u/video-streams", NULL, NULL), 200);
    http_expect(http_request(&s, "GET", "/health", NULL, NULL), 200);
    set_server_fsize(&s, RLIM_INFINITY);
    expect_msg(http_server_log(&s), "disk I/O error", "serve, disk full: log");
    http_expect(subscribe(&s, "u", "new"), 200);
    ck_assert_int_eq(http_server_stop(&s), 0);
    integrity_ok(s.db);
    ck_assert_int_eq(count_of(s.db, "u"), 2);
    ck_assert_int_eq(http_db_int(s.db, "SELECT count(*) FROM limits"), 0);
}
END_TEST

/* A corrupt page under a running server: 503, the log names it, and the server runs on.
 */
START_TEST(serve_corrupt_page)
{
    http_server s;
    int failed = 0;

    fill_users(db_path(), 3000);
    corrupt_a_page(db_path());
    if (http_server_try_start(&s, (const char *const[]){"--db", db_path(), "serve",
                                                        "--listen", "127.0.0.1:0",
                                                        NULL}) != 0) {
        expect_msg(http_server_log(&s), "malformed", "serve, corrupt page: start");
        return;
    }
    for (int i = 0; i < 3000 && !failed; i += 7) {
        http_response *r = subscribe(&s, http_printf("user%05d", i), "t");
        ck_assert_msg(r->status == 200 || r->status == 503, "user%05d: %ld", i,
                      r->status);
        failed = r->status == 503;
    }
    ck_assert_msg(failed, "no decision noticed the corrupt page");
    expect_msg(http_server_log(&s), "malformed", "serve, corrupt page: log");
    http_expect(http_request(&s, "GET", "/metrics", NULL, NULL), 200);
    ck_assert_int_eq(http_server_stop(&s), 0);
}
END_TEST

/* Root writes any file: as root, this process and every program it starts from now on
 * lose the capabilities that let them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), and so
 * meet a mode-0400 file as its owner does. Root stays root, so the server it starts is
 * still reached wherever the build lies (a clone under /root, mode 0700, included);
 * changing user instead would leave it outside. */
static void drop_root_write_override(void)
{
    static const int caps[] = {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH};
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];

    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
        ck_assert_msg(prctl(PR_CAPBSET_DROP, caps[i], 0, 0, 0) == 0,
                      "cannot drop capability %d from the bounding set: %s", caps[i],
                      strerror(errno));
    ck_assert_int_eq(syscall(SYS_capget, &hdr, data), 0);
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        unsigned int bit = 1u << (caps[i] % 32);
        data[caps[i] / 32].effective &= ~bit;
        data[caps[i] / 32].permitted &= ~bit;
        data[caps[i] / 32].inheritable &= ~bit;
    }
    ck_assert_msg(syscall(SYS_capset, &hdr, data) == 0, "capset: %s", strerror(errno));
}

/* A file the server may not write (mode 0400; root without its override): it starts,
 * reads go on, and each decision is a 503 whose log line says the database is read-only.
 * The connection stays read-only once the file is writable again: a restart is needed
 * then (see docs/RELIABILITY.md), and the restarted server writes (the -shm file the
 * read-only one left with the read-only mode used to keep it read-only too). */
START_TEST(serve_read_only_file)
{
    char *path = db_path();
    streamy *h = open_store(path, 1000);
    http_server s;
    http_response *r;

    ck_assert_rc(streamy_subscribe(NULL, h, "u", "keep"), STREAMY_OK);
    streamy_close(h);
    ck_assert_int_eq(chmod(path, 0400), 0);
    if (geteuid() == 0)
        drop_root_write_override();
    /* access() asks with the real ids, which is what the server has: an open() is
     * the question asked as it will be. */
    ck_assert_int_eq(open(path, O_RDWR), -1);
    ck_assert_int_eq(errno, EACCES);
    http_server_start(&s, NULL);
    r = subscribe(&s, "u", "new");
    expect_503(r);
    http_expect(http_request(&s, "GET", "/users/u/video-streams", NULL, NULL), 200);
    expect_msg(http_server_log(&s), "read-only", "serve, read-only file: log");
    ck_assert_int_eq(chmod(path, 0600), 0);
    r = subscribe(&s, "u", "new");
    printf(
        "faults serve, read-only file made writable again: HTTP %ld without a restart\n",
        r->status);
    ck_assert_int_eq(http_server_stop(&s), 0);
    /* Restarted, it writes: the -shm file the read-only run left is writable again. */
    http_server_start(&s, NULL);
    http_expect(subscribe(&s, "u", "new"), 200);
    ck_assert_int_eq(http_server_stop(&s), 0);
    ck_assert_int_eq(count_of(path, "u"), 2);
}
END_TEST

/* Files the server must not take: it refuses to start, says why, leaves them be. */
START_TEST(serve_refuses_foreign_and_newer_files)
{
    static const char text[] = "a shopping list, not a database\n";
    const char *args[] = {"--db", NULL, "serve", "--listen", "127.0.0.1:0", NULL};
    char *path = db_path();
    http_server s;
    streamy *h;
    int fd;

    fd = open(path, O_CREAT | O_WRONLY, 0600);
    ck_assert_int_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(fd);
    args[1] = path;
    ck_assert_int_eq(http_server_try_start(&s, args), 1);
    expect_msg(http_server_log(&s), "not a Streamy database", "serve, foreign file");
    ck_assert_int_eq(size_of(path), (off_t)sizeof(text) - 1);

    unlink(path);
    h = open_store(path, 1000);
    ck_assert_rc(streamy_subscribe(NULL, h, "u", "s"), STREAMY_OK);
    streamy_close(h);
    ck_assert_int_eq(http_db_int(path, "PRAGMA user_version = 7"), -1);
    ck_assert_int_eq(http_server_try_start(&s, args), 1);
    expect_msg(http_server_log(&s), "newer", "serve, newer schema");
    ck_assert_int_eq(http_db_int(path, "PRAGMA user_version"), 7);
    ck_assert_int_eq(count_of(path, "u"), 1);
}
END_TEST

int main(int argc, char **argv)
{
    Suite *s = suite_create("faults");
    TCase *tc;
    int rc;

    if (argc < 2 || http_init(argv[1]) != 0) {
        fprintf(stderr, "usage: %s PATH-TO-STREAMYCTL\n", argv[0]);
        return 2;
    }

#define TCASE(name)                                                                      \
    tc = test_add_case(s, name, http_setup, http_teardown, test_timeout_scale(60))

    TCASE("library");
    tcase_add_test(tc, store_held_by_another_process);
    tcase_add_test(tc, directory_not_writable);
    tcase_add_test(tc, disk_full);
    tcase_add_test(tc, corrupt_page);
    TCASE("serve");
    tcase_add_test(tc, serve_writer_held);
    tcase_add_test(tc, serve_disk_full);
    tcase_add_test(tc, serve_corrupt_page);
    tcase_add_test(tc, serve_read_only_file);
    tcase_add_test(tc, serve_refuses_foreign_and_newer_files);
#undef TCASE
    rc = test_run_suite(s);
    curl_global_cleanup();
    return rc;
}
