// The in-process side of BusClient::connect_local: calls straight into the broker core on the
// same executor; the broker's LocalSession calls back through LocalEndpoint.
#pragma once

#include <memory>

#include "client_transport.hpp"
#include "daemoneye/eventbus/bus_client.hpp"
#include "local_session.hpp"

namespace daemoneye::eventbus {

class LocalTransport final : public ClientTransport, public LocalEndpoint {
  public:
    LocalTransport(std::shared_ptr<LocalSession> session, std::weak_ptr<BusClient::Impl> core);
    ~LocalTransport() override;

    Result<void, BusError> publish(std::string_view topic, std::string_view payload_type,
                                   std::span<const std::uint8_t> payload,
                                   const common::v1::CorrelationMetadata* correlation) override;
    Result<void, BusError> send(const bus::v1::Envelope& envelope) override;
    Result<void, BusError> send_rpc_request(rpcv1::RpcRequest& request, const RequestStamp& stamp,
                                            bool now) override;
    Result<void, BusError> send_rpc_response(const rpcv1::RpcResponse& response,
                                             const ReplyStamp& stamp) override;
    boost::asio::awaitable<void> wait_writable() override;
    boost::asio::awaitable<void> flush() override;
    std::size_t outbound_bytes() const override { return 0; }
    bool connected() const override;
    void close(const std::string& reason) override;

    void deliver(MessageView& message, std::span<const std::uint64_t> ids) override;
    void control(const std::shared_ptr<bus::v1::Envelope>& envelope) override;
    void disconnected(const std::string& reason) override;

  private:
    std::shared_ptr<LocalSession> session_;
    std::weak_ptr<BusClient::Impl> core_;
};

}  // namespace daemoneye::eventbus
