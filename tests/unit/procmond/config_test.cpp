// Config and task-parameter parsing. Tests plugins/procmond/src/config.cpp and task_queries.cpp.
#include <gtest/gtest.h>

#include "config.hpp"
#include "task_queries.hpp"

using namespace procmond;

TEST(Config, Defaults) {
    auto c = parse_config({});
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->scan_interval_ms, 1000u);
    EXPECT_TRUE(c->hash_executables);
    EXPECT_TRUE(c->anomaly_rules);
    EXPECT_GT(c->max_hash_bytes, 0u);
}

TEST(Config, Values) {
    auto c = parse_config({{"scan_interval_ms", "250"},
                           {"hash_executables", "false"},
                           {"max_hash_bytes", "1048576"},
                           {"anomaly_rules", "no"}});
    ASSERT_TRUE(c.ok()) << c.reason();
    EXPECT_EQ(c->scan_interval_ms, 250u);
    EXPECT_FALSE(c->hash_executables);
    EXPECT_EQ(c->max_hash_bytes, 1048576u);
    EXPECT_FALSE(c->anomaly_rules);
}

TEST(Config, BadValuesNameTheKey) {
    struct Case {
        const char* key;
        const char* value;
    };
    for (auto [key, value] : {Case{"scan_interval_ms", "abc"}, Case{"scan_interval_ms", "5"},
                              Case{"scan_interval_ms", "-1"}, Case{"hash_executables", "maybe"},
                              Case{"max_hash_bytes", "0"}, Case{"anomaly_rules", ""},
                              Case{"scan_intervall_ms", "100"}}) {
        auto c = parse_config({{key, value}});
        ASSERT_FALSE(c.ok()) << key << "=" << value;
        EXPECT_NE(c.reason().find(std::string("'") + key + "'"), std::string::npos) << c.reason();
    }
}

TEST(TaskQueries, Filter) {
    auto f = parse_filter({{"name", "sle*"}, {"uid", "1000"}});
    ASSERT_TRUE(f.ok()) << f.reason();
    Process p;
    p.pid = 5;
    p.name = "sleep";
    p.uid = 1000;
    EXPECT_TRUE(matches(*f, p));
    p.uid = 0;
    EXPECT_FALSE(matches(*f, p));
    EXPECT_FALSE(parse_filter({{"pid", "x"}}).ok());
    auto unknown = parse_filter({{"colour", "red"}});
    ASSERT_FALSE(unknown.ok());
    EXPECT_NE(unknown.reason().find("'colour'"), std::string::npos);
    EXPECT_FALSE(parse_pid_param({}).ok());
    EXPECT_EQ(*parse_pid_param({{"pid", "42"}}), 42);
}

TEST(TaskQueries, TreeAncestorsThenDescendants) {
    ProcessTable t;
    auto add = [&](int pid, int ppid) {
        Process p;
        p.pid = pid;
        p.ppid = ppid;
        t.emplace(pid, p);
    };
    add(1, 0);
    add(10, 1);
    add(20, 10);
    add(30, 20);
    add(31, 20);
    add(40, 30);
    add(99, 1);
    auto tree = process_tree(t, 20);
    ASSERT_TRUE(tree.ok());
    std::vector<int> pids;
    for (const Process* p : *tree) pids.push_back(p->pid);
    EXPECT_EQ(pids, (std::vector<int>{1, 10, 20, 30, 31, 40}));
    EXPECT_FALSE(process_tree(t, 12345).ok());
    // A cycle (impossible in the kernel, possible in a racy read) terminates.
    t[1].ppid = 40;
    EXPECT_TRUE(process_tree(t, 20).ok());
}
