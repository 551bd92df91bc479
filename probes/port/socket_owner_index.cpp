#include "probes/port/socket_owner_index.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string_view>

namespace vitals {

namespace {

using clock = std::chrono::steady_clock;

// The kernel prints each 32-bit word of the address with %08X as a host-order
// integer (net/ipv4/tcp_ipv4.c, net/ipv6/tcp_ipv6.c), so the word's bytes in
// host memory are the address bytes in network order.
bool decode_word(std::string_view hex8, unsigned char* bytes) {
  std::uint32_t word = 0;
  if (hex8.size() != 8 || !parse_int(hex8, word, 16)) return false;
  std::memcpy(bytes, &word, sizeof word);
  return true;
}

bool decode_address(std::string_view hex, std::string& text) {
  if (hex.size() == 8) {
    asio::ip::address_v4::bytes_type bytes{};
    if (!decode_word(hex, bytes.data())) return false;
    text = asio::ip::address_v4(bytes).to_string();
    return true;
  }
  if (hex.size() == 32) {
    asio::ip::address_v6::bytes_type bytes{};
    for (std::size_t w = 0; w < 4; ++w)
      if (!decode_word(hex.substr(w * 8, 8), bytes.data() + w * 4)) return false;
    text = asio::ip::address_v6(bytes).to_string();
    return true;
  }
  return false;
}

// Appends the LISTEN sockets of one /proc/net/tcp{,6} text. Columns:
// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
void parse_net_tcp(std::string_view text, std::vector<port_listener>& out) {
  constexpr std::string_view listen_state = "0A";
  bool header = true;
  while (!text.empty()) {
    const auto eol = text.find('\n');
    const auto line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (header) {  // "  sl  local_address rem_address   st ..."
      header = false;
      continue;
    }
    const auto fields = split_whitespace(line);
    if (fields.size() < 10 || fields[3] != listen_state) continue;
    const auto local = fields[1];
    const auto colon = local.find(':');
    if (colon == std::string_view::npos) continue;
    port_listener l;
    if (!decode_address(local.substr(0, colon), l.address)) continue;
    if (!parse_int(local.substr(colon + 1), l.port, 16)) continue;
    if (!parse_int(fields[7], l.socket_uid)) continue;
    if (!parse_int(fields[9], l.inode) || l.inode == 0) continue;
    out.push_back(std::move(l));
  }
}

// --- Listening sockets through NETLINK_SOCK_DIAG ------------------------------
//
// /proc/net/tcp makes the kernel walk and format every established and
// TIME_WAIT socket only for us to throw them away; a sock_diag dump filtered
// to TCP_LISTEN walks the listening hash alone.

// Owns one file descriptor; the netlink exchange has many ways out.
class unique_fd {
public:
  explicit unique_fd(int fd) : fd_(fd) {}
  ~unique_fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;

  int get() const { return fd_; }

private:
  int fd_;
};

// Bounds every recv: a wedged reply must not hold a pool thread for good.
constexpr std::chrono::seconds netlink_recv_timeout{2};
// Bounds a whole listing, even if datagrams keep arriving.
constexpr std::chrono::seconds netlink_deadline{5};
// Dump datagrams stay well below 64 KiB, so this never truncates; if one
// ever did, the listing fails rather than miss sockets.
constexpr std::size_t netlink_buffer_size = 64 * 1024;
constexpr std::size_t nl_header_size = NLMSG_ALIGN(sizeof(nlmsghdr));

// Set by the first failed netlink listing (EPERM, EAFNOSUPPORT in a sandbox,
// a timeout, ...): later scans go straight to /proc instead of failing anew
// every second. Process-wide, like the reason it failed.
std::atomic<bool> netlink_unusable{false};
// Sequence numbers of our requests; a reply must carry the one it answers.
std::atomic<std::uint32_t> netlink_next_seq{1};

std::error_code errno_code() { return {errno, std::system_category()}; }

// idiag_src holds the address in network byte order (IPv4 in its first word).
bool netlink_address(const inet_diag_msg& m, std::string& text) {
  if (m.idiag_family == AF_INET) {
    asio::ip::address_v4::bytes_type bytes{};
    std::memcpy(bytes.data(), m.id.idiag_src, bytes.size());
    text = asio::ip::address_v4(bytes).to_string();
    return true;
  }
  if (m.idiag_family == AF_INET6) {
    asio::ip::address_v6::bytes_type bytes{};
    static_assert(sizeof m.id.idiag_src == std::tuple_size_v<asio::ip::address_v6::bytes_type>);
    std::memcpy(bytes.data(), m.id.idiag_src, bytes.size());
    text = asio::ip::address_v6(bytes).to_string();
    return true;
  }
  return false;
}

// Handles one received datagram of the dump answering `seq`. Sets `done`
// at NLMSG_DONE; an error ends the listing.
std::error_code parse_diag_datagram(const unsigned char* data, std::size_t size, std::uint32_t seq,
                                    std::uint8_t family, std::vector<port_listener>& out, bool& done) {
  std::size_t offset = 0;
  while (size - offset >= sizeof(nlmsghdr)) {
    // memcpy, not casts: the buffer holds bytes, and a cut-off message must
    // never be read past its end.
    nlmsghdr header;
    std::memcpy(&header, data + offset, sizeof header);
    if (header.nlmsg_len < nl_header_size || header.nlmsg_len > size - offset)
      return std::make_error_code(std::errc::bad_message);
    const unsigned char* payload = data + offset + nl_header_size;
    const std::size_t payload_size = header.nlmsg_len - nl_header_size;
    offset = std::min<std::size_t>(offset + NLMSG_ALIGN(header.nlmsg_len), size);
    if (header.nlmsg_seq != seq) continue;  // not an answer to this request

    if (header.nlmsg_type == NLMSG_DONE) {
      // The kernel appends the dump's own status: negative errno if it broke off.
      int status = 0;
      if (payload_size >= sizeof status) std::memcpy(&status, payload, sizeof status);
      if (status < 0) return {-status, std::system_category()};
      done = true;
      return {};
    }
    if (header.nlmsg_type == NLMSG_ERROR) {
      nlmsgerr err;
      if (payload_size < sizeof err.error) return std::make_error_code(std::errc::bad_message);
      std::memcpy(&err.error, payload, sizeof err.error);
      // We asked for no ACK, so even "error 0" means the dump did not happen.
      return err.error < 0 ? std::error_code(-err.error, std::system_category())
                           : std::make_error_code(std::errc::protocol_error);
    }
    if (header.nlmsg_type == NLMSG_OVERRUN) return std::make_error_code(std::errc::no_buffer_space);
    if (header.nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;  // NLMSG_NOOP and the like

    inet_diag_msg msg;
    if (payload_size < sizeof msg) return std::make_error_code(std::errc::bad_message);
    std::memcpy(&msg, payload, sizeof msg);
    // The kernel filtered for us; re-checked so a surprise cannot add a
    // non-listener that /proc would not list.
    if (msg.idiag_family != family || msg.idiag_state != TCP_LISTEN) continue;
    port_listener l;
    if (!netlink_address(msg, l.address)) continue;
    l.port = ntohs(msg.id.idiag_sport);
    l.socket_uid = msg.idiag_uid;
    l.inode = msg.idiag_inode;
    if (l.inode == 0) continue;  // as parse_net_tcp: a socket no fd can hold
    out.push_back(std::move(l));
  }
  return {};
}

// One SOCK_DIAG_BY_FAMILY dump of `family`'s TCP listeners on `fd`, which is
// connected to the kernel.
std::error_code dump_listeners(int fd, std::uint8_t family, std::chrono::steady_clock::time_point deadline,
                               std::vector<unsigned char>& buffer, std::vector<port_listener>& out) {
  struct {
    nlmsghdr header;
    inet_diag_req_v2 body;
  } request{};
  static_assert(sizeof request == NLMSG_LENGTH(sizeof(inet_diag_req_v2)), "no padding between header and body");
  const std::uint32_t seq = netlink_next_seq.fetch_add(1, std::memory_order_relaxed);
  request.header.nlmsg_len = sizeof request;
  request.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.header.nlmsg_seq = seq;
  request.body.sdiag_family = family;
  request.body.sdiag_protocol = IPPROTO_TCP;
  request.body.idiag_states = 1u << TCP_LISTEN;  // id left zero: any address, any port

  while (true) {
    const ssize_t sent = ::send(fd, &request, sizeof request, 0);
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0) return errno_code();
    if (static_cast<std::size_t>(sent) != sizeof request) return std::make_error_code(std::errc::message_size);
    break;
  }

  bool done = false;
  while (!done) {
    if (std::chrono::steady_clock::now() >= deadline) return std::make_error_code(std::errc::timed_out);
    iovec iov{buffer.data(), buffer.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    const ssize_t n = ::recvmsg(fd, &msg, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_code();  // EAGAIN: SO_RCVTIMEO ran out
    // The rest of a cut datagram is gone for good: fail, not list half.
    if ((msg.msg_flags & MSG_TRUNC) != 0) return std::make_error_code(std::errc::message_size);
    if (auto ec = parse_diag_datagram(buffer.data(), static_cast<std::size_t>(n), seq, family, out, done)) return ec;
  }
  return {};
}

// A coroutine, not a lambda: the frame keeps its own copy of `owners`.
asio::awaitable<owner_snapshot> scan_on_pool(std::shared_ptr<socket_owner_cache> owners) {
  co_return socket_owner_index::scan("/proc", *owners);
}

}  // namespace

std::vector<const port_listener*> owner_snapshot::find(std::uint16_t port) const {
  std::vector<const port_listener*> found;
  for (const auto& l : listeners)
    if (l.port == port) found.push_back(&l);
  return found;
}

std::vector<port_listener> socket_owner_index::listeners_from_netlink(std::error_code& ec) {
  ec.clear();
  const unique_fd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (fd.get() < 0) {
    ec = errno_code();
    return {};
  }
  timeval timeout{};
  timeout.tv_sec = netlink_recv_timeout.count();
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0 ||
      ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) != 0) {
    ec = errno_code();
    return {};
  }
  // Connected to the kernel (port id 0): other processes can no longer send
  // to our port id, so every datagram we read is the kernel's.
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel) != 0) {
    ec = errno_code();
    return {};
  }

  const auto deadline = clock::now() + netlink_deadline;
  std::vector<unsigned char> buffer(netlink_buffer_size);
  std::vector<port_listener> found;
  for (const std::uint8_t family : {std::uint8_t{AF_INET}, std::uint8_t{AF_INET6}}) {
    if ((ec = dump_listeners(fd.get(), family, deadline, buffer, found))) return {};
  }
  return found;
}

std::vector<port_listener> socket_owner_index::listeners_from_proc(const std::string& proc_root) {
  std::vector<port_listener> found;
  std::string text;
  for (const char* file : {"/net/tcp", "/net/tcp6"})
    if (read_proc_text(proc_root + file, text) == 0) parse_net_tcp(text, found);  // no IPv6: no tcp6
  return found;
}

owner_snapshot socket_owner_index::scan(const std::string& proc_root) {
  socket_owner_cache owners(proc_root);  // knows nobody yet: walks
  return scan(proc_root, owners);
}

owner_snapshot socket_owner_index::scan(const std::string& proc_root, socket_owner_cache& owners) {
  owner_snapshot snap;
  snap.taken_at = clock::now();

  // Netlink answers for this process's network namespace, which is what
  // the real /proc/net shows; a /proc-like tree elsewhere (the tests') is
  // read as text.
  bool listed = false;
  if (proc_root == "/proc" && !netlink_unusable.load(std::memory_order_relaxed)) {
    std::error_code ec;
    snap.listeners = listeners_from_netlink(ec);
    if (ec)
      netlink_unusable.store(true, std::memory_order_relaxed);  // silently: /proc gives the same answer
    else
      listed = true;
  }
  if (listed) {
    snap.listeners_source = "netlink";
  } else {
    snap.listeners = listeners_from_proc(proc_root);
    snap.listeners_source = "proc";
  }
  snap.permission_denied = owners.assign_owners(snap.listeners);
  return snap;
}

socket_owner_index::socket_owner_index(asio::io_context& io) : service(io), io_(io) {
  scan_done_ = std::make_unique<asio::steady_timer>(io_);
  scan_done_->expires_at(asio::steady_timer::time_point::max());
}

void socket_owner_index::shutdown() {
  // Destroys pending waits (their coroutine frames are being torn down with
  // the io_context anyway) while the timer's own service still exists.
  scan_done_.reset();
}

asio::awaitable<std::shared_ptr<const owner_snapshot>> socket_owner_index::async_snapshot(asio::thread_pool& pool) {
  return async_snapshot(pool, clock::time_point::min());
}

asio::awaitable<std::shared_ptr<const owner_snapshot>> socket_owner_index::async_snapshot(
    asio::thread_pool& pool, clock::time_point not_before) {
  for (;;) {
    if (current_ && current_->taken_at >= not_before && clock::now() - current_->taken_at < max_age_)
      co_return current_;
    if (!scanning_) start_scan(pool);
    // A scan started after not_before answers us, however short max_age is.
    const bool answers_us = scan_started_at_ >= not_before;
    const std::uint64_t generation = generation_;

    struct waiting_count {
      std::size_t& n;
      explicit waiting_count(std::size_t& count) : n(count) { ++n; }
      ~waiting_count() { --n; }
    } count(waiting_);
    // run_scan() wakes us by cancelling the timer, so operation_aborted is
    // the normal outcome. Our own cancellation (the scheduler's deadline)
    // also ends the wait that way; the unchanged generation tells them apart.
    co_await scan_done_->async_wait(asio::as_tuple(asio::use_awaitable));
    if (generation_ == generation)
      throw boost::system::system_error(asio::error::operation_aborted, "socket_owner_index::async_snapshot");
    if (answers_us && current_) co_return current_;
  }
}

void socket_owner_index::start_scan(asio::thread_pool& pool) {
  scanning_ = true;
  scan_started_at_ = clock::now();
  ++scans_;
  // Detached from every caller, so a caller's cancellation cannot strand the
  // others; it ends with the io_context at the latest.
  asio::co_spawn(io_, run_scan(pool), asio::detached);
}

asio::awaitable<void> socket_owner_index::run_scan(asio::thread_pool& pool) {
  std::shared_ptr<const owner_snapshot> result;
  try {
    // Runs scan() on a pool thread; the completion comes back to this
    // coroutine's executor, the loop.
    auto snap = co_await asio::co_spawn(pool, scan_on_pool(owners_), asio::use_awaitable);
    result = std::make_shared<const owner_snapshot>(std::move(snap));
  } catch (const std::exception&) {
    // Only allocation failure can get here; hand out an empty snapshot so
    // waiters still wake up (their ports show no owner).
    owner_snapshot empty;
    empty.taken_at = scan_started_at_;
    result = std::make_shared<const owner_snapshot>(std::move(empty));
  }
  current_ = std::move(result);
  scanning_ = false;
  ++generation_;
  if (scan_done_) scan_done_->cancel();
}

}  // namespace vitals
