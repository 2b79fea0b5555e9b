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
 *           Also capeff (the plugin's effective capabilities), and what the host's ABI 1.2
 *           functions answer for root_pid (links.*: process_links; exe.*: open_process_exe, and
 *           whether the descriptor reads an ELF header).
 *   task "hostile": writes malformed and ungranted requests straight onto the helper's socket
 *           (the plugin shares the launcher's descriptors) and records the reply status of each;
 *           then one valid process_links call through the host ("after ..."). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helper_probe.h"
#include "test_plugin.h"

static const char* const k_none[] = {NULL};
static const char* const k_perms[] = {"proc.read", NULL};
static const char* const k_caps[] = {"hostile", NULL};

typedef struct links_seen {
    int called;
    int exe_errno;
    char exe[256];
    int cwd_errno;
    char cwd[256];
    char mnt[64];
    size_t ns_count;
    int root_exe_errno;
    unsigned long long exe_ino;
    int fingerprint_nonzero;
} links_seen;

static void on_links(void* ctx, const de_process_links* l) {
    links_seen* s = (links_seen*)ctx;
    ++s->called;
    s->exe_errno = l->exe_errno;
    snprintf(s->exe, sizeof s->exe, "%s", l->exe);
    s->cwd_errno = l->cwd_errno;
    snprintf(s->cwd, sizeof s->cwd, "%s", l->cwd);
    s->ns_count = l->ns_count;
    for (size_t i = 0; i < l->ns_count; ++i) {
        if (strcmp(l->ns_names[i], "mnt") == 0)
            snprintf(s->mnt, sizeof s->mnt, "%s", l->ns_links[i]);
    }
    s->root_exe_errno = l->root_exe_errno;
    s->exe_ino = (unsigned long long)l->exe_ino;
    s->fingerprint_nonzero = l->image_fingerprint != 0;
}

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
    if (used < cap) used += strlen(out->detail + used);
    /* The host's answers (ABI 1.2) for root_pid. */
    unsigned long pid = strtoul(config_text(host, "root_pid"), NULL, 10);
    links_seen seen;
    memset(&seen, 0, sizeof seen);
    de_status ls = DE_ERR_UNSUPPORTED, es = DE_ERR_UNSUPPORTED;
    int elf = 0;
    if (DE_HOST_API_HAS(host, process_links)) {
        ls = host->process_links(host->host_ctx, (uint32_t)pid, on_links, &seen);
    }
    if (DE_HOST_API_HAS(host, open_process_exe)) {
        int fd = -1;
        es = host->open_process_exe(host->host_ctx, (uint32_t)pid, &fd);
        if (es == DE_OK) {
            char magic[4];
            elf = pread(fd, magic, 4, 0) == 4 && memcmp(magic,
                                                        "\x7f"
                                                        "ELF",
                                                        4) == 0;
            close(fd);
        }
    }
    if (used < cap) {
        snprintf(out->detail + used, cap - used,
                 "links.offered=%d\nlinks.status=%s\nlinks.calls=%d\nlinks.exe_errno=%d\n"
                 "links.exe=%s\nlinks.cwd_errno=%d\nlinks.cwd=%s\nlinks.mnt=%s\nlinks.ns=%zu\n"
                 "links.root_exe_errno=%d\nlinks.fingerprint=%d\nexe.status=%s\nexe.elf=%d\n",
                 DE_HOST_API_HAS(host, process_links), de_status_name(ls), seen.called,
                 seen.exe_errno, seen.exe, seen.cwd_errno, seen.cwd, seen.mnt, seen.ns_count,
                 seen.root_exe_errno, seen.fingerprint_nonzero, de_status_name(es), elf);
    }
    out->state = DE_HEALTH_HEALTHY;
    return DE_OK;
}

/* A request header {magic, version 1, kind, id, count} + `extra` u64 values of `value`. */
static size_t request(uint8_t* msg, uint16_t kind, uint32_t id, uint32_t count, size_t extra,
                      uint64_t value) {
    uint32_t magic = 0x48594544;
    uint16_t version = 1;
    memcpy(msg, &magic, 4);
    memcpy(msg + 4, &version, 2);
    memcpy(msg + 6, &kind, 2);
    memcpy(msg + 8, &id, 4);
    memcpy(msg + 12, &count, 4);
    for (size_t i = 0; i < extra; ++i) memcpy(msg + 16 + 8 * i, &value, 8);
    return 16 + 8 * extra;
}

static de_status secrets_task(de_plugin* self, const de_task* task, const de_task_sink* sink,
                              de_error* err) {
    const de_host_api* host = ((test_instance*)self)->host;
    if (strcmp(task->kind, "hostile") != 0) return DE_ERR_UNSUPPORTED;
    int fd = helper_fd();
    if (fd < 0) {
        test_set_error(err, "no SOCK_SEQPACKET descriptor (no helper)");
        return DE_ERR_NOT_FOUND;
    }
    static uint8_t msg[256];
    attempt(sink, fd, "links_two_pids", msg, request(msg, 2, 2001, 2, 2, 1), 2001);
    attempt(sink, fd, "links_pid_zero", msg, request(msg, 2, 2002, 1, 1, 0), 2002);
    attempt(sink, fd, "links_pid_huge", msg, request(msg, 2, 2003, 1, 1, 5000000), 2003);
    attempt(sink, fd, "open_exe_no_pid", msg, request(msg, 3, 2004, 1, 0, 0), 2004);
    attempt(sink, fd, "open_exe_trailing", msg, request(msg, 3, 2005, 1, 3, 1), 2005);
    attempt(sink, fd, "lookup_not_granted", msg, request(msg, 1, 2006, 1, 1, 12345), 2006);
    /* The helper keeps serving: a valid call through the host. */
    unsigned long pid = strtoul(config_text(host, "root_pid"), NULL, 10);
    links_seen seen;
    memset(&seen, 0, sizeof seen);
    de_status st = host->process_links(host->host_ctx, (uint32_t)pid, on_links, &seen);
    char rec[400];
    snprintf(rec, sizeof rec, "after status=%s exe=%s", de_status_name(st), seen.exe);
    test_record(sink, rec);
    return DE_OK;
}

static const de_plugin_descriptor k_descriptor = {sizeof(de_plugin_descriptor),
                                                  DE_PLUGIN_ABI_MAJOR,
                                                  DE_PLUGIN_ABI_MINOR,
                                                  "procsecrets",
                                                  "1.0.0",
                                                  "Tries to read other processes' secrets",
                                                  k_caps,
                                                  k_perms,
                                                  k_none,
                                                  test_create,
                                                  test_start,
                                                  test_stop,
                                                  test_destroy,
                                                  secrets_task,
                                                  NULL,
                                                  secrets_health};

DE_TEST_ENTRY(k_descriptor)
