/* SPDX-License-Identifier: MIT */
/* check_race.c: many processes and threads hammer a few users; the limit must hold
 * throughout. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

enum { PROCS = 8, THREADS = 4, USERS = 3, LIMIT = 2, OPS = 600, MAX_HELD = OPS };

static char *dir;
static char dbpath[4096];

typedef struct lease_ref {
    int user;
    char stream[32];
} lease_ref;

typedef struct worker {
    streamy *h; /* shared by the process's threads, or NULL: open its own */
    const char *uri;
    int proc, thread;
    lease_ref held[MAX_HELD]; /* acknowledged and not released by this thread */
    int nheld;
    long allowed, refused, errors, vanished;
    char first_error[256];
} worker;

static const char *user_name(int u)
{
    static const char *const names[USERS] = {"alice", "bob", "carol"};
    return names[u];
}

struct find {
    const char *want;
    int found;
};

static int find_lease(const streamy_lease *lease, void *payload)
{
    struct find *f = payload;

    if (strcmp(lease->stream, f->want) != 0)
        return 0;
    f->found = 1;
    return 1; /* found: stop */
}

/* Is the lease in the store? Returns a result code; `*found` says. */
static int present(streamy *h, const lease_ref *l, int *found)
{
    struct find f = {l->stream, 0};
    int rc = streamy_list(h, user_name(l->user), find_lease, &f);

    *found = f.found;
    return rc;
}

static void note_error(worker *w, const char *what, int rc, streamy *h)
{
    w->errors++;
    if (w->first_error[0] == '\0')
        snprintf(w->first_error, sizeof(w->first_error), "%s: %s: %s", what,
                 streamy_strerror(rc), streamy_errmsg(h));
}

static void *work(void *arg)
{
    worker *w = arg;
    streamy *h = w->h;
    unsigned seed = (unsigned)(w->proc * 7919 + w->thread * 104729 + 1);
    streamy_options o;
    int i, rc;

    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    o.limit = LIMIT;
    o.busy_timeout_ms = test_timeout_scale(20000);
    if (h == NULL && (rc = streamy_open(&h, w->uri, &o)) != STREAMY_OK) {
        note_error(w, "open", rc, NULL);
        return NULL;
    }
    for (i = 0; i < OPS; i++) {
        seed = seed * 1103515245u + 12345u;
        if (w->nheld > 0 && (seed >> 16) % 2 == 0) {
            int k = (int)((seed >> 4) % (unsigned)w->nheld);
            streamy_decision d;
            rc =
                streamy_unsubscribe(&d, h, user_name(w->held[k].user), w->held[k].stream);
            if (rc != STREAMY_OK) {
                note_error(w, "unsubscribe", rc, h);
                continue;
            }
            if (!d.removed)
                w->vanished++; /* an acknowledged lease was gone before we released it */
            w->held[k] = w->held[--w->nheld];
        } else {
            lease_ref l;
            l.user = (int)((seed >> 8) % USERS);
            snprintf(l.stream, sizeof(l.stream), "p%d.t%d.%d", w->proc, w->thread, i);
            rc = streamy_subscribe(NULL, h, user_name(l.user), l.stream);
            if (rc == STREAMY_OK)
                w->held[w->nheld++] = l, w->allowed++;
            else if (rc == STREAMY_LIMIT_REACHED)
                w->refused++;
            else
                note_error(w, "subscribe", rc, h);
        }
        /* Now and then, check that what we hold is really in the store. */
        if (i % 50 == 49) {
            for (int k = 0; k < w->nheld; k++) {
                int found = 0;
                if ((rc = present(h, &w->held[k], &found)) != STREAMY_OK)
                    note_error(w, "list", rc, h);
                else if (!found)
                    w->vanished++;
            }
        }
    }
    if (w->h == NULL)
        streamy_close(h);
    return NULL;
}

/* One worker process: THREADS threads; writes what they hold to a file. */
static int run_process(int proc, const char *uri, int share)
{
    worker *ws = calloc(THREADS, sizeof(*ws));
    pthread_t t[THREADS];
    streamy *shared = NULL;
    streamy_options o;
    char file[4200];
    FILE *fp;
    int i, k, bad = 0;

    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    o.limit = LIMIT;
    o.busy_timeout_ms = test_timeout_scale(20000);
    if (share && streamy_open(&shared, uri, &o) != STREAMY_OK)
        return 10;
    for (i = 0; i < THREADS; i++) {
        ws[i].h = shared;
        ws[i].uri = uri;
        ws[i].proc = proc;
        ws[i].thread = i;
        pthread_create(&t[i], NULL, work, &ws[i]);
    }
    snprintf(file, sizeof(file), "%s/held.%d", dir, proc);
    fp = fopen(file, "w");
    for (i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        fprintf(fp, "# %ld %ld %ld %ld\n", ws[i].allowed, ws[i].refused, ws[i].errors,
                ws[i].vanished);
        for (k = 0; k < ws[i].nheld; k++)
            fprintf(fp, "%s\t%s\n", user_name(ws[i].held[k].user), ws[i].held[k].stream);
        if (ws[i].errors || ws[i].vanished) {
            fprintf(stderr, "process %d thread %d: %ld errors (%s), %ld vanished\n", proc,
                    i, ws[i].errors, ws[i].first_error, ws[i].vanished);
            bad = 1;
        }
    }
    fclose(fp);
    streamy_close(shared);
    free(ws);
    return bad;
}

/* Polls the database until told to stop; exits 1 on any user over the limit. */
static int run_monitor(int stop_fd, const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long polls = 0;
    char file[4200];
    FILE *fp;
    struct pollfd p = {stop_fd, POLLIN, 0};

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return 20;
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db,
                           "SELECT user, count(*) FROM leases GROUP BY user "
                           "HAVING count(*) > ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return 21;
    sqlite3_bind_int(st, 1, LIMIT);
    while (poll(&p, 1, 0) == 0) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            fprintf(stderr, "monitor: user %s holds %d leases, limit %d\n",
                    sqlite3_column_text(st, 0), sqlite3_column_int(st, 1), LIMIT);
            return 1;
        }
        if (rc != SQLITE_DONE) {
            fprintf(stderr, "monitor: %s\n", sqlite3_errmsg(db));
            return 22;
        }
        sqlite3_reset(st);
        polls++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    snprintf(file, sizeof(file), "%s/polls", dir);
    fp = fopen(file, "w");
    fprintf(fp, "%ld\n", polls);
    fclose(fp);
    return 0;
}

static long read_number(const char *name)
{
    char file[4200];
    long v = -1;
    FILE *fp;

    snprintf(file, sizeof(file), "%s/%s", dir, name);
    fp = fopen(file, "r");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_eq(fscanf(fp, "%ld", &v), 1);
    fclose(fp);
    return v;
}

START_TEST(sqlite_processes_and_threads)
{
    pid_t pids[PROCS], monitor;
    int stop[2], i, status;
    long allowed = 0, refused = 0, held = 0;
    char uri[4200], line[256];
    sqlite3 *db;
    sqlite3_stmt *st;
    streamy *h;

    dir = test_tmpdir();
    snprintf(dbpath, sizeof(dbpath), "%s/race.db", dir);
    snprintf(uri, sizeof(uri), "sqlite:%s", dbpath);
    ck_assert_rc(streamy_open(&h, uri, NULL), STREAMY_OK); /* create the schema */
    streamy_close(h);

    ck_assert_int_eq(pipe(stop), 0);
    monitor = fork();
    ck_assert_int_ge(monitor, 0);
    if (monitor == 0) {
        close(stop[1]);
        test_child_exit(run_monitor(stop[0], dbpath));
    }
    close(stop[0]);
    for (i = 0; i < PROCS; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            close(stop[1]);
            test_child_exit(run_process(i, uri, i % 2));
        }
    }
    for (i = 0; i < PROCS; i++) {
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "worker %d failed (status %d)", i, status);
    }
    close(stop[1]);
    ck_assert_int_eq(waitpid(monitor, &status, 0), monitor);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "monitor saw the limit broken (status %d)", status);
    ck_assert_int_gt(read_number("polls"), 10); /* it really watched during the run */

    /* Every lease still acknowledged is in the store, and nothing else is. */
    ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT count(*) FROM leases WHERE user=?1 "
                                        "AND stream=?2",
                                        -1, &st, NULL),
                     SQLITE_OK);
    for (i = 0; i < PROCS; i++) {
        char file[4200];
        FILE *fp;
        snprintf(file, sizeof(file), "%s/held.%d", dir, i);
        fp = fopen(file, "r");
        ck_assert_ptr_nonnull(fp);
        while (fgets(line, sizeof(line), fp) != NULL) {
            long a, r, e, v;
            char *tab;
            if (sscanf(line, "# %ld %ld %ld %ld", &a, &r, &e, &v) == 4) {
                allowed += a;
                refused += r;
                continue;
            }
            line[strcspn(line, "\n")] = '\0';
            tab = strchr(line, '\t');
            ck_assert_ptr_nonnull(tab);
            *tab = '\0';
            sqlite3_bind_text(st, 1, line, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 2, tab + 1, -1, SQLITE_TRANSIENT);
            ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
            ck_assert_msg(sqlite3_column_int(st, 0) == 1, "acknowledged %s/%s is missing",
                          line, tab + 1);
            sqlite3_reset(st);
            held++;
        }
        fclose(fp);
    }
    sqlite3_finalize(st);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM leases", -1, &st, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(st, 0), held);
    sqlite3_finalize(st);
    sqlite3_close(db);
    ck_assert_int_le(held, USERS * LIMIT);
    fprintf(stderr,
            "sqlite race: %ld allowed, %ld refused, %ld held at the end, %ld polls\n",
            allowed, refused, held, read_number("polls"));
    /* The run really contended: both answers happened many times. */
    ck_assert_int_gt(allowed, 100);
    ck_assert_int_gt(refused, 100);
    test_tmpdir_free(dir);
}
END_TEST

/* Threads sharing one memory handle, with a watcher thread counting all along. */
static volatile int stop_watch;
static long watch_polls, watch_violations;

static void *watch(void *arg)
{
    streamy *h = arg;

    while (!__atomic_load_n(&stop_watch, __ATOMIC_ACQUIRE)) {
        for (int u = 0; u < USERS; u++) {
            unsigned int n = 0;
            if (streamy_count(&n, h, user_name(u)) != STREAMY_OK || n > LIMIT)
                watch_violations++;
        }
        __atomic_fetch_add(&watch_polls, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

START_TEST(memory_threads)
{
    enum { N = 8 };
    worker *ws = calloc(N, sizeof(*ws));
    pthread_t t[N], w;
    streamy_options o;
    streamy *h;
    long allowed = 0, refused = 0, held = 0;
    int i, k;

    dir = test_tmpdir();
    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    o.limit = LIMIT;
    ck_assert_rc(streamy_open(&h, "memory:", &o), STREAMY_OK);
    pthread_create(&w, NULL, watch, h);
    /* The watcher must be watching before the workers start, or a short run
     * could end before its first look. */
    while (__atomic_load_n(&watch_polls, __ATOMIC_ACQUIRE) == 0)
        sched_yield();
    for (i = 0; i < N; i++) {
        ws[i].h = h;
        ws[i].proc = 0;
        ws[i].thread = i;
        pthread_create(&t[i], NULL, work, &ws[i]);
    }
    for (i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(ws[i].errors == 0, "%s", ws[i].first_error);
        ck_assert_int_eq(ws[i].vanished, 0);
        allowed += ws[i].allowed;
        refused += ws[i].refused;
        for (k = 0; k < ws[i].nheld; k++) {
            const lease_ref *l = &ws[i].held[k];
            int found = 0;
            ck_assert_rc(present(h, l, &found), STREAMY_OK);
            ck_assert_msg(found, "acknowledged %s/%s is missing", user_name(l->user),
                          l->stream);
            held++;
        }
    }
    __atomic_store_n(&stop_watch, 1, __ATOMIC_RELEASE);
    pthread_join(w, NULL);
    ck_assert_int_eq(watch_violations, 0);
    ck_assert_int_gt(watch_polls, 0);
    ck_assert_int_gt(allowed, 50);
    ck_assert_int_gt(refused, 50);
    ck_assert_int_le(held, USERS * LIMIT);
    for (i = 0; i < USERS; i++) {
        unsigned int n = 0;
        ck_assert_rc(streamy_count(&n, h, user_name(i)), STREAMY_OK);
        held -= n;
    }
    ck_assert_int_eq(held, 0); /* and nothing else is in the store */
    streamy_close(h);
    free(ws);
    test_tmpdir_free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("race");
    TCase *tc = tcase_create("race");

    tcase_set_timeout(tc, test_timeout_scale(300));
    tcase_add_test(tc, sqlite_processes_and_threads);
    tcase_add_test(tc, memory_threads);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
