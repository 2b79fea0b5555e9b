# ctest driver: install the SDK from the build tree into a fresh prefix, build
# plugin-api/examples/hello-collector against it as a separate CMake project, then load the
# result (sdk_plugin_smoke: dlopen + test host) and, when the launcher is built, describe it with
# `daemoneye-launcher --describe`.
# Inputs: DE_BUILD_DIR DE_SOURCE_DIR DE_WORK_DIR DE_SMOKE DE_GENERATOR DE_CXX [DE_LAUNCHER]
foreach(v DE_BUILD_DIR DE_SOURCE_DIR DE_WORK_DIR DE_SMOKE DE_GENERATOR DE_CXX)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_out_of_tree.cmake: ${v} is not set")
  endif()
endforeach()

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "${what}:\n${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc})")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${DE_WORK_DIR}")
set(prefix "${DE_WORK_DIR}/prefix")

run("install the SDK component"
  ${CMAKE_COMMAND} --install "${DE_BUILD_DIR}" --component DaemonEyePluginSDK --prefix "${prefix}")
foreach(f include/daemoneye/plugin_api.h include/daemoneye/sdk/collector.hpp
          include/daemoneye/sdk/testing.hpp share/daemoneye-plugin-sdk/proto/daemoneye/events/v1/events.proto)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "the SDK install lacks ${f}")
  endif()
endforeach()

set(launcher_args)
find_program(ccache ccache)
if(ccache)
  list(APPEND launcher_args -DCMAKE_CXX_COMPILER_LAUNCHER=${ccache})
endif()
# Only the installed prefix: nothing from the source tree may leak into the consumer's build.
run("configure hello-collector against the installed SDK"
  ${CMAKE_COMMAND} -S "${DE_SOURCE_DIR}/plugin-api/examples/hello-collector" -B "${DE_WORK_DIR}/build"
  -G "${DE_GENERATOR}" -DCMAKE_CXX_COMPILER=${DE_CXX} -DCMAKE_BUILD_TYPE=RelWithDebInfo
  -DCMAKE_PREFIX_PATH=${prefix} ${launcher_args})
run("build hello-collector" ${CMAKE_COMMAND} --build "${DE_WORK_DIR}/build")

set(plugin "${DE_WORK_DIR}/build/plugins/hello.so")
if(NOT EXISTS "${plugin}")
  message(FATAL_ERROR "hello-collector built, but ${plugin} is missing (no `lib` prefix, plugins dir)")
endif()

# Only the entry symbol may be exported.
find_program(nm nm)
if(nm)
  run("exported symbols" ${nm} -D --defined-only "${plugin}")
  string(REGEX MATCHALL "[^\n]+\n?" lines "${last_output}")
  foreach(line ${lines})
    if(line MATCHES " [TDBRVW] " AND NOT line MATCHES "daemoneye_plugin_entry")
      message(FATAL_ERROR "hello.so exports more than the entry symbol: ${line}")
    endif()
  endforeach()
endif()

run("load and drive hello.so through the test host" "${DE_SMOKE}" "${plugin}" --name hello
  --config interval_ms=5 --config greeting=hi --events 3 --task hello.self
  --update-config interval_ms=10)

if(DE_LAUNCHER)
  if(NOT EXISTS "${DE_LAUNCHER}")
    message(FATAL_ERROR "daemoneye-launcher is part of this build but ${DE_LAUNCHER} is not built")
  endif()
  run("daemoneye-launcher --describe hello.so" "${DE_LAUNCHER}" --describe "${plugin}")
  foreach(want "\"name\": *\"hello\"" "\"version\": *\"1.0.0\"" "hello.self" "events.hello.#")
    if(NOT last_output MATCHES "${want}")
      message(FATAL_ERROR "launcher --describe output lacks ${want}")
    endif()
  endforeach()
else()
  message(STATUS "daemoneye-launcher is not part of this build: --describe step not run")
endif()
