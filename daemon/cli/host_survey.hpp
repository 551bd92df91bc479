#pragma once

// What runs on this host, for `vitalsd init`: listening TCP sockets and
// their owners, long-running user programs, SQLite files under chosen
// directories and the mounts they live on. Blocking reads of /proc and the
// filesystem: for the CLI, never for the daemon's loop.

#include "probes/port/port_listener.hpp"

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vitals {

struct survey_process {
  process_identity who;
  std::uint64_t rss_bytes = 0;
  double age_seconds = 0;
  std::string cwd;  // readlink of /proc/PID/cwd; empty when not readable
};

struct sqlite_file {
  std::string path;
  bool wal = false;
  std::uint64_t bytes = 0;
};

struct survey_options {
  std::vector<std::string> scan_dirs;  // searched for SQLite files
  std::string proc_root = "/proc";
  // Bounds on the directory walk: symlinks are not followed.
  std::size_t max_depth = 8;
  std::size_t max_entries = 200'000;
};

struct host_survey {
  std::vector<port_listener> listeners;  // TCP, on loopback or all addresses
  std::vector<survey_process> programs;  // interpreters and runtimes (node, python, java, ...)
  std::vector<survey_process> servers;   // redis-server and postgres postmasters among the owners
  std::vector<sqlite_file> sqlite_files;
  // What could not be seen, one sentence each ("the owners of 3 listening
  // sockets: other users' processes ...").
  std::vector<std::string> unseen;
};

host_survey survey_host(const survey_options& options);

// True for the process names `init` writes a process probe for.
bool is_runtime_name(const std::string& name);

// The file or module a runtime runs: "server.js" of "node server.js",
// "http.server" of "python3 -m http.server 3001", the jar of "java -jar
// app.jar"; empty when the command line names none.
std::string program_of(const std::string& cmdline);

}  // namespace vitals
