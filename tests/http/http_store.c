/* SPDX-License-Identifier: MIT */
/* http_store.c: a child process that holds the SQLite store's WAL locks, and queries of
 * the store on a connection of its own. */
#include "http_util.h"
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "http_private.h"

/* --- the store -------------------------------------------------------------------- */

/* The WAL locks are bytes of the -shm file: 120 + (0 write, 1 checkpoint, 2 recover, 3-7
 * read marks). The wal-index header is kept twice, at 0 and 48, 48 bytes each; readers
 * trust it only while both copies agree. */
#define SHM_WRITE_LOCK 120
#define SHM_RECOVER_LOCK 122
#define SHM_HEADER_COPY2_LAST 95

static int shm_lock(int fd, off_t at, short type)
{
    struct flock f;

    memset(&f, 0, sizeof(f));
    f.l_type = type;
    f.l_whence = SEEK_SET;
    f.l_start = at;
    f.l_len = 1;
    return fcntl(fd, F_SETLK, &f);
}

void http_store_hold(http_store_lock *l, const char *db)
{
    int ready[2], ctl[2];
    char c = 0;
    struct pollfd p;

    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(ctl), 0);
    l->pid = http__fork_child();
    if (l->pid == 0) {
        char shm[1100];
        unsigned char orig, flipped;
        int64_t deadline = http_mono_ms() + http_scaled_ms(10000);
        int fd;

        close(ready[0]);
        close(ctl[1]);
        snprintf(shm, sizeof(shm), "%s-shm", db);
        if ((fd = open(shm, O_RDWR)) < 0)
            _exit(3);
        /* The server may be inside a transaction: wait for the write lock. */
        while (shm_lock(fd, SHM_WRITE_LOCK, F_WRLCK) != 0 ||
               shm_lock(fd, SHM_RECOVER_LOCK, F_WRLCK) != 0) {
            shm_lock(fd, SHM_WRITE_LOCK, F_UNLCK);
            if (http_mono_ms() > deadline)
                _exit(4);
            test_sleep_ms(2);
        }
        if (pread(fd, &orig, 1, SHM_HEADER_COPY2_LAST) != 1)
            _exit(5);
        flipped = orig ^ 0xff;
        if (pwrite(fd, &flipped, 1, SHM_HEADER_COPY2_LAST) != 1)
            _exit(6);
        if (write(ready[1], "L", 1) != 1)
            _exit(7);
        while (read(ctl[0], &c, 1) < 0 && errno == EINTR) {
        }
        if (pwrite(fd, &orig, 1, SHM_HEADER_COPY2_LAST) != 1)
            _exit(8);
        _exit(0); /* closing the file drops the locks */
    }
    close(ready[1]);
    close(ctl[0]);
    l->ctl = ctl[1];
    p.fd = ready[0];
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, http_scaled_ms(15000)) != 1 || read(ready[0], &c, 1) != 1 ||
        c != 'L') {
        int status = 0;
        kill(l->pid, SIGKILL);
        waitpid(l->pid, &status, 0);
        http__child_done(l->pid);
        ck_abort_msg("could not lock the store %s (helper exit %d)", db,
                     http__exit_code(status));
    }
    close(ready[0]);
}

void http_store_release(http_store_lock *l)
{
    int status;

    ck_assert_int_eq(write(l->ctl, "U", 1), 1);
    close(l->ctl);
    while (waitpid(l->pid, &status, 0) < 0)
        ck_assert_int_eq(errno, EINTR);
    http__child_done(l->pid);
    ck_assert_msg(http__exit_code(status) == 0, "the store lock helper exited %d",
                  http__exit_code(status));
}

long long http_db_int(const char *db, const char *sql)
{
    sqlite3 *conn = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;
    int rc;

    rc = sqlite3_open_v2(db, &conn, SQLITE_OPEN_READWRITE, NULL);
    ck_assert_msg(rc == SQLITE_OK, "open %s: %s", db, sqlite3_errmsg(conn));
    sqlite3_busy_timeout(conn, http_scaled_ms(10000));
    rc = sqlite3_prepare_v2(conn, sql, -1, &st, NULL);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(conn));
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        ck_assert_msg(rc == SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(conn));
    sqlite3_finalize(st);
    sqlite3_close(conn);
    return v;
}
