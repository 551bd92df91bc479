#include "daemon/metrics/self_metrics.hpp"

#include "probes/core/proc_text.hpp"

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <limits>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace vitals {

namespace {

// Fields of /proc/self/stat after the ")" that closes comm; index 0 is field 3 (state).
std::vector<std::string> stat_fields() {
  std::string line;
  std::vector<std::string> fields;
  if (read_proc_text("/proc/self/stat", line) != 0) return fields;
  auto close = line.rfind(')');
  if (close == std::string::npos) return fields;
  std::istringstream rest(line.substr(close + 1));
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

// Virtual and resident size in pages: the first two numbers of
// /proc/self/statm, a read that costs less than /proc/self/stat's 52 fields.
std::optional<std::pair<double, double>> memory_pages() {
  std::string text;
  if (read_proc_text("/proc/self/statm", text) != 0) return std::nullopt;
  std::uint64_t size = 0, resident = 0;
  const char* at = text.data();
  const char* end = text.data() + text.size();
  auto r = std::from_chars(at, end, size);
  if (r.ec != std::errc{} || r.ptr == end) return std::nullopt;
  r = std::from_chars(r.ptr + 1, end, resident);
  if (r.ec != std::errc{}) return std::nullopt;
  return std::pair{static_cast<double>(size), static_cast<double>(resident)};
}

double field(const std::vector<std::string>& fields, std::size_t stat_index) {
  // stat_index is the 1-based field number from proc(5).
  const std::size_t i = stat_index - 3;
  return i < fields.size() ? std::stod(fields[i]) : 0;
}

prometheus::MetricFamily gauge(std::string name, std::string help, double value,
                               prometheus::MetricType type = prometheus::MetricType::Gauge) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) m.counter.value = value;
  else m.gauge.value = value;
  f.metric.push_back(m);
  return f;
}

// Entries of /proc/self/fd, read with getdents64 directly: every scrape
// asks, and opendir() and std::filesystem add system calls of their own.
std::optional<std::size_t> count_open_fds() {
  const int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return std::nullopt;
  std::size_t count = 0;
  alignas(8) char buf[8192];
  for (;;) {
    const long n = ::syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (n <= 0) break;
    for (long at = 0; at < n;) {
      dirent64 entry_head;
      std::memcpy(&entry_head, buf + at, offsetof(dirent64, d_name));
      const char* name = buf + at + offsetof(dirent64, d_name);
      if (name[0] != '.') ++count;
      at += entry_head.d_reclen;
    }
  }
  ::close(dir);
  return count > 0 ? count - 1 : 0;  // less the descriptor we opened to count them
}

double boot_time_seconds() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double t = 0;
      in >> t;
      return t;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

}  // namespace

self_metrics::self_metrics() {
  const auto fields = stat_fields();
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (!fields.empty() && ticks > 0) start_time_seconds_ = boot_time_seconds() + field(fields, 22) / ticks;
}

std::vector<prometheus::MetricFamily> self_metrics::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  // Every scrape asks: CPU from getrusage (every thread's, as
  // /proc/self/stat's utime and stime, in microseconds rather than ticks)
  // and memory from statm, instead of splitting /proc/self/stat into strings.
  if (rusage usage{}; getrusage(RUSAGE_SELF, &usage) == 0) {
    const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    out.push_back(gauge("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                        seconds(usage.ru_utime) + seconds(usage.ru_stime), prometheus::MetricType::Counter));
  }
  if (const auto pages = memory_pages()) {
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    out.push_back(gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", pages->first * page));
    out.push_back(gauge("process_resident_memory_bytes", "Resident memory size in bytes.", pages->second * page));
  }
  if (const auto fds = count_open_fds())
    out.push_back(gauge("process_open_fds", "Number of open file descriptors.", static_cast<double>(*fds)));
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0)
    out.push_back(gauge("process_max_fds", "Maximum number of open file descriptors.", static_cast<double>(limit.rlim_cur)));
  out.push_back(gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                      start_time_seconds_));
  return out;
}

}  // namespace vitals
