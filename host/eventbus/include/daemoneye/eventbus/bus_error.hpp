// Errors of the EventBus client and broker API: one type, a code a program can branch on and a
// message a person can act on (it names the topic, pattern, grant or limit involved).
#pragma once

#include <string>

namespace daemoneye::eventbus {

struct BusError {
    enum class Code {
        InvalidTopic,    // topic or pattern fails the grammar (message names the level)
        Denied,          // publish outside the session's grants, or another session's reply topic
        Limit,           // max_subscribers / max_connections / per-session topic limit reached
        Backpressure,    // the client's outbound buffer is full: retry after wait_writable()
        NotConnected,    // no session right now (closed, or reconnecting)
        Protocol,        // the peer broke the session protocol (wrong order, bad frame, version)
        Duplicate,       // subscription id already in use
        Io,              // socket-level failure (bind, connect, read, write)
        Timeout,         // handshake / acknowledgement did not arrive in time
        NotFound,        // unknown subscription id
        InvalidOptions,  // Client/BrokerOptions value out of range (names the field and value)
    };
    Code code = Code::Io;
    std::string message;
};

const char* to_string(BusError::Code code);

}  // namespace daemoneye::eventbus
