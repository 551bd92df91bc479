#pragma once

// Runs test code as an unprivileged user, so "permission denied" paths can be
// tested for real even when the suite runs as root (as CI does).

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

namespace vitals::test {

// Closes every fd above 2 except `keep`.
inline void close_fds_except(int keep) {
  if (keep > 3) ::close_range(3, static_cast<unsigned>(keep - 1), 0);
  ::close_range(static_cast<unsigned>(keep + 1), ~0U, 0);
}

inline void write_all(int fd, const std::string& text) {
  std::size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

// Reads until EOF: the writer closed its end (or died).
inline std::string read_all(int fd) {
  std::string out;
  char buf[512];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

// Runs `body` in a forked child that dropped root to nobody (65534) and
// returns what it returned, as "key=value" lines. A failure to drop
// privileges comes back as "error=…". The caller must be root.
template <class Body>
std::string run_as_nobody(Body body) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    close_fds_except(fds[1]);  // the child must not keep the parent's sockets alive
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) {
      write_all(fds[1], "error=cannot drop privileges\n");
      ::_exit(1);
    }
    std::string out;
    try {
      out = body();
    } catch (const std::exception& e) {
      out = std::string("error=") + e.what() + "\n";
    }
    write_all(fds[1], out);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out = read_all(fds[0]);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return out;
}

// "key=value" lines into a map.
inline std::map<std::string, std::string> parse_report(const std::string& text) {
  std::map<std::string, std::string> fields;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) fields[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return fields;
}

}  // namespace vitals::test
