#include "frame_builder.hpp"

#include <algorithm>
#include <cstring>

#include "wire_format.hpp"

namespace daemoneye::eventbus {

using namespace wirefmt;

namespace {

std::size_t packed_size(std::span<const std::uint64_t> ids) {
    std::size_t n = 0;
    for (auto id : ids) n += varint_size(id);
    return n;
}

std::size_t deliver_body_size(std::size_t message_size, std::span<const std::uint64_t> ids) {
    std::size_t n = len_field_size(message_size);
    if (!ids.empty()) n += len_field_size(packed_size(ids));
    return n;
}

}  // namespace

FrameBuilder::FrameBuilder(std::size_t max_frame_bytes, std::size_t gather_threshold,
                           std::size_t batch_bytes)
    : max_frame_bytes_(max_frame_bytes),
      gather_threshold_(gather_threshold),
      batch_bytes_(batch_bytes == 0 ? max_frame_bytes : std::min(batch_bytes, max_frame_bytes)),
      scratch_(wire::kFrameHeaderSize) {}

std::size_t FrameBuilder::delivery_item_size(std::size_t message_size,
                                             std::span<const std::uint64_t> ids) {
    const std::size_t deliver = deliver_body_size(message_size, ids);
    const std::size_t envelope = len_field_size(deliver);
    return len_field_size(envelope);
}

std::size_t FrameBuilder::build(OutboundQueue& queue) {
    std::size_t taken = 0;
    while (!queue.empty()) {
        OutboundItem& item = queue.front();
        std::size_t size = 0;
        if (item.kind == OutboundItem::Kind::Deliver) {
            size = delivery_item_size(item.bytes.size(), item.subscription_ids);
        } else if (item.kind == OutboundItem::Kind::Envelope) {
            size = len_field_size(item.bytes.size());
        } else {
            queue.pop();  // in-process objects never reach a socket writer
            continue;
        }
        if (size > max_frame_bytes_) {
            ++oversized_;
            queue.pop();
            continue;
        }
        if (payload_bytes_ + size > max_frame_bytes_) break;
        if (payload_bytes_ > 0 && payload_bytes_ + size > batch_bytes_) break;
        if (item.kind == OutboundItem::Kind::Deliver) {
            append_delivery(item);
            ++deliveries_;
        } else {
            append_envelope(item);
        }
        payload_bytes_ += size;
        queue.pop();
        ++taken;
    }
    return taken;
}

void FrameBuilder::append_delivery(const OutboundItem& item) {
    const std::size_t msg = item.bytes.size();
    std::span<const std::uint64_t> ids(item.subscription_ids.data(), item.subscription_ids.size());
    const std::size_t deliver = deliver_body_size(msg, ids);
    const std::size_t envelope = len_field_size(deliver);
    // Header: Batch.items tag+len, Envelope.deliver tag+len, Deliver.message tag+len.
    std::uint8_t head[32];
    std::uint8_t* p = put_len_header(head, field::kBatchItems, envelope);
    p = put_len_header(p, field::kEnvDeliver, deliver);
    p = put_len_header(p, field::kDeliverMessage, msg);
    scratch_.insert(scratch_.end(), head, p);
    if (msg >= gather_threshold_) {
        flush_copy_run();
        segments_.push_back({item.bytes->data(), 0, msg});
        held_.push_back(item.bytes);
    } else {
        const std::size_t at = scratch_.size();
        scratch_.resize(at + msg);
        std::memcpy(scratch_.data() + at, item.bytes->data(), msg);
    }
    if (!ids.empty()) {
        std::uint8_t tail[16];
        std::uint8_t* t = put_len_header(tail, field::kDeliverSubscriptionIds, packed_size(ids));
        scratch_.insert(scratch_.end(), tail, t);
        for (auto id : ids) {
            std::uint8_t v[10];
            scratch_.insert(scratch_.end(), v, put_varint(v, id));
        }
    }
}

void FrameBuilder::append_envelope(const OutboundItem& item) {
    std::uint8_t head[16];
    std::uint8_t* p = put_len_header(head, field::kBatchItems, item.bytes.size());
    scratch_.insert(scratch_.end(), head, p);
    const auto bytes = item.bytes.bytes();
    scratch_.insert(scratch_.end(), bytes.begin(), bytes.end());
}

void FrameBuilder::flush_copy_run() {
    if (scratch_.size() > run_start_) {
        segments_.push_back({nullptr, run_start_, scratch_.size() - run_start_});
    }
    run_start_ = scratch_.size();
}

std::span<const boost::asio::const_buffer> FrameBuilder::buffers() {
    flush_copy_run();
    buffers_.clear();
    for (const auto& s : segments_) {
        const std::uint8_t* base = s.ref ? s.ref : scratch_.data() + s.offset;
        buffers_.emplace_back(base, s.len);
    }
    return buffers_;
}

std::span<std::uint8_t> FrameBuilder::whole_frame() {
    if (!held_.empty() || payload_bytes_ == 0) return {};
    return {scratch_.data(), scratch_.size()};
}

void FrameBuilder::reset() {
    scratch_.resize(wire::kFrameHeaderSize);  // keeps the capacity
    segments_.clear();
    held_.clear();
    buffers_.clear();
    run_start_ = wire::kFrameHeaderSize;
    payload_bytes_ = 0;
    deliveries_ = 0;
}

}  // namespace daemoneye::eventbus
