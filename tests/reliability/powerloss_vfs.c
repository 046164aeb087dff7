/* SPDX-License-Identifier: MIT */
/* powerloss_vfs.c: an SQLite VFS shim that keeps what was fsync'ed apart, to rebuild the
 * files as a power loss would leave them. */
#include "powerloss_vfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_MAX_ 64
#define MAX_FILES 8
#define SECTOR 512

/* One entry of the log: what the writer was about to do. */
typedef struct pl_record {
    char kind; /* W write, T truncate, S synced, D deleted durably, X deleted, not durably
                */
    char name[NAME_MAX_];
    int64_t off, len;
} pl_record;

typedef struct pl_pending {
    char name[NAME_MAX_];
    int64_t *ranges; /* off, len pairs written since the last sync */
    size_t n, cap;
} pl_pending;

typedef struct pl_file {
    sqlite3_file base;
    int tracked;
    char name[NAME_MAX_];
    sqlite3_file *real; /* follows this struct */
} pl_file;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs pl_vfs;
static char real_root[1024], durable_root[1024];
static int log_fd = -1;
static long ops_left; /* writes, truncates and syncs until the power fails; 0: never */
static pl_pending pending[MAX_FILES];

static void log_record(char kind, const char *name, int64_t off, int64_t len)
{
    pl_record r;

    /* The power fails just before this write, truncate or sync. */
    if (ops_left > 0 && --ops_left == 0 && kind != 'S')
        kill(getpid(), SIGKILL);

    memset(&r, 0, sizeof(r));
    r.kind = kind;
    snprintf(r.name, sizeof(r.name), "%s", name);
    r.off = off;
    r.len = len;
    /* A short write here would lose what the parent must know: stop at once. */
    if (write(log_fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
        abort();
}

static pl_pending *pending_of(const char *name)
{
    for (int i = 0; i < MAX_FILES; i++)
        if (strcmp(pending[i].name, name) == 0)
            return &pending[i];
    for (int i = 0; i < MAX_FILES; i++) {
        if (pending[i].name[0] == '\0') {
            snprintf(pending[i].name, sizeof(pending[i].name), "%s", name);
            return &pending[i];
        }
    }
    abort();
}

static void pending_add(pl_pending *p, int64_t off, int64_t len)
{
    if (p->n + 2 > p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        int64_t *r = realloc(p->ranges, cap * sizeof(*r));
        if (r == NULL)
            abort();
        p->ranges = r;
        p->cap = cap;
    }
    p->ranges[p->n++] = off;
    p->ranges[p->n++] = len;
}

static void durable_path(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", durable_root, name);
}

/* --- the file methods: pass through, noting writes and applying them at a sync -------
 */

static int pl_close(sqlite3_file *f)
{
    pl_file *p = (pl_file *)f;
    int rc = p->real->pMethods->xClose(p->real);
    return rc;
}

static int pl_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    pl_file *p = (pl_file *)f;
    return p->real->pMethods->xRead(p->real, buf, amt, off);
}

static int pl_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    pl_file *p = (pl_file *)f;

    if (p->tracked) {
        log_record('W', p->name, off, amt);
        pending_add(pending_of(p->name), off, amt);
    }
    return p->real->pMethods->xWrite(p->real, buf, amt, off);
}

static int pl_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    pl_file *p = (pl_file *)f;

    if (p->tracked)
        log_record('T', p->name, size, 0);
    return p->real->pMethods->xTruncate(p->real, size);
}

/* The sync: what was written since the last one reaches the durable copy. The real
 * fsync is skipped: only the durable copy models the disk. */
static int pl_sync(sqlite3_file *f, int flags)
{
    pl_file *p = (pl_file *)f;
    pl_pending *pp;
    sqlite3_int64 size = 0;
    char path[2200];
    char *buf = NULL;
    int fd, rc;
    (void)flags;

    if (!p->tracked)
        return p->real->pMethods->xSync(p->real, flags);
    if (ops_left > 0 && --ops_left == 0)
        kill(getpid(), SIGKILL);
    if ((rc = p->real->pMethods->xFileSize(p->real, &size)) != SQLITE_OK)
        return rc;
    durable_path(path, sizeof(path), p->name);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) < 0)
        return SQLITE_IOERR_FSYNC;
    pp = pending_of(p->name);
    for (size_t i = 0; i < pp->n; i += 2) {
        int64_t off = pp->ranges[i], len = pp->ranges[i + 1];
        if (off >= size)
            continue;
        if (off + len > size)
            len = size - off;
        buf = realloc(buf, (size_t)len);
        if (buf == NULL)
            abort();
        rc = p->real->pMethods->xRead(p->real, buf, (int)len, off);
        if (rc != SQLITE_OK || pwrite(fd, buf, (size_t)len, off) != (ssize_t)len) {
            free(buf);
            close(fd);
            return SQLITE_IOERR_FSYNC;
        }
    }
    free(buf);
    if (ftruncate(fd, size) != 0) {
        close(fd);
        return SQLITE_IOERR_FSYNC;
    }
    close(fd);
    pp->n = 0;
    log_record('S', p->name, 0, 0);
    return SQLITE_OK;
}

static int pl_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    pl_file *p = (pl_file *)f;
    return p->real->pMethods->xFileSize(p->real, size);
}

static int pl_lock(sqlite3_file *f, int level)
{
    pl_file *p = (pl_file *)f;
    return p->real->pMethods->xLock(p->real, level);
}

static int pl_unlock(sqlite3_file *f, int level)
{
    pl_file *p = (pl_file *)f;
    return p->real->pMethods->xUnlock(p->real, level);
}

static int pl_check_reserved(sqlite3_file *f, int *out)
{
    pl_file *p = (pl_file *)f;
    return p->real->pMethods->xCheckReservedLock(p->real, out);
}

static int pl_file_control(sqlite3_file *f, int op, void *arg)
{
    pl_file *p = (pl_file *)f;
    return p->real->pMethods->xFileControl(p->real, op, arg);
}

static int pl_sector_size(sqlite3_file *f)
{
    pl_file *p = (pl_file *)f;
    return p->real->pMethods->xSectorSize(p->real);
}

static int pl_device_characteristics(sqlite3_file *f)
{
    pl_file *p = (pl_file *)f;
    return p->real->pMethods->xDeviceCharacteristics(p->real);
}

static int pl_shm_map(sqlite3_file *f, int region, int size, int extend,
                      void volatile **out)
{
    pl_file *p = (pl_file *)f;
    return p->real->pMethods->xShmMap(p->real, region, size, extend, out);
}

static int pl_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    pl_file *p = (pl_file *)f;
    return p->real->pMethods->xShmLock(p->real, offset, n, flags);
}

static void pl_shm_barrier(sqlite3_file *f)
{
    pl_file *p = (pl_file *)f;
    p->real->pMethods->xShmBarrier(p->real);
}

static int pl_shm_unmap(sqlite3_file *f, int del)
{
    pl_file *p = (pl_file *)f;
    return p->real->pMethods->xShmUnmap(p->real, del);
}

static const sqlite3_io_methods pl_methods = {
    2, /* no xFetch: memory-mapped reads stay off */
    pl_close,
    pl_read,
    pl_write,
    pl_truncate,
    pl_sync,
    pl_file_size,
    pl_lock,
    pl_unlock,
    pl_check_reserved,
    pl_file_control,
    pl_sector_size,
    pl_device_characteristics,
    pl_shm_map,
    pl_shm_lock,
    pl_shm_barrier,
    pl_shm_unmap,
    NULL,
    NULL,
};

/* --- the VFS -------------------------------------------------------------------------
 */

/* The files under the real directory whose contents last: the database, its WAL and
 * its rollback journal (the -shm index is rebuilt after a crash). */
static int tracked_name(char *name, size_t size, const char *path, int flags)
{
    size_t n = strlen(real_root);

    if (path == NULL || strncmp(path, real_root, n) != 0 || path[n] != '/')
        return 0;
    if (!(flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL)))
        return 0;
    snprintf(name, size, "%s", path + n + 1);
    return strchr(name, '/') == NULL;
}

static int pl_open(sqlite3_vfs *vfs, const char *path, sqlite3_file *f, int flags,
                   int *out_flags)
{
    pl_file *p = (pl_file *)f;
    int rc;
    (void)vfs;

    memset(p, 0, sizeof(*p));
    p->real = (sqlite3_file *)(p + 1);
    p->tracked = tracked_name(p->name, sizeof(p->name), path, flags);
    rc = real_vfs->xOpen(real_vfs, path, p->real, flags, out_flags);
    p->base.pMethods = p->real->pMethods != NULL ? &pl_methods : NULL;
    return rc;
}

static int pl_delete(sqlite3_vfs *vfs, const char *path, int sync_dir)
{
    char name[NAME_MAX_], dpath[2200];
    int rc = real_vfs->xDelete(real_vfs, path, sync_dir);
    (void)vfs;

    if (rc == SQLITE_OK && tracked_name(name, sizeof(name), path, SQLITE_OPEN_WAL)) {
        pending_of(name)->n = 0;
        if (sync_dir) {
            durable_path(dpath, sizeof(dpath), name);
            unlink(dpath);
        }
        log_record(sync_dir ? 'D' : 'X', name, 0, 0);
    }
    return rc;
}

static int pl_access(sqlite3_vfs *vfs, const char *path, int flags, int *out)
{
    (void)vfs;
    return real_vfs->xAccess(real_vfs, path, flags, out);
}

static int pl_full_pathname(sqlite3_vfs *vfs, const char *path, int n, char *out)
{
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, path, n, out);
}

static void *pl_dlopen(sqlite3_vfs *vfs, const char *path)
{
    (void)vfs;
    return real_vfs->xDlOpen(real_vfs, path);
}

static void pl_dlerror(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    real_vfs->xDlError(real_vfs, n, out);
}

static void (*pl_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    (void)vfs;
    return real_vfs->xDlSym(real_vfs, h, sym);
}

static void pl_dlclose(sqlite3_vfs *vfs, void *h)
{
    (void)vfs;
    real_vfs->xDlClose(real_vfs, h);
}

static int pl_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int pl_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return real_vfs->xSleep(real_vfs, us);
}

static int pl_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int pl_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xGetLastError(real_vfs, n, out);
}

static int pl_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

int powerloss_install(const char *real_dir, const char *durable_dir, const char *log_path,
                      long fail_after)
{
    ops_left = fail_after;
    real_vfs = sqlite3_vfs_find(NULL);
    if (real_vfs == NULL || realpath(real_dir, real_root) == NULL ||
        realpath(durable_dir, durable_root) == NULL)
        return -1;
    log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0)
        return -1;
    memset(&pl_vfs, 0, sizeof(pl_vfs));
    pl_vfs.iVersion = 2;
    pl_vfs.szOsFile = (int)sizeof(pl_file) + real_vfs->szOsFile;
    pl_vfs.mxPathname = real_vfs->mxPathname;
    pl_vfs.zName = "powerloss";
    pl_vfs.xOpen = pl_open;
    pl_vfs.xDelete = pl_delete;
    pl_vfs.xAccess = pl_access;
    pl_vfs.xFullPathname = pl_full_pathname;
    pl_vfs.xDlOpen = pl_dlopen;
    pl_vfs.xDlError = pl_dlerror;
    pl_vfs.xDlSym = pl_dlsym;
    pl_vfs.xDlClose = pl_dlclose;
    pl_vfs.xRandomness = pl_randomness;
    pl_vfs.xSleep = pl_sleep;
    pl_vfs.xCurrentTime = pl_current_time;
    pl_vfs.xGetLastError = pl_last_error;
    pl_vfs.xCurrentTimeInt64 = pl_current_time64;
    return sqlite3_vfs_register(&pl_vfs, 1) == SQLITE_OK ? 0 : -1;
}

/* --- the image after the power loss --------------------------------------------------
 */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int copy_file(const char *from, const char *to)
{
    char buf[65536];
    int in = open(from, O_RDONLY | O_CLOEXEC), out;
    ssize_t n;

    if (in < 0)
        return errno == ENOENT ? 0 : -1;
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return -1;
    }
    while ((n = read(in, buf, sizeof(buf))) > 0) {
        if (write(out, buf, (size_t)n) != n) {
            n = -1;
            break;
        }
    }
    close(in);
    close(out);
    return n < 0 ? -1 : 0;
}

long powerloss_image(const char *real_dir, const char *durable_dir, const char *log_path,
                     const char *image_dir, uint64_t seed)
{
    pl_pending files[MAX_FILES];
    pl_record r;
    char from[2200], to[2200];
    long sectors = 0;
    struct dirent *e;
    DIR *dir;
    int fd = open(log_path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    memset(files, 0, sizeof(files));
    /* The writes since each file's last sync; a deletion forgets them. */
    while (read(fd, &r, sizeof(r)) == (ssize_t)sizeof(r)) {
        pl_pending *p = NULL;
        for (int i = 0; i < MAX_FILES && p == NULL; i++)
            if (strcmp(files[i].name, r.name) == 0 || files[i].name[0] == '\0')
                p = &files[i];
        if (p == NULL)
            break;
        if (p->name[0] == '\0')
            snprintf(p->name, sizeof(p->name), "%s", r.name);
        if (r.kind == 'W') {
            if (p->n + 2 > p->cap) {
                size_t cap = p->cap ? p->cap * 2 : 256;
                int64_t *x = realloc(p->ranges, cap * sizeof(*x));
                if (x == NULL)
                    abort();
                p->ranges = x;
                p->cap = cap;
            }
            p->ranges[p->n++] = r.off;
            p->ranges[p->n++] = r.len;
        } else if (r.kind == 'S' || r.kind == 'D' || r.kind == 'X') {
            p->n = 0;
        }
    }
    close(fd);
    /* What was synced, then the sectors of the writes that were not. */
    if ((dir = opendir(durable_dir)) == NULL)
        return -1;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(from, sizeof(from), "%s/%s", durable_dir, e->d_name);
        snprintf(to, sizeof(to), "%s/%s", image_dir, e->d_name);
        if (copy_file(from, to) != 0) {
            closedir(dir);
            return -1;
        }
    }
    closedir(dir);
    for (int i = 0; i < MAX_FILES && files[i].name[0] != '\0'; i++) {
        pl_pending *p = &files[i];
        struct stat st;
        int in, out;

        snprintf(to, sizeof(to), "%s/%s", image_dir, p->name);
        snprintf(from, sizeof(from), "%s/%s", real_dir, p->name);
        in = open(from, O_RDONLY | O_CLOEXEC);
        if (in < 0 || fstat(in, &st) != 0 || p->n == 0) {
            if (in >= 0)
                close(in);
            free(p->ranges);
            continue;
        }
        out = open(to, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        for (size_t k = 0; out >= 0 && k < p->n; k += 2) {
            int64_t first = p->ranges[k] / SECTOR;
            int64_t last = (p->ranges[k] + p->ranges[k + 1] - 1) / SECTOR;
            for (int64_t s = first; s <= last; s++) {
                char buf[SECTOR];
                ssize_t n;
                sectors++;
                /* The same sector gets the same fate however many writes touched it. */
                if (mix(seed ^ name_hash(p->name) ^ mix((uint64_t)s)) & 1)
                    continue;
                if (s * SECTOR >= st.st_size)
                    continue;
                n = pread(in, buf, SECTOR, s * SECTOR);
                if (n > 0 && pwrite(out, buf, (size_t)n, s * SECTOR) != n) {
                    close(out);
                    out = -1;
                }
            }
        }
        close(in);
        free(p->ranges);
        if (out < 0)
            return -1;
        close(out);
    }
    return sectors;
}
