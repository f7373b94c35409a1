/* SPDX-License-Identifier: MIT */
/* The process runner: starting a child (see runner.h; reaping and
 * runner_run are in runner_wait.c).
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

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fdio.h"

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

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
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
    "setsid", "TIOCSCTTY", "openpty",
};
enum { STEP_DUP2, STEP_UMASK, STEP_SETRESGID, STEP_SETGROUPS, STEP_SETRESUID, STEP_CHDIR,
       STEP_EXECVE, STEP_SIGACTION, STEP_SETSID,
       STEP_TIOCSCTTY, STEP_OPENPTY };

struct child_ctx {
    const struct runner_spec *spec;
    char *const *envp;
    const char *candidates[MAX_CANDIDATES];
    size_t ncandidates;
    int stdio[3]; /* what becomes the child's 0, 1, 2; -1: left as it is */
    volatile struct child_report *report; /* in the parent's frame */
    sigset_t reset; /* dispositions to reset to default */
    sigset_t child_mask; /* the child's signal mask at exec */
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

/* Not instrumented, as child_main: ASan's no-return hook, run on the
 * child's borrowed stack, would warn on the child's stderr, which may be a
 * pipe the caller already reads (remctld's). */
__attribute__((noreturn, no_sanitize("address", "undefined"))) static void
child_fail(const struct child_ctx *c, int stage, int step, int err)
{
    c->report->err = err;
    c->report->what = step;
    c->report->stage = stage; /* nonzero: the parent's sign of failure */
    _exit(127);
}

/* Descriptors we inherited from whoever started us stay out of the
 * command: everything above 2 is marked close-on-exec.  Kernels before
 * 5.11 cannot do that in one call; there the open ones are listed from
 * /proc, or, without /proc, tried one by one up to the limit.  Runs in
 * the child: system calls only. */
__attribute__((no_sanitize("address", "undefined"))) static void cloexec_above_stdio(void)
{
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
    int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        _Alignas(struct dirent64) char entries[2048];
        for (ssize_t n; (n = getdents64(dir, entries, sizeof entries)) > 0;)
            for (ssize_t at = 0; at < n;) {
                const struct dirent64 *e = (const void *)(entries + at);
                int fd = 0;
                for (const char *d = e->d_name; *d >= '0' && *d <= '9'; d++)
                    fd = fd * 10 + (*d - '0');
                if (fd > 2 && fd != dir)
                    fcntl(fd, F_SETFD, FD_CLOEXEC);
                at += e->d_reclen;
            }
        close(dir);
        return;
    }
    struct rlimit lim;
    int max = getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < 65536 ? (int)lim.rlim_cur
                                                                            : 65536;
    for (int fd = 3; fd < max; fd++)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
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
        if (sigismember(&c->reset, sig) == 1 && sigaction(sig, &dfl, NULL) < 0)
            child_fail(c, RUNNER_STAGE_SETUP, STEP_SIGACTION, errno);

    /* dup2 fills 0, 1, 2 in turn: a source sitting in a slot filled before
     * its own turn (a caller running with stdio closed gets pipes there)
     * moves out of the way first. */
    int stdio[3] = {c->stdio[0], c->stdio[1], c->stdio[2]};
    for (int fd = 1; fd < 3; fd++)
        for (int before = 0; before < fd; before++)
            if (stdio[fd] == before && stdio[before] >= 0 && stdio[before] != before) {
                stdio[fd] = fcntl(stdio[fd], F_DUPFD_CLOEXEC, 3);
                if (stdio[fd] < 0)
                    child_fail(c, RUNNER_STAGE_SETUP, STEP_DUP2, errno);
            }
    for (int fd = 0; fd < 3; fd++) {
        if (stdio[fd] < 0 || stdio[fd] == fd) {
            /* Already in place: only clear close-on-exec. */
            if (stdio[fd] == fd)
                fcntl(fd, F_SETFD, 0);
            continue;
        }
        if (dup2(stdio[fd], fd) < 0)
            child_fail(c, RUNNER_STAGE_SETUP, STEP_DUP2, errno);
    }
    if ((s->new_session || s->pty) && setsid() < 0)
        child_fail(c, RUNNER_STAGE_SETUP, STEP_SETSID, errno);
    /* The terminal on 0 becomes the new session's controlling one. */
    if (s->pty && ioctl(0, TIOCSCTTY, 0) < 0)
        child_fail(c, RUNNER_STAGE_SETUP, STEP_TIOCSCTTY, errno);
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
    cloexec_above_stdio();
    sigprocmask(SIG_SETMASK, &c->child_mask, NULL);

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

static void fail_set(struct runner_failure *fail, enum runner_stage stage, int err,
                     const char *what)
{
    if (fail) {
        fail->stage = stage;
        fail->err = err;
        fail->what = what;
    }
}

/* Our end of a pipe, moved above 2 if it landed there: a caller running
 * with stdin, stdout or stderr closed would otherwise print into it. */
static int above_stdio(int *fd)
{
    if (*fd > 2)
        return 0;
    int moved = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
    if (moved < 0)
        return -1;
    close(*fd);
    *fd = moved;
    return 0;
}

int runner_open_pipe(int child_fd, bool blocking, int *ours, int *theirs)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    *theirs = child_fd == 0 ? p[0] : p[1];
    *ours = child_fd == 0 ? p[1] : p[0];
    /* A new pipe end has no other status flag: one call, not F_GETFL and
     * F_SETFL. */
    if (above_stdio(ours) < 0 || (!blocking && fcntl(*ours, F_SETFL, O_NONBLOCK) < 0)) {
        fdio_close(ours);
        fdio_close(theirs);
        return -1;
    }
    return 0;
}

/* One of the child's standard descriptors: our end (if a pipe) in *ours,
 * the child's end in *theirs (-1: the child keeps ours). */
static int open_stdio(enum runner_io io, int given, int child_fd, bool blocking, int *ours,
                      int *theirs, int *devnull)
{
    *ours = -1;
    *theirs = -1;
    switch (io) {
    case RUNNER_PIPE:
        return runner_open_pipe(child_fd, blocking, ours, theirs);
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
    case RUNNER_KEEP:
        return 0;
    }
    errno = EINVAL;
    return -1;
}

/* A new pseudo-terminal: the master in *master (above 2, close-on-exec,
 * non-blocking unless blocking), the slave in *slave (close-on-exec: the
 * spawn dup2s it), cols x rows. */
static int open_pty(bool blocking, unsigned short cols, unsigned short rows, int *master,
                    int *slave)
{
    *slave = -1;
    *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*master < 0)
        return -1;
    char name[64];
    struct winsize ws = {.ws_row = rows ? rows : 24, .ws_col = cols ? cols : 80};
    if (above_stdio(master) < 0 || grantpt(*master) < 0 || unlockpt(*master) < 0 ||
        ptsname_r(*master, name, sizeof name) != 0 ||
        (*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0 ||
        ioctl(*slave, TIOCSWINSZ, &ws) < 0 ||
        (!blocking && fcntl(*master, F_SETFL, O_RDWR | O_NONBLOCK) < 0)) {
        fdio_close(master);
        fdio_close(slave);
        return -1;
    }
    return 0;
}

/* The 64-bit signal mask on the line starting with key in a
 * /proc/PID/status text, bit N-1 for signal N; false when it is not
 * there. */
static bool status_mask(const struct buf *status, const char *key, uint64_t *mask)
{
    const char *text = (const char *)buf_head(status), *end = text + buf_len(status);
    size_t key_len = strlen(key);
    for (const char *line = text; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *line_end = nl ? nl : end;
        if ((size_t)(line_end - line) > key_len && memcmp(line, key, key_len) == 0) {
            uint64_t m = 0;
            const char *p = line + key_len;
            while (p < line_end && (*p == ' ' || *p == '\t'))
                p++;
            int digits = 0;
            for (; p < line_end && digits <= 16; p++, digits++) {
                int v = *p >= '0' && *p <= '9'   ? *p - '0'
                        : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                                                 : -1;
                if (v < 0)
                    return false;
                m = m << 4 | (uint64_t)v;
            }
            if (digits == 0 || digits > 16)
                return false;
            *mask = m;
            return true;
        }
        line = line_end + 1;
    }
    return false;
}

/* The kernel lists the ignored (SigIgn) and caught (SigCgt) signals in
 * /proc/self/status: one read instead of 64 sigaction queries, which a
 * fan-out pays at each of its thousand spawns (about 8 us against 64 us
 * on a virtual machine).  False without /proc. */
static bool signals_from_proc(sigset_t *set, bool with_ignored)
{
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct buf status = BUF_INIT;
    int rc = fdio_read_all(fd, &status, 1 << 20);
    close(fd);
    uint64_t ignored = 0, caught = 0;
    bool ok = rc == 0 && status_mask(&status, "SigIgn:", &ignored) &&
              status_mask(&status, "SigCgt:", &caught);
    buf_free(&status);
    if (!ok)
        return false;
    uint64_t reset = caught | (with_ignored ? ignored : 0);
    sigemptyset(set);
    for (int sig = 1; sig < NSIG && sig <= 64; sig++)
        if (reset >> (sig - 1) & 1 && sig != SIGKILL && sig != SIGSTOP)
            sigaddset(set, sig); /* refuses the C library's own, as sigaction does */
    return true;
}

void runner_signals_to_reset(sigset_t *set, bool with_ignored)
{
    if (signals_from_proc(set, with_ignored))
        return;
    sigemptyset(set);
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) < 0 ||
            sa.sa_handler == SIG_DFL || (sa.sa_handler == SIG_IGN && !with_ignored))
            continue;
        sigaddset(set, sig); /* handlers too: reset before the mask opens */
    }
}

int runner_spawn(const struct runner_spec *spec, struct runner_child *child,
                 struct runner_failure *fail)
{
    fail_set(fail, RUNNER_STAGE_NONE, 0, NULL);
    child->pid = -1;
    child->in_fd = child->out_fd = child->err_fd = child->pty_fd = -1;
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
    int pty_master = -1, pty_slave = -1;
    volatile struct child_report report = {RUNNER_STAGE_NONE, 0, 0};
    c.report = &report;
    enum runner_io io[3] = {spec->in, spec->out, spec->err};
    int given[3] = {spec->in_fd, spec->out_fd, spec->err_fd};
    if (spec->pty) {
        if (open_pty(spec->blocking_pipes, spec->pty_cols, spec->pty_rows, &pty_master,
                     &pty_slave) < 0) {
            fail_set(fail, RUNNER_STAGE_PARENT, errno, "openpty");
            goto fail;
        }
        for (int fd = 0; fd < 3; fd++) {
            io[fd] = RUNNER_FD;
            given[fd] = pty_slave;
        }
    }
    for (int fd = 0; fd < 3; fd++) {
        if (open_stdio(io[fd], given[fd], fd, spec->blocking_pipes, &ours[fd], &theirs[fd],
                       &devnull) < 0) {
            fail_set(fail, RUNNER_STAGE_PARENT, errno, "pipe");
            goto fail;
        }
        c.stdio[fd] = theirs[fd];
    }
    if (spec->blocked_signals)
        c.child_mask = *spec->blocked_signals;
    else
        sigemptyset(&c.child_mask);
    if (spec->reset_signals)
        c.reset = *spec->reset_signals;
    else
        runner_signals_to_reset(&c.reset, true);

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
            fdio_close(&theirs[fd]);
    fdio_close(&devnull);
    fdio_close(&pty_slave);
    child->pid = pid;
    child->pty_fd = pty_master;
    child->in_fd = ours[0];
    child->out_fd = ours[1];
    child->err_fd = ours[2];
    return 0;

fail:
    for (int fd = 0; fd < 3; fd++) {
        fdio_close(&ours[fd]);
        if (io[fd] == RUNNER_PIPE)
            fdio_close(&theirs[fd]);
    }
    fdio_close(&devnull);
    fdio_close(&pty_master);
    fdio_close(&pty_slave);
    return -1;
}

