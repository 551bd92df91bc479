// socket_owner_cache over a fake /proc tree: when a refresh may keep the
// owners it knew and when it must walk every /proc/<pid>/fd again. The
// same rules against real processes: tests/integration/port_owner_cache_test.cpp.

#include "probes/port/socket_owner_cache.hpp"

#include "unit/probes/port/fake_proc_tree.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vitals {
namespace {

using namespace std::string_literals;
using test::fake_proc;

std::vector<port_listener> listening(std::initializer_list<std::uint64_t> inodes) {
  std::vector<port_listener> listeners;
  for (auto inode : inodes) {
    port_listener l;
    l.address = "127.0.0.1";
    l.port = static_cast<std::uint16_t>(3000 + listeners.size());
    l.inode = inode;
    listeners.push_back(l);
  }
  return listeners;
}

// A process holding `inode` on fd 4, started `start_ticks` after boot (long ago: settled).
void holder(fake_proc& proc, int pid, const std::string& comm, int uid, std::uint64_t inode,
            std::uint64_t start_ticks = 500) {
  proc.process(pid, comm, uid, "/usr/bin/" + comm + "\0--serve\0"s);
  proc.stat(pid, comm, start_ticks);
  proc.fd(pid, 4, "socket:[" + std::to_string(inode) + "]");
}

std::optional<socket_owner> owner_after_refresh(socket_owner_cache& cache, std::uint64_t inode) {
  auto listeners = listening({inode});
  cache.assign_owners(listeners);
  return listeners[0].owner;
}

TEST(socket_owner_cache, a_remembered_owner_that_still_holds_its_socket_needs_no_walk) {
  fake_proc proc;
  holder(proc, 4242, "python3", 0, 1001);
  socket_owner_cache cache(proc.root());

  const auto first = owner_after_refresh(cache, 1001);
  const auto second = owner_after_refresh(cache, 1001);

  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->pid, 4242);
  EXPECT_EQ(second->process, "python3");
  EXPECT_EQ(second->cmdline, first->cmdline);
  EXPECT_EQ(cache.walks(), 1u);
}

TEST(socket_owner_cache, a_new_listener_is_found_by_a_walk) {
  fake_proc proc;
  holder(proc, 4242, "python3", 0, 1001);
  socket_owner_cache cache(proc.root());
  owner_after_refresh(cache, 1001);

  holder(proc, 4300, "node", 0, 1002);
  auto listeners = listening({1001, 1002});
  cache.assign_owners(listeners);

  EXPECT_EQ(cache.walks(), 2u);
  ASSERT_TRUE(listeners[1].owner.has_value());
  EXPECT_EQ(listeners[1].owner->process, "node");
}

TEST(socket_owner_cache, an_owner_whose_fd_now_links_elsewhere_is_looked_for_again) {
  fake_proc proc;
  holder(proc, 120, "nginx", 0, 1001);
  holder(proc, 900, "nginx-worker", 0, 1001);
  socket_owner_cache cache(proc.root());
  ASSERT_EQ(owner_after_refresh(cache, 1001)->pid, 120);

  proc.fd(120, 4, "/dev/null");  // the master closed it; its fd number was reused

  const auto owner = owner_after_refresh(cache, 1001);
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->pid, 900);
  EXPECT_EQ(cache.walks(), 2u);
}

TEST(socket_owner_cache, a_pid_with_another_start_time_is_read_again_as_another_process) {
  fake_proc proc;
  holder(proc, 4242, "server", 0, 1001, 500);
  socket_owner_cache cache(proc.root());
  ASSERT_EQ(owner_after_refresh(cache, 1001)->user, "root");

  // Same pid, same name, same fd and socket (inherited), but a later start
  // and another user: what a reused pid looks like.
  holder(proc, 4242, "server", 424242, 1001, 900);

  const auto owner = owner_after_refresh(cache, 1001);
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->pid, 4242);
  EXPECT_EQ(owner->user, "424242");
}

TEST(socket_owner_cache, an_owner_that_renamed_itself_is_shown_under_its_new_name_without_a_walk) {
  fake_proc proc;
  holder(proc, 4242, "bash", 0, 1001);
  socket_owner_cache cache(proc.root());
  ASSERT_EQ(owner_after_refresh(cache, 1001)->process, "bash");

  holder(proc, 4242, "node", 0, 1001);  // exec'd with the socket open: same pid and start

  const auto owner = owner_after_refresh(cache, 1001);
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->process, "node");
  EXPECT_EQ(owner->cmdline, "/usr/bin/node --serve");
  EXPECT_EQ(cache.walks(), 1u);
}

TEST(socket_owner_cache, an_owner_that_vanished_is_looked_for_again) {
  fake_proc proc;
  holder(proc, 4242, "server", 0, 1001);
  socket_owner_cache cache(proc.root());
  owner_after_refresh(cache, 1001);

  std::filesystem::remove_all(proc.root() + "/4242");

  EXPECT_FALSE(owner_after_refresh(cache, 1001).has_value());
  EXPECT_EQ(cache.walks(), 2u);
}

TEST(socket_owner_cache, a_listener_nobody_holds_is_looked_for_again_only_after_hidden_recheck) {
  fake_proc proc;
  socket_owner_cache cache(proc.root());
  EXPECT_FALSE(owner_after_refresh(cache, 1001).has_value());
  holder(proc, 4242, "server", 0, 1001);  // appears later: the walk that looks again finds it

  EXPECT_FALSE(owner_after_refresh(cache, 1001).has_value());
  EXPECT_EQ(cache.walks(), 1u);

  cache.set_hidden_recheck(std::chrono::steady_clock::duration::zero());
  const auto owner = owner_after_refresh(cache, 1001);
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->pid, 4242);
  EXPECT_EQ(cache.walks(), 2u);
}

TEST(socket_owner_cache, a_closed_listener_is_forgotten) {
  fake_proc proc;
  holder(proc, 4242, "server", 0, 1001);
  socket_owner_cache cache(proc.root());
  owner_after_refresh(cache, 1001);
  std::vector<port_listener> none;
  cache.assign_owners(none);

  // Listed again (the same inode number cannot come back, but if it did it
  // would be a new socket): the cache must not answer from memory.
  owner_after_refresh(cache, 1001);

  EXPECT_EQ(cache.walks(), 2u);
}

TEST(socket_owner_cache, a_young_owner_has_its_identity_read_again_on_every_refresh) {
  fake_proc proc;
  const std::uint64_t now = boot_clock_ticks();
  holder(proc, 4242, "server", 0, 1001, now);  // started just now
  socket_owner_cache cache(proc.root());
  ASSERT_EQ(owner_after_refresh(cache, 1001)->user, "root");

  proc.process(4242, "server", 424242, "/usr/bin/server\0--serve\0"s);  // dropped privileges after binding

  const auto owner = owner_after_refresh(cache, 1001);
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->user, "424242");
  EXPECT_EQ(cache.walks(), 1u);
}

}  // namespace
}  // namespace vitals
