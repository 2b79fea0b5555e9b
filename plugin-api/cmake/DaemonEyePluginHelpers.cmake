# daemoneye_add_plugin() and daemoneye_plugin_events(): how every DaemonEye collector plugin is
# built, in-tree (plugins/<name>/) and out-of-tree (find_package(DaemonEyePluginSDK)) alike.
#
# Inputs (set before calling, all optional):
#   DAEMONEYE_PLUGIN_OUTPUT_DIR   where plugins go (default: ${CMAKE_BINARY_DIR}/plugins)
#   DAEMONEYE_EVENTS_PROTO        path of events.proto (set by the package config / the source tree)
include_guard(GLOBAL)
# Cached so daemoneye_add_plugin() works when called from any directory, not only this one.
set(_DAEMONEYE_PLUGIN_HELPERS_DIR "${CMAKE_CURRENT_LIST_DIR}" CACHE INTERNAL "")

# daemoneye_protobuf_cpp(<target> IMPORT_DIR <root> PROTOS <file.proto>... [SCOPE PRIVATE|PUBLIC])
#   Runs protoc --cpp_out for each proto (paths below <root>, which is also the import root) and
#   adds the generated .pb.cc to <target>; the generated headers ("<path below root>.pb.h") go on
#   its include path. (CMake 3.25's protobuf_generate derives output paths from the source dir,
#   not the import dir, so protos outside the source dir break it; this does not.)
function(daemoneye_protobuf_cpp target)
  cmake_parse_arguments(G "" "IMPORT_DIR;SCOPE" "PROTOS" ${ARGN})
  if(NOT G_IMPORT_DIR OR NOT G_PROTOS)
    message(FATAL_ERROR "daemoneye_protobuf_cpp(${target}): IMPORT_DIR and PROTOS are required")
  endif()
  if(NOT G_SCOPE)
    set(G_SCOPE PRIVATE)
  endif()
  if(NOT TARGET protobuf::protoc OR NOT TARGET protobuf::libprotobuf)
    find_package(Protobuf REQUIRED)
  endif()
  if(NOT TARGET protobuf::protoc OR NOT TARGET protobuf::libprotobuf)
    message(FATAL_ERROR "daemoneye_protobuf_cpp(${target}): needs protobuf (libprotobuf-dev, "
      "protobuf-compiler) found with find_package(Protobuf) in the calling directory")
  endif()
  get_filename_component(_root "${G_IMPORT_DIR}" ABSOLUTE)
  set(_gen "${CMAKE_CURRENT_BINARY_DIR}/${target}_gen")
  file(MAKE_DIRECTORY "${_gen}")
  foreach(_proto ${G_PROTOS})
    get_filename_component(_abs "${_proto}" ABSOLUTE)
    file(RELATIVE_PATH _rel "${_root}" "${_abs}")
    if(_rel MATCHES "^\\.\\.")
      message(FATAL_ERROR "daemoneye_protobuf_cpp(${target}): ${_abs} is not below ${_root}")
    endif()
    string(REGEX REPLACE "\\.proto$" "" _stem "${_rel}")
    set(_cc "${_gen}/${_stem}.pb.cc")
    set(_h "${_gen}/${_stem}.pb.h")
    add_custom_command(OUTPUT "${_cc}" "${_h}"
      COMMAND protobuf::protoc --cpp_out=${_gen} -I ${_root} ${_abs}
      DEPENDS "${_abs}" protobuf::protoc
      COMMENT "protoc ${_rel} for ${target}"
      VERBATIM)
    target_sources(${target} PRIVATE "${_cc}" "${_h}")
  endforeach()
  target_include_directories(${target} SYSTEM ${G_SCOPE} "$<BUILD_INTERFACE:${_gen}>")
  target_link_libraries(${target} ${G_SCOPE} protobuf::libprotobuf)
endfunction()

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
  # .../proto/daemoneye/events/v1/events.proto -> import root .../proto
  get_filename_component(_root "${DAEMONEYE_EVENTS_PROTO}" DIRECTORY)
  get_filename_component(_root "${_root}/../../.." ABSOLUTE)
  add_library(${target} STATIC)
  daemoneye_protobuf_cpp(${target} IMPORT_DIR "${_root}" PROTOS "${DAEMONEYE_EVENTS_PROTO}"
    SCOPE PUBLIC)
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
  # Export the entry symbol and nothing else (see daemoneye_plugin.map).
  set(_de_map "${_DAEMONEYE_PLUGIN_HELPERS_DIR}/daemoneye_plugin.map")
  target_link_options(${name} PRIVATE "LINKER:--version-script=${_de_map}")
  set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS "${_de_map}")
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
