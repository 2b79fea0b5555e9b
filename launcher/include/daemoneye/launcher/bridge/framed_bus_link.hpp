// BusLink over the framed bus protocol (bus.proto) on an inherited or connected Unix socket:
// one Asio thread with a reader coroutine and a writer coroutine; the writer coalesces control
// messages and queued events into one Batch per frame and stamps per-session sequence numbers.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "daemoneye/launcher/bridge/bus_link.hpp"

namespace daemoneye::launcher {

class FramedBusLink final : public BusLink {
  public:
    explicit FramedBusLink(int fd);
    ~FramedBusLink() override;

    Result<bus::v1::Welcome> handshake(const bus::v1::Hello& hello,
                                       std::chrono::milliseconds timeout) override;
    void start(BusCallbacks callbacks, EmitBuffer& events) override;
    void subscribe(const std::string& pattern) override;
    void publish(bus::v1::Message message) override;
    void respond(rpc::v1::RpcResponse response) override;
    void events_ready() override;
    bool flush(std::chrono::milliseconds timeout) override;
    void close(const std::string& reason, std::chrono::milliseconds timeout) override;
    std::uint64_t published() const override { return published_.load(std::memory_order_relaxed); }

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::atomic<std::uint64_t> published_{0};
};

}  // namespace daemoneye::launcher
