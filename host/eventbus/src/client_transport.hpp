// How a BusClient reaches the broker: a socket (RemoteTransport) or directly (LocalTransport).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/eventbus/bus_error.hpp"
#include "daemoneye/eventbus/rpc_request.hpp"
#include "daemoneye/result.hpp"
#include "reply_stamp.hpp"
#include "request_stamp.hpp"

namespace daemoneye::eventbus {

class ClientTransport {
  public:
    virtual ~ClientTransport() = default;
    // The hot path: encode (socket) or route (in-process) one message.
    virtual Result<void, BusError> publish(std::string_view topic, std::string_view payload_type,
                                           std::span<const std::uint8_t> payload,
                                           const common::v1::CorrelationMetadata* correlation) = 0;
    // Control messages: Subscribe, Unsubscribe, RPC, Heartbeat, Goodbye.
    virtual Result<void, BusError> send(const bus::v1::Envelope& envelope) = 0;
    // RPC without an Envelope object around it (a socket writes the Envelope header itself).
    // `now`: write it at once rather than after the current handler (a call nothing else is
    // waiting on: its round trip starts at the write; calls made while others are in flight
    // are batched instead).
    // `stamp`: fields the client adds, written after the request (an in-process transport sets
    // them on it instead).
    virtual Result<void, BusError> send_rpc_request(rpcv1::RpcRequest& request,
                                                    const RequestStamp& stamp, bool now) = 0;
    // A served request's reply: the handler's response with the stamp's fields after it.
    virtual Result<void, BusError> send_rpc_response(const rpcv1::RpcResponse& response,
                                                     const ReplyStamp& stamp) = 0;
    virtual boost::asio::awaitable<void> wait_writable() = 0;
    virtual boost::asio::awaitable<void> flush() = 0;
    virtual std::size_t outbound_bytes() const = 0;
    virtual bool connected() const = 0;
    // Says Goodbye (best effort) and closes for good: no reconnect.
    virtual void close(const std::string& reason) = 0;
};

}  // namespace daemoneye::eventbus
