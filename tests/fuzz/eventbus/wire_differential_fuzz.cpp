// libFuzzer target: bus Message, RpcRequest and RpcResponse bodies. Whatever the bus's hand
// readers accept and protobuf accepts too must read the same (wire_differential.hpp); and no input
// may crash or overrun them (ASan, UBSan).
//
// An input whose first byte is even is the body itself. An odd one is a recipe for a body built
// from whole fields whose keys, lengths and varints may be padded to any width or carry bits past
// 32: the corners where protobuf decoders differ sit behind a specific five-byte pattern that
// byte-level mutation does not find (protobuf is not instrumented, so no comparison guides it).
#include <fuzzer/FuzzedDataProvider.h>
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "wire_differential.hpp"

namespace {

using daemoneye::eventbus::wire_check::varint;

std::string body_from_recipe(FuzzedDataProvider& in) {
    std::string body;
    while (in.remaining_bytes() > 0 && body.size() < 4096) {
        const auto op = in.ConsumeIntegral<std::uint8_t>();
        if ((op & 3) == 0) {  // raw bytes: a partial field, garbage between fields
            body += in.ConsumeRandomLengthString(32);
            continue;
        }
        const std::uint32_t field = (op & 4) ? in.ConsumeIntegralInRange<std::uint32_t>(1, 16)
                                             : in.ConsumeIntegral<std::uint32_t>() >> 3;
        const std::uint32_t wire_type = in.ConsumeIntegralInRange<std::uint32_t>(0, 7);
        std::uint64_t key = (static_cast<std::uint64_t>(field) << 3) | wire_type;
        if (op & 8) key |= static_cast<std::uint64_t>(in.ConsumeIntegralInRange(1, 127)) << 32;
        body += varint(key, in.ConsumeIntegralInRange(0, 10));
        switch (wire_type) {
            case 0:
                body +=
                    varint(in.ConsumeIntegral<std::uint64_t>(), in.ConsumeIntegralInRange(0, 10));
                break;
            case 1:
                body += in.ConsumeBytesAsString(8);
                break;
            case 2: {
                const std::string value = in.ConsumeRandomLengthString(64);
                body += varint(value.size(), in.ConsumeIntegralInRange(0, 7)) + value;
                break;
            }
            case 5:
                body += in.ConsumeBytesAsString(4);
                break;
            default:
                break;  // groups and invalid wire types carry no value
        }
    }
    return body;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    google::protobuf::SetLogHandler(nullptr);  // refused strings are the normal case here
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::string body;
    if (data[0] % 2 == 0) {
        body.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
    } else {
        FuzzedDataProvider in(data + 1, size - 1);
        body = body_from_recipe(in);
    }
    const std::string why = daemoneye::eventbus::wire_check::wire_divergence(
        {reinterpret_cast<const std::uint8_t*>(body.data()), body.size()});
    if (!why.empty()) {
        std::fprintf(stderr, "divergence: %s\n", why.c_str());
        __builtin_trap();
    }
    return 0;
}
