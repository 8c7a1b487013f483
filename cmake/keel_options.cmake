# Compiler flags shared by every keel target, applied through the keel_options interface
# library so third-party code is not built with our warning set.
add_library(keel_options INTERFACE)
target_compile_options(keel_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                                              -Wnon-virtual-dtor -Wcast-align)
if(KEEL_WERROR)
  target_compile_options(keel_options INTERFACE -Werror)
endif()

if(KEEL_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

if(KEEL_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "KEEL_FUZZ needs clang (CXX=clang++)")
  endif()
  # Instrument everything for coverage; only the fuzz executables link libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# keel_fuzzer(name SOURCES src... LIBS lib... CORPUS seed-dir... SECONDS n): a libFuzzer
# executable plus a bounded ctest run starting from the seed directories.
function(keel_fuzzer name)
  cmake_parse_arguments(FZ "" "SECONDS" "SOURCES;LIBS;CORPUS" ${ARGN})
  if(NOT KEEL_FUZZ)
    return()
  endif()
  add_executable(${name} ${FZ_SOURCES})
  target_link_libraries(${name} PRIVATE ${FZ_LIBS} keel_options)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  if(NOT FZ_SECONDS)
    set(FZ_SECONDS 60)
  endif()
  # build-fuzz/fuzzers/<name>: the executable, then its seed folders, one a line, for
  # scripts/fuzz.sh to find every target without parsing CMake files.
  list(JOIN FZ_CORPUS "\n" seed_lines)
  file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/fuzzers/${name}
       CONTENT "$<TARGET_FILE:${name}>\n${seed_lines}\n")
  # The corpus scripts/fuzz.sh grows and minimises (fuzz/corpus/<name>) seeds CI's runs too.
  if(EXISTS ${CMAKE_SOURCE_DIR}/fuzz/corpus/${name})
    list(APPEND FZ_CORPUS ${CMAKE_SOURCE_DIR}/fuzz/corpus/${name})
  endif()
  set(work ${CMAKE_CURRENT_BINARY_DIR}/${name}-corpus)
  add_test(NAME ${name}
           COMMAND ${CMAKE_COMMAND} -E env ${CMAKE_SOURCE_DIR}/cmake/run_fuzzer.sh
                   $<TARGET_FILE:${name}> ${work} ${FZ_SECONDS} ${FZ_CORPUS})
  set_tests_properties(${name} PROPERTIES LABELS fuzz TIMEOUT 600)
endfunction()
