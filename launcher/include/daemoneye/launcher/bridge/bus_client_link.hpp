// BusLink over the broker's own client (daemoneye::eventbus::BusClient::connect_fd on the
// inherited socketpair end): one Asio thread runs the client; a pump coroutine publishes control
// messages first, then drains the emit buffer, waiting on the client's backpressure
// (wait_writable) instead of dropping; RPCs are served with BusClient::serve and answered when
// the control thread calls respond().
#pragma once

#include <memory>

#include "daemoneye/launcher/bridge/bus_link.hpp"

namespace daemoneye::launcher {

class BusClientLink final : public BusLink {
  public:
    explicit BusClientLink(int fd);
    ~BusClientLink() override;

    Result<bus::v1::Welcome> handshake(const bus::v1::Hello& hello,
                                       std::chrono::milliseconds timeout) override;
    void start(BusCallbacks callbacks, EmitBuffer& events) override;
    void serve_rpc(const std::string& topic) override;
    void publish(bus::v1::Message message) override;
    void respond(rpc::v1::RpcResponse response) override;
    void events_ready() override;
    bool flush(std::chrono::milliseconds timeout) override;
    void close(const std::string& reason, std::chrono::milliseconds timeout) override;
    std::optional<BusLinkStats> stats() const override;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace daemoneye::launcher
