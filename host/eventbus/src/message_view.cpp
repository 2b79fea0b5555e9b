#include "daemoneye/eventbus/message_view.hpp"

#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/common/v1/common.pb.h"
#include "wire_format.hpp"

namespace daemoneye::eventbus {

using namespace wirefmt;

namespace {

bool parse_correlation(std::span<const std::uint8_t> bytes, std::string_view& id,
                       std::uint64_t& sequence) {
    Reader r(bytes);
    while (!r.done()) {
        std::uint32_t f = 0;
        WireType wt{};
        if (!r.key(f, wt)) return false;
        if (f == field::kCorrId && wt == kLen) {
            std::span<const std::uint8_t> s;
            if (!r.bytes(s)) return false;
            id = as_string(s);
        } else if (f == field::kCorrSequence && wt == kVarint) {
            if (!r.varint(sequence)) return false;
        } else if (!r.skip(wt)) {
            return false;
        }
    }
    return r.ok();
}

}  // namespace

Result<MessageView> MessageView::parse(std::span<const std::uint8_t> encoded) {
    MessageView v;
    v.encoded_ = encoded;
    Reader r(encoded);
    while (!r.done()) {
        std::uint32_t f = 0;
        WireType wt{};
        if (!r.key(f, wt)) break;
        std::span<const std::uint8_t> s;
        bool ok = true;
        switch (f) {
            case field::kMsgTopic:
                ok = wt == kLen && r.bytes(s);
                v.topic_ = as_string(s);
                break;
            case field::kMsgPayloadType:
                ok = wt == kLen && r.bytes(s);
                v.payload_type_ = as_string(s);
                break;
            case field::kMsgPayload:
                ok = wt == kLen && r.bytes(s);
                v.payload_ = s;
                break;
            case field::kMsgTimestamp: {
                ok = wt == kLen && r.bytes(s);
                if (!ok) break;
                Reader t(s);
                while (ok && !t.done()) {
                    std::uint32_t tf = 0;
                    WireType twt{};
                    ok = t.key(tf, twt);
                    if (!ok) break;
                    if (tf == field::kTimestampNanos && twt == kVarint) {
                        ok = t.varint(v.timestamp_ns_);
                    } else {
                        ok = t.skip(twt);
                    }
                }
                break;
            }
            case field::kMsgSourceSession:
                ok = wt == kVarint && r.varint(v.source_session_);
                break;
            case field::kMsgCorrelation:
                ok = wt == kLen && r.bytes(s) &&
                     parse_correlation(s, v.correlation_id_, v.sequence_);
                break;
            default:
                ok = r.skip(wt);
        }
        if (!ok)
            return fail("malformed bus Message: field " + std::to_string(f) + " at byte " +
                        std::to_string(r.position() - encoded.data()));
    }
    if (!r.ok()) return fail("malformed bus Message: truncated field key");
    return v;
}

// Each occurrence is merged as protobuf's parser merges a repeated sub-message (a field present on
// the wire replaces the earlier value, a zero included), not with MergeFrom, which skips zeros
// and would disagree with sequence_number(). An occurrence that does not parse is left out.
common::v1::CorrelationMetadata MessageView::correlation() const {
    common::v1::CorrelationMetadata out;
    Reader r(encoded_);
    while (!r.done()) {
        std::uint32_t f = 0;
        WireType wt{};
        if (!r.key(f, wt)) break;
        if (f == field::kMsgCorrelation && wt == kLen) {
            std::span<const std::uint8_t> s;
            if (!r.bytes(s)) break;
            common::v1::CorrelationMetadata next = out;
            if (next.MergeFromString(std::string(as_string(s)))) out = std::move(next);
        } else if (!r.skip(wt)) {
            break;
        }
    }
    return out;
}

bool MessageView::parse_payload(google::protobuf::MessageLite& out) const {
    return out.ParseFromArray(payload_.data(), static_cast<int>(payload_.size()));
}

bus::v1::Message MessageView::to_proto() const {
    bus::v1::Message m;
    (void)m.ParseFromArray(encoded_.data(), static_cast<int>(encoded_.size()));
    return m;
}

}  // namespace daemoneye::eventbus
