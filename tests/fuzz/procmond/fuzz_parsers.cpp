// libFuzzer entry points, one binary per /proc parser (PROCMOND_FUZZ_PARSER selects which at
// compile time). Every parser must return a value or a reason for any bytes, never crash, hang or
// read out of bounds; results are checked for basic consistency.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proc_parsers.hpp"

#define PROCMOND_CHECK(cond)           \
    do {                               \
        if (!(cond)) __builtin_trap(); \
    } while (0)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    using namespace procmond;
#if PROCMOND_FUZZ_PARSER == 1
    if (auto r = parse_stat(text)) {
        PROCMOND_CHECK(r->pid > 0 && r->ppid >= 0);
        PROCMOND_CHECK(r->comm.size() <= size);
    } else {
        PROCMOND_CHECK(!r.reason().empty());
    }
#elif PROCMOND_FUZZ_PARSER == 2
    if (auto r = parse_status(text); !r) PROCMOND_CHECK(!r.reason().empty());
#elif PROCMOND_FUZZ_PARSER == 3
    auto argv = parse_cmdline(text, 64);
    PROCMOND_CHECK(argv.size() <= 64);
    std::size_t total = 0;
    for (const auto& a : argv) total += a.size();
    PROCMOND_CHECK(total <= size);
#elif PROCMOND_FUZZ_PARSER == 4
    if (auto r = parse_cgroup(text)) {
        PROCMOND_CHECK(!r->path.empty() && r->path.front() == '/');
        PROCMOND_CHECK(r->container_id.empty() || r->container_id.size() == 64);
    } else {
        PROCMOND_CHECK(!r.reason().empty());
    }
#elif PROCMOND_FUZZ_PARSER == 5
    if (auto r = parse_namespace_link(text)) PROCMOND_CHECK(r->inode != 0 && !r->type.empty());
#elif PROCMOND_FUZZ_PARSER == 6
    if (auto r = parse_exe_link(text)) PROCMOND_CHECK(!r->path.empty() && r->path.front() == '/');
#elif PROCMOND_FUZZ_PARSER == 7
    if (auto r = parse_boot_time(text)) PROCMOND_CHECK(*r != 0);
#else
#error "define PROCMOND_FUZZ_PARSER to 1..7"
#endif
    return 0;
}
