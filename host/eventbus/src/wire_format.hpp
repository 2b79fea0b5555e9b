// Hand-written protobuf wire format for the bus hot path: the broker and clients wrap shared
// Message bytes in Deliver/Envelope/Batch headers and read Batches without building protobuf
// objects. Only what the bus needs: varints and length-delimited fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace daemoneye::eventbus::wirefmt {

enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

constexpr std::uint32_t tag(std::uint32_t field, WireType wt) {
    return (field << 3) | wt;
}

inline std::size_t varint_size(std::uint64_t v) {
    std::size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

inline std::uint8_t* put_varint(std::uint8_t* p, std::uint64_t v) {
    while (v >= 0x80) {
        *p++ = static_cast<std::uint8_t>(v | 0x80);
        v >>= 7;
    }
    *p++ = static_cast<std::uint8_t>(v);
    return p;
}

// Size of a length-delimited field (tag + length + body) with a one-byte tag (field < 16).
inline std::size_t len_field_size(std::size_t body) {
    return 1 + varint_size(body) + body;
}

inline std::uint8_t* put_len_header(std::uint8_t* p, std::uint32_t field, std::size_t body) {
    p = put_varint(p, tag(field, kLen));
    return put_varint(p, body);
}

inline std::uint8_t* put_bytes(std::uint8_t* p, std::uint32_t field, const void* data,
                               std::size_t len) {
    p = put_len_header(p, field, len);
    if (len) std::memcpy(p, data, len);
    return p + len;
}

// A proto3 string field that is left out when empty (as protobuf itself encodes it).
inline std::size_t optional_field_size(std::string_view s) {
    return s.empty() ? 0 : len_field_size(s.size());
}
inline std::uint8_t* put_optional(std::uint8_t* p, std::uint32_t field, std::string_view s) {
    return s.empty() ? p : put_bytes(p, field, s.data(), s.size());
}

// Forward-only reader over one encoded message. Any malformation sets !ok() and stops.
class Reader {
  public:
    explicit Reader(std::span<const std::uint8_t> bytes)
        : p_(bytes.data()), end_(bytes.data() + bytes.size()) {}

    bool done() const { return p_ >= end_; }
    bool ok() const { return ok_; }

    bool varint(std::uint64_t& out) {
        out = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p_ >= end_) return fail();
            const std::uint8_t b = *p_++;
            out |= static_cast<std::uint64_t>(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return true;
        }
        return fail();
    }

    // Reads the next field key. Field 0 is invalid, and so is a key protobuf would read
    // differently: protobuf reads at most five bytes of a key and keeps its low 32 bits, so a key
    // with bits past 31 is another field to it (a topic smuggled past the broker as an unknown
    // field, for instance). Refused, not truncated: the sender meant something else.
    bool key(std::uint32_t& field, WireType& wt) {
        const std::uint8_t* start = p_;
        std::uint64_t k = 0;
        if (!varint(k)) return false;
        if (p_ - start > kMaxKeyBytes || k > 0xFFFFFFFFu) return fail();
        field = static_cast<std::uint32_t>(k >> 3);
        wt = static_cast<WireType>(k & 7);
        if (field == 0) return fail();
        return true;
    }

    // A length takes at most five bytes, as in protobuf (which refuses longer forms).
    bool bytes(std::span<const std::uint8_t>& out) {
        const std::uint8_t* start = p_;
        std::uint64_t len = 0;
        if (!varint(len)) return false;
        if (p_ - start > kMaxKeyBytes) return fail();
        if (len > static_cast<std::uint64_t>(end_ - p_)) return fail();
        out = {p_, static_cast<std::size_t>(len)};
        p_ += len;
        return true;
    }

    bool skip(WireType wt) {
        std::uint64_t v = 0;
        std::span<const std::uint8_t> s;
        switch (wt) {
            case kVarint:
                return varint(v);
            case kLen:
                return bytes(s);
            case kFixed64:
                return advance(8);
            case kFixed32:
                return advance(4);
            default:
                return fail();  // groups are not used by any bus message
        }
    }

    const std::uint8_t* position() const { return p_; }

  private:
    static constexpr std::ptrdiff_t kMaxKeyBytes = 5;  // keys and lengths: 32 bits at most

    bool advance(std::size_t n) {
        if (static_cast<std::size_t>(end_ - p_) < n) return fail();
        p_ += n;
        return true;
    }
    bool fail() {
        ok_ = false;
        p_ = end_;
        return false;
    }
    const std::uint8_t* p_;
    const std::uint8_t* end_;
    bool ok_ = true;
};

inline std::string_view as_string(std::span<const std::uint8_t> s) {
    return {reinterpret_cast<const char*>(s.data()), s.size()};
}

// Field numbers used by hand-written code (must match bus.proto).
namespace field {
inline constexpr std::uint32_t kBatchItems = 1;
inline constexpr std::uint32_t kEnvHello = 1, kEnvWelcome = 2, kEnvSubscribe = 3,
                               kEnvUnsubscribe = 4, kEnvPublish = 5, kEnvDeliver = 6,
                               kEnvRpcRequest = 7, kEnvRpcResponse = 8, kEnvHeartbeat = 9,
                               kEnvGoodbye = 10, kEnvError = 11, kEnvAck = 12;
inline constexpr std::uint32_t kEnvMax = 12;
inline constexpr std::uint32_t kRpcRequestReplyTo = 7;
inline constexpr std::uint32_t kPublishMessage = 1;
inline constexpr std::uint32_t kDeliverMessage = 1, kDeliverSubscriptionIds = 2;
inline constexpr std::uint32_t kMsgTopic = 1, kMsgPayloadType = 2, kMsgPayload = 3,
                               kMsgTimestamp = 4, kMsgSourceSession = 5, kMsgCorrelation = 6;
inline constexpr std::uint32_t kTimestampNanos = 1;
inline constexpr std::uint32_t kCorrId = 1, kCorrSequence = 4;
}  // namespace field

const char* envelope_name(std::uint32_t field_number);

// Whether an Envelope encoded as the broker encodes them (its one field first; every Envelope
// field number is below 16, so a one-byte tag) carries field `f`.
inline bool envelope_carries(std::span<const std::uint8_t> envelope, std::uint32_t f) {
    return !envelope.empty() && envelope[0] == tag(f, kLen);
}

}  // namespace daemoneye::eventbus::wirefmt
