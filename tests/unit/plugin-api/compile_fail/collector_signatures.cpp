// Each CASE is a collector mistake the SDK must reject at compile time with a message that says
// what to write. Compiled with -fsyntax-only by ctest (plugin_sdk.compile_fail.*); CASE 0 is the
// control that must compile.
#include "daemoneye/sdk/collector.hpp"

namespace sdk = daemoneye::sdk;

#if CASE == 1  // constructor without Config
class C {
  public:
    explicit C(sdk::Host&) {}
    void start() {}
    void stop() {}
};
#elif CASE == 2  // start returns a status instead of throwing
class C {
  public:
    C(sdk::Host&, const sdk::Config&) {}
    int start() { return 0; }
    void stop() {}
};
#elif CASE == 3  // on_task with the wrong parameters
class C {
  public:
    C(sdk::Host&, const sdk::Config&) {}
    void start() {}
    void stop() {}
    void on_task(const sdk::Task&) {}
};
#elif CASE == 4  // health returning the wrong type
class C {
  public:
    C(sdk::Host&, const sdk::Config&) {}
    void start() {}
    void stop() {}
    int health() { return 1; }
};
#else
class C {
  public:
    C(sdk::Host&, const sdk::Config&) {}
    void start() {}
    void stop() {}
};
#endif

#if CASE == 5
DAEMONEYE_PLUGIN(C, "Bad Name", "1", "d", (), (), ("events.x.#"));
#elif CASE == 6
DAEMONEYE_PLUGIN(C, "ok", "1", "d", (), (), ("events.#.x"));
#else
DAEMONEYE_PLUGIN(C, "ok", "1", "d", ("a", "b"), (), ("events.x.#", "events.y"));
#endif
