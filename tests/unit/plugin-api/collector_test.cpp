// Tests plugin-api/include/daemoneye/sdk/collector.hpp: the trampolines the DAEMONEYE_PLUGIN macro
// generates, driven in-process through the test host (several collectors in one binary, so this
// uses make_descriptor directly; the macro is exercised by the example plugins).
#include "daemoneye/sdk/collector.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "daemoneye/events/v1/events.pb.h"
#include "daemoneye/sdk/events.hpp"
#include "daemoneye/sdk/testing.hpp"

namespace {

namespace sdk = daemoneye::sdk;
namespace ev = daemoneye::events::v1;
using sdk::testing::TestHost;
using namespace std::chrono_literals;

constexpr const char* kNone[] = {nullptr};
constexpr const char* kTasks[] = {"enumerate_processes", nullptr};
constexpr const char* kProc[] = {"proc.read", nullptr};
constexpr const char* kPublishes[] = {"events.process.#", nullptr};

template <class C>
const de_plugin_descriptor* descriptor_of(const char* const* caps = kNone) {
    static const de_plugin_descriptor d =
        sdk::make_descriptor<C>("test", "0.1.0", "test collector", caps, kProc, kPublishes);
    return &d;
}

// Emits a ProcessEvent every few milliseconds from its own thread until stopped.
class Ticker {
  public:
    Ticker(sdk::Host& host, const sdk::Config& config)
        : host_(host), interval_(config.get_int_in<int>("interval_ms", 5, 1, 60000)) {
        config.reject_unknown({"interval_ms"});
        host_.info("ticker created, interval ", interval_, " ms");
    }
    ~Ticker() { stop(); }

    void start() {
        stopping_ = false;
        thread_ = std::thread([this] { run(); });
    }
    void stop() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

    void on_task(const sdk::Task& task, sdk::TaskSink& sink) {
        if (task.kind() != "enumerate_processes") throw task.unsupported();
        auto limit = task.params().get_int<int>("limit", 3);
        for (int i = 0; i < limit; ++i) {
            ev::ProcessInfo info;
            info.set_pid(static_cast<std::uint32_t>(100 + i));
            if (sink.add(info) == DE_ERR_BACKPRESSURE) return;
        }
        if (task.params().has("missing_pid")) {
            throw sdk::Error(DE_ERR_NOT_FOUND,
                             "pid " + task.params().get_string("missing_pid") + " does not exist");
        }
    }

    void on_config(const sdk::Config& config) {
        int interval = config.get_int_in<int>("interval_ms", 5, 1, 60000);
        std::lock_guard lock(mutex_);
        interval_ = interval;
    }

    sdk::Health health() {
        sdk::Health h;
        h.add("interval_ms", interval_);
        return h;
    }

  private:
    void run() {
        std::unique_lock lock(mutex_);
        std::uint32_t n = 0;
        while (!stopping_) {
            lock.unlock();
            ev::ProcessEvent event;
            event.set_kind(ev::PROCESS_EVENT_KIND_STARTED);
            event.mutable_process()->set_pid(++n);
            event.set_observed_unix_nanos(host_.now_unix_nanos());
            (void)host_.emitter().emit(event);  // drops are counted by the emitter
            lock.lock();
            wake_.wait_for(lock, std::chrono::milliseconds(interval_), [&] { return stopping_; });
        }
    }

    sdk::Host& host_;
    int interval_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

TEST(Collector, DescriptorReflectsTheClass) {
    const de_plugin_descriptor* d = descriptor_of<Ticker>(kTasks);
    EXPECT_EQ(d->struct_size, sizeof(de_plugin_descriptor));
    EXPECT_EQ(d->abi_major, DE_PLUGIN_ABI_MAJOR);
    EXPECT_EQ(d->abi_minor, DE_PLUGIN_ABI_MINOR);
    EXPECT_NE(d->on_task, nullptr);
    EXPECT_NE(d->on_config, nullptr);
    EXPECT_NE(d->health, nullptr);
    EXPECT_TRUE(sdk::testing::validate_descriptor(d).empty());
}

TEST(Collector, RunsEmitsServesTasksAndStopsCleanly) {
    TestHost host(descriptor_of<Ticker>(kTasks));
    ASSERT_TRUE(host.create({{"interval_ms", "1"}}).ok());
    EXPECT_TRUE(host.logged("ticker created, interval 1 ms"));
    ASSERT_TRUE(host.start().ok());
    ASSERT_TRUE(host.wait_for_events(3, 60s));
    auto result = host.run_task("enumerate_processes", {{"limit", "2"}});
    ASSERT_TRUE(result.ok()) << result.describe();
    ASSERT_EQ(result.records.size(), 2u);
    EXPECT_EQ(result.records[1].as<ev::ProcessInfo>().pid(), 101u);
    auto health = host.health();
    EXPECT_EQ(health.state, DE_HEALTH_HEALTHY);
    EXPECT_EQ(health.details["interval_ms"], "1");
    EXPECT_EQ(health.details["running"], "true");
    EXPECT_NE(health.details["events_emitted"], "0");
    ASSERT_TRUE(host.stop().ok());
    EXPECT_EQ(host.health().details["running"], "false");

    auto events = host.events();
    ASSERT_GE(events.size(), 3u);
    EXPECT_EQ(events[0].topic, "events.process.lifecycle");
    EXPECT_EQ(events[0].type_name, "daemoneye.events.v1.ProcessEvent");
    EXPECT_EQ(events[0].as<ev::ProcessEvent>().process().pid(), 1u);
    EXPECT_TRUE(host.violations().empty()) << host.violations().front();

    // Restart after stop works, and stop is idempotent.
    ASSERT_TRUE(host.start().ok());
    EXPECT_EQ(host.start().status, DE_ERR_STATE);
    EXPECT_TRUE(host.stop().ok());
    EXPECT_TRUE(host.stop().ok());
}

TEST(Collector, ConfigErrorsBecomeInvalidArgumentNamingTheKey) {
    TestHost host(descriptor_of<Ticker>());
    auto bad = host.create({{"interval_ms", "fast"}});
    EXPECT_EQ(bad.status, DE_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(bad.message, "config key 'interval_ms': expected an integer, got 'fast'");
    EXPECT_FALSE(host.created());
    auto unknown = host.create({{"intervall_ms", "5"}});
    EXPECT_EQ(unknown.message, "unknown config key 'intervall_ms' (known: interval_ms)");
    ASSERT_TRUE(host.create({}).ok());
    auto update = host.update_config({{"interval_ms", "0"}});
    EXPECT_EQ(update.status, DE_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(update.message, "config key 'interval_ms': 0 is out of range [1, 60000]");
    EXPECT_TRUE(host.update_config({{"interval_ms", "7"}}).ok());
    EXPECT_EQ(host.health().details["interval_ms"], "7");
}

TEST(Collector, TaskErrorsKeepTheirStatusAndRecordsAddedBefore) {
    TestHost host(descriptor_of<Ticker>(kTasks));
    ASSERT_TRUE(host.create().ok());
    auto unknown = host.run_task("dance");
    EXPECT_EQ(unknown.status, DE_ERR_UNSUPPORTED);
    EXPECT_EQ(unknown.message, "task kind 'dance' is not served by this plugin");
    auto missing = host.run_task("enumerate_processes", {{"limit", "1"}, {"missing_pid", "9"}});
    EXPECT_EQ(missing.status, DE_ERR_NOT_FOUND);
    EXPECT_EQ(missing.message, "pid 9 does not exist");
    EXPECT_EQ(missing.records.size(), 1u);
    host.set_task_record_cap(2);
    auto capped = host.run_task("enumerate_processes", {{"limit", "10"}});
    EXPECT_TRUE(capped.ok());
    EXPECT_TRUE(capped.partial);
    EXPECT_EQ(capped.records.size(), 2u);
}

// -------------------------------------------------------------- exceptions at the boundary

class ThrowsInConstructor {
  public:
    ThrowsInConstructor(sdk::Host&, const sdk::Config&) { throw std::runtime_error("boom"); }
    void start() {}
    void stop() {}
};

class ThrowsNonStd {
  public:
    ThrowsNonStd(sdk::Host&, const sdk::Config& config) {
        if (config.has("in_ctor")) throw 42;
    }
    void start() { throw 7; }
    void stop() { throw std::logic_error("stop failed"); }
    sdk::Health health() { throw std::runtime_error("probe broke"); }
};

class ThrowsLongMessage {
  public:
    ThrowsLongMessage(sdk::Host&, const sdk::Config&) {}
    void start() { throw sdk::Error(DE_ERR_INTERNAL, std::string(5000, 'x')); }
    void stop() {}
};

class ThrowsBadAlloc {
  public:
    ThrowsBadAlloc(sdk::Host&, const sdk::Config&) { throw std::bad_alloc(); }
    void start() {}
    void stop() {}
};

TEST(Collector, ConstructorExceptionIsCaught) {
    TestHost host(descriptor_of<ThrowsInConstructor>());
    auto outcome = host.create();
    EXPECT_EQ(outcome.status, DE_ERR_INTERNAL);
    EXPECT_EQ(outcome.message, "create: boom");
    EXPECT_FALSE(host.created());
    TestHost oom(descriptor_of<ThrowsBadAlloc>());
    EXPECT_EQ(oom.create().message, "create: out of memory");
}

TEST(Collector, NonStandardExceptionsAreCaughtEverywhere) {
    TestHost ctor(descriptor_of<ThrowsNonStd>());
    auto c = ctor.create({{"in_ctor", "1"}});
    EXPECT_EQ(c.status, DE_ERR_INTERNAL);
    EXPECT_EQ(c.message, "create: unknown exception (not derived from std::exception)");

    TestHost host(descriptor_of<ThrowsNonStd>());
    ASSERT_TRUE(host.create().ok());
    auto s = host.start();
    EXPECT_EQ(s.status, DE_ERR_INTERNAL);
    EXPECT_EQ(s.message, "start: unknown exception (not derived from std::exception)");
    auto h = host.health();
    EXPECT_EQ(h.status, DE_ERR_INTERNAL);
    EXPECT_EQ(h.state, DE_HEALTH_UNHEALTHY);
    EXPECT_EQ(h.details["reason"], "health() threw: probe broke");
}

TEST(Collector, StopExceptionIsReportedAndDestroyStillFrees) {
    // start() succeeds for this one, so stop() runs and throws.
    class StopThrows {
      public:
        StopThrows(sdk::Host&, const sdk::Config&) {}
        void start() {}
        void stop() { throw std::logic_error("stop failed"); }
    };
    TestHost host(descriptor_of<StopThrows>());
    ASSERT_TRUE(host.create().ok());
    ASSERT_TRUE(host.start().ok());
    auto s = host.stop();
    EXPECT_EQ(s.status, DE_ERR_INTERNAL);
    EXPECT_EQ(s.message, "stop: stop failed");
    host.destroy();  // must not call stop again or crash
    EXPECT_FALSE(host.created());
}

TEST(Collector, DestroyStopsARunningInstanceAndLogsAFailedStop) {
    class StopThrows {
      public:
        StopThrows(sdk::Host&, const sdk::Config&) {}
        void start() {}
        void stop() { throw std::logic_error("stuck"); }
    };
    TestHost host(descriptor_of<StopThrows>());
    ASSERT_TRUE(host.create().ok());
    ASSERT_TRUE(host.start().ok());
    host.destroy();
    EXPECT_TRUE(host.logged("destroy: stop failed: stop: stuck"));
}

TEST(Collector, LongMessagesAreTruncatedToTheErrorBuffer) {
    TestHost host(descriptor_of<ThrowsLongMessage>());
    ASSERT_TRUE(host.create().ok());
    auto s = host.start();
    EXPECT_EQ(s.status, DE_ERR_INTERNAL);
    EXPECT_EQ(s.message.size(), DE_ERROR_MESSAGE_CAPACITY - 1);
}

TEST(Collector, ErrorWithStatusOkIsStillAFailure) {
    sdk::Error e(DE_OK, "oops");
    EXPECT_EQ(e.status(), DE_ERR_INTERNAL);
}

// -------------------------------------------------------------- optional methods

class Minimal {
  public:
    Minimal(sdk::Host&, const sdk::Config&) {}
    void start() {}
    void stop() {}
};

TEST(Collector, AbsentOptionalMethodsAreNullExceptHealth) {
    const de_plugin_descriptor* d = descriptor_of<Minimal>();
    EXPECT_EQ(d->on_task, nullptr);
    EXPECT_EQ(d->on_config, nullptr);
    ASSERT_NE(d->health, nullptr);
    TestHost host(d);
    ASSERT_TRUE(host.create().ok());
    EXPECT_EQ(host.health().state, DE_HEALTH_HEALTHY);
    EXPECT_EQ(host.run_task("x").status, DE_ERR_UNSUPPORTED);
}

TEST(Collector, TrampolinesRejectNullArguments) {
    using T = sdk::detail::Trampolines<Minimal>;
    de_error err{};
    err.struct_size = sizeof err;
    EXPECT_EQ(T::create(nullptr, nullptr, nullptr, &err), DE_ERR_INVALID_ARGUMENT);
    de_plugin* out = reinterpret_cast<de_plugin*>(0x1);
    EXPECT_EQ(T::create(nullptr, nullptr, &out, &err), DE_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(out, nullptr);
    EXPECT_STREQ(err.message, "create: the host_api table is NULL, too small or incomplete");
    // A host with an older minor (or another major) is refused before anything is read.
    TestHost host(descriptor_of<Minimal>());
    de_host_api old_host = *host.host_api();
    old_host.abi_major = DE_PLUGIN_ABI_MAJOR + 1;
    EXPECT_EQ(T::create(&old_host, nullptr, &out, &err), DE_ERR_UNSUPPORTED);
    EXPECT_NE(std::string(err.message).find("host ABI " + std::to_string(DE_PLUGIN_ABI_MAJOR + 1)),
              std::string::npos);
    EXPECT_EQ(T::start(nullptr, &err), DE_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(T::stop(nullptr, nullptr), DE_ERR_INVALID_ARGUMENT);
    T::destroy(nullptr);
    // A de_error smaller than the message buffer is respected.
    struct Small {
        de_error err;
    } small{};
    small.err.struct_size = offsetof(de_error, message) + 8;
    std::memset(small.err.message, 'Z', sizeof small.err.message);
    EXPECT_EQ(T::start(nullptr, &small.err), DE_ERR_INVALID_ARGUMENT);
    EXPECT_STREQ(small.err.message, "start: ");
    EXPECT_EQ(small.err.message[8], 'Z');
}

TEST(Collector, NameValidation) {
    static_assert(sdk::valid_plugin_name("procmond"));
    static_assert(sdk::valid_plugin_name("my_collector-2"));
    static_assert(!sdk::valid_plugin_name("Procmond"));
    static_assert(!sdk::valid_plugin_name(""));
    static_assert(!sdk::valid_plugin_name("a.b"));
    EXPECT_FALSE(sdk::valid_plugin_name(std::string(65, 'a')));
}

}  // namespace
