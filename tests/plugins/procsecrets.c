/* A hostile proc.read plugin: what the sandboxed plugin process itself can reach of other
 * processes' secrets through /proc. Raw C ABI, no SDK.
 *   health: for each of config "root_pid" (a process of another user, root) and "peer_pid" (a
 *           process of the sandbox's own user, nobody), reports errno and findings of:
 *             mem      open /proc/<pid>/mem, read the top 16 KiB of its [stack] (where the
 *                      environment strings live; address from /proc/<pid>/maps)
 *             environ  read /proc/<pid>/environ
 *             maps     open /proc/<pid>/maps (the address-space layout)
 *             exe      open /proc/<pid>/exe
 *             root     read /proc/<pid>/root/<config root_file> (a host file outside the fsview)
 *             cwd      read /proc/<pid>/cwd/<config cwd_file>
 *           "found" means config "marker" appeared in what was read.
 *           Also capeff (the plugin's effective capabilities). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "test_plugin.h"

static const char* const k_none[] = {NULL};
static const char* const k_perms[] = {"proc.read", NULL};

static const char* config_text(const de_host_api* host, const char* key) {
    const char* v = host->config_get(host->host_ctx, key);
    return v != NULL ? v : "";
}

/* Reads up to cap-1 bytes of `path` (NUL-terminated, embedded NULs kept); returns errno or 0. */
static int read_file(const char* path, char* buf, size_t cap, size_t* len) {
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    ssize_t n = read(fd, buf, cap - 1);
    int err = n < 0 ? errno : 0;
    close(fd);
    if (n > 0) *len = (size_t)n;
    buf[*len] = '\0';
    return err;
}

static int contains(const char* buf, size_t len, const char* marker) {
    return marker[0] != '\0' && memmem(buf, len, marker, strlen(marker)) != NULL;
}

/* The [stack] mapping of `pid` from its maps text. */
static int stack_range(const char* maps, unsigned long* lo, unsigned long* hi) {
    const char* line = maps;
    while (line != NULL && *line != '\0') {
        const char* end = strchr(line, '\n');
        size_t n = end != NULL ? (size_t)(end - line) : strlen(line);
        if (memmem(line, n, "[stack]", 7) != NULL && sscanf(line, "%lx-%lx", lo, hi) == 2) return 1;
        line = end != NULL ? end + 1 : NULL;
    }
    return 0;
}

static size_t report(char* out, size_t cap, const char* tag, const de_host_api* host,
                     const char* pid) {
    const char* marker = config_text(host, "marker");
    char path[512];
    static char buf[65536];
    size_t len = 0;
    size_t used = 0;

    snprintf(path, sizeof path, "/proc/%s/maps", pid);
    int maps_errno = read_file(path, buf, sizeof buf, &len);
    unsigned long lo = 0, hi = 0;
    int have_stack = maps_errno == 0 && stack_range(buf, &lo, &hi);

    snprintf(path, sizeof path, "/proc/%s/mem", pid);
    int mem_errno = 0, mem_found = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        mem_errno = errno;
    } else {
        if (have_stack) {
            unsigned long from = hi - lo > 16384 ? hi - 16384 : lo;
            ssize_t n = pread(fd, buf, hi - from, (off_t)from);
            if (n < 0) mem_errno = errno;
            if (n > 0) mem_found = contains(buf, (size_t)n, marker);
        }
        close(fd);
    }

    snprintf(path, sizeof path, "/proc/%s/environ", pid);
    int environ_errno = read_file(path, buf, sizeof buf, &len);
    int environ_found = contains(buf, len, marker);

    snprintf(path, sizeof path, "/proc/%s/exe", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    int exe_errno = fd < 0 ? errno : 0;
    if (fd >= 0) close(fd);

    snprintf(path, sizeof path, "/proc/%s/root%s", pid, config_text(host, "root_file"));
    int root_errno = read_file(path, buf, sizeof buf, &len);
    int root_found = contains(buf, len, marker);

    snprintf(path, sizeof path, "/proc/%s/cwd/%s", pid, config_text(host, "cwd_file"));
    int cwd_errno = read_file(path, buf, sizeof buf, &len);
    int cwd_found = contains(buf, len, marker);

    used += (size_t)snprintf(
        out, cap,
        "%s.maps_errno=%d\n%s.mem_errno=%d\n%s.mem_found=%d\n%s.environ_errno=%d\n"
        "%s.environ_found=%d\n%s.exe_errno=%d\n%s.root_errno=%d\n%s.root_found=%d\n"
        "%s.cwd_errno=%d\n%s.cwd_found=%d\n",
        tag, maps_errno, tag, mem_errno, tag, mem_found, tag, environ_errno, tag, environ_found,
        tag, exe_errno, tag, root_errno, tag, root_found, tag, cwd_errno, tag, cwd_found);
    return used < cap ? used : cap;
}

static de_status secrets_health(de_plugin* self, de_health* out) {
    const de_host_api* host = ((test_instance*)self)->host;
    size_t cap = sizeof out->detail, used = 0;
    char capeff[64] = "unreadable";
    static char status[8192];
    size_t len = 0;
    if (read_file("/proc/self/status", status, sizeof status, &len) == 0) {
        const char* p = strstr(status, "CapEff:");
        if (p != NULL) sscanf(p, "CapEff: %63s", capeff);
    }
    used += (size_t)snprintf(out->detail, cap, "secrets.capeff=%s\n", capeff);
    used += report(out->detail + used, cap - used, "root", host, config_text(host, "root_pid"));
    if (used < cap) {
        report(out->detail + used, cap - used, "peer", host, config_text(host, "peer_pid"));
    }
    out->state = DE_HEALTH_HEALTHY;
    return DE_OK;
}

static const de_plugin_descriptor k_descriptor = {sizeof(de_plugin_descriptor),
                                                  DE_PLUGIN_ABI_MAJOR,
                                                  DE_PLUGIN_ABI_MINOR,
                                                  "procsecrets",
                                                  "1.0.0",
                                                  "Tries to read other processes' secrets",
                                                  k_none,
                                                  k_perms,
                                                  k_none,
                                                  test_create,
                                                  test_start,
                                                  test_stop,
                                                  test_destroy,
                                                  NULL,
                                                  NULL,
                                                  secrets_health};

DE_TEST_ENTRY(k_descriptor)
