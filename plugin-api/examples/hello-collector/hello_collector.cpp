// hello: the smallest complete DaemonEye collector written with the C++ SDK.
//
//   config   greeting (string, default "hello"), interval_ms (1..3600000, default 1000)
//   emits    hello.v1.Tick on events.hello.tick every interval_ms while running
//   task     "hello.self": one daemoneye.events.v1.ProcessInfo record about this process
//   health   ticks sent / dropped (the SDK adds emit counters)
#include <unistd.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "daemoneye/events/v1/events.pb.h"
#include "daemoneye/sdk/collector.hpp"
#include "hello/v1/hello.pb.h"

namespace {

namespace sdk = daemoneye::sdk;

struct Settings {
    std::string greeting;
    int interval_ms;

    static Settings from(const sdk::Config& config) {
        config.reject_unknown({"greeting", "interval_ms"});
        return {config.get_string("greeting", "hello"),
                config.get_int_in<int>("interval_ms", 1000, 1, 3'600'000)};
    }
};

class HelloCollector {
  public:
    // Reads and validates config; no threads, no emits yet (the ABI says so).
    HelloCollector(sdk::Host& host, const sdk::Config& config)
        : host_(host), settings_(Settings::from(config)) {}

    ~HelloCollector() { stop(); }

    void start() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = false;
            sequence_ = 0;
        }
        thread_ = std::thread([this] { run(); });
        host_.info("hello started, every ", settings_.interval_ms, " ms");
    }

    // After this returns, no thread of ours touches the host.
    void stop() noexcept {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

    void on_task(const sdk::Task& task, sdk::TaskSink& sink) {
        if (task.kind() != "hello.self") throw task.unsupported();
        daemoneye::events::v1::ProcessInfo self;
        self.set_pid(static_cast<std::uint32_t>(::getpid()));
        self.set_ppid(static_cast<std::uint32_t>(::getppid()));
        self.set_uid(::getuid());
        std::ifstream comm("/proc/self/comm");
        std::string name;
        std::getline(comm, name);
        self.set_name(name);
        (void)sink.add(self);
    }

    // New settings apply from the next tick; on error the old ones stay (the SDK reports it).
    void on_config(const sdk::Config& config) {
        Settings next = Settings::from(config);
        std::lock_guard lock(mutex_);
        settings_ = std::move(next);
    }

    sdk::Health health() {
        std::lock_guard lock(mutex_);
        sdk::Health health;
        health.add("ticks", sequence_);
        health.add("greeting", settings_.greeting);
        return health;
    }

  private:
    void run() {
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            hello::v1::Tick tick;
            tick.set_sequence(++sequence_);
            tick.set_greeting(settings_.greeting);
            tick.set_instance_id(std::string(host_.instance_id()));
            tick.set_observed_unix_nanos(host_.now_unix_nanos());
            tick.set_dropped_before(host_.emitter().stats().dropped);
            auto interval = std::chrono::milliseconds(settings_.interval_ms);
            lock.unlock();
            // Backpressure: the tick is dropped and counted (health shows events_dropped).
            if (host_.emitter().emit("events.hello.tick", tick) == DE_ERR_CLOSED) return;
            lock.lock();
            wake_.wait_for(lock, interval, [&] { return stopping_; });
        }
    }

    sdk::Host& host_;
    std::mutex mutex_;
    std::condition_variable wake_;
    Settings settings_;
    bool stopping_ = false;
    std::uint64_t sequence_ = 0;
    std::thread thread_;
};

}  // namespace

DAEMONEYE_PLUGIN(HelloCollector, "hello", "1.0.0", "Example collector: periodic hello ticks",
                 ("hello.self"),       // capabilities (task kinds)
                 (),                   // permissions: none beyond the base sandbox
                 ("events.hello.#"));  // topics it publishes
