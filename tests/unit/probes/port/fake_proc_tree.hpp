#pragma once

// A /proc-like tree in a temp dir for the socket owner tests: process
// entries, fd links and /proc/net/tcp{,6} text, written as the kernel
// writes them.

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <stdlib.h>

namespace vitals::test {

class fake_proc {
public:
  fake_proc() {
    namespace fs = std::filesystem;
    std::string templ = (fs::temp_directory_path() / "vitals-proc-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    root_ = templ;
    fs::create_directories(root_ / "net");
  }
  ~fake_proc() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  fake_proc(const fake_proc&) = delete;
  fake_proc& operator=(const fake_proc&) = delete;

  std::string root() const { return root_.string(); }

  void write(const std::filesystem::path& rel, const std::string& text) {
    std::filesystem::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel, std::ios::binary) << text;
  }

  // A process directory; missing pieces are left out on purpose by callers.
  void process(int pid, const std::string& comm, int uid, const std::string& cmdline_with_nuls) {
    const std::filesystem::path dir = std::to_string(pid);
    write(dir / "comm", comm + "\n");
    write(dir / "status", "Name:\t" + comm + "\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t" + std::to_string(uid) +
                              "\t" + std::to_string(uid) + "\t" + std::to_string(uid) + "\t" + std::to_string(uid) +
                              "\nGid:\t0\t0\t0\t0\n");
    write(dir / "cmdline", cmdline_with_nuls);
  }

  // /proc/<pid>/stat with `start_ticks` (field 22) and zeros elsewhere.
  void stat(int pid, const std::string& comm, std::uint64_t start_ticks) {
    write(std::to_string(pid) + "/stat", std::to_string(pid) + " (" + comm +
                                             ") S 1 1 1 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 " +
                                             std::to_string(start_ticks) + " 123456 10 18446744073709551615 0 0\n");
  }

  void fd(int pid, int fd, const std::string& target) {
    const std::filesystem::path dir = root_ / std::to_string(pid) / "fd";
    std::filesystem::create_directories(dir);
    std::filesystem::remove(dir / std::to_string(fd));
    std::filesystem::create_symlink(target, dir / std::to_string(fd));
  }

private:
  std::filesystem::path root_;
};

inline const std::string tcp_header =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
inline const std::string tcp6_header =
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr "
    "tm->when retrnsmt   uid  timeout inode\n";

inline std::string tcp_line(const std::string& local, const std::string& state, int uid, int inode) {
  return "   0: " + local + " 00000000:0000 " + state + " 00000000:00000000 00:00000000 00000000  " +
         std::to_string(uid) + "        0 " + std::to_string(inode) + " 1 0000000000000000 100 0 0 10 0\n";
}

inline std::string tcp6_line(const std::string& local, const std::string& state, int uid, int inode) {
  return "   0: " + local + " 00000000000000000000000000000000:0000 " + state +
         " 00000000:00000000 00:00000000 00000000  " + std::to_string(uid) + "        0 " + std::to_string(inode) +
         " 1 0000000000000000 100 0 0 10 0\n";
}

}  // namespace vitals::test
