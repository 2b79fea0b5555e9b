// A standalone broker for benchmarks and debugging: `eventbus_bench_broker SOCKET [BUFFER]`.
// Prints "LISTENING" when ready; SIGINT/SIGTERM stop it and print its counters.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "daemoneye/eventbus/broker.hpp"

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: eventbus_bench_broker SOCKET [MESSAGE_BUFFER_SIZE]\n";
        return 2;
    }
    boost::asio::io_context io(1);
    daemoneye::eventbus::BrokerOptions o;
    o.socket_path = argv[1];
    o.max_subscribers = 10000;
    if (argc > 2) o.message_buffer_size = std::stoul(argv[2]);
    auto broker = daemoneye::eventbus::Broker::create(io.get_executor(), o);
    if (!broker) {
        std::cerr << broker.error().message << "\n";
        return 1;
    }
    if (auto ok = (*broker)->listen(); !ok) {
        std::cerr << ok.error().message << "\n";
        return 1;
    }
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code&, int) {
        const auto m = (*broker)->metrics();
        std::cout << "STOPPED publishes=" << m.publishes << " deliveries=" << m.deliveries
                  << " drops=" << m.drops << std::endl;
        (*broker)->stop();
        io.stop();
    });
    std::cout << "LISTENING" << std::endl;
    io.run();
    return 0;
}
