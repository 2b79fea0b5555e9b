/* Reports what the sandbox looks like from inside, as health() detail lines:
 * /proc/self/status fields, ids, open descriptors, environment, namespaces, and what its static
 * constructor saw (which runs at dlopen, so it must already be confined). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>

#include "test_plugin.h"

extern char** environ;

static const char* const k_none[] = {NULL};
static char g_ctor_seccomp[32] = "unset";

static void status_field(const char* field, char* out, size_t cap) {
    snprintf(out, cap, "unreadable");
    FILE* f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        snprintf(out, cap, "unreadable(errno=%d)", errno);
        return;
    }
    char line[256];
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            char* v = line + n + 1;
            while (*v == ' ' || *v == '\t') ++v;
            v[strcspn(v, "\n")] = '\0';
            snprintf(out, cap, "%s", v);
            break;
        }
    }
    fclose(f);
}

__attribute__((constructor)) static void probe_ctor(void) {
    status_field("Seccomp", g_ctor_seccomp, sizeof g_ctor_seccomp);
}

static void ns_link(const char* name, char* out, size_t cap) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/ns/%s", name);
    ssize_t n = readlink(path, out, cap - 1);
    if (n < 0) {
        snprintf(out, cap, "unreadable(errno=%d)", errno);
        return;
    }
    out[n] = '\0';
}

static de_status probe_health(de_plugin* self, de_health* out) {
    (void)self;
    char nnp[32], seccomp[32], capeff[32], capprm[32], capbnd[32], net[64], uts[64], ipc[64];
    status_field("NoNewPrivs", nnp, sizeof nnp);
    status_field("Seccomp", seccomp, sizeof seccomp);
    status_field("CapEff", capeff, sizeof capeff);
    status_field("CapPrm", capprm, sizeof capprm);
    status_field("CapBnd", capbnd, sizeof capbnd);
    ns_link("net", net, sizeof net);
    ns_link("uts", uts, sizeof uts);
    ns_link("ipc", ipc, sizeof ipc);

    /* "fd:target" for every open descriptor, e.g. "3:socket:[123]". */
    char fds[512] = "";
    for (int fd = 0; fd < 1024; ++fd) {
        if (fcntl(fd, F_GETFD) >= 0) {
            char link[64], target[96];
            snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
            ssize_t n = readlink(link, target, sizeof target - 1);
            target[n > 0 ? n : 0] = '\0';
            size_t len = strlen(fds);
            snprintf(fds + len, sizeof fds - len, "%s%d:%s", len ? "," : "", fd, target);
        }
    }
    int env = 0;
    for (char** e = environ; e != NULL && *e != NULL; ++e) ++env;

    errno = 0;
    int hostname_fd = open("/etc/hostname", O_RDONLY);
    int hostname_errno = hostname_fd < 0 ? errno : 0;
    if (hostname_fd >= 0) close(hostname_fd);

    /* Another process's executable through the /proc magic link (the parent: the test or the
     * agent), and two ways at the host's /etc/shadow: by name and through the parent's root link.
     */
    char parent_exe[256], exe_link[64];
    snprintf(exe_link, sizeof exe_link, "/proc/%d/exe", (int)getppid());
    ssize_t exe_n = readlink(exe_link, parent_exe, sizeof parent_exe - 1);
    if (exe_n < 0) {
        snprintf(parent_exe, sizeof parent_exe, "unreadable(errno=%d)", errno);
    } else {
        parent_exe[exe_n] = '\0';
    }
    int exe_fd = open(exe_link, O_RDONLY);
    int exe_open_errno = exe_fd < 0 ? errno : 0;
    if (exe_fd >= 0) close(exe_fd);
    int shadow_fd = open("/etc/shadow", O_RDONLY);
    int shadow_errno = shadow_fd < 0 ? errno : 0;
    if (shadow_fd >= 0) close(shadow_fd);
    char root_shadow[64];
    snprintf(root_shadow, sizeof root_shadow, "/proc/%d/root/etc/shadow", (int)getppid());
    int root_shadow_fd = open(root_shadow, O_RDONLY);
    int root_shadow_errno = root_shadow_fd < 0 ? errno : 0;
    if (root_shadow_fd >= 0) close(root_shadow_fd);

    out->state = DE_HEALTH_HEALTHY;
    snprintf(
        out->detail, sizeof out->detail,
        "probe.nonewprivs=%s\nprobe.seccomp=%s\nprobe.capeff=%s\nprobe.capprm=%s\nprobe.capbnd=%s\n"
        "probe.uid=%d\nprobe.euid=%d\nprobe.gid=%d\nprobe.fds=%s\nprobe.env=%d\nprobe.netns=%s\n"
        "probe.utsns=%s\nprobe.ipcns=%s\nprobe.ctor_seccomp=%s\nprobe.open_etc_hostname_errno=%d\n"
        "probe.parent_pid=%d\nprobe.parent_exe=%s\nprobe.parent_exe_open_errno=%d\n"
        "probe.open_shadow_errno=%d\nprobe.open_parent_root_shadow_errno=%d",
        nnp, seccomp, capeff, capprm, capbnd, (int)getuid(), (int)geteuid(), (int)getgid(), fds,
        env, net, uts, ipc, g_ctor_seccomp, hostname_errno, (int)getppid(), parent_exe,
        exe_open_errno, shadow_errno, root_shadow_errno);
    return DE_OK;
}

static const de_plugin_descriptor k_descriptor = {sizeof(de_plugin_descriptor),
                                                  DE_PLUGIN_ABI_MAJOR,
                                                  DE_PLUGIN_ABI_MINOR,
                                                  "probe",
                                                  "1.0.0",
                                                  "Reports the sandbox from inside",
                                                  k_none,
                                                  k_none,
                                                  k_none,
                                                  test_create,
                                                  test_start,
                                                  test_stop,
                                                  test_destroy,
                                                  NULL,
                                                  NULL,
                                                  probe_health};

DE_TEST_ENTRY(k_descriptor)
