#pragma once

// The kept connection of persistent mode (`persistent: true`).

#include "probes/websocket/websocket_link.hpp"

#include <boost/asio/steady_timer.hpp>

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace vitals {

// The kept connection of persistent mode, shared by the probe and the
// reader coroutine that drains it between runs (so protocol pings are
// answered and a drop is seen at once: the reader calls on_lost, and the
// probe asks for a run that reports it). Touched on the loop only.
struct ws_session {
  explicit ws_session(const asio::any_io_executor& ex) : notify(ex) {}
  std::shared_ptr<websocket_detail::ws_link> link;
  asio::steady_timer notify;  // cancelled whenever something below changes
  std::deque<std::string> inbox;
  bool alive = true;
  bool closing = false;  // we closed it: not a drop
  std::string ended_why;
  int close_code = 0;
  websocket_probe::clock::time_point connected_at;
  websocket_probe::clock::time_point ended_at;  // when the reader saw it end
  std::optional<websocket_probe::clock::time_point> pong_at;
  std::size_t max_inbox = 100;
  std::optional<tls_chain> chain;  // what the server sent when it was opened (wss://)
  std::function<void()> on_lost;   // the server ended it; not called once `closing`

  void wake() { notify.cancel(); }
};

}  // namespace vitals
