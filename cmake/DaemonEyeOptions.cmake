# Compiler flags for the project's own targets. Third-party code is never built with -Werror.
add_library(daemoneye_warnings INTERFACE)
add_library(daemoneye::warnings ALIAS daemoneye_warnings)
target_compile_options(daemoneye_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Werror
  -Wno-missing-field-initializers
  $<$<COMPILE_LANGUAGE:CXX>:-Wnon-virtual-dtor>
  # GCC 12 at -O3 (the release preset) reports -Wrestrict inside libstdc++ for
  # `"literal" + std::string&&` (GCC bug 105329: the overlap it reports is in its own inlined
  # basic_string::replace). With -Werror it stopped `make release` and `make bench` building.
  $<$<AND:$<CXX_COMPILER_ID:GNU>,$<VERSION_LESS:$<CXX_COMPILER_VERSION>,13>>:-Wno-restrict>
  # clang (the fuzz preset) reports libseccomp's SCMP_A0..SCMP_A5 argument macros, which build
  # compound literals, as a C99 extension in C++; GCC accepts them silently.
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:Clang>>:-Wno-c99-extensions>)

if(DAEMONEYE_SANITIZE)
  string(REPLACE ";" "," _de_san "${DAEMONEYE_SANITIZE}")
  add_compile_options(-fsanitize=${_de_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_de_san})
  if("thread" IN_LIST DAEMONEYE_SANITIZE)
    # GCC 12 warns that TSan does not instrument std::atomic_thread_fence (Asio's scheduler uses
    # one); with -Werror that stopped every target using Asio from building under the tsan
    # preset. The warning is about possible false reports, not about our code.
    add_compile_options($<$<CXX_COMPILER_ID:GNU>:-Wno-tsan>)
    # Debian's libprotobuf is not built with TSan, and its headers compiled with
    # __SANITIZE_THREAD__ disagree with it: map fields reached through reflection crash
    # (RepeatedPtrFieldBase::Clear on a null rep). Compiled as the library was, they work; the
    # instrumentation itself comes from -fsanitize=thread, not from this macro.
    # Code that must know it runs under TSan checks DAEMONEYE_SANITIZE_THREAD instead.
    add_compile_options(-U__SANITIZE_THREAD__)
    add_compile_definitions(DAEMONEYE_SANITIZE_THREAD=1)
  endif()
endif()

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_C_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()

# daemoneye_add_test(name SOURCES ... LIBS ...): one GoogleTest binary, registered with ctest.
# ctest names its tests Suite.Test, so each also gets its area (the name up to the first '_',
# e.g. eventbus, wire, agent) as a label: `ctest -L eventbus` runs one area.
function(daemoneye_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  # A directory label (not a test property: gtest_discover_tests writes those out flat, so a
  # second label would become a property name).
  string(REGEX REPLACE "_.*" "" area "${name}")
  get_property(dir_labels DIRECTORY PROPERTY LABELS)
  if(NOT area IN_LIST dir_labels)
    set_property(DIRECTORY APPEND PROPERTY LABELS ${area})
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main GTest::gmock daemoneye::warnings)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES TIMEOUT ${T_TIMEOUT}$<$<NOT:$<BOOL:${T_TIMEOUT}>>:120> LABELS "${T_LABELS}")
endfunction()
