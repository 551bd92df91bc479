# Writes a C++ source defining vitals::runbook_texts() (daemon/server/runbook_texts.hpp)
# with the text of each Markdown file, so the daemon serves its runbooks
# without reading files at run time. Run in script mode:
#
#   cmake -DOUTPUT=runbook_texts.cpp "-DSOURCES=a.md|b.md" -P EmbedRunbooks.cmake
#
# SOURCES is separated by "|" so it passes through add_custom_command as one
# argument. A file's name without ".md" is its name in the table.

if(NOT OUTPUT OR NOT SOURCES)
  message(FATAL_ERROR "EmbedRunbooks.cmake needs -DOUTPUT=<file.cpp> and -DSOURCES=<a.md|b.md|…>")
endif()
string(REPLACE "|" ";" sources "${SOURCES}")
list(SORT sources)

# Each text goes in a raw string literal; one that holds the closing
# delimiter would end early, so the build stops instead.
set(delimiter "vitals_md")
set(entries "")
set(count 0)
foreach(source IN LISTS sources)
  get_filename_component(name "${source}" NAME_WLE)
  file(READ "${source}" text)
  string(FIND "${text}" ")${delimiter}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${source} contains )${delimiter}\", which would end its string literal early")
  endif()
  string(APPEND entries "    {\"${name}\", R\"${delimiter}(${text})${delimiter}\"},\n")
  math(EXPR count "${count} + 1")
endforeach()

set(content "// Written by cmake/EmbedRunbooks.cmake from docs/runbooks/*.md at build time: edit those files.
#include \"daemon/server/runbook_texts.hpp\"

#include <array>

namespace vitals {

namespace {

constexpr std::array<runbook_text, ${count}> texts{{
${entries}}};

}  // namespace

std::span<const runbook_text> runbook_texts() { return texts; }

}  // namespace vitals
")
file(WRITE "${OUTPUT}" "${content}")
