#pragma once

// One WebSocket connection, plain (ws://) or TLS (wss://), behind one
// interface, and what a run reports about it. Shared by the one-shot
// exchange (websocket_link.cpp) and the persistent session
// (websocket_session.cpp); nothing outside probes/websocket uses it.

#include "probes/net/web_stream.hpp"
#include "probes/websocket/websocket_probe.hpp"

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace vitals::websocket_detail {

using clock = websocket_probe::clock;
using error_code = boost::system::error_code;

// At most this much of a message goes into evidence.
constexpr std::size_t message_evidence_bytes = 200;

// How the upgrade went, filled in by ws_link::open() step by step.
struct handshake_info {
  phase_times times;
  double handshake_seconds = 0;
  unsigned status = 0;  // of the upgrade response; 0 when none came
  std::string status_line;
  std::string subprotocol;
  std::string server;
  std::optional<tls_chain> chain;  // wss://: what the server sent in the TLS handshake, trusted or not
};

// One WebSocket connection, plain or TLS, behind one interface, so the
// conversation logic is written once.
class ws_link : public std::enable_shared_from_this<ws_link> {
public:
  virtual ~ws_link() = default;
  // Connect, TLS, upgrade, each bounded by `deadline`. nullopt on success.
  virtual asio::awaitable<std::optional<web_failure>> open(const websocket_probe::settings& s,
                                                            clock::time_point deadline, handshake_info& info) = 0;
  virtual asio::awaitable<error_code> write_text(std::string text) = 0;
  virtual asio::awaitable<error_code> read(std::string& out) = 0;
  virtual asio::awaitable<error_code> ping() = 0;
  virtual asio::awaitable<error_code> close_normally() = 0;
  // Persistent use: the deadline of open() no longer applies.
  virtual void keep_open() = 0;
  // Closes the socket at once; pending operations complete with an error.
  virtual void abort() = 0;
  virtual int close_code() const = 0;  // the server's close frame, 0 when none
  virtual std::string close_reason() const = 0;

  std::function<void()> on_pong;
};

// A link for `url`'s scheme; `tls` is used for wss:// only, and may be null
// for ws://.
std::shared_ptr<ws_link> make_link(const asio::any_io_executor& ex, const web_url& url, asio::ssl::context* tls);
// True when `ec` says the server closed the connection with a close frame.
bool is_close(const error_code& ec);
// "1001 (going away)".
std::string close_code_text(int code);

double seconds_since(clock::time_point t);

// Whether `message` is the answer (expect, expect_regex or expect_json;
// with none, any message is); `why` says why not.
bool answer_matches(const websocket_probe::settings& s, const std::string& message, std::string& why);
// The upgrade's timings, status, peer and certificate chain as samples and
// evidence.
void add_handshake(probe_result& r, const handshake_info& info, bool tls);
// Marks `r` failed with `reason` and `error`.
void fail(probe_result& r, std::string reason, std::string error);

}  // namespace vitals::websocket_detail
