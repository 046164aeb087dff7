/* SPDX-License-Identifier: MIT */
/* check_race_sessions.c: lease ids under contention: many clients starting one stream at
 * once share one lease and one id, and a stale player racing a restart never ends or
 * extends the newer session. Threads on one memory store; processes and threads on one
 * SQLite file. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

#define ID_SIZE (STREAMY_LEASE_ID_LEN + 1)

/* Where the workers run: threads sharing one handle (memory: a store private to its
 * handle), or processes whose threads each open their own (a SQLite file). */
typedef struct target {
    const char *uri;
    int procs, threads_per_proc;
    int share; /* one handle for every thread */
} target;

static char *dir;

/* Memory every process sees: fork keeps a MAP_SHARED mapping shared. */
static void *shared_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    ck_assert_ptr_ne(p, MAP_FAILED);
    memset(p, 0, size);
    return p;
}

static void shared_barrier_init(pthread_barrier_t *b, unsigned count)
{
    pthread_barrierattr_t attr;

    ck_assert_int_eq(pthread_barrierattr_init(&attr), 0);
    ck_assert_int_eq(pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED), 0);
    ck_assert_int_eq(pthread_barrier_init(b, &attr, count), 0);
    pthread_barrierattr_destroy(&attr);
}

static int is_lease_id(const char *s)
{
    if (strlen(s) != STREAMY_LEASE_ID_LEN || s[14] != '4')
        return 0;
    for (int i = 0; i < STREAMY_LEASE_ID_LEN; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash != (s[i] == '-'))
            return 0;
        if (!dash && !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return 1;
}

static void set_error(char *buf, size_t size, const char *fmt, const char *a,
                      const char *b)
{
    if (buf[0] == '\0')
        snprintf(buf, size, fmt, a, b);
}

/* Run `fn(index, payload)` on every worker of `t`: each process forks its threads and
 * exits with the sum of their results; returns 0 when every worker returned 0. */
typedef int (*worker_fn)(int index, void *payload);

struct thread_arg {
    worker_fn fn;
    int index, result;
    void *payload;
};

static void *thread_main(void *p)
{
    struct thread_arg *a = p;
    a->result = a->fn(a->index, a->payload);
    return NULL;
}

static int run_threads(worker_fn fn, int first, int n, void *payload)
{
    struct thread_arg args[64];
    pthread_t t[64];
    int i, bad = 0;

    for (i = 0; i < n; i++) {
        args[i].fn = fn;
        args[i].index = first + i;
        args[i].payload = payload;
        args[i].result = 0;
        if (pthread_create(&t[i], NULL, thread_main, &args[i]) != 0)
            return 1;
    }
    for (i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        bad |= args[i].result != 0;
    }
    return bad;
}

static int run_workers(const target *t, worker_fn fn, void *payload)
{
    pid_t pids[16];
    int i, status, bad = 0;

    if (t->procs == 1)
        return run_threads(fn, 0, t->threads_per_proc, payload);
    for (i = 0; i < t->procs; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0)
            test_child_exit(
                run_threads(fn, i * t->threads_per_proc, t->threads_per_proc, payload));
    }
    for (i = 0; i < t->procs; i++) {
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        bad |= !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    return bad;
}

/* The handle a worker uses: the shared one, or its own. */
static int worker_open(streamy **out, const target *t, streamy *shared,
                       const streamy_options *o)
{
    if (t->share) {
        *out = shared;
        return STREAMY_OK;
    }
    return streamy_open(out, t->uri, o);
}

static void worker_close(const target *t, streamy *h)
{
    if (!t->share)
        streamy_close(h);
}

/* --- one stream started by everyone at once ----------------------------------------- */

/* Each round every worker starts "movie" for two users at once: one new to the store,
 * and one whose lease of the round before has expired. Every round moves the clock on
 * past the TTL: the time is the round's, the same for every worker. */
enum { SAME_ROUNDS = 40, SAME_MAX_WORKERS = 32 };
#define SAME_TTL_MS 1000
#define SAME_T0 1700000000000LL

static __thread int64_t round_now;

static int64_t round_clock(void *payload)
{
    (void)payload;
    return round_now;
}

static void enter_round(int round)
{
    round_now = SAME_T0 + (int64_t)round * 2 * SAME_TTL_MS;
}

typedef struct same_slot {
    int rc, created, expired;
    char id[ID_SIZE];
    char error[160];
} same_slot;

typedef struct same_run {
    target t;
    streamy *shared;
    int workers;
    pthread_barrier_t barrier;
    /* [round][worker][0: the new user, 1: the returning one] */
    same_slot slots[SAME_ROUNDS][SAME_MAX_WORKERS][2];
} same_run;

static void round_user(char *buf, size_t size, int round, int returning)
{
    if (returning)
        snprintf(buf, size, "household");
    else
        snprintf(buf, size, "viewer-%d", round);
}

static void same_options(streamy_options *o)
{
    streamy_options_init(o, STREAMY_OPTIONS_VERSION);
    o->busy_timeout_ms = test_timeout_scale(20000);
    o->ttl_ms = SAME_TTL_MS;
    o->clock = round_clock;
}

static void same_subscribe(same_slot *s, streamy *h, int round, int returning)
{
    streamy_call c = STREAMY_CALL_INIT;
    streamy_answer a = STREAMY_ANSWER_INIT;
    char user[32];

    round_user(user, sizeof(user), round, returning);
    c.user = user;
    c.stream = "movie";
    s->rc = streamy_subscribe_ex(&a, h, &c);
    s->created = a.decision.created;
    s->expired = (int)a.decision.expired;
    memcpy(s->id, a.lease_id, ID_SIZE);
    if (s->rc != STREAMY_OK)
        set_error(s->error, sizeof(s->error), "subscribe: %s: %s",
                  streamy_strerror(s->rc), streamy_errmsg(h));
}

static int same_worker(int index, void *payload)
{
    same_run *run = payload;
    streamy_options o;
    streamy *h = NULL;
    int r, k, rc;

    same_options(&o);
    rc = worker_open(&h, &run->t, run->shared, &o);
    for (r = 0; r < SAME_ROUNDS; r++) {
        /* Every worker waits here, opened or not, so the others are not left hanging. */
        pthread_barrier_wait(&run->barrier);
        enter_round(r);
        for (k = 0; k < 2; k++) {
            int which = (index + k) % 2; /* half the workers start with each user */
            same_slot *s = &run->slots[r][index][which];
            if (rc != STREAMY_OK) {
                s->rc = rc;
                set_error(s->error, sizeof(s->error), "open: %s%s", streamy_errmsg(NULL),
                          "");
                continue;
            }
            same_subscribe(s, h, r, which);
        }
    }
    if (rc == STREAMY_OK)
        worker_close(&run->t, h);
    return 0;
}

struct one_lease {
    int n;
    char stream[STREAMY_ID_MAX + 1];
    char id[ID_SIZE];
    int64_t expires;
};

static int keep_one(const streamy_lease *lease, void *payload)
{
    struct one_lease *l = payload;

    if (l->n++ == 0) {
        snprintf(l->stream, sizeof(l->stream), "%s", lease->stream);
        snprintf(l->id, sizeof(l->id), "%s", lease->lease_id);
        l->expires = lease->expires_ms;
    }
    return 0;
}

static void check_same(const target *t)
{
    same_run *run = shared_alloc(sizeof(*run));
    streamy_options o;
    streamy *h = NULL;
    int r, w, k;

    run->t = *t;
    run->workers = t->procs * t->threads_per_proc;
    ck_assert_int_le(run->workers, SAME_MAX_WORKERS);
    same_options(&o);
    ck_assert_rc(streamy_open(&h, t->uri, &o), STREAMY_OK);
    run->shared = h;
    shared_barrier_init(&run->barrier, (unsigned)run->workers);
    ck_assert_msg(run_workers(t, same_worker, run) == 0, "a worker process failed");
    for (r = 0; r < SAME_ROUNDS; r++) {
        for (k = 0; k < 2; k++) {
            const same_slot *first = &run->slots[r][0][k];
            struct one_lease l = {0};
            char user[32];
            int created = 0, expired = 0;

            for (w = 0; w < run->workers; w++) {
                const same_slot *s = &run->slots[r][w][k];
                ck_assert_msg(s->rc == STREAMY_OK, "round %d worker %d: %s", r, w,
                              s->error);
                ck_assert_msg(is_lease_id(s->id), "round %d worker %d: lease id \"%s\"",
                              r, w, s->id);
                ck_assert_msg(strcmp(s->id, first->id) == 0,
                              "round %d user %d: worker %d got %s, worker 0 %s", r, k, w,
                              s->id, first->id);
                created += s->created;
                expired += s->expired;
                /* Whoever dropped the expired lease is the one that made the new. */
                ck_assert_int_eq(s->expired, k && r > 0 ? s->created : 0);
            }
            ck_assert_msg(created == 1, "round %d user %d: %d workers created the lease",
                          r, k, created);
            ck_assert_int_eq(expired, k && r > 0);
            /* The lease after an expiry is a new one, with a new id. */
            if (k && r > 0)
                ck_assert_str_ne(first->id, run->slots[r - 1][0][k].id);
            /* The store holds it (the returning user's, at its last round). */
            if (k && r < SAME_ROUNDS - 1)
                continue;
            enter_round(r);
            round_user(user, sizeof(user), r, k);
            ck_assert_rc(streamy_list(h, user, keep_one, &l), STREAMY_OK);
            ck_assert_int_eq(l.n, 1);
            ck_assert_str_eq(l.id, first->id);
        }
    }
    pthread_barrier_destroy(&run->barrier);
    streamy_close(h);
    munmap(run, sizeof(*run));
}

/* --- a stale player against a restart -----------------------------------------------
 *
 * Pairs of threads, each pair with a user of its own. Each round the restarter starts
 * stream s<r> (lease A) and hands A to the player; then at once the player heartbeats
 * and stops with A over and over while the restarter ends A (an unsubscribe without an
 * id, or an eviction by another stream) and starts s<r> again (lease B). Once B is
 * acknowledged the player goes on a few more times. Whatever the interleaving, the
 * player's renews and unsubscribes only ever touch A, and B stays as it was made. */

enum { FENCE_ROUNDS = 60, FENCE_TAIL = 3, FENCE_MAX_PAIRS = 16 };
#define FENCE_TTL_MS (3600 * 1000LL)

typedef struct fence_pair {
    pthread_barrier_t start, end;
    char a[ID_SIZE];
    int restarted;
    long stale, renewed, removed;
    char error[256];
} fence_pair;

typedef struct fence_run {
    target t;
    streamy *shared;
    int64_t clock; /* one clock for every worker: each read moves it on */
    fence_pair pairs[FENCE_MAX_PAIRS];
} fence_run;

static int64_t fence_clock(void *payload)
{
    fence_run *run = payload;
    return 1700000000000LL + __atomic_fetch_add(&run->clock, 1, __ATOMIC_SEQ_CST);
}

static void fence_user(char *buf, size_t size, int pair)
{
    snprintf(buf, size, "household-%d", pair);
}

static int fence_fail(fence_pair *p, const char *what, const char *detail)
{
    set_error(p->error, sizeof(p->error), "%s: %s", what, detail);
    return 1;
}

/* The restarter: makes A, hands it over, ends it and starts the stream again. */
static int restarter(fence_run *run, fence_pair *p, streamy *h, const char *user)
{
    char stream[32], other[32];
    int r;

    for (r = 0; r < FENCE_ROUNDS; r++) {
        streamy_call c = STREAMY_CALL_INIT;
        streamy_answer a = STREAMY_ANSWER_INIT, b = STREAMY_ANSWER_INIT;
        struct one_lease l = {0};

        snprintf(stream, sizeof(stream), "s%d", r);
        snprintf(other, sizeof(other), "o%d", r);
        c.user = user;
        c.stream = stream;
        if (streamy_subscribe_ex(&a, h, &c) != STREAMY_OK || !a.decision.created)
            return fence_fail(p, "first subscribe", streamy_errmsg(h));
        memcpy(p->a, a.lease_id, ID_SIZE);
        __atomic_store_n(&p->restarted, 0, __ATOMIC_SEQ_CST);
        pthread_barrier_wait(&p->start);
        if (r % 2 == 0) {
            if (streamy_unsubscribe(NULL, h, user, stream) != STREAMY_OK)
                return fence_fail(p, "unsubscribe", streamy_errmsg(h));
        } else if (streamy_subscribe(NULL, h, user, other) != STREAMY_OK) {
            return fence_fail(p, "evicting subscribe", streamy_errmsg(h));
        }
        if (streamy_subscribe_ex(&b, h, &c) != STREAMY_OK)
            return fence_fail(p, "second subscribe", streamy_errmsg(h));
        __atomic_store_n(&p->restarted, 1, __ATOMIC_SEQ_CST);
        pthread_barrier_wait(&p->end);
        if (!b.decision.created || strcmp(b.lease_id, p->a) == 0)
            return fence_fail(p, "second subscribe made no new lease", b.lease_id);
        if (streamy_list(h, user, keep_one, &l) != STREAMY_OK)
            return fence_fail(p, "list", streamy_errmsg(h));
        if (l.n != 1 || strcmp(l.stream, stream) != 0)
            return fence_fail(p, "the new lease is gone", stream);
        if (strcmp(l.id, b.lease_id) != 0)
            return fence_fail(p, "the new lease changed id", l.id);
        if (l.expires != b.decision.expires_ms)
            return fence_fail(p, "the new lease was renewed by the stale player", l.id);
    }
    (void)run;
    return 0;
}

/* The player holding A: renews and stops with it, before and after the restart. */
static int stale_player(fence_pair *p, streamy *h, const char *user)
{
    char stream[32], held[ID_SIZE];
    int r, i, rc;

    for (r = 0; r < FENCE_ROUNDS; r++) {
        int tail = 0;

        pthread_barrier_wait(&p->start);
        memcpy(held, p->a, ID_SIZE);
        snprintf(stream, sizeof(stream), "s%d", r);
        for (i = 0; tail < FENCE_TAIL; i++) {
            streamy_call c = STREAMY_CALL_INIT;
            streamy_answer a = STREAMY_ANSWER_INIT;
            int after = __atomic_load_n(&p->restarted, __ATOMIC_SEQ_CST);

            c.user = user;
            c.stream = stream;
            c.lease_id = held;
            if (i % 2 == 0) {
                rc = streamy_renew_ex(&a, h, &c);
                if (rc == STREAMY_OK) {
                    p->renewed++;
                    if (strcmp(a.lease_id, held) != 0)
                        return fence_fail(p, "renewed another lease", a.lease_id);
                } else if (rc != STREAMY_NOT_FOUND) {
                    return fence_fail(p, "renew", streamy_errmsg(h));
                }
                if (after && (rc != STREAMY_NOT_FOUND || !a.stale))
                    return fence_fail(p, "a renew after the restart was not stale", held);
            } else {
                rc = streamy_unsubscribe_ex(&a, h, &c);
                if (rc != STREAMY_OK)
                    return fence_fail(p, "unsubscribe", streamy_errmsg(h));
                if (a.decision.removed) {
                    p->removed++;
                    if (a.lease_id[0] != '\0')
                        return fence_fail(p, "an unsubscribe answered a lease",
                                          a.lease_id);
                }
                if (after && (a.decision.removed || !a.stale))
                    return fence_fail(p, "a stop after the restart was not stale", held);
            }
            p->stale += a.stale;
            tail += after;
        }
        pthread_barrier_wait(&p->end);
    }
    return 0;
}

static int fence_worker(int index, void *payload)
{
    fence_run *run = payload;
    fence_pair *p = &run->pairs[index / 2];
    streamy_options o;
    streamy *h = NULL;
    char user[32];
    int rc;

    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    o.busy_timeout_ms = test_timeout_scale(20000);
    o.limit = 1;
    o.policy = STREAMY_POLICY_EVICT_OLDEST;
    o.ttl_ms = FENCE_TTL_MS;
    o.clock = fence_clock;
    o.clock_payload = run;
    if (worker_open(&h, &run->t, run->shared, &o) != STREAMY_OK) {
        /* Without a handle the pair cannot go on: nothing waits for this thread. */
        fence_fail(p, "open", streamy_errmsg(NULL));
        _exit(3);
    }
    fence_user(user, sizeof(user), index / 2);
    rc = index % 2 == 0 ? restarter(run, p, h, user) : stale_player(p, h, user);
    if (rc != 0) {
        fprintf(stderr, "pair %d (%s): %s\n", index / 2,
                index % 2 ? "player" : "restarter", p->error);
        /* The other thread of the pair waits at a barrier that will never fill. */
        _exit(4);
    }
    worker_close(&run->t, h);
    return 0;
}

static void check_fence(const target *t)
{
    fence_run *run = shared_alloc(sizeof(*run));
    int pairs = t->procs * t->threads_per_proc / 2, i, failed;
    streamy_options o;
    streamy *h = NULL;
    long stale = 0, renewed = 0, removed = 0;

    ck_assert_int_eq(t->threads_per_proc % 2, 0); /* a pair never spans two processes */
    ck_assert_int_le(pairs, FENCE_MAX_PAIRS);
    run->t = *t;
    for (i = 0; i < pairs; i++) {
        shared_barrier_init(&run->pairs[i].start, 2);
        shared_barrier_init(&run->pairs[i].end, 2);
    }
    streamy_options_init(&o, STREAMY_OPTIONS_VERSION);
    o.limit = 1;
    o.policy = STREAMY_POLICY_EVICT_OLDEST;
    o.ttl_ms = FENCE_TTL_MS;
    o.clock = fence_clock;
    o.clock_payload = run;
    ck_assert_rc(streamy_open(&h, t->uri, &o), STREAMY_OK);
    run->shared = h;
    if (t->procs == 1) {
        /* A failing pair ends the process: run the threads in a child of their own. */
        pid_t pid = fork();
        int status;
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            test_child_exit(run_threads(fence_worker, 0, t->threads_per_proc, run));
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    } else {
        failed = run_workers(t, fence_worker, run) != 0;
    }
    for (i = 0; i < pairs; i++) {
        ck_assert_msg(run->pairs[i].error[0] == '\0', "pair %d: %s", i,
                      run->pairs[i].error);
        stale += run->pairs[i].stale;
        renewed += run->pairs[i].renewed;
        removed += run->pairs[i].removed;
    }
    fprintf(stderr,
            "fence race on %s: %d pairs, %ld stale answers, %ld renews and %ld "
            "stops of the player's own lease\n",
            t->uri, pairs, stale, renewed, removed);
    /* Every round ended with stale answers, after the restart at least. */
    ck_assert_msg(!failed, "a worker failed without a word");
    /* Only now: destroying a barrier that a dead thread was in waits forever. */
    for (i = 0; i < pairs; i++) {
        pthread_barrier_destroy(&run->pairs[i].start);
        pthread_barrier_destroy(&run->pairs[i].end);
    }
    ck_assert_int_ge(stale, (long)pairs * FENCE_ROUNDS * FENCE_TAIL);
    streamy_close(h);
    munmap(run, sizeof(*run));
}

/* --- the stores --------------------------------------------------------------------- */

static char sqlite_uri[4200];

static void sqlite_target(target *t, int procs, int threads)
{
    streamy *h;

    dir = test_tmpdir();
    snprintf(sqlite_uri, sizeof(sqlite_uri), "sqlite:%s/race.db", dir);
    ck_assert_rc(streamy_open(&h, sqlite_uri, NULL), STREAMY_OK); /* the schema */
    streamy_close(h);
    t->uri = sqlite_uri;
    t->procs = procs;
    t->threads_per_proc = threads;
    t->share = 0;
}

START_TEST(memory_threads_share_one_lease)
{
    target t = {"memory:", 1, 16, 1};
    check_same(&t);
}
END_TEST

START_TEST(sqlite_processes_share_one_lease)
{
    target t;
    sqlite_target(&t, 4, 4);
    check_same(&t);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(memory_stale_players_end_nothing)
{
    target t = {"memory:", 1, 16, 1};
    check_fence(&t);
}
END_TEST

START_TEST(sqlite_stale_players_end_nothing)
{
    target t;
    sqlite_target(&t, 4, 4);
    check_fence(&t);
    test_tmpdir_free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("race_sessions");
    TCase *tc = test_add_case(s, "same-lease", NULL, NULL, test_timeout_scale(120));

    tcase_add_test(tc, memory_threads_share_one_lease);
    tcase_add_test(tc, sqlite_processes_share_one_lease);
    tc = test_add_case(s, "fence", NULL, NULL, test_timeout_scale(120));
    tcase_add_test(tc, memory_stale_players_end_nothing);
    tcase_add_test(tc, sqlite_stale_players_end_nothing);
    return test_run_suite(s);
}
