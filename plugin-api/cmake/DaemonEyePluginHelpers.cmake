# daemoneye_add_plugin() and daemoneye_plugin_events(): how every DaemonEye collector plugin is
# built, in-tree (plugins/<name>/) and out-of-tree (find_package(DaemonEyePluginSDK)) alike.
#
# Inputs (set before calling, all optional):
#   DAEMONEYE_PLUGIN_OUTPUT_DIR   where plugins go (default: ${CMAKE_BINARY_DIR}/plugins)
#   DAEMONEYE_EVENTS_PROTO        path of events.proto (set by the package config / the source tree)
include_guard(GLOBAL)

# daemoneye_plugin_events(<target>)
#   Creates the static library <target> holding this plugin's own generated copy of
#   daemoneye/events/v1/events.proto (PIC, hidden visibility, no -Werror), with the generated
#   headers on its public include path. Link it into the plugin and into the plugin's unit tests;
#   never link two copies (or daemoneye::events_proto) into one process: protobuf aborts on a
#   descriptor registered twice.
function(daemoneye_plugin_events target)
  if(NOT DAEMONEYE_EVENTS_PROTO OR NOT EXISTS "${DAEMONEYE_EVENTS_PROTO}")
    message(FATAL_ERROR "daemoneye_plugin_events(${target}): events.proto not found "
      "(DAEMONEYE_EVENTS_PROTO='${DAEMONEYE_EVENTS_PROTO}')")
  endif()
  if(NOT COMMAND protobuf_generate)
    find_package(Protobuf REQUIRED)
  endif()
  if(NOT TARGET protobuf::libprotobuf)
    message(FATAL_ERROR "daemoneye_plugin_events(${target}): needs protobuf (libprotobuf-dev, "
      "protobuf-compiler) and find_package(Protobuf) in the calling project")
  endif()
  # .../proto/daemoneye/events/v1/events.proto -> import root .../proto
  get_filename_component(_de_root "${DAEMONEYE_EVENTS_PROTO}" DIRECTORY)
  get_filename_component(_de_root "${_de_root}/../../.." ABSOLUTE)
  set(_de_gen "${CMAKE_CURRENT_BINARY_DIR}/${target}_gen")
  file(MAKE_DIRECTORY "${_de_gen}")
  add_library(${target} STATIC)
  protobuf_generate(TARGET ${target} LANGUAGE cpp PROTOS "${DAEMONEYE_EVENTS_PROTO}"
    IMPORT_DIRS "${_de_root}" PROTOC_OUT_DIR "${_de_gen}")
  target_include_directories(${target} SYSTEM PUBLIC "$<BUILD_INTERFACE:${_de_gen}>")
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf)
  set_target_properties(${target} PROPERTIES
    POSITION_INDEPENDENT_CODE ON
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
endfunction()

# daemoneye_add_plugin(<name> SOURCES <src>... [EVENTS] [LIBS <lib>...] [OUTPUT_DIRECTORY <dir>])
#   Builds <name>.so (a MODULE library: no `lib` prefix, -fPIC, hidden visibility so only the
#   entry symbol is exported, undefined symbols are link errors) into the plugins directory,
#   linked against DaemonEye::plugin_sdk. EVENTS also generates events.proto for this plugin
#   (target <name>_events, usable by its tests). LIBS are linked privately.
function(daemoneye_add_plugin name)
  cmake_parse_arguments(P "EVENTS" "OUTPUT_DIRECTORY" "SOURCES;LIBS" ${ARGN})
  if(NOT P_SOURCES)
    message(FATAL_ERROR "daemoneye_add_plugin(${name}): SOURCES is required")
  endif()
  if(P_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "daemoneye_add_plugin(${name}): unknown arguments ${P_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT name MATCHES "^[a-z0-9_-]+$")
    message(FATAL_ERROR "daemoneye_add_plugin(${name}): plugin names are [a-z0-9_-]{1,64}")
  endif()
  set(_de_out "${P_OUTPUT_DIRECTORY}")
  if(NOT _de_out)
    set(_de_out "${DAEMONEYE_PLUGIN_OUTPUT_DIR}")
  endif()
  if(NOT _de_out)
    set(_de_out "${CMAKE_BINARY_DIR}/plugins")
  endif()

  add_library(${name} MODULE ${P_SOURCES})
  target_link_libraries(${name} PRIVATE DaemonEye::plugin_sdk ${P_LIBS})
  target_compile_features(${name} PRIVATE cxx_std_20)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    POSITION_INDEPENDENT_CODE ON
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY "${_de_out}")
  # Unresolved symbols fail the build, not the dlopen in the sandbox. Sanitizer runtimes are
  # provided by the executable, so the check is skipped in sanitizer builds.
  if(NOT CMAKE_CXX_FLAGS MATCHES "-fsanitize" AND NOT DAEMONEYE_SANITIZE)
    target_link_options(${name} PRIVATE "LINKER:--no-undefined")
  endif()
  if(P_EVENTS)
    daemoneye_plugin_events(${name}_events)
    target_link_libraries(${name} PRIVATE ${name}_events)
  endif()
endfunction()
