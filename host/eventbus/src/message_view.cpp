#include "daemoneye/eventbus/message_view.hpp"

#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/common/v1/common.pb.h"
#include "utf8.hpp"
#include "wire_format.hpp"

namespace daemoneye::eventbus {

using namespace wirefmt;

namespace {

// Everything protobuf checks when it parses a Message, so that what the broker accepts here and
// forwards parses as daemoneye.bus.v1.Message for every subscriber, protobuf or not: well-formed
// fields at every level, UTF-8 in every string (unless only the structure is asked for), the
// declared wire type for every field the bus reads (stricter than protobuf, which keeps a
// mistyped field as an unknown one). The first problem found is kept, with its byte.
class MessageReader {
  public:
    MessageReader(std::span<const std::uint8_t> whole, bool utf8) : whole_(whole), utf8_(utf8) {}

    // The nested CorrelationMetadata: id and sequence are kept, the rest only checked.
    bool correlation(std::span<const std::uint8_t> bytes, std::string_view& id,
                     std::uint64_t& sequence) {
        return fields(bytes, "correlation", [&](Reader& r, std::uint32_t f, WireType wt, auto at) {
            std::span<const std::uint8_t> s;
            switch (f) {
                case 1:  // correlation_id
                case 2:  // parent_correlation_id
                case 3:  // root_correlation_id
                case 5:  // workflow_stage
                    if (!string(r, wt, s, at, "correlation: string field")) return false;
                    if (f == 1) id = as_string(s);
                    return true;
                case field::kCorrSequence:
                    return (wt == kVarint && r.varint(sequence)) ||
                           bad(at, "correlation: sequence_number is not a varint or is truncated");
                case 6:  // tags, map<string, string>: each entry a message of key 1, value 2
                    if (wt != kLen || !r.bytes(s)) {
                        return bad(at, "correlation: malformed tags entry");
                    }
                    return fields(s, "correlation tag",
                                  [&](Reader& e, std::uint32_t ef, WireType ewt, auto eat) {
                                      std::span<const std::uint8_t> text;
                                      if (ef != 1 && ef != 2) return false;  // skipped
                                      return string(e, ewt, text, eat, "correlation tag");
                                  });
                default:
                    return false;  // not a field this reader checks: fields() skips it
            }
        });
    }

    bool timestamp(std::span<const std::uint8_t> bytes, std::uint64_t& nanos) {
        return fields(bytes, "timestamp", [&](Reader& r, std::uint32_t f, WireType wt, auto at) {
            if (f != field::kTimestampNanos) return false;
            return (wt == kVarint && r.varint(nanos)) ||
                   bad(at, "timestamp: unix_nanos is not a varint or is truncated");
        });
    }

    // A length-delimited UTF-8 string field whose key has just been read.
    bool string(Reader& r, WireType wt, std::span<const std::uint8_t>& out, const std::uint8_t* at,
                const char* what) {
        if (wt != kLen) [[unlikely]]
            return bad(at, what, " is not length-delimited");
        if (!r.bytes(out)) [[unlikely]]
            return bad(at, what, " is truncated");
        if (utf8_ && !valid_utf8(as_string(out))) {
            return bad(at, what, " is not UTF-8");
        }
        return true;
    }

    // Out of line: the checks above stay small enough to inline into the loops.
    [[gnu::cold, gnu::noinline]] bool bad(const std::uint8_t* at, std::string_view what,
                                          std::string_view how = {}) {
        why_.assign(what)
            .append(how)
            .append(" at byte ")
            .append(std::to_string(at - whole_.data()));
        return false;
    }

    std::string& why() { return why_; }

  private:
    // Walks one nested message's fields. on_field(reader, field, wire type, start) reads a field
    // it knows and returns true, or returns false with nothing read for one to skip; a problem is
    // reported through bad() (then why_ is set and the walk stops).
    template <class OnField>
    bool fields(std::span<const std::uint8_t> bytes, const char* context, OnField on_field) {
        Reader r(bytes);
        while (!r.done()) {
            const std::uint8_t* at = r.position();
            std::uint32_t f = 0;
            WireType wt{};
            if (!r.key(f, wt)) return bad(at, context, ": bad field key");
            if (on_field(r, f, wt, at)) continue;
            if (!why_.empty()) return false;
            if (!r.skip(wt)) return bad(at, context, ": truncated field");
        }
        return true;
    }

    std::span<const std::uint8_t> whole_;
    bool utf8_;
    std::string why_;
};

}  // namespace

Result<MessageView> MessageView::parse(std::span<const std::uint8_t> encoded, Check what) {
    MessageView v;
    v.encoded_ = encoded;
    MessageReader check(encoded, what == Check::Whole);
    Reader r(encoded);
    bool ok = true;
    while (ok && !r.done()) {
        const auto* at = r.position();
        std::uint32_t f = 0;
        WireType wt{};
        if (!r.key(f, wt)) {
            ok = check.bad(at, "bad field key");
            break;
        }
        std::span<const std::uint8_t> s;
        switch (f) {
            case field::kMsgTopic:
                ok = check.string(r, wt, s, at, "topic");
                v.topic_ = as_string(s);
                break;
            case field::kMsgPayloadType:
                ok = check.string(r, wt, s, at, "payload_type");
                v.payload_type_ = as_string(s);
                break;
            case field::kMsgPayload:
                ok = wt == kLen && r.bytes(s);
                if (!ok) check.bad(at, "payload is not length-delimited or is truncated");
                v.payload_ = s;
                break;
            case field::kMsgTimestamp:
                ok = wt == kLen && r.bytes(s);
                if (!ok) check.bad(at, "timestamp is not length-delimited or is truncated");
                ok = ok && check.timestamp(s, v.timestamp_ns_);
                break;
            case field::kMsgSourceSession:
                ok = wt == kVarint && r.varint(v.source_session_);
                if (!ok) check.bad(at, "source_session is not a varint or is truncated");
                break;
            case field::kMsgCorrelation:
                ok = wt == kLen && r.bytes(s);
                if (!ok) check.bad(at, "correlation is not length-delimited or is truncated");
                ok = ok && check.correlation(s, v.correlation_id_, v.sequence_);
                break;
            default:
                ok = r.skip(wt);
                if (!ok)
                    check.bad(at, "field " + std::to_string(f),
                              " is truncated or of an unknown wire type");
        }
    }
    if (!ok) return fail("malformed bus Message: " + std::move(check.why()));
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
