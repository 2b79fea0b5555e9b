// Turns a session's queued items into ONE Batch frame payload (up to max_frame_bytes): each
// delivery gets its own small Envelope/Deliver header around the shared Message bytes. Small
// messages are copied next to their headers (the kernel would copy them anyway, and one iovec
// per 300-byte message would cost more than the copy); messages of gather_threshold bytes or
// more are referenced in place and written with scatter-gather, so big payloads are never
// copied in user space.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>

#include "daemoneye/wire/frame_codec.hpp"
#include "message_buffer.hpp"
#include "outbound_queue.hpp"

namespace daemoneye::eventbus {

class FrameBuilder {
  public:
    // `batch_bytes` (0 = max_frame_bytes) is where a frame stops taking more items: a writer
    // that sends ~64 KiB frames lets the reader dispatch one while the next is in flight, where
    // a 1 MiB frame would make it wait for the whole frame (and the writer for the reader). One
    // item larger than batch_bytes still goes out alone, up to max_frame_bytes.
    explicit FrameBuilder(std::size_t max_frame_bytes,
                          std::size_t gather_threshold = std::size_t{16} << 10,
                          std::size_t batch_bytes = 0);

    // Moves items from the front of `queue` into the frame until it is full or the queue is
    // empty. Returns the number of items taken; items that can never fit a frame are dropped
    // and counted in oversized().
    std::size_t build(OutboundQueue& queue);
    bool empty() const { return payload_bytes_ == 0; }
    std::size_t payload_bytes() const { return payload_bytes_; }
    std::size_t deliveries() const { return deliveries_; }
    std::uint64_t oversized() const { return oversized_; }
    // oversized() since the last call (the writer reports each drop once).
    std::uint64_t take_oversized() { return std::exchange(oversized_, 0); }

    // The frame payload as buffers for FramedStream::write_frame (valid until reset()).
    std::span<const boost::asio::const_buffer> buffers();
    // When every byte of the payload was copied (no message referenced in place, the usual case):
    // the whole frame, wire::kFrameHeaderSize bytes of room for the header and then the payload,
    // for FramedStream::try_write_whole_frame (one buffer: one send(), no iovec array). Empty
    // otherwise. Valid until reset().
    std::span<std::uint8_t> whole_frame();
    // After the write: drops the references held for gathered messages, keeps capacity.
    void reset();

    // Size of one delivery item inside a Batch.
    static std::size_t delivery_item_size(std::size_t message_size,
                                          std::span<const std::uint64_t> subscription_ids);

  private:
    void append_delivery(const OutboundItem& item);
    void append_envelope(const OutboundItem& item);
    void flush_copy_run();

    std::size_t max_frame_bytes_;
    std::size_t gather_threshold_;
    std::size_t batch_bytes_;
    std::vector<std::uint8_t> scratch_;  // starts with room for the frame header
    struct Segment {
        const std::uint8_t* ref = nullptr;  // null: scratch_[offset, offset+len)
        std::size_t offset = 0;
        std::size_t len = 0;
    };
    std::vector<Segment> segments_;
    std::size_t run_start_ = wire::kFrameHeaderSize;  // scratch run not yet in segments_
    std::vector<MessageRef> held_;
    std::vector<boost::asio::const_buffer> buffers_;
    std::size_t payload_bytes_ = 0;
    std::size_t deliveries_ = 0;
    std::uint64_t oversized_ = 0;
};

}  // namespace daemoneye::eventbus
