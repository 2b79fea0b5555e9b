/* Tries what the sandbox forbids, one task kind each, and returns what happened as a record
 * "<kind> rc=<rc> errno=<errno>". Declares proc.read so it keeps CAP_DAC_READ_SEARCH: reading
 * /etc/shadow must then be stopped by Landlock, not by file permissions. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_plugin.h"

static const char* const k_caps[] = {"execve",     "socket", "ptrace",    "open_shadow", "fork",
                                     "write_file", "sigsys", "kill_init", "mount",       NULL};
static const char* const k_perms[] = {"proc.read", NULL};
static const char* const k_none[] = {NULL};

static long attempt(const char* kind) {
    if (strcmp(kind, "execve") == 0) {
        char* const argv[] = {(char*)"/bin/true", NULL};
        char* const envp[] = {NULL};
        return execve("/bin/true", argv, envp);
    }
    if (strcmp(kind, "socket") == 0) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0) close(fd);
        return fd;
    }
    if (strcmp(kind, "ptrace") == 0) return ptrace(PTRACE_ATTACH, 1, NULL, NULL);
    if (strcmp(kind, "open_shadow") == 0) {
        int fd = open("/etc/shadow", O_RDONLY);
        if (fd >= 0) close(fd);
        return fd;
    }
    if (strcmp(kind, "fork") == 0) {
        pid_t pid = fork();
        if (pid == 0) _exit(0); /* must never happen */
        if (pid > 0) waitpid(pid, NULL, 0);
        return pid;
    }
    if (strcmp(kind, "write_file") == 0) {
        int fd = open("/tmp/de_test_violator_write", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) close(fd);
        return fd;
    }
    if (strcmp(kind, "sigsys") == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_IGN;
        return sigaction(SIGSYS, &sa, NULL);
    }
    if (strcmp(kind, "kill_init") == 0) return kill(1, 0);
    if (strcmp(kind, "mount") == 0) return mount("none", "/tmp", "tmpfs", 0, NULL);
    errno = EINVAL;
    return -2;
}

static de_status violator_task(de_plugin* self, const de_task* task, const de_task_sink* sink,
                               de_error* err) {
    (void)self;
    (void)err;
    errno = 0;
    long rc = attempt(task->kind);
    int e = errno;
    char line[256];
    snprintf(line, sizeof line, "%s rc=%ld errno=%d (%s)", task->kind, rc, rc < 0 ? e : 0,
             rc < 0 ? strerror(e) : "none");
    test_record(sink, line);
    return DE_OK;
}

static const de_plugin_descriptor k_descriptor = {sizeof(de_plugin_descriptor),
                                                  DE_PLUGIN_ABI_MAJOR,
                                                  DE_PLUGIN_ABI_MINOR,
                                                  "violator",
                                                  "1.0.0",
                                                  "Tries forbidden syscalls on request",
                                                  k_caps,
                                                  k_perms,
                                                  k_none,
                                                  test_create,
                                                  test_start,
                                                  test_stop,
                                                  test_destroy,
                                                  violator_task,
                                                  NULL,
                                                  NULL};

DE_TEST_ENTRY(k_descriptor)
