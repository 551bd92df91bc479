#pragma once

// Starting a child under a chosen pid, to test what happens when a pid is
// reused: clone3 with set_tid, which needs CAP_SYS_ADMIN (tests skip
// without root).

#include <linux/sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace vitals::test {

// Takes pid `pid` for a new child: returns 0 in the child, the pid in the
// parent, -1 on failure. Async-signal-safe.
inline pid_t clone_with_pid(pid_t pid) {
  clone_args args{};
  args.exit_signal = SIGCHLD;
  args.set_tid = reinterpret_cast<std::uintptr_t>(&pid);
  args.set_tid_size = 1;
  return static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
}

}  // namespace vitals::test
