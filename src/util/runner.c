/* SPDX-License-Identifier: MIT */
/* The process runner.
 *
 * The child is started with clone(CLONE_VM | CLONE_VFORK): it borrows our
 * memory until it execs, so spawning costs no page-table copy however big
 * the parent is.  Everything the child needs (exec candidates, the list of
 * signals to reset, /dev/null) is prepared in the parent, and the child only
 * makes system calls: no malloc, no locks.  Its failures are written into
 * that shared memory before it exits: with CLONE_VFORK we resume only once
 * the child has exec'ed or exited, so an untouched report means success
 * (no report pipe, and no wait for exec to close it). */
#include "util/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>


extern char **environ;

/* Where the plain calls take 16-bit ids, the 32-bit ones are separate. */
#ifdef SYS_setresuid32
#define SYS_SETRESUID SYS_setresuid32
#define SYS_SETRESGID SYS_setresgid32
#define SYS_SETGROUPS SYS_setgroups32
#else
#define SYS_SETRESUID SYS_setresuid
#define SYS_SETRESGID SYS_setresgid
#define SYS_SETGROUPS SYS_setgroups
#endif

#define CHILD_STACK_SIZE (64 * 1024)
#define MAX_CANDIDATES 64

/* What the child sends back when it cannot exec. */
struct child_report {
    int stage;
    int err;
    int what; /* index into step_names */
};

static const char *const step_names[] = {
    "dup2", "umask", "setresgid", "setgroups", "setresuid", "chdir", "execve", "sigaction",
    "setsid",
};
enum { STEP_DUP2, STEP_UMASK, STEP_SETRESGID, STEP_SETGROUPS, STEP_SETRESUID, STEP_CHDIR,
       STEP_EXECVE, STEP_SIGACTION, STEP_SETSID };

struct child_ctx {
    const struct runner_spec *spec;
    char *const *envp;
    const char *candidates[MAX_CANDIDATES];
    size_t ncandidates;
    int stdio[3]; /* what becomes the child's 0, 1, 2 */
    volatile struct child_report *report; /* in the parent's frame */
    sigset_t ignored; /* dispositions to reset to default */
    sigset_t old_mask;
};

/* Candidate paths for argv[0], like execvp: a name with a slash is used as
 * it is, otherwise each PATH entry in turn.  Stored in `storage`. */
static size_t exec_candidates(const char *name, char *storage, size_t storage_len,
                              const char **out)
{
    if (strchr(name, '/') || !*name) {
        out[0] = name;
        return 1;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin";
    size_t n = 0, used = 0, name_len = strlen(name);
    for (const char *p = path; n < MAX_CANDIDATES;) {
        const char *end = strchrnul(p, ':');
        size_t dir_len = (size_t)(end - p);
        /* An empty entry means the current directory. */
        size_t need = (dir_len ? dir_len : 1) + 1 + name_len + 1;
        if (used + need <= storage_len) {
            char *c = storage + used;
            if (dir_len)
                memcpy(c, p, dir_len);
            else
                c[0] = '.';
            size_t at = dir_len ? dir_len : 1;
            c[at] = '/';
            memcpy(c + at + 1, name, name_len + 1);
            out[n++] = c;
            used += need;
        }
        if (!*end)
            break;
        p = end + 1;
    }
    return n;
}

__attribute__((noreturn)) static void child_fail(const struct child_ctx *c, int stage, int step,
                                                 int err)
{
    c->report->err = err;
    c->report->what = step;
    c->report->stage = stage; /* nonzero: the parent's sign of failure */
    _exit(127);
}

/* Runs in the child, on its own stack, sharing our memory until exec: only
 * system calls here.  Not instrumented: the sanitizers' bookkeeping for this
 * borrowed stack would outlive the child. */
__attribute__((no_sanitize("address", "undefined"))) static int child_main(void *arg)
{
    const struct child_ctx *c = arg;
    const struct runner_spec *s = c->spec;

    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(&c->ignored, sig) == 1 && sigaction(sig, &dfl, NULL) < 0)
            child_fail(c, RUNNER_STAGE_SETUP, STEP_SIGACTION, errno);

    for (int fd = 0; fd < 3; fd++) {
        if (c->stdio[fd] < 0 || c->stdio[fd] == fd) {
            /* Already in place: only clear close-on-exec. */
            if (c->stdio[fd] == fd)
                fcntl(fd, F_SETFD, 0);
            continue;
        }
        if (dup2(c->stdio[fd], fd) < 0)
            child_fail(c, RUNNER_STAGE_SETUP, STEP_DUP2, errno);
    }
    if (s->new_session && setsid() < 0)
        child_fail(c, RUNNER_STAGE_SETUP, STEP_SETSID, errno);
    if (s->set_umask)
        umask(s->umask);
    /* Raw system calls: glibc's wrappers would try to change the ids of
     * every thread of the parent, whose memory we share. */
    if (s->set_gid && syscall(SYS_SETRESGID, s->gid, s->gid, s->gid) < 0)
        child_fail(c, RUNNER_STAGE_SETUP, STEP_SETRESGID, errno);
    if (s->set_groups && syscall(SYS_SETGROUPS, s->ngroups, s->groups) < 0)
        child_fail(c, RUNNER_STAGE_SETUP, STEP_SETGROUPS, errno);
    if (s->set_uid && syscall(SYS_SETRESUID, s->uid, s->uid, s->uid) < 0)
        child_fail(c, RUNNER_STAGE_SETUP, STEP_SETRESUID, errno);
    if (s->cwd && chdir(s->cwd) < 0)
        child_fail(c, RUNNER_STAGE_CWD, STEP_CHDIR, errno);
    /* Descriptors we inherited from whoever started us stay out of the
     * command (fails harmlessly on kernels without close_range). */
    syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
    sigprocmask(SIG_SETMASK, &(sigset_t){0}, NULL);

    /* Like execvp: keep looking past directories where the program is
     * missing; report the first more interesting error. */
    int first_err = 0;
    for (size_t i = 0; i < c->ncandidates; i++) {
        execve(c->candidates[i], s->argv, c->envp);
        int e = errno;
        if (e != ENOENT && e != ENOTDIR && first_err == 0)
            first_err = e;
        if (e != ENOENT && e != ENOTDIR && e != EACCES && e != ESTALE && e != ENODEV &&
            e != ETIMEDOUT)
            break;
    }
    child_fail(c, RUNNER_STAGE_EXEC, STEP_EXECVE, first_err ? first_err : ENOENT);
}

/* The child's stack, one per spawning thread and kept for its life: once
 * clone returns the child has exec'ed or exited, so the next spawn may
 * reuse it, and an munmap per spawn (a TLB shootdown across the threads'
 * CPUs) is saved.  Freed when the thread exits. */
static pthread_key_t stack_key;
static pthread_once_t stack_once = PTHREAD_ONCE_INIT;

static void stack_free(void *stack)
{
    munmap(stack, CHILD_STACK_SIZE);
}

static void stack_key_init(void)
{
    if (pthread_key_create(&stack_key, stack_free) != 0)
        abort();
}

static void *child_stack(void)
{
    pthread_once(&stack_once, stack_key_init);
    void *stack = pthread_getspecific(stack_key);
    if (stack)
        return stack;
    stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return NULL;
    if (pthread_setspecific(stack_key, stack) != 0) {
        munmap(stack, CHILD_STACK_SIZE);
        errno = ENOMEM;
        return NULL;
    }
    return stack;
}

static void close_if(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void fail_set(struct runner_failure *fail, enum runner_stage stage, int err,
                     const char *what)
{
    if (fail) {
        fail->stage = stage;
        fail->err = err;
        fail->what = what;
    }
}

/* One of the child's standard descriptors: our end (if a pipe) in *ours,
 * the child's end in *theirs. */
static int open_stdio(enum runner_io io, int given, int child_fd, int *ours, int *theirs,
                      int *devnull)
{
    *ours = -1;
    *theirs = -1;
    switch (io) {
    case RUNNER_PIPE: {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return -1;
        if (child_fd == 0) {
            *theirs = p[0];
            *ours = p[1];
        } else {
            *theirs = p[1];
            *ours = p[0];
        }
        /* A new pipe end has no other status flag: one call, not F_GETFL
         * and F_SETFL. */
        if (fcntl(*ours, F_SETFL, O_NONBLOCK) < 0) {
            close_if(ours);
            close_if(theirs);
            return -1;
        }
        return 0;
    }
    case RUNNER_NULL:
        if (*devnull < 0)
            *devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (*devnull < 0)
            return -1;
        *theirs = *devnull;
        return 0;
    case RUNNER_FD:
        *theirs = given;
        return 0;
    }
    errno = EINVAL;
    return -1;
}

void runner_signals_to_reset(sigset_t *set)
{
    sigemptyset(set);
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL && sig != SIGKILL &&
            sig != SIGSTOP)
            sigaddset(set, sig); /* handlers too: reset before the mask opens */
    }
}

int runner_spawn(const struct runner_spec *spec, struct runner_child *child,
                 struct runner_failure *fail)
{
    fail_set(fail, RUNNER_STAGE_NONE, 0, NULL);
    child->pid = -1;
    child->in_fd = child->out_fd = child->err_fd = -1;
    if (!spec->argv || !spec->argv[0]) {
        fail_set(fail, RUNNER_STAGE_EXEC, ENOENT, "execve");
        return -1;
    }

    struct child_ctx c;
    memset(&c, 0, sizeof c);
    c.spec = spec;
    c.envp = spec->envp ? spec->envp : environ;
    char paths[PATH_MAX * 4];
    const char *program = spec->path ? spec->path : spec->argv[0];
    c.ncandidates = exec_candidates(program, paths, sizeof paths, c.candidates);

    int devnull = -1, ours[3] = {-1, -1, -1}, theirs[3] = {-1, -1, -1};
    volatile struct child_report report = {RUNNER_STAGE_NONE, 0, 0};
    c.report = &report;
    const enum runner_io io[3] = {spec->in, spec->out, spec->err};
    const int given[3] = {spec->in_fd, spec->out_fd, spec->err_fd};
    for (int fd = 0; fd < 3; fd++) {
        if (open_stdio(io[fd], given[fd], fd, &ours[fd], &theirs[fd], &devnull) < 0) {
            fail_set(fail, RUNNER_STAGE_PARENT, errno, "pipe");
            goto fail;
        }
        c.stdio[fd] = theirs[fd];
    }
    if (spec->reset_signals)
        c.ignored = *spec->reset_signals;
    else
        runner_signals_to_reset(&c.ignored);

    void *stack = child_stack();
    if (!stack) {
        fail_set(fail, RUNNER_STAGE_PARENT, errno, "mmap");
        goto fail;
    }
    /* No signal handler of ours may run on the child's side of the shared
     * memory: block everything until the child has reset them. */
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &c.old_mask);
    pid_t pid = clone(child_main, (char *)stack + CHILD_STACK_SIZE,
                      CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
    int clone_err = errno;
    sigprocmask(SIG_SETMASK, &c.old_mask, NULL);
    if (pid < 0) {
        fail_set(fail, RUNNER_STAGE_PARENT, clone_err, "clone");
        goto fail;
    }

    if (report.stage != RUNNER_STAGE_NONE) {
        runner_wait(pid);
        int step = report.what;
        const char *what = step >= 0 && (size_t)step < sizeof step_names / sizeof *step_names
                               ? step_names[step]
                               : "spawn";
        fail_set(fail, (enum runner_stage)report.stage, report.err, what);
        goto fail;
    }

    for (int fd = 0; fd < 3; fd++)
        if (io[fd] == RUNNER_PIPE)
            close_if(&theirs[fd]);
    close_if(&devnull);
    child->pid = pid;
    child->in_fd = ours[0];
    child->out_fd = ours[1];
    child->err_fd = ours[2];
    return 0;

fail:
    for (int fd = 0; fd < 3; fd++) {
        close_if(&ours[fd]);
        if (io[fd] == RUNNER_PIPE)
            close_if(&theirs[fd]);
    }
    close_if(&devnull);
    return -1;
}

int runner_wait(pid_t pid)
{
    int status;
    pid_t r;
    do
        r = waitpid(pid, &status, 0);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -1;
    if (WIFSIGNALED(status))
        return -WTERMSIG(status);
    return WEXITSTATUS(status);
}

#define READ_CHUNK (64 * 1024)

/* Read what one output pipe has; returns false once it is finished. */
static bool drain(int *fd, int stream, runner_output_fn output, void *ctx, uint8_t *chunk)
{
    for (;;) {
        ssize_t n = read(*fd, chunk, READ_CHUNK);
        if (n > 0) {
            if (output)
                output(ctx, stream, chunk, (size_t)n);
            if (n < READ_CHUNK)
                return true;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        close_if(fd);
        return false;
    }
}

int runner_run(const struct runner_spec *spec, const void *stdin_data, size_t stdin_len,
               runner_output_fn output, void *ctx, int *status, struct runner_failure *fail)
{
    struct runner_child ch;
    if (runner_spawn(spec, &ch, fail) < 0)
        return -1;
    const uint8_t *in = stdin_data;
    size_t in_left = stdin_data ? stdin_len : 0;
    if (ch.in_fd >= 0 && in_left == 0)
        close_if(&ch.in_fd);
    /* Readable once the child has exited (stop_at_exit).  Without pidfds
     * (before Linux 5.3) the pipes' end is waited for instead. */
    int exit_fd = -1;
    if (spec->stop_at_exit)
        exit_fd = (int)syscall(SYS_pidfd_open, ch.pid, 0);
    bool exited = false;

    uint8_t *chunk = malloc(READ_CHUNK);
    if (!chunk)
        abort();
    while (ch.in_fd >= 0 || ch.out_fd >= 0 || ch.err_fd >= 0) {
        struct pollfd p[4] = {{ch.in_fd, POLLOUT, 0}, {ch.out_fd, POLLIN, 0},
                              {ch.err_fd, POLLIN, 0}, {exit_fd, POLLIN, 0}};
        /* After the exit only what the pipes already hold is read. */
        int ready = poll(p, 4, exited ? 0 : -1);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            break; /* cannot happen with valid descriptors; reap below */
        }
        if (ready == 0)
            break; /* exited, and nothing more is waiting */
        if (ch.in_fd >= 0 && p[0].revents) {
            ssize_t w = write(ch.in_fd, in, in_left);
            if (w > 0) {
                in += w;
                in_left -= (size_t)w;
            }
            /* The child may stop reading early: that ends its input. */
            if (in_left == 0 || (w < 0 && errno != EINTR && errno != EAGAIN))
                close_if(&ch.in_fd);
        }
        if (ch.out_fd >= 0 && p[1].revents)
            drain(&ch.out_fd, 1, output, ctx, chunk);
        if (ch.err_fd >= 0 && p[2].revents)
            drain(&ch.err_fd, 2, output, ctx, chunk);
        if (exit_fd >= 0 && p[3].revents) {
            exited = true;
            close_if(&exit_fd);
            close_if(&ch.in_fd); /* nobody is left to read it */
        }
    }
    free(chunk);
    close_if(&exit_fd);
    close_if(&ch.in_fd);
    close_if(&ch.out_fd);
    close_if(&ch.err_fd);
    *status = runner_wait(ch.pid);
    return 0;
}
