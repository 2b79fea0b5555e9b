// Tests the pure parts of the registry and metrics: manifest JSON, file safety rule, SHA-256,
// Prometheus rendering (host/agent/src/plugin_registry.cpp, sha256.cpp, metrics.cpp).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "metrics.hpp"
#include "plugin_registry.hpp"
#include "sha256.hpp"

using namespace daemoneye::agent;

TEST(Sha256, KnownVectors) {
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, FileMatchesBuffer) {
    char path[] = "/tmp/de-sha-XXXXXX";
    int fd = ::mkstemp(path);
    std::string data(200000, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31);
    ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ::close(fd);
    auto h = sha256_file(path);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(*h, sha256_hex(data));
    ::unlink(path);
    EXPECT_FALSE(sha256_file("/nonexistent/x.so").ok());
}

TEST(Manifest, LauncherDescribeJson) {
    auto m = parse_manifest_json(
        R"({"name":"good","version":"1.0.0","abi":"1.0","abi_major":1,"abi_minor":0,"description":"d",)"
        R"("capabilities":["echo"],"permissions":["proc.read"],"publishes":["events.test.#"],"sandbox":[]})");
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ(m->name(), "good");
    EXPECT_EQ(m->abi_major(), 1u);
    EXPECT_EQ(m->abi_minor(), 0u);
    ASSERT_EQ(m->publishes_size(), 1);
    EXPECT_EQ(m->publishes(0), "events.test.#");
    EXPECT_EQ(m->permissions(0), "proc.read");
}

TEST(Manifest, NestedCamelCaseAndErrors) {
    auto m = parse_manifest_json(R"({"manifest":{"name":"x","abiMajor":2,"abiMinor":3}})");
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->abi_major(), 2u);
    EXPECT_EQ(m->abi_minor(), 3u);
    EXPECT_FALSE(parse_manifest_json("not json").ok());
    EXPECT_FALSE(parse_manifest_json(R"({"version":"1"})").ok());
}

// The agent's own check: the plugin's code runs in the probe and could print any manifest.
TEST(Manifest, PublishDeclarationsMayNotReachTheAgentsTopics) {
    for (const char* ok : {"events.process.#", "events.hello.tick", "events.detection.score",
                           "events.+.lifecycle"}) {
        EXPECT_TRUE(check_publish_declaration(ok)) << ok;
    }
    struct Case {
        const char* pattern;
        const char* reason;
    };
    for (const Case& c :
         {Case{"#", "reaches control.*"}, Case{"+.health.status", "reaches control.*"},
          Case{"control.health.status", "reaches control.*"},
          Case{"events.#", "reaches events.detection.alert"},
          Case{"events.+.alert", "reaches events.detection.alert"},
          Case{"events.detection.alert", "reaches events.detection.alert"},
          Case{"events..x", "level 2"}}) {
        auto s = check_publish_declaration(c.pattern);
        ASSERT_FALSE(s) << c.pattern;
        EXPECT_NE(s.error().message.find(c.reason), std::string::npos)
            << c.pattern << ": " << s.error().message;
    }
}

TEST(FileSafety, ModeOwnerAndSymlinks) {
    char dir[] = "/tmp/de-safety-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string f = std::string(dir) + "/p.so";
    { std::ofstream(f) << "x"; }
    ::chmod(f.c_str(), 0644);
    EXPECT_TRUE(check_file_safety(f, ::geteuid()).ok());
    ::chmod(f.c_str(), 0664);
    auto g = check_file_safety(f, ::geteuid());
    ASSERT_FALSE(g.ok());
    EXPECT_NE(g.error().message.find("group-writable (mode 0664)"), std::string::npos)
        << g.error().message;
    ::chmod(f.c_str(), 0646);
    auto w = check_file_safety(f, ::geteuid());
    ASSERT_FALSE(w.ok());
    EXPECT_NE(w.error().message.find("world-writable"), std::string::npos);
    ::chmod(f.c_str(), 0644);
    if (::geteuid() == 0) {
        ASSERT_EQ(::chown(f.c_str(), 12345, 12345), 0);
        auto o = check_file_safety(f, 0);
        ASSERT_FALSE(o.ok());
        EXPECT_NE(o.error().message.find("owned by uid 12345"), std::string::npos);
    }
    const std::string l = std::string(dir) + "/l.so";
    ASSERT_EQ(::symlink(f.c_str(), l.c_str()), 0);
    EXPECT_FALSE(check_file_safety(l, ::geteuid()).ok());
    std::filesystem::remove_all(dir);
}

TEST(Metrics, PrometheusTextTypesAndHistograms) {
    std::map<std::string, double> m;
    m["ipc_requests_total"] = 3;
    m["collector_up{instance=\"a-0\"}"] = 1;
    LatencyHistogram h;
    h.observe(std::chrono::microseconds(200));  // <= 0.0005
    h.observe(std::chrono::milliseconds(30));   // <= 0.05
    h.observe(std::chrono::seconds(10));        // +Inf
    h.export_to(m, "ipc_request_latency_seconds", "kind=\"ping\"");
    const std::string text = render_prometheus(m);
    EXPECT_NE(
        text.find("# TYPE daemoneye_ipc_requests_total counter\ndaemoneye_ipc_requests_total 3\n"),
        std::string::npos)
        << text;
    EXPECT_NE(text.find("# TYPE daemoneye_collector_up gauge"), std::string::npos);
    EXPECT_NE(text.find("# TYPE daemoneye_ipc_request_latency_seconds histogram"),
              std::string::npos)
        << text;
    EXPECT_NE(
        text.find("daemoneye_ipc_request_latency_seconds_bucket{kind=\"ping\",le=\"0.0005\"} 1"),
        std::string::npos)
        << text;
    EXPECT_NE(
        text.find("daemoneye_ipc_request_latency_seconds_bucket{kind=\"ping\",le=\"0.05\"} 2"),
        std::string::npos)
        << text;
    EXPECT_NE(
        text.find("daemoneye_ipc_request_latency_seconds_bucket{kind=\"ping\",le=\"+Inf\"} 3"),
        std::string::npos)
        << text;
    EXPECT_NE(text.find("daemoneye_ipc_request_latency_seconds_count{kind=\"ping\"} 3"),
              std::string::npos)
        << text;
    // One TYPE line per family.
    std::size_t n = 0;
    for (std::size_t p = 0;
         (p = text.find("# TYPE daemoneye_ipc_request_latency_seconds ", p)) != std::string::npos;
         ++p)
        ++n;
    EXPECT_EQ(n, 1u);
}
