// Reading /proc files whole: a record the kernel writes in one piece, and
// texts longer than one read.

#include "probes/core/proc_text.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include <unistd.h>

namespace vitals {
namespace {

namespace fs = std::filesystem;

TEST(read_proc_record, reads_this_process_stat_in_one_piece) {
  std::string record, whole;
  ASSERT_EQ(read_proc_record("/proc/self/stat", record), 0);
  ASSERT_EQ(read_proc_text("/proc/self/stat", whole), 0);
  const auto a = parse_proc_stat(record), b = parse_proc_stat(whole);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->start_ticks, b->start_ticks);
  EXPECT_EQ(a->comm, b->comm);
  EXPECT_EQ(record.back(), '\n');  // the whole line, not a first part of it
}

TEST(read_proc_record, a_text_longer_than_one_read_is_read_to_its_end) {
  const fs::path file = fs::temp_directory_path() / ("vitals-record-" + std::to_string(::getpid()));
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "line " + std::to_string(i) + "\n";
  ASSERT_GT(text.size(), 4096u);
  std::ofstream(file) << text;
  std::string out;
  EXPECT_EQ(read_proc_record(file.string(), out), 0);
  EXPECT_EQ(out, text);
  fs::remove(file);
}

TEST(read_proc_record, a_missing_file_gives_its_errno) {
  std::string out = "left over";
  EXPECT_EQ(read_proc_record("/proc/self/no-such-file", out), ENOENT);
}

}  // namespace
}  // namespace vitals
