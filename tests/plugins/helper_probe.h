/* What the hostile test plugins (owners.c, procsecrets.c) use to talk to the launcher's
 * privilege-separation helper directly, as a malicious plugin would. */
#ifndef DAEMONEYE_TEST_HELPER_PROBE_H
#define DAEMONEYE_TEST_HELPER_PROBE_H

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "test_plugin.h"

/* The helper's socket: the one SOCK_SEQPACKET descriptor (the bus is a stream socket). */
static int helper_fd(void) {
    for (int fd = 3; fd < 1024; ++fd) {
        int type = 0;
        socklen_t len = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_SEQPACKET)
            return fd;
    }
    return -1;
}

/* Sends `len` bytes and waits for the reply to request id `id`; "status=N" or "no reply". */
static void attempt(const de_task_sink* sink, int fd, const char* name, const uint8_t* msg,
                    size_t len, uint32_t id) {
    char rec[700];
    ssize_t sent = send(fd, msg, len, MSG_NOSIGNAL);
    if (sent != (ssize_t)len) {
        snprintf(rec, sizeof rec, "%s send_errno=%d", name, errno);
        test_record(sink, rec);
        return;
    }
    static uint8_t reply[70000];
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 20000) <= 0) {
            snprintf(rec, sizeof rec, "%s no_reply", name);
            break;
        }
        ssize_t n = recv(fd, reply, sizeof reply, 0);
        if (n < 16) {
            snprintf(rec, sizeof rec, "%s short_reply=%zd", name, n);
            break;
        }
        uint16_t status;
        uint32_t rid;
        memcpy(&status, reply + 6, 2);
        memcpy(&rid, reply + 8, 4);
        if (rid != id) continue;
        snprintf(rec, sizeof rec, "%s status=%u text=%.*s", name, (unsigned)status,
                 (int)(n - 16 > 500 ? 500 : n - 16), (const char*)reply + 16);
        break;
    }
    test_record(sink, rec);
}

#endif
