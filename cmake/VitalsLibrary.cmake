# vitals_library(NAME DIR [DEPS ...]): a static library of the .cpp files
# directly in DIR (not its subfolders), linking exactly DEPS. Every header
# is included by its path from the source root ("probes/core/probe.hpp").
function(vitals_library name dir)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/*.cpp)
  add_library(${name} STATIC ${sources})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC vitals_options ${ARG_DEPS})
endfunction()
