# Target helpers: every ClawOS target is declared through these.

# clawos_library(NAME SRCS a.cc b.cc DEPS x y)
function(clawos_library name)
  cmake_parse_arguments(A "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${A_SRCS})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${A_DEPS})
endfunction()

# clawos_binary(NAME SRCS main.cpp DEPS lib)
function(clawos_binary name)
  cmake_parse_arguments(A "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${A_SRCS})
  target_link_libraries(${name} PRIVATE ${A_DEPS})
endfunction()

# clawos_test(NAME SRCS x_test.cc DEPS lib [LABELS l])
# Tests exit 77 to report SKIPPED (with the reason on stdout).
function(clawos_test name)
  cmake_parse_arguments(A "" "" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${A_SRCS})
  # clawos_gtest_main: exit 77 (SKIPPED) when every test of the binary skipped.
  target_link_libraries(${name} PRIVATE ${A_DEPS} clawos_gtest_main GTest::gtest GTest::gmock)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
  if(A_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${A_LABELS}")
  endif()
endfunction()
