#include "plugin_registry.hpp"

#include <fcntl.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>

#include "child_process.hpp"
#include "daemoneye/eventbus/topic.hpp"
#include "daemoneye/plugin_api.h"
#include "daemoneye/sdk/topic.hpp"
#include "fs_util.hpp"
#include "notifier.hpp"
#include "sha256.hpp"

namespace daemoneye::agent {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace eb = daemoneye::eventbus;
namespace ipcv1 = daemoneye::ipc::v1;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kProbeTimeout = std::chrono::seconds(20);
constexpr std::size_t kMaxProbeOutput = 1 << 20;

bool looks_like_library(const std::string& file_name) {
    if (file_name.empty() || file_name.front() == '.') return false;  // temp files of installs
    return file_name.size() > 3 &&
           (file_name.ends_with(".so") || file_name.find(".so.") != std::string::npos);
}

const google::protobuf::Value* field(const google::protobuf::Struct& s, const char* a,
                                     const char* b = nullptr) {
    auto it = s.fields().find(a);
    if (it != s.fields().end()) return &it->second;
    if (b) {
        it = s.fields().find(b);
        if (it != s.fields().end()) return &it->second;
    }
    return nullptr;
}

std::string str_field(const google::protobuf::Struct& s, const char* a, const char* b = nullptr) {
    const auto* v = field(s, a, b);
    return v && v->has_string_value() ? v->string_value() : std::string();
}

void list_field(const google::protobuf::Struct& s, const char* name,
                google::protobuf::RepeatedPtrField<std::string>* out) {
    const auto* v = field(s, name);
    if (!v || !v->has_list_value()) return;
    for (const auto& item : v->list_value().values())
        if (item.has_string_value()) out->Add(std::string(item.string_value()));
}

}  // namespace

Result<daemoneye::bus::v1::PluginManifest> parse_manifest_json(const std::string& json) {
    google::protobuf::Struct root;
    auto st = google::protobuf::util::JsonStringToMessage(json, &root);
    if (!st.ok()) return fail("describe output is not a JSON object: " + std::string(st.message()));
    const google::protobuf::Struct* m = &root;
    if (const auto* inner = field(root, "manifest"); inner && inner->has_struct_value())
        m = &inner->struct_value();
    daemoneye::bus::v1::PluginManifest out;
    out.set_name(str_field(*m, "name"));
    out.set_version(str_field(*m, "version"));
    out.set_description(str_field(*m, "description"));
    auto num = [&](const char* a, const char* b) -> std::uint32_t {
        const auto* v = field(*m, a, b);
        if (v && v->has_number_value() && v->number_value() >= 0)
            return static_cast<std::uint32_t>(v->number_value());
        return 0;
    };
    out.set_abi_major(num("abi_major", "abiMajor"));
    out.set_abi_minor(num("abi_minor", "abiMinor"));
    // Also accept "abi": "1.0" or {"major":1,"minor":0}.
    if (const auto* abi = field(*m, "abi")) {
        if (abi->has_string_value()) {
            unsigned ma = 0, mi = 0;
            if (std::sscanf(abi->string_value().c_str(), "%u.%u", &ma, &mi) == 2) {
                out.set_abi_major(ma);
                out.set_abi_minor(mi);
            }
        } else if (abi->has_struct_value()) {
            const auto& a = abi->struct_value();
            if (const auto* x = field(a, "major"); x && x->has_number_value())
                out.set_abi_major(static_cast<std::uint32_t>(x->number_value()));
            if (const auto* x = field(a, "minor"); x && x->has_number_value())
                out.set_abi_minor(static_cast<std::uint32_t>(x->number_value()));
        }
    }
    list_field(*m, "capabilities", out.mutable_capabilities());
    list_field(*m, "permissions", out.mutable_permissions());
    list_field(*m, "publishes", out.mutable_publishes());
    if (out.name().empty()) return fail("describe output has no plugin name");
    return out;
}

Status check_publish_declaration(const std::string& pattern) {
    if (auto v = eb::validate_pattern(pattern); !v) return fail(v.error().message);
    if (const char* why = sdk::topic::undeclarable_reason(pattern)) return fail(why);
    return {};
}

Status check_file_safety(const fs::path& path, uid_t agent_uid) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return fail("cannot stat: " + errno_text(errno));
    if (S_ISLNK(st.st_mode)) return fail("is a symlink (refused: install the file itself)");
    if (!S_ISREG(st.st_mode)) return fail("is not a regular file");
    if (st.st_uid != 0 && st.st_uid != agent_uid)
        return fail("owned by uid " + std::to_string(st.st_uid) +
                    ", not by root or the agent's user (uid " + std::to_string(agent_uid) + ")");
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
        return fail(std::string((st.st_mode & S_IWOTH) ? "world" : "group") + "-writable (mode " +
                    mode + "): anyone could replace its code");
    }
    return {};
}

struct Record {
    fs::path path;
    bool drop_in = false;
    bool accepted = false;
    std::string reason;
    std::string sha256;
    daemoneye::bus::v1::PluginManifest manifest;
    ino_t ino = 0;
    timespec mtime{};
    std::uint64_t size = 0;
    mode_t mode = 0;
    uid_t uid = 0;
};

struct PluginRegistry::Impl : std::enable_shared_from_this<PluginRegistry::Impl> {
    Impl(asio::io_context& io, const Config& c, ProcessManager& pm, BusPort& bus)
        : io(io), config(c), pm(pm), bus(bus), inotify(io) {}

    asio::io_context& io;
    const Config& config;
    ProcessManager& pm;
    BusPort& bus;
    std::map<fs::path, Record> records;
    asio::posix::stream_descriptor inotify;
    Notifier decided;
    RegistryStats stats;
    bool scanned = false;  // after the first scan, accepted drop-ins are started (autostart)
    bool stopped = false;

    void publish(const std::string& severity, const std::string& message) {
        if (!bus.available()) return;
        daemoneye::bus::v1::Diagnostic d;
        d.set_severity(severity);
        d.set_source("plugin_registry");
        d.set_message(message);
        (void)publish_payload(bus, "control.health.diagnostics", d);
    }

    ipcv1::PluginInfo info(const Record& r) const {
        ipcv1::PluginInfo p;
        p.set_name(r.manifest.name());
        p.set_version(r.manifest.version());
        p.set_path(r.path.string());
        p.set_sha256(r.sha256);
        p.set_abi_major(r.manifest.abi_major());
        p.set_abi_minor(r.manifest.abi_minor());
        p.set_description(r.manifest.description());
        for (const auto& x : r.manifest.capabilities()) p.add_capabilities(x);
        for (const auto& x : r.manifest.permissions()) p.add_permissions(x);
        for (const auto& x : r.manifest.publishes()) p.add_publishes(x);
        p.set_accepted(r.accepted);
        p.set_reason(r.reason);
        return p;
    }

    // Runs `daemoneye-launcher --describe PATH` and parses what it prints.
    asio::awaitable<Result<daemoneye::bus::v1::PluginManifest>> probe(const fs::path& path) {
        ++stats.probed;
        int out[2], err[2];
        if (::pipe2(out, O_CLOEXEC) != 0) co_return fail("pipe: " + errno_text(errno));
        if (::pipe2(err, O_CLOEXEC | O_NONBLOCK) != 0) {
            ::close(out[0]);
            ::close(out[1]);
            co_return fail("pipe: " + errno_text(errno));
        }
        SpawnOptions opts;
        opts.argv = {config.process_manager.launcher_path, "--describe", path.string()};
        if (!config.sandbox.enabled) opts.argv.push_back("--no-sandbox");
        opts.stdout_fd = out[1];
        opts.stderr_fd = err[1];
        auto child = spawn_child(io, opts);
        ::close(out[1]);
        ::close(err[1]);
        if (!child) {
            ::close(out[0]);
            ::close(err[0]);
            co_return fail("cannot run the launcher to probe it: " + child.error().message);
        }
        asio::posix::stream_descriptor reader(io, out[0]);
        asio::steady_timer deadline(io);
        deadline.expires_after(kProbeTimeout);
        bool timed_out = false;
        Child* c = child->get();
        deadline.async_wait([&](const boost::system::error_code& ec) {
            if (ec) return;
            timed_out = true;
            c->signal_group(SIGKILL);
        });
        std::string output;
        char buf[4096];
        for (;;) {
            auto [ec, n] = co_await reader.async_read_some(asio::buffer(buf),
                                                           asio::as_tuple(asio::use_awaitable));
            if (n) output.append(buf, n);
            if (ec || output.size() > kMaxProbeOutput) break;
        }
        ExitStatus st = co_await (*child)->wait();
        deadline.cancel();
        std::string errtext;
        for (;;) {
            ssize_t n = ::read(err[0], buf, sizeof buf);
            if (n <= 0 || errtext.size() > 4096) break;
            errtext.append(buf, static_cast<std::size_t>(n));
        }
        ::close(err[0]);
        while (!errtext.empty() && (errtext.back() == '\n' || errtext.back() == ' '))
            errtext.pop_back();
        if (auto nl = errtext.rfind('\n'); nl != std::string::npos)
            errtext = errtext.substr(nl + 1);
        // Drop the launcher's log prefix ("<time> error daemoneye-launcher[pid] describe: ").
        if (auto tag = errtext.find("daemoneye-launcher["); tag != std::string::npos) {
            if (auto end = errtext.find("] ", tag); end != std::string::npos)
                errtext = errtext.substr(end + 2);
            if (errtext.rfind("describe: ", 0) == 0) errtext = errtext.substr(10);
        }
        if (timed_out)
            co_return fail("probe timed out after " + std::to_string(kProbeTimeout.count()) + " s");
        if (!st.exited || st.code != 0) {
            co_return fail("launcher --describe " + st.to_string() +
                           (errtext.empty() ? "" : ": " + errtext));
        }
        co_return parse_manifest_json(output);
    }

    void refuse(Record& r, std::string reason) {
        r.accepted = false;
        r.reason = std::move(reason);
        ++stats.refused;
        spdlog::warn("plugin {}: refused: {}", r.path.string(), r.reason);
        publish("warning", "plugin " + r.path.string() + " refused: " + r.reason);
    }

    asio::awaitable<void> evaluate(fs::path path, bool drop_in) {
        auto self = shared_from_this();
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0) {
            co_await forget(path);
            co_return;
        }
        Record previous;
        bool had = false;
        if (auto it = records.find(path); it != records.end()) {
            previous = it->second;
            had = true;
            if (previous.ino == st.st_ino &&
                previous.size == static_cast<std::uint64_t>(st.st_size) &&
                previous.mode == st.st_mode && previous.uid == st.st_uid &&
                previous.mtime.tv_sec == st.st_mtim.tv_sec &&
                previous.mtime.tv_nsec == st.st_mtim.tv_nsec) {
                decided.notify();
                co_return;  // nothing changed (e.g. an attribute event)
            }
        }
        Record r;
        r.path = path;
        r.drop_in = drop_in;
        r.ino = st.st_ino;
        r.mtime = st.st_mtim;
        r.size = static_cast<std::uint64_t>(st.st_size);
        r.mode = st.st_mode;
        r.uid = st.st_uid;

        auto finish = [&]() -> asio::awaitable<void> {
            const bool was_accepted = had && previous.accepted;
            if (was_accepted && (!r.accepted || r.manifest.name() != previous.manifest.name())) {
                co_await pm.remove_plugin(previous.manifest.name());
            }
            records[path] = r;
            decided.notify();
            co_return;
        };

        if (auto s = check_file_safety(path, ::geteuid()); !s) {
            refuse(r, s.error().message);
            co_await finish();
            co_return;
        }
        auto sha = sha256_file(path);
        if (!sha) {
            refuse(r, sha.error().message);
            co_await finish();
            co_return;
        }
        r.sha256 = *sha;
        if (had && previous.sha256 == r.sha256 && previous.accepted) {
            // Same bytes (touched or re-copied): keep the decision.
            r.accepted = previous.accepted;
            r.reason = previous.reason;
            r.manifest = previous.manifest;
            records[path] = r;
            decided.notify();
            co_return;
        }
        const bool changed = had && previous.accepted && previous.sha256 != r.sha256;
        if (changed) {
            ++stats.changed;
            spdlog::warn("plugin {}: library changed on disk (sha256 {} -> {}); re-probing",
                         path.string(), previous.sha256.substr(0, 12), r.sha256.substr(0, 12));
            publish("warning", "plugin " + path.string() + " changed on disk (sha256 " +
                                   previous.sha256 + " -> " + r.sha256 +
                                   "); re-probed and its collectors restarted");
        }
        auto manifest = co_await probe(path);
        if (!manifest) {
            refuse(r, manifest.error().message);
            co_await finish();
            co_return;
        }
        r.manifest = *manifest;
        const auto& m = r.manifest;
        if (m.abi_major() != DE_PLUGIN_ABI_MAJOR || m.abi_minor() > DE_PLUGIN_ABI_MINOR) {
            refuse(r, "ABI mismatch: plugin " + std::to_string(m.abi_major()) + "." +
                          std::to_string(m.abi_minor()) + ", host " +
                          std::to_string(DE_PLUGIN_ABI_MAJOR) + "." +
                          std::to_string(DE_PLUGIN_ABI_MINOR) +
                          " (rule: majors equal and plugin minor <= host minor)");
            co_await finish();
            co_return;
        }
        if (!valid_plugin_name(m.name())) {
            refuse(r, "invalid plugin name '" + m.name() + "' (must be [a-z0-9_-]{1,64})");
            co_await finish();
            co_return;
        }
        for (const auto& p : m.publishes()) {
            if (auto s = check_publish_declaration(p); !s) {
                refuse(r, "publishes '" + p + "': " + s.error().message);
                co_await finish();
                co_return;
            }
        }
        for (const auto& [p, other] : records) {
            if (p != path && other.accepted && other.manifest.name() == m.name()) {
                refuse(r, "duplicate plugin name '" + m.name() + "' (already provided by " +
                              p.string() + ")");
                co_await finish();
                co_return;
            }
        }
        r.accepted = true;
        r.reason.clear();
        ++stats.accepted;
        spdlog::info("plugin {} {} registered from {} (sha256 {})", m.name(), m.version(),
                     path.string(), r.sha256.substr(0, 16));
        co_await finish();
        PluginSpec spec;
        spec.name = m.name();
        spec.path = path.string();
        spec.version = m.version();
        spec.permissions.assign(m.permissions().begin(), m.permissions().end());
        spec.publishes.assign(m.publishes().begin(), m.publishes().end());
        spec.capabilities.assign(m.capabilities().begin(), m.capabilities().end());
        const bool known = pm.has_plugin(spec.name);
        pm.add_plugin(spec);  // restarts running collectors when the library changed
        if (scanned && !known && config.collector(spec.name).enabled) {
            const std::string name = spec.name;
            asio::co_spawn(io, pm.start(name), [name](std::exception_ptr, Status s) {
                if (!s) spdlog::error("collector {}: start failed: {}", name, s.error().message);
            });
        }
    }

    asio::awaitable<void> forget(fs::path path) {
        auto it = records.find(path);
        if (it == records.end()) co_return;
        Record r = it->second;
        records.erase(it);
        if (r.accepted) {
            ++stats.removed;
            spdlog::warn("plugin {}: library {} removed; stopping its collectors",
                         r.manifest.name(), path.string());
            publish("warning", "plugin " + r.manifest.name() + " removed (" + path.string() + ")");
            co_await pm.remove_plugin(r.manifest.name());
        }
        decided.notify();
    }

    asio::awaitable<void> scan_dir(const fs::path& dir, bool drop_in) {
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) {
            spdlog::info("plugins: directory {} does not exist; skipped", dir.string());
            co_return;
        }
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(dir, ec)) {
            if (looks_like_library(e.path().filename().string())) files.push_back(e.path());
        }
        std::sort(files.begin(), files.end());
        for (const auto& f : files) co_await evaluate(f, drop_in);
    }

    asio::awaitable<void> watch_loop() {
        auto self = shared_from_this();
        alignas(inotify_event) char buf[64 * 1024];
        const fs::path dir = config.plugins.drop_in_dir;
        while (!stopped) {
            auto [ec, n] = co_await inotify.async_read_some(asio::buffer(buf),
                                                            asio::as_tuple(asio::use_awaitable));
            if (ec) {
                if (ec != asio::error::operation_aborted)
                    spdlog::error("plugins: inotify read failed: {}", ec.message());
                co_return;
            }
            std::vector<std::pair<fs::path, bool>> todo;  // path, removed
            for (std::size_t off = 0; off < n;) {
                auto* ev = reinterpret_cast<inotify_event*>(buf + off);
                off += sizeof(inotify_event) + ev->len;
                if (ev->mask & IN_Q_OVERFLOW) {
                    spdlog::warn("plugins: inotify queue overflowed; rescanning {}", dir.string());
                    co_await rescan_drop_in();
                    continue;
                }
                if (!ev->len) continue;
                const std::string name = ev->name;
                if (!looks_like_library(name)) continue;
                todo.emplace_back(dir / name, (ev->mask & (IN_DELETE | IN_MOVED_FROM)) != 0);
            }
            for (auto& [path, removed] : todo) {
                if (removed)
                    co_await forget(path);
                else
                    co_await evaluate(path, true);
            }
        }
    }

    asio::awaitable<void> rescan_drop_in() {
        const fs::path dir = config.plugins.drop_in_dir;
        std::vector<fs::path> gone;
        for (const auto& [p, r] : records)
            if (r.drop_in && !fs::exists(p)) gone.push_back(p);
        for (const auto& p : gone) co_await forget(p);
        co_await scan_dir(dir, true);
    }
};

PluginRegistry::PluginRegistry(asio::io_context& io, const Config& config, ProcessManager& pm,
                               BusPort& bus)
    : impl_(std::make_shared<Impl>(io, config, pm, bus)) {}

PluginRegistry::~PluginRegistry() {
    stop();
}

asio::awaitable<void> PluginRegistry::scan() {
    auto impl = impl_;
    for (const auto& d : impl->config.plugins.directories) co_await impl->scan_dir(d, false);
    co_await impl->scan_dir(impl->config.plugins.drop_in_dir, true);
    impl->scanned = true;
}

Status PluginRegistry::watch() {
    const fs::path dir = impl_->config.plugins.drop_in_dir;
    if (auto s = ensure_dir(dir, 0755); !s) return s;
    int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) return fail("inotify_init1: " + errno_text(errno));
    if (::inotify_add_watch(fd, dir.c_str(),
                            IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB) <
        0) {
        int err = errno;
        ::close(fd);
        return fail("cannot watch " + dir.string() + ": " + errno_text(err));
    }
    impl_->inotify.assign(fd);
    asio::co_spawn(impl_->io, impl_->watch_loop(), asio::detached);
    return {};
}

void PluginRegistry::stop() {
    impl_->stopped = true;
    boost::system::error_code ec;
    if (impl_->inotify.is_open()) impl_->inotify.close(ec);
}

bool PluginRegistry::watching() const {
    return impl_->inotify.is_open();
}

std::vector<ipcv1::PluginInfo> PluginRegistry::list() const {
    std::vector<ipcv1::PluginInfo> out;
    for (const auto& [_, r] : impl_->records) out.push_back(impl_->info(r));
    return out;
}

asio::awaitable<std::optional<ipcv1::PluginInfo>> PluginRegistry::wait_for_drop_in(
    std::string file_name, std::chrono::milliseconds timeout) {
    auto impl = impl_;
    const fs::path path =
        fs::path(impl->config.plugins.drop_in_dir) / fs::path(file_name).filename();
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        struct stat st {};
        const bool exists = ::lstat(path.c_str(), &st) == 0;
        auto it = impl->records.find(path);
        if (exists && it != impl->records.end() && it->second.ino == st.st_ino &&
            it->second.mtime.tv_sec == st.st_mtim.tv_sec &&
            it->second.mtime.tv_nsec == st.st_mtim.tv_nsec) {
            co_return impl->info(it->second);
        }
        if (Clock::now() >= deadline) co_return std::nullopt;
        co_await impl->decided.wait_until(
            std::min(deadline, Clock::now() + std::chrono::milliseconds(500)));
    }
}

asio::awaitable<Status> PluginRegistry::remove(std::string name) {
    auto impl = impl_;
    fs::path found;
    bool drop_in = false;
    for (const auto& [p, r] : impl->records) {
        if (r.manifest.name() == name || p.filename() == name) {
            found = p;
            drop_in = r.drop_in;
            if (r.accepted) break;
        }
    }
    if (found.empty()) co_return fail("no plugin named '" + name + "'");
    if (!drop_in)
        co_return fail("plugin '" + name + "' comes from " + found.string() +
                       " (plugins.directories), not the drop-in dir; remove it there");
    if (::unlink(found.c_str()) != 0)
        co_return fail("cannot remove " + found.string() + ": " + errno_text(errno));
    const auto& pmc = impl->config.process_manager;
    const auto deadline =
        Clock::now() + std::chrono::seconds(pmc.graceful_shutdown_timeout_seconds +
                                            pmc.force_shutdown_timeout_seconds + 10);
    while (impl->records.count(found) && Clock::now() < deadline)
        co_await impl->decided.wait_until(
            std::min(deadline, Clock::now() + std::chrono::milliseconds(500)));
    if (impl->records.count(found))
        co_return fail("removed " + found.string() + " but the agent has not seen it go yet");
    co_return Status{};
}

const RegistryStats& PluginRegistry::stats() const {
    return impl_->stats;
}

}  // namespace daemoneye::agent
