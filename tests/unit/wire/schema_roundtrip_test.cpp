// Tests the schemas in proto/daemoneye/**: every message of every file (common, bus, rpc, ipc,
// events), with every field set to a non-default value, survives encode -> frame -> decode
// unchanged. Fields are filled by reflection, so a message added to a schema is covered without
// touching this test; each oneof is exercised member by member.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/common/v1/common.pb.h"
#include "daemoneye/events/v1/events.pb.h"
#include "daemoneye/ipc/v1/ipc.pb.h"
#include "daemoneye/rpc/v1/rpc.pb.h"
#include "daemoneye/wire/frame_codec.hpp"

namespace daemoneye::wire {
namespace {

namespace pb = google::protobuf;
using FD = pb::FieldDescriptor;

// Referencing one type per file links its generated code in and names the file under test.
const std::vector<const pb::FileDescriptor*>& schema_files() {
    static const std::vector<const pb::FileDescriptor*> files = {
        common::v1::CorrelationMetadata::descriptor()->file(),
        bus::v1::Envelope::descriptor()->file(),
        rpc::v1::RpcRequest::descriptor()->file(),
        ipc::v1::Request::descriptor()->file(),
        events::v1::ProcessEvent::descriptor()->file(),
    };
    return files;
}

void collect(const pb::Descriptor* d, std::vector<const pb::Descriptor*>& out) {
    if (d->options().map_entry()) return;  // filled through their map field
    out.push_back(d);
    for (int i = 0; i < d->nested_type_count(); ++i) collect(d->nested_type(i), out);
}

std::vector<const pb::Descriptor*> all_messages() {
    std::vector<const pb::Descriptor*> out;
    for (const auto* f : schema_files()) {
        for (int i = 0; i < f->message_type_count(); ++i) collect(f->message_type(i), out);
    }
    return out;
}

// Fills every field with a value distinct from its default (and from its neighbours'), recursing
// into messages up to `depth`. In each oneof only member number (variant % member count) is set.
class Filler {
  public:
    explicit Filler(int variant) : variant_(variant) {}

    void fill(pb::Message& m, int depth) {
        const auto* d = m.GetDescriptor();
        for (int i = 0; i < d->field_count(); ++i) {
            const FD* f = d->field(i);
            if (const auto* oneof = f->real_containing_oneof()) {
                if (oneof->field(variant_ % oneof->field_count()) != f) continue;
            }
            if (f->cpp_type() == FD::CPPTYPE_MESSAGE && depth <= 0) continue;
            if (f->is_repeated()) {
                for (int k = 0; k < 2; ++k) add(m, f, depth);
            } else {
                set(m, f, depth);
            }
        }
    }

  private:
    void set(pb::Message& m, const FD* f, int depth) {
        const auto* r = m.GetReflection();
        const auto n = ++counter_;
        switch (f->cpp_type()) {
            case FD::CPPTYPE_INT32:
                r->SetInt32(&m, f, -static_cast<std::int32_t>(n));
                break;
            case FD::CPPTYPE_INT64:
                r->SetInt64(&m, f, -(std::int64_t{1} << 40) - n);
                break;
            case FD::CPPTYPE_UINT32:
                r->SetUInt32(&m, f, 0x80000000u + n);
                break;
            case FD::CPPTYPE_UINT64:
                r->SetUInt64(&m, f, (std::uint64_t{1} << 63) + n);
                break;
            case FD::CPPTYPE_DOUBLE:
                r->SetDouble(&m, f, 0.5 + n);
                break;
            case FD::CPPTYPE_FLOAT:
                r->SetFloat(&m, f, 0.25f + static_cast<float>(n));
                break;
            case FD::CPPTYPE_BOOL:
                r->SetBool(&m, f, true);
                break;
            case FD::CPPTYPE_ENUM:
                r->SetEnum(&m, f, last_value(f));
                break;
            case FD::CPPTYPE_STRING:
                r->SetString(&m, f, text(f, n));
                break;
            case FD::CPPTYPE_MESSAGE:
                fill(*r->MutableMessage(&m, f), depth - 1);
                break;
        }
    }

    void add(pb::Message& m, const FD* f, int depth) {
        const auto* r = m.GetReflection();
        const auto n = ++counter_;
        switch (f->cpp_type()) {
            case FD::CPPTYPE_INT32:
                r->AddInt32(&m, f, -static_cast<std::int32_t>(n));
                break;
            case FD::CPPTYPE_INT64:
                r->AddInt64(&m, f, -(std::int64_t{1} << 40) - n);
                break;
            case FD::CPPTYPE_UINT32:
                r->AddUInt32(&m, f, 0x80000000u + n);
                break;
            case FD::CPPTYPE_UINT64:
                r->AddUInt64(&m, f, (std::uint64_t{1} << 63) + n);
                break;
            case FD::CPPTYPE_DOUBLE:
                r->AddDouble(&m, f, 0.5 + n);
                break;
            case FD::CPPTYPE_FLOAT:
                r->AddFloat(&m, f, 0.25f + static_cast<float>(n));
                break;
            case FD::CPPTYPE_BOOL:
                r->AddBool(&m, f, (n % 2) == 0);
                break;
            case FD::CPPTYPE_ENUM:
                r->AddEnum(&m, f, last_value(f));
                break;
            case FD::CPPTYPE_STRING:
                r->AddString(&m, f, text(f, n));
                break;
            case FD::CPPTYPE_MESSAGE:
                // A map entry's key must differ per entry, or the second one replaces the first.
                fill(*r->AddMessage(&m, f), f->is_map() ? 1 : depth - 1);
                break;
        }
    }

    static const pb::EnumValueDescriptor* last_value(const FD* f) {
        const auto* e = f->enum_type();
        return e->value(e->value_count() - 1);
    }

    static std::string text(const FD* f, int n) {
        if (f->type() == FD::TYPE_BYTES) return std::string("\x00\xff\x01", 3) + std::to_string(n);
        return f->name() + "-" + std::to_string(n) + "-\xc3\xa9";  // valid UTF-8, not ASCII
    }

    int variant_;
    int counter_ = 0;
};

int max_oneof_members(const pb::Descriptor* d) {
    int most = 1;
    for (int i = 0; i < d->real_oneof_decl_count(); ++i) {  // real oneofs come first
        most = std::max(most, d->oneof_decl(i)->field_count());
    }
    return most;
}

// Every field that the filler set is present after the round trip, so "equal" is not trivially
// "both empty".
void expect_populated(const pb::Message& m, int variant) {
    const auto* d = m.GetDescriptor();
    const auto* r = m.GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
        const FD* f = d->field(i);
        if (const auto* oneof = f->real_containing_oneof()) {
            if (oneof->field(variant % oneof->field_count()) != f) continue;
        }
        if (f->is_repeated()) {
            EXPECT_GT(r->FieldSize(m, f), 0) << f->full_name();
        } else if (f->cpp_type() != FD::CPPTYPE_MESSAGE) {
            EXPECT_TRUE(r->HasField(m, f)) << f->full_name();
        }
    }
}

TEST(SchemaRoundTrip, CoversEveryFile) {
    std::vector<std::string> names;
    for (const auto* f : schema_files()) names.push_back(f->package());
    EXPECT_EQ(names, (std::vector<std::string>{"daemoneye.common.v1", "daemoneye.bus.v1",
                                               "daemoneye.rpc.v1", "daemoneye.ipc.v1",
                                               "daemoneye.events.v1"}));
    EXPECT_GT(all_messages().size(), 60u);
}

TEST(SchemaRoundTrip, EveryMessageSurvivesAFrame) {
    int checked = 0;
    for (const auto* d : all_messages()) {
        const pb::Message* prototype = pb::MessageFactory::generated_factory()->GetPrototype(d);
        ASSERT_NE(prototype, nullptr) << d->full_name();
        for (int variant = 0; variant < max_oneof_members(d); ++variant) {
            for (auto crc : {Crc32Variant::Ieee, Crc32Variant::Castagnoli}) {
                std::unique_ptr<pb::Message> in(prototype->New());
                Filler(variant).fill(*in, 4);
                if (d->field_count() == 0) {
                    // An empty message (e.g. a verb without arguments) encodes to nothing and
                    // cannot be a frame on its own; it always travels inside an envelope.
                    EXPECT_EQ(in->ByteSizeLong(), 0u) << d->full_name();
                    continue;
                }
                std::vector<std::uint8_t> wire;
                auto enc = append_message_frame(wire, *in, crc, 1024 * 1024);
                ASSERT_TRUE(enc) << d->full_name() << ": " << enc.error().message();

                FrameDecoder decoder(1024 * 1024, crc);
                decoder.feed(wire);
                auto frame = decoder.next();
                ASSERT_TRUE(frame) << d->full_name() << ": " << frame.error().message();
                ASSERT_TRUE(*frame) << d->full_name();

                std::unique_ptr<pb::Message> out(prototype->New());
                auto dec = decode_payload(**frame, *out);
                ASSERT_TRUE(dec) << d->full_name() << ": " << dec.error().message();
                EXPECT_TRUE(pb::util::MessageDifferencer::Equals(*in, *out))
                    << d->full_name() << " variant " << variant
                    << "\nin:  " << in->ShortDebugString() << "\nout: " << out->ShortDebugString();
                expect_populated(*out, variant);
                ++checked;
            }
        }
    }
    EXPECT_GT(checked, 100);
}

// A readable spot check of the message every bus frame carries.
TEST(SchemaRoundTrip, BusBatchByHand) {
    bus::v1::Batch batch;
    auto* pub = batch.add_items()->mutable_publish();
    auto* msg = pub->mutable_message();
    msg->set_topic("events.process.lifecycle");
    msg->set_payload_type("daemoneye.events.v1.ProcessEvent");
    events::v1::ProcessEvent ev;
    ev.mutable_process()->set_pid(4242);
    ev.mutable_process()->set_name("sshd");
    msg->set_payload(ev.SerializeAsString());
    msg->mutable_correlation()->set_correlation_id("c-1");
    msg->mutable_correlation()->set_sequence_number(7);
    batch.add_items()->mutable_heartbeat()->set_sequence(3);

    std::vector<std::uint8_t> wire;
    ASSERT_TRUE(append_message_frame(wire, batch, Crc32Variant::Ieee, 1 << 20));
    FrameDecoder decoder(1 << 20, Crc32Variant::Ieee);
    decoder.feed(wire);
    auto frame = decoder.next();
    ASSERT_TRUE(frame && *frame);
    bus::v1::Batch back;
    ASSERT_TRUE(decode_payload(**frame, back));
    ASSERT_EQ(back.items_size(), 2);
    const auto& m = back.items(0).publish().message();
    EXPECT_EQ(m.topic(), "events.process.lifecycle");
    EXPECT_EQ(m.correlation().sequence_number(), 7u);
    events::v1::ProcessEvent ev_back;
    ASSERT_TRUE(ev_back.ParseFromString(m.payload()));
    EXPECT_EQ(ev_back.process().pid(), 4242u);
    EXPECT_EQ(ev_back.process().name(), "sshd");
    EXPECT_EQ(back.items(1).heartbeat().sequence(), 3u);
}

}  // namespace
}  // namespace daemoneye::wire
