// A client's socket connection: publishes are encoded straight into a frame buffer (no protobuf
// objects) and sent by a posted non-blocking write once the current handler is done (a writer
// coroutine finishes what the socket could not take at once), a reader
// coroutine dispatches Batches to the client, and lost connections are re-dialled with
// exponential backoff and jitter (socket_path clients).
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "client_transport.hpp"
#include "daemoneye/eventbus/bus_client.hpp"
#include "daemoneye/wire/framed_stream.hpp"

namespace daemoneye::eventbus {

class RemoteTransport final : public ClientTransport,
                              public std::enable_shared_from_this<RemoteTransport> {
  public:
    using Socket = wire::FramedStream::Socket;

    RemoteTransport(boost::asio::any_io_executor executor, const ClientOptions& options,
                    std::weak_ptr<BusClient::Impl> core);
    ~RemoteTransport() override;

    // Dials options.socket_path (or takes `socket`) and does Hello/Welcome.
    boost::asio::awaitable<Result<bus::v1::Welcome, BusError>> connect(
        const bus::v1::Hello& hello, std::optional<Socket> socket);
    // Starts the reader/writer (and reconnects later when allowed).
    void start();

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
    std::size_t outbound_bytes() const override { return out_.size() + writing_.size(); }
    bool connected() const override { return connected_; }
    void close(const std::string& reason) override;

  private:
    boost::asio::awaitable<Result<bus::v1::Welcome, BusError>> handshake(
        std::shared_ptr<wire::FramedStream> stream, const bus::v1::Hello& hello);
    boost::asio::awaitable<void> run();
    boost::asio::awaitable<void> writer(std::shared_ptr<wire::FramedStream> stream,
                                        std::uint64_t generation);
    boost::asio::awaitable<void> heartbeats(std::uint64_t generation);
    bool dispatch(std::span<const std::uint8_t> frame);
    std::uint8_t* reserve_item(std::size_t item_size);
    void finish_frame();
    void wake_writer();     // lets the writer coroutine see a lost connection / close
    void schedule_flush();  // after this handler: write what is queued, non-blocking
    void flush_now();

    boost::asio::any_io_executor executor_;
    ClientOptions options_;
    std::weak_ptr<BusClient::Impl> core_;
    std::shared_ptr<wire::FramedStream> stream_;
    bool connected_ = false;
    std::string valid_topic_;     // the last topic publish() validated (publishers repeat)
    std::size_t send_limit_ = 0;  // min(our max_frame_bytes, the broker's from Welcome)
    // Limit (naming the sizes) when an item of `item` bytes (a `body`-byte control message)
    // does not fit send_limit_.
    Result<void, BusError> control_fits(std::size_t body, std::size_t item) const;
    bool closed_ = false;
    std::string close_reason_;  // for the Goodbye to a re-dial the client was closed during
    bool can_redial_ = false;
    std::uint64_t generation_ = 0;

    std::vector<std::uint8_t> out_;      // frames being filled
    std::vector<std::uint8_t> writing_;  // frames being written
    std::size_t writing_offset_ = 0;     // of writing_, already sent by flush_now()
    bool flush_posted_ = false;
    bool dispatching_ = false;  // output queued meanwhile is flushed right after the frame
    bool flush_wanted_ = false;
    std::size_t frame_start_ = SIZE_MAX;
    std::uint64_t bytes_queued_ = 0;
    std::uint64_t bytes_done_ = 0;  // written (or discarded with a lost connection)
    boost::asio::steady_timer wake_;
    boost::asio::steady_timer progress_;
    bool writer_waiting_ = false;

    // Encodes `body` and the stamp after it (request_stamp.hpp, reply_stamp.hpp) as Envelope
    // field `envelope_field` straight into the outbound buffer.
    template <class Stamp>
    Result<void, BusError> send_body(std::uint32_t envelope_field,
                                     const google::protobuf::MessageLite& body, const Stamp& stamp);

    bus::v1::Envelope envelope_;
    // RPC bodies parse into their own reused objects (no Envelope oneof churn).
    rpcv1::RpcRequest request_;
    rpcv1::RpcResponse response_;
    std::vector<std::uint64_t> ids_;
    std::mt19937_64 rng_;
};

}  // namespace daemoneye::eventbus
