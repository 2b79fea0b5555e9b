// A session for an in-process client: the broker queues into it like any other session (same
// caps, same drop accounting) and a posted dispatcher hands the items to the client on the same
// executor. Deliveries are views of the broker's shared bytes; control messages stay objects.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "daemoneye/eventbus/message_view.hpp"
#include "session.hpp"

namespace daemoneye::eventbus {

// Implemented by the client side of an in-process connection.
class LocalEndpoint {
  public:
    virtual ~LocalEndpoint() = default;
    virtual void deliver(MessageView& message, std::span<const std::uint64_t> ids) = 0;
    // Ours to keep (an RPC request is read in place by the server's job) or move from.
    virtual void control(const std::shared_ptr<bus::v1::Envelope>& envelope) = 0;
    virtual void disconnected(const std::string& reason) = 0;
};

class LocalSession final : public Session {
  public:
    LocalSession(std::uint64_t id, BrokerCore* broker, QueueLimits limits);
    ~LocalSession() override;

    void attach(std::weak_ptr<LocalEndpoint> endpoint) { endpoint_ = std::move(endpoint); }
    void close(std::string reason) override;
    BrokerCore* broker() const { return broker_; }
    bool in_process() const override { return true; }

  private:
    void wake() override;
    void flush_now() override;
    void drain();

    std::shared_ptr<BufferPool> pool_;
    std::weak_ptr<LocalEndpoint> endpoint_;
    bool drain_posted_ = false;
    bool drain_listed_ = false;       // in BrokerCore::flush_pending
    std::uint64_t inline_round_ = 0;  // 1 + the flush round that last listed us
};

}  // namespace daemoneye::eventbus
