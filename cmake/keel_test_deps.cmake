# Test-only dependencies: the real clients (librdkafka, kcat, kafka-python, confluent-kafka,
# Node.js and npm packages, Go and sarama, ...) that integration and compatibility tests
# drive. They come from `scripts/install-deps.sh --test`, which the README's first command
# does not run, so a plain configure must not need them: a test target whose dependency is
# missing is left out, and the configure says so in one line. `scripts/test.sh` configures
# with -DKEEL_REQUIRE_TEST_DEPS=ON, where a missing test dependency is an error: the test
# command never runs a silently smaller suite.
#
#   keel_test_dep_pkg(<found-var> <prefix> <pkg-config modules...>)  pkg_check_modules
#   keel_test_dep_program(<found-var> <cache-var> <names...>)         find_program
#   keel_test_dep_python(<found-var> <python> <modules...>)           importable modules
#   keel_test_dep_path(<found-var> <what> <path>)                     a file or folder
# Each sets <found-var> to TRUE or FALSE in the caller and records what is missing;
# keel_test_deps_report() (top-level, after every folder) prints or fails once.
#
# -DKEEL_TEST_DEPS_HIDDEN=ON makes every one of them count as missing without looking, so a
# machine that has them can still configure the way a fresh one does (CI's check of the
# README's first command, scripts/check-first-command.sh).
option(KEEL_REQUIRE_TEST_DEPS
       "Fail the configure when a test dependency is missing (scripts/test.sh sets it)" OFF)
option(KEEL_TEST_DEPS_HIDDEN "Configure as if no test dependency were installed" OFF)
if(KEEL_REQUIRE_TEST_DEPS AND KEEL_TEST_DEPS_HIDDEN)
  message(FATAL_ERROR "KEEL_REQUIRE_TEST_DEPS and KEEL_TEST_DEPS_HIDDEN contradict each other")
endif()

function(_keel_test_dep_missing what)
  set_property(GLOBAL APPEND PROPERTY KEEL_MISSING_TEST_DEPS "${what}")
endfunction()

# Returns from the calling function with <found> FALSE when test dependencies are hidden.
macro(_keel_test_dep_hidden found what)
  if(KEEL_TEST_DEPS_HIDDEN)
    _keel_test_dep_missing("${what}")
    set(${found} FALSE PARENT_SCOPE)
    return()
  endif()
endmacro()

function(keel_test_dep_pkg found prefix)
  list(JOIN ARGN " " modules)
  _keel_test_dep_hidden(${found} "pkg-config ${modules}")
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(${prefix} QUIET IMPORTED_TARGET ${ARGN})
  if(${prefix}_FOUND)
    set(${found} TRUE PARENT_SCOPE)
  else()
    _keel_test_dep_missing("pkg-config ${modules}")
    set(${found} FALSE PARENT_SCOPE)
  endif()
endfunction()

function(keel_test_dep_program found var)
  list(GET ARGN 0 name)
  _keel_test_dep_hidden(${found} "${name}")
  find_program(${var} NAMES ${ARGN})
  if(${var})
    set(${found} TRUE PARENT_SCOPE)
  else()
    _keel_test_dep_missing("${name}")
    set(${found} FALSE PARENT_SCOPE)
  endif()
endfunction()

# Checked once per (python, module) and cached, so reconfigures stay fast.
function(keel_test_dep_python found python)
  set(all TRUE)
  foreach(module ${ARGN})
    string(MAKE_C_IDENTIFIER "KEEL_PY_${python}_${module}" var)
    if(KEEL_TEST_DEPS_HIDDEN)
      set(${var} FALSE)  # shadows the cached answer in this function only
    elseif(NOT DEFINED CACHE{${var}})
      execute_process(COMMAND ${python} -c "import ${module}" RESULT_VARIABLE rc
                      OUTPUT_QUIET ERROR_QUIET)
      if(rc EQUAL 0)
        set(${var} TRUE CACHE INTERNAL "")
      endif()
    endif()
    if(NOT ${var})
      _keel_test_dep_missing("python module ${module}")
      set(all FALSE)
    endif()
  endforeach()
  set(${found} ${all} PARENT_SCOPE)
endfunction()

function(keel_test_dep_path found what path)
  _keel_test_dep_hidden(${found} "${what}")
  if(EXISTS "${path}")
    set(${found} TRUE PARENT_SCOPE)
  else()
    _keel_test_dep_missing("${what}")
    set(${found} FALSE PARENT_SCOPE)
  endif()
endfunction()

function(keel_test_deps_report)
  get_property(missing GLOBAL PROPERTY KEEL_MISSING_TEST_DEPS)
  if(NOT missing)
    return()
  endif()
  list(REMOVE_DUPLICATES missing)
  list(JOIN missing ", " missing)
  if(KEEL_REQUIRE_TEST_DEPS)
    message(FATAL_ERROR "keel: missing test dependencies: ${missing} "
                        "(scripts/install-deps.sh --test installs them)")
  endif()
  message(NOTICE "keel: tests that need ${missing} are left out of this build "
                 "(scripts/install-deps.sh --test installs them)")
endfunction()
