/* net.read privilege separation seen from inside the sandbox (ABI 1.1):
 *   health: whether the host offers socket_owners, the owner it reports for config "inode", and
 *           what this process itself can reach of config "pid": its /proc/<pid>/fd listing and
 *           /proc/<pid>/root/etc/shadow.
 *   task "hostile": writes malformed and oversized requests straight onto the socket-owner
 *           helper's socket (the plugin shares the launcher's descriptors, so a hostile plugin
 *           can) and records the helper's reply status to each; one record per attempt. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helper_probe.h"
#include "test_plugin.h"

static const char* const k_none[] = {NULL};
static const char* const k_caps[] = {"hostile", NULL};
static const char* const k_perms[] = {"net.read", NULL};

typedef struct lookup_result {
    uint64_t inode;
    uint32_t pid;
    char comm[64];
    char exe[256];
    int calls;
} lookup_result;

static void on_owner(void* ctx, uint64_t inode, uint32_t pid, const char* comm, const char* exe) {
    lookup_result* r = (lookup_result*)ctx;
    ++r->calls;
    if (inode != r->inode) return;
    r->pid = pid;
    snprintf(r->comm, sizeof r->comm, "%s", comm);
    snprintf(r->exe, sizeof r->exe, "%s", exe);
}

static unsigned long long config_number(const de_host_api* host, const char* key) {
    const char* v = host->config_get(host->host_ctx, key);
    return v != NULL ? strtoull(v, NULL, 10) : 0;
}

static de_status owners_health(de_plugin* self, de_health* out) {
    const de_host_api* host = ((test_instance*)self)->host;
    int offered = DE_HOST_API_HAS(host, socket_owners);
    lookup_result r;
    memset(&r, 0, sizeof r);
    r.inode = config_number(host, "inode");
    de_status status = DE_ERR_UNSUPPORTED;
    if (offered) {
        uint64_t inodes[3] = {0, r.inode, 1}; /* 0 is ignored, 1 is no socket */
        status = host->socket_owners(host->host_ctx, inodes, 3, on_owner, &r);
    }
    unsigned long long pid = config_number(host, "pid");
    char path[96];
    snprintf(path, sizeof path, "/proc/%llu/fd", pid);
    DIR* d = opendir(path);
    int fd_dir_errno = d == NULL ? errno : 0;
    if (d != NULL) closedir(d);
    snprintf(path, sizeof path, "/proc/%llu/root/etc/shadow", pid);
    int shadow = open(path, O_RDONLY);
    int root_shadow_errno = shadow < 0 ? errno : 0;
    if (shadow >= 0) close(shadow);
    snprintf(out->detail, sizeof out->detail,
             "owners.offered=%d\nowners.host_abi=%u.%u\nowners.status=%s\nowners.calls=%d\n"
             "owners.pid=%u\nowners.comm=%s\nowners.exe=%s\nowners.fd_dir_errno=%d\n"
             "owners.root_shadow_errno=%d",
             offered, (unsigned)host->abi_major, (unsigned)host->abi_minor, de_status_name(status),
             r.calls, r.pid, r.comm, r.exe, fd_dir_errno, root_shadow_errno);
    out->state = DE_HEALTH_HEALTHY;
    return DE_OK;
}

static void put32(uint8_t* p, uint32_t v) {
    memcpy(p, &v, 4);
}
static void put16(uint8_t* p, uint16_t v) {
    memcpy(p, &v, 2);
}

static de_status owners_task(de_plugin* self, const de_task* task, const de_task_sink* sink,
                             de_error* err) {
    (void)self;
    if (strcmp(task->kind, "hostile") != 0) return DE_ERR_UNSUPPORTED;
    int fd = helper_fd();
    if (fd < 0) {
        test_set_error(err, "no SOCK_SEQPACKET descriptor (no socket-owner helper)");
        return DE_ERR_NOT_FOUND;
    }
    static uint8_t msg[100000];
    memset(msg, 0xAB, sizeof msg);
    /* 1: shorter than a header. */
    attempt(sink, fd, "short", msg, 5, 0); /* too short to carry an id: 0 */
    /* 2: far over the size limit (kept whole by SOCK_SEQPACKET). */
    put32(msg + 8, 1002);
    attempt(sink, fd, "oversized", msg, sizeof msg, 1002);
    /* 3: valid header claiming more inodes than allowed. */
    put32(msg, 0x48594544);
    put16(msg + 4, 1);
    put16(msg + 6, 1);
    put32(msg + 8, 1003);
    put32(msg + 12, 5000);
    attempt(sink, fd, "too_many", msg, 16 + 8 * 5000 > sizeof msg ? sizeof msg : 16, 1003);
    /* 4: count 2 but three inodes' worth of bytes. */
    put32(msg + 8, 1004);
    put32(msg + 12, 2);
    attempt(sink, fd, "length_mismatch", msg, 16 + 24, 1004);
    /* 5: unknown request kind. */
    put16(msg + 6, 77);
    put32(msg + 8, 1005);
    attempt(sink, fd, "bad_kind", msg, 16 + 16, 1005);
    /* 6: bad magic. */
    put32(msg, 0xdeadbeef);
    put16(msg + 6, 1);
    put32(msg + 8, 1006);
    attempt(sink, fd, "bad_magic", msg, 16 + 16, 1006);
    return DE_OK;
}

static const de_plugin_descriptor k_descriptor = {sizeof(de_plugin_descriptor),
                                                  DE_PLUGIN_ABI_MAJOR,
                                                  DE_PLUGIN_ABI_MINOR,
                                                  "owners",
                                                  "1.0.0",
                                                  "net.read privilege separation from inside",
                                                  k_caps,
                                                  k_perms,
                                                  k_none,
                                                  test_create,
                                                  test_start,
                                                  test_stop,
                                                  test_destroy,
                                                  owners_task,
                                                  NULL,
                                                  owners_health};

DE_TEST_ENTRY(k_descriptor)
