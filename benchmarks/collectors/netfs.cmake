# netmond and fsmond benchmarks (plain executables printing their comparison; run by hand or by
# scripts/run-benchmarks): netmond scan vs `ss -tanp`, fsmond sustained events/s.
add_executable(netmond_scan_bench ${CMAKE_CURRENT_LIST_DIR}/netmond_scan_bench.cpp)
target_link_libraries(netmond_scan_bench PRIVATE netmond_core daemoneye::warnings)
add_executable(fsmond_events_bench ${CMAKE_CURRENT_LIST_DIR}/fsmond_events_bench.cpp)
target_link_libraries(fsmond_events_bench PRIVATE fsmond_core daemoneye::warnings)
set_target_properties(netmond_scan_bench fsmond_events_bench PROPERTIES
  RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/benchmarks)
