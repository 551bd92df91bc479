#pragma once

// libsystemd's sd_journal functions, loaded with dlopen the first time a
// `journal:` source reads. Linking libsystemd instead would map it and the
// compression and crypto libraries it needs (about 0.9 MiB of resident
// memory) into every daemon, although few configurations follow a journal.
// Only the header is used at build time, for the functions' types.

#include <systemd/sd-journal.h>

#include <string>

namespace vitals {

// X(member, function): every sd_journal function the journal source calls.
#define VITALS_SD_JOURNAL_FUNCTIONS(X)                    \
  X(open, sd_journal_open)                                \
  X(open_directory, sd_journal_open_directory)            \
  X(close, sd_journal_close)                              \
  X(add_match, sd_journal_add_match)                      \
  X(add_disjunction, sd_journal_add_disjunction)          \
  X(has_runtime_files, sd_journal_has_runtime_files)      \
  X(has_persistent_files, sd_journal_has_persistent_files) \
  X(set_data_threshold, sd_journal_set_data_threshold)    \
  X(seek_head, sd_journal_seek_head)                      \
  X(seek_tail, sd_journal_seek_tail)                      \
  X(seek_cursor, sd_journal_seek_cursor)                  \
  X(next, sd_journal_next)                                \
  X(previous, sd_journal_previous)                        \
  X(get_data, sd_journal_get_data)                        \
  X(get_cursor, sd_journal_get_cursor)                    \
  X(test_cursor, sd_journal_test_cursor)                  \
  X(get_realtime_usec, sd_journal_get_realtime_usec)

struct sd_journal_library {
#define VITALS_SD_JOURNAL_MEMBER(member, function) decltype(&::function) member = nullptr;
  VITALS_SD_JOURNAL_FUNCTIONS(VITALS_SD_JOURNAL_MEMBER)
#undef VITALS_SD_JOURNAL_MEMBER

  // The shared library's file name, as the dynamic loader looks it up.
  static constexpr const char* file_name = "libsystemd.so.0";

  // The loaded functions, or null when libsystemd cannot be loaded; then
  // `why` (when given) says why. Loads once, on first use, from any thread;
  // the library stays loaded.
  static const sd_journal_library* get(std::string* why = nullptr);
};

}  // namespace vitals
