// The plugin's one exported symbol (kept alone so test binaries can link the rest).
#include "netmond_plugin.hpp"

DAEMONEYE_PLUGIN(daemoneye::netmond::NetmondPlugin, "netmond", "0.1.0",
                 "TCP/UDP sockets (sock_diag, /proc/net fallback) with owning processes; "
                 "connection and listener changes",
                 ("list_connections", "list_listeners"), ("net.read"), ("events.network.#"));
