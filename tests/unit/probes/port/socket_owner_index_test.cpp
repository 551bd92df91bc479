#include "probes/port/socket_owner_index.hpp"

#include "support/pool_gate.hpp"
#include "unit/probes/port/fake_proc_tree.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/system/system_error.hpp>

#include <gtest/gtest.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace vitals {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
using snapshot_ptr = std::shared_ptr<const owner_snapshot>;

using test::fake_proc;
using test::tcp6_header;
using test::tcp6_line;
using test::tcp_header;
using test::tcp_line;

const port_listener* by_inode(const owner_snapshot& s, std::uint64_t inode) {
  for (const auto& l : s.listeners)
    if (l.inode == inode) return &l;
  return nullptr;
}

// The kernel prints address words in host byte order; the expected texts
// below are written for little-endian hosts (x86-64, arm64).
#define SKIP_UNLESS_LITTLE_ENDIAN()                                                  \
  if constexpr (std::endian::native != std::endian::little) {                        \
    GTEST_SKIP() << "fixture hex is written for little-endian /proc/net/tcp output"; \
  }

TEST(socket_owner_index_scan, decodes_ipv4_listen_addresses_and_ports) {
  SKIP_UNLESS_LITTLE_ENDIAN();
  fake_proc proc;
  proc.write("net/tcp", tcp_header + tcp_line("0100007F:0BB9", "0A", 0, 1001) +  // 127.0.0.1:3001
                            tcp_line("00000000:0050", "0A", 0, 1002) +           // 0.0.0.0:80
                            tcp_line("0302010A:1F90", "0A", 0, 1003));           // 10.1.2.3:8080

  auto snap = socket_owner_index::scan(proc.root());

  ASSERT_EQ(snap.listeners.size(), 3u);
  EXPECT_EQ(by_inode(snap, 1001)->address, "127.0.0.1");
  EXPECT_EQ(by_inode(snap, 1001)->port, 3001);
  EXPECT_EQ(by_inode(snap, 1002)->address, "0.0.0.0");
  EXPECT_EQ(by_inode(snap, 1002)->port, 80);
  EXPECT_EQ(by_inode(snap, 1003)->address, "10.1.2.3");
  EXPECT_EQ(by_inode(snap, 1003)->port, 8080);
}

TEST(socket_owner_index_scan, decodes_ipv6_listen_addresses) {
  SKIP_UNLESS_LITTLE_ENDIAN();
  fake_proc proc;
  proc.write("net/tcp6", tcp6_header +
                             tcp6_line("00000000000000000000000001000000:0BBA", "0A", 0, 2001) +  // [::1]:3002
                             tcp6_line("00000000000000000000000000000000:0BBB", "0A", 0, 2002) +  // [::]:3003
                             tcp6_line("B80D0120000000000000000001000000:0BBC", "0A", 0, 2003) +  // 2001:db8::1
                             tcp6_line("0000000000000000FFFF00000100007F:0BBD", "0A", 0, 2004));  // ::ffff:127.0.0.1

  auto snap = socket_owner_index::scan(proc.root());

  ASSERT_EQ(snap.listeners.size(), 4u);
  EXPECT_EQ(by_inode(snap, 2001)->address, "::1");
  EXPECT_EQ(by_inode(snap, 2001)->port, 3002);
  EXPECT_EQ(by_inode(snap, 2002)->address, "::");
  EXPECT_EQ(by_inode(snap, 2003)->address, "2001:db8::1");
  EXPECT_EQ(by_inode(snap, 2004)->address, "::ffff:127.0.0.1");
}

TEST(socket_owner_index_scan, only_listen_state_sockets_are_listed) {
  SKIP_UNLESS_LITTLE_ENDIAN();
  fake_proc proc;
  proc.write("net/tcp", tcp_header + tcp_line("0100007F:0BB9", "01", 0, 1001) +  // ESTABLISHED
                            tcp_line("0100007F:0BBA", "06", 0, 1002) +           // TIME_WAIT
                            tcp_line("0100007F:0BBB", "0A", 0, 1003) +           // LISTEN
                            "garbage line\n");

  auto snap = socket_owner_index::scan(proc.root());

  ASSERT_EQ(snap.listeners.size(), 1u);
  EXPECT_EQ(snap.listeners[0].inode, 1003u);
  EXPECT_EQ(snap.find(3003).size(), 1u);
  EXPECT_TRUE(snap.find(3001).empty());
}

TEST(socket_owner_index_scan, socket_uid_comes_from_proc_net_tcp) {
  SKIP_UNLESS_LITTLE_ENDIAN();
  fake_proc proc;
  proc.write("net/tcp", tcp_header + tcp_line("0100007F:0BB9", "0A", 0, 1001) +
                            tcp_line("0100007F:0BBA", "0A", 424242, 1002));

  auto snap = socket_owner_index::scan(proc.root());

  EXPECT_EQ(by_inode(snap, 1001)->socket_uid, 0u);
  EXPECT_EQ(by_inode(snap, 1001)->socket_user, "root");
  EXPECT_EQ(by_inode(snap, 1002)->socket_uid, 424242u);
  EXPECT_EQ(by_inode(snap, 1002)->socket_user, "424242");  // no passwd entry: the uid as text
}

TEST(socket_owner_index_scan, owner_is_found_through_fd_links_with_comm_user_and_cmdline) {
  SKIP_UNLESS_LITTLE_ENDIAN();
  fake_proc proc;
  proc.write("net/tcp", tcp_header + tcp_line("0100007F:0BB9", "0A", 0, 1001));
  proc.process(4242, "python3", 0, "/usr/bin/python3\0-m\0http.server\0"s);
  proc.fd(4242, 0, "/dev/null");
  proc.fd(4242, 3, "socket:[999]");   // some other socket
  proc.fd(4242, 4, "socket:[1001]");  // the listener

  auto snap = socket_owner_index::scan(proc.root());

  const auto* l = by_inode(snap, 1001);
  ASSERT_NE(l, nullptr);
  ASSERT_TRUE(l->owner.has_value());
  EXPECT_EQ(l->owner->pid, 4242);
  EXPECT_EQ(l->owner->process, "python3");
  EXPECT_EQ(l->owner->exe_name, "python3");
  EXPECT_EQ(l->owner->uid, 0u);
  EXPECT_EQ(l->owner->user, "root");
  EXPECT_EQ(l->owner->cmdline, "/usr/bin/python3 -m http.server");
  EXPECT_FALSE(snap.permission_denied);
}

TEST(socket_owner_index_scan, long_cmdline_is_cut_to_200_bytes_and_says_so) {
  SKIP_UNLESS_LITTLE_ENDIAN();
  fake_proc proc;
  proc.write("net/tcp", tcp_header + tcp_line("0100007F:0BB9", "0A", 0, 1001));
  std::string argv = "/usr/bin/node\0"s + std::string(500, 'x') + '\0';
  proc.process(77, "node", 0, argv);
  proc.fd(77, 9, "socket:[1001]");

  auto snap = socket_owner_index::scan(proc.root());

  ASSERT_TRUE(by_inode(snap, 1001)->owner.has_value());
  const auto& cmdline = by_inode(snap, 1001)->owner->cmdline;
  EXPECT_EQ(cmdline, "/usr/bin/node " + std::string(socket_owner::max_cmdline - 14, 'x') + "…");
}

TEST(socket_owner_index_scan, a_password_in_the_owners_command_line_is_redacted_before_the_cut) {
  // Cut first, "--db-password=" could fall on one side and the value on the other.
  SKIP_UNLESS_LITTLE_ENDIAN();
  fake_proc proc;
  proc.write("net/tcp", tcp_header + tcp_line("0100007F:0BB9", "0A", 0, 1001));
  const std::string argv = "/usr/bin/node\0"s + std::string(165, 'a') + "\0--db-password=hunter2hunter2\0"s;
  proc.process(77, "node", 0, argv);
  proc.fd(77, 9, "socket:[1001]");

  auto snap = socket_owner_index::scan(proc.root());

  ASSERT_TRUE(by_inode(snap, 1001)->owner.has_value());
  const auto& cmdline = by_inode(snap, 1001)->owner->cmdline;
  // The value starts 6 bytes before the cut: none of it may show.
  EXPECT_EQ(cmdline.find("hunter"), std::string::npos) << cmdline;
  EXPECT_NE(cmdline.find("--db-password=<re"), std::string::npos) << cmdline;
}

TEST(socket_owner_index_scan, process_that_vanished_mid_scan_is_skipped) {
  SKIP_UNLESS_LITTLE_ENDIAN();
  fake_proc proc;
  proc.write("net/tcp", tcp_header + tcp_line("0100007F:0BB9", "0A", 0, 1001) +
                            tcp_line("0100007F:0BBA", "0A", 0, 1002));
  // pid 300 still lists the fd, but comm/status/cmdline are gone: it exited
  // between readdir and reading them.
  proc.fd(300, 5, "socket:[1001]");
  // pid 301 shares the same socket and is still there.
  proc.process(301, "worker", 0, "worker\0"s);
  proc.fd(301, 5, "socket:[1001]");
  // pid 302 vanished entirely after readdir: only its directory is left.
  fs::create_directories(fs::path(proc.root()) / "302");
  // pid 303 holds inode 1002 but has vanished too: 1002 has no owner.
  proc.fd(303, 7, "socket:[1002]");

  auto snap = socket_owner_index::scan(proc.root());

  ASSERT_TRUE(by_inode(snap, 1001)->owner.has_value());
  EXPECT_EQ(by_inode(snap, 1001)->owner->pid, 301);
  EXPECT_FALSE(by_inode(snap, 1002)->owner.has_value());
  EXPECT_FALSE(snap.permission_denied);  // vanishing is not a permission problem
}

TEST(socket_owner_index_scan, shared_socket_is_attributed_to_the_lowest_pid) {
  SKIP_UNLESS_LITTLE_ENDIAN();
  fake_proc proc;
  proc.write("net/tcp", tcp_header + tcp_line("00000000:0050", "0A", 0, 1001));
  proc.process(900, "nginx", 0, "nginx: worker process\0"s);
  proc.fd(900, 6, "socket:[1001]");
  proc.process(120, "nginx", 0, "nginx: master process /usr/sbin/nginx\0"s);
  proc.fd(120, 6, "socket:[1001]");

  auto snap = socket_owner_index::scan(proc.root());

  ASSERT_TRUE(snap.listeners.at(0).owner.has_value());
  EXPECT_EQ(snap.listeners[0].owner->pid, 120);
}

TEST(socket_owner_index_scan, missing_net_files_give_an_empty_snapshot) {
  fake_proc proc;
  auto snap = socket_owner_index::scan(proc.root());
  EXPECT_TRUE(snap.listeners.empty());
  EXPECT_FALSE(snap.permission_denied);
}

TEST(socket_owner_index_scan, real_proc_lists_a_listener_of_this_process) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = acceptor.local_endpoint().port();

  auto snap = socket_owner_index::scan();

  const auto found = snap.find(port);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]->address, "127.0.0.1");
  ASSERT_TRUE(found[0]->owner.has_value());
  EXPECT_EQ(found[0]->owner->pid, ::getpid());
}

TEST(socket_owner_index_scan, proc_like_tree_is_read_as_text) {
  SKIP_UNLESS_LITTLE_ENDIAN();
  fake_proc proc;
  proc.write("net/tcp", tcp_header + tcp_line("0100007F:0BB9", "0A", 0, 1001));

  auto snap = socket_owner_index::scan(proc.root());

  EXPECT_EQ(snap.listeners_source, "proc");  // netlink would list the host's sockets, not the tree's
  ASSERT_EQ(snap.listeners.size(), 1u);
}

// --- the real /proc: listeners through NETLINK_SOCK_DIAG ---------------------
//
// The test machines and CI run Linux with sock_diag, so a scan that fell
// back to /proc text here fails: it is not skipped.

std::uint64_t inode_of(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_ino) : 0;
}

const port_listener* listener_at(const owner_snapshot& s, const std::string& address, std::uint16_t port) {
  for (const auto* l : s.find(port))
    if (l->address == address) return l;
  return nullptr;
}

TEST(socket_owner_index_netlink, real_proc_scan_lists_ipv4_listener_with_its_inode_and_uid) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = acceptor.local_endpoint().port();

  const auto snap = socket_owner_index::scan("/proc");

  EXPECT_EQ(snap.listeners_source, "netlink");
  const auto* l = listener_at(snap, "127.0.0.1", port);
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->inode, inode_of(acceptor.native_handle()));
  EXPECT_EQ(l->socket_uid, ::geteuid());
  ASSERT_TRUE(l->owner.has_value());
  EXPECT_EQ(l->owner->pid, ::getpid());
}

TEST(socket_owner_index_netlink, real_proc_scan_lists_ipv6_listener_with_its_inode_and_uid) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("::1"), 0});
  const auto port = acceptor.local_endpoint().port();

  const auto snap = socket_owner_index::scan("/proc");

  EXPECT_EQ(snap.listeners_source, "netlink");
  const auto* l = listener_at(snap, "::1", port);
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->inode, inode_of(acceptor.native_handle()));
  EXPECT_EQ(l->socket_uid, ::geteuid());
  ASSERT_TRUE(l->owner.has_value());
  EXPECT_EQ(l->owner->pid, ::getpid());
}

using listener_key = std::tuple<std::string, std::uint16_t, std::uint64_t, uid_t>;

std::set<listener_key> keys_of(const std::vector<port_listener>& listeners) {
  std::set<listener_key> keys;
  for (const auto& l : listeners) keys.emplace(l.address, l.port, l.inode, l.socket_uid);
  return keys;
}

std::string describe_difference(const std::set<listener_key>& netlink, const std::set<listener_key>& proc) {
  std::string text;
  auto list = [&](const std::set<listener_key>& from, const std::set<listener_key>& other, const char* label) {
    for (const auto& k : from)
      if (!other.contains(k))
        text += std::string(label) + " " + std::get<0>(k) + ":" + std::to_string(std::get<1>(k)) + " inode " +
                std::to_string(std::get<2>(k)) + " uid " + std::to_string(std::get<3>(k)) + "\n";
  };
  list(netlink, proc, "only netlink:");
  list(proc, netlink, "only proc:");
  return text;
}

TEST(socket_owner_index_netlink, netlink_and_proc_text_list_the_same_listeners) {
  // One listener of each kind that changes the text: IPv4, IPv6, dual-stack.
  asio::io_context io;
  asio::ip::tcp::acceptor v4(io, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::tcp::acceptor v6(io, {asio::ip::make_address("::1"), 0});
  asio::ip::tcp::acceptor dual(io);
  dual.open(asio::ip::tcp::v6());
  dual.set_option(asio::ip::v6_only(false));
  dual.bind({asio::ip::address_v6::any(), 0});
  dual.listen();
  const std::set<listener_key> ours = {
      {"127.0.0.1", v4.local_endpoint().port(), inode_of(v4.native_handle()), ::geteuid()},
      {"::1", v6.local_endpoint().port(), inode_of(v6.native_handle()), ::geteuid()},
      {"::", dual.local_endpoint().port(), inode_of(dual.native_handle()), ::geteuid()},
  };

  // Other processes on this machine open and close listeners at any time.
  // A round counts when netlink saw the same set before and after the /proc
  // read; a real disagreement fails every round.
  std::string difference;
  for (int round = 0; round < 20; ++round) {
    std::error_code ec;
    const auto before = keys_of(socket_owner_index::listeners_from_netlink(ec));
    ASSERT_FALSE(ec) << "netlink unavailable: " << ec.message();
    const auto proc = keys_of(socket_owner_index::listeners_from_proc("/proc"));
    const auto after = keys_of(socket_owner_index::listeners_from_netlink(ec));
    ASSERT_FALSE(ec) << "netlink unavailable: " << ec.message();
    if (before != after) continue;
    if (before == proc) {
      for (const auto& k : ours) EXPECT_TRUE(proc.contains(k)) << std::get<0>(k) << ":" << std::get<1>(k);
      return;
    }
    difference = describe_difference(before, proc);
  }
  FAIL() << "netlink and /proc/net/tcp{,6} disagree:\n" << difference;
}

// Makes socket(AF_NETLINK, ...) fail with EAFNOSUPPORT from now on, as in a
// sandbox without netlink. Irreversible: only for a forked child.
bool deny_netlink_sockets() {
#if defined(__x86_64__)
  constexpr std::uint32_t native_arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  constexpr std::uint32_t native_arch = AUDIT_ARCH_AARCH64;
#else
  return false;
#endif
#if defined(__x86_64__) || defined(__aarch64__)
  // socket()'s first argument; its low 32 bits on a little-endian machine.
  constexpr std::uint32_t domain_at =
      offsetof(seccomp_data, args) + (std::endian::native == std::endian::big ? 4 : 0);
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, native_arch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, domain_at),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_NETLINK, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EAFNOSUPPORT & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
#endif
}

// Runs `child` in a forked process and returns what it wrote. The test
// process has no running thread here, so the child may allocate freely.
std::string output_of_child(const std::function<std::string()>& child) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::close(fds[0]);
    const std::string out = child();
    const ssize_t written = ::write(fds[1], out.data(), out.size());
    ::_exit(written == static_cast<ssize_t>(out.size()) ? 0 : 1);
  }
  ::close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n = 0;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return out;
}

TEST(socket_owner_index_netlink, scan_without_netlink_falls_back_to_proc_text) {
#if !defined(__x86_64__) && !defined(__aarch64__)
  GTEST_SKIP() << "seccomp filter written for x86-64 and arm64";
#endif
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = acceptor.local_endpoint().port();
  const auto inode = inode_of(acceptor.native_handle());

  const auto out = output_of_child([&]() -> std::string {
    if (!deny_netlink_sockets()) return "seccomp failed";
    std::error_code ec;
    socket_owner_index::listeners_from_netlink(ec);
    const auto first = socket_owner_index::scan("/proc");
    const auto second = socket_owner_index::scan("/proc");
    const auto* l = listener_at(first, "127.0.0.1", port);
    return "denied=" + std::to_string(ec == std::error_code(EAFNOSUPPORT, std::system_category())) +
           " source=" + first.listeners_source + " found=" + std::to_string(l != nullptr && l->inode == inode) +
           " then=" + second.listeners_source;
  });

  EXPECT_EQ(out, "denied=1 source=proc found=1 then=proc");
}

// --- async_snapshot: one shared scan -----------------------------------------

using test::pool_gate;

struct snapshot_waiters {
  int done = 0;
  int failed = 0;
  std::vector<snapshot_ptr> got;

  auto handler() {
    return [this](std::exception_ptr e, snapshot_ptr s) {
      ++done;
      if (e) ++failed;
      else got.push_back(std::move(s));
    };
  }
};

class socket_owner_index_async : public ::testing::Test {
protected:
  asio::io_context io;
  asio::thread_pool pool{1};  // declared after io: joined before io is destroyed
  socket_owner_index& index = asio::use_service<socket_owner_index>(io);

  void run_while(const std::function<bool()>& cond) {
    io.restart();
    while (cond())
      if (io.run_one() == 0) break;
  }
};

TEST_F(socket_owner_index_async, concurrent_callers_share_one_scan) {
  pool_gate gate(pool);
  snapshot_waiters w;
  for (int i = 0; i < 50; ++i) asio::co_spawn(io, index.async_snapshot(pool), w.handler());
  run_while([&] { return index.waiting() < 50; });
  EXPECT_EQ(index.waiting(), 50u);
  EXPECT_EQ(index.scans(), 1u);

  gate.release();
  run_while([&] { return w.done < 50; });

  EXPECT_EQ(w.failed, 0);
  ASSERT_EQ(w.got.size(), 50u);
  for (const auto& s : w.got) EXPECT_EQ(s.get(), w.got.front().get());  // the very same snapshot
  EXPECT_EQ(index.scans(), 1u);
  EXPECT_EQ(index.waiting(), 0u);
}

TEST_F(socket_owner_index_async, fresh_snapshot_is_reused_without_scanning) {
  snapshot_waiters w;
  asio::co_spawn(io, index.async_snapshot(pool), w.handler());
  run_while([&] { return w.done < 1; });
  asio::co_spawn(io, index.async_snapshot(pool), w.handler());
  run_while([&] { return w.done < 2; });

  ASSERT_EQ(w.got.size(), 2u);
  EXPECT_EQ(w.got[0].get(), w.got[1].get());
  EXPECT_EQ(index.scans(), 1u);
}

TEST_F(socket_owner_index_async, snapshot_older_than_max_age_is_replaced) {
  index.set_max_age(std::chrono::steady_clock::duration::zero());
  snapshot_waiters w;
  asio::co_spawn(io, index.async_snapshot(pool), w.handler());
  run_while([&] { return w.done < 1; });
  asio::co_spawn(io, index.async_snapshot(pool), w.handler());
  run_while([&] { return w.done < 2; });

  ASSERT_EQ(w.got.size(), 2u);
  EXPECT_NE(w.got[0].get(), w.got[1].get());
  EXPECT_EQ(index.scans(), 2u);
}

TEST_F(socket_owner_index_async, not_before_forces_a_scan_newer_than_the_cached_one) {
  snapshot_waiters w;
  asio::co_spawn(io, index.async_snapshot(pool), w.handler());
  run_while([&] { return w.done < 1; });
  const auto after_first = std::chrono::steady_clock::now();
  asio::co_spawn(io, index.async_snapshot(pool, after_first), w.handler());
  run_while([&] { return w.done < 2; });

  ASSERT_EQ(w.got.size(), 2u);
  EXPECT_EQ(index.scans(), 2u);
  EXPECT_GE(w.got[1]->taken_at, after_first);
}

TEST_F(socket_owner_index_async, cancelled_caller_stops_waiting_and_others_still_get_the_scan) {
  pool_gate gate(pool);
  snapshot_waiters cancelled;
  snapshot_waiters patient;
  asio::cancellation_signal signal;
  asio::co_spawn(io, index.async_snapshot(pool), asio::bind_cancellation_slot(signal.slot(), cancelled.handler()));
  asio::co_spawn(io, index.async_snapshot(pool), patient.handler());
  run_while([&] { return index.waiting() < 2; });

  signal.emit(asio::cancellation_type::terminal);
  run_while([&] { return cancelled.done < 1; });
  EXPECT_EQ(cancelled.failed, 1);  // operation_aborted, while the scan is still blocked
  EXPECT_EQ(index.waiting(), 1u);

  gate.release();
  run_while([&] { return patient.done < 1; });
  EXPECT_EQ(patient.failed, 0);
  ASSERT_EQ(patient.got.size(), 1u);
  EXPECT_NE(patient.got[0], nullptr);
  EXPECT_EQ(index.scans(), 1u);
}

}  // namespace
}  // namespace vitals
