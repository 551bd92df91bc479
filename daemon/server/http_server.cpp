#include "daemon/server/http_server.hpp"

#include "daemon/server/web_security.hpp"
#include "probes/net/host_addresses.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/flat_stream.hpp>
#include <boost/beast/http.hpp>

#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <list>
#include <map>
#include <stdexcept>

namespace vitals {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// "host:port" with IPv6 in brackets; the host may be a name (resolved once,
// at start, before the loop serves anything).
tcp::endpoint resolve_listen(asio::io_context& io, const std::string& text) {
  std::string problem;
  const auto parsed = parse_host_port(text, problem);
  if (!parsed) throw std::invalid_argument("listen address \"" + text + "\": " + problem);
  tcp::resolver resolver(io);
  auto results = resolver.resolve(parsed->host, std::to_string(parsed->port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service);
  if (results.empty()) throw std::invalid_argument("listen address \"" + text + "\" did not resolve");
  return results.begin()->endpoint();
}

std::string endpoint_text(const tcp::endpoint& e) {
  const auto host = e.address().to_string();
  return (e.address().is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(e.port());
}

std::string seconds_text(std::chrono::milliseconds d) { return fmt::format("{:g}s", d.count() / 1000.0); }

// Why the server closed a connection its client still had open; the names
// are the reasons of connection_drop_hook and of the metric.
enum class drop { evicted, refused, idle_timeout, request_timeout, tls_handshake };
constexpr std::array<std::string_view, 5> drop_names{"evicted", "refused", "idle_timeout", "request_timeout",
                                                     "tls_handshake"};

// Password checks queued for bcrypt at most; more are refused with 503
// rather than queued for longer than a scrape waits.
constexpr int max_pending_auth = 16;

// One line per reason per 10 s at most: a flood must not flood the log too.
constexpr auto drop_log_interval = std::chrono::seconds(10);

// One open connection. The server's list of them is kept in the order in
// which each began waiting for its current request, oldest first: the
// order in which waiting connections are evicted.
struct connection {
  connection(tcp::socket socket, const tcp::endpoint& peer, std::shared_ptr<const web_security> security)
      : stream(std::move(socket)), peer(peer), client(client_of(peer.address())), security(std::move(security)) {}

  // TLS writes each buffer it is given as records of its own: flat_stream
  // gathers a response's header and body into one write.
  using tls_stream = beast::flat_stream<asio::ssl::stream<beast::tcp_stream&>>;

  beast::tcp_stream stream;  // TCP, under the TLS layer when there is one
  std::unique_ptr<tls_stream> tls;
  tcp::endpoint peer;
  asio::ip::address client;  // what the per-client cap counts
  bool answering = false;    // a complete request is being answered: never evicted
  bool evicted = false;      // closed by the server to admit another; no longer counted
  asio::steady_timer* awaiting_reply = nullptr;  // while a deferred response is awaited; stop() wakes it
  std::shared_ptr<const web_security> security;  // as when accepted; null: plain, open
};

// The request path without its query, for deciding whether it needs credentials.
std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

// A response a handler gives later; shared with its reply function, which
// may outlive the connection.
struct deferred_reply {
  explicit deferred_reply(asio::io_context& io) : wake(io, asio::steady_timer::time_point::max()) {}
  std::optional<http_response> response;
  asio::steady_timer wake;
};

}  // namespace

asio::ip::address client_of(const asio::ip::address& peer) {
  if (peer.is_v6() && peer.to_v6().is_v4_mapped())
    return client_of(asio::ip::make_address_v4(asio::ip::v4_mapped, peer.to_v6()));
  if (peer.is_loopback()) return asio::ip::address_v4::loopback();
  if (peer.is_v4() || peer.to_v6().is_link_local()) return peer;  // link-local /64s are shared by the whole link
  auto bytes = peer.to_v6().to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return asio::ip::address_v6(bytes);
}

const std::string* http_request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (beast::iequals(k, name)) return &v;
  return nullptr;
}

std::optional<std::uint64_t> log_throttle::admit(std::chrono::steady_clock::time_point now) {
  if (last_ && now - *last_ < interval_) {
    ++held_back_;
    return std::nullopt;
  }
  last_ = now;
  return std::exchange(held_back_, 0);
}

struct http_server::impl : std::enable_shared_from_this<impl> {
  using connection_list = std::list<connection>;

  impl(asio::io_context& io, http_handler handler, http_limits limits, connection_drop_hook on_drop)
      : io_(io), acceptor_(io), handler_(std::move(handler)), limits_(limits),
        per_client_cap_(limits.max_connections_per_client > 0 ? limits.max_connections_per_client
                                                              : std::max(1, limits.max_connections / 2)),
        on_drop_(std::move(on_drop)) {}

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (acceptor_.is_open()) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      if (ec) {
        // EMFILE and friends: say so and keep accepting; the loop must live on.
        spdlog::warn("http: accept failed: {}", ec.message());
        asio::steady_timer pause(io_, std::chrono::milliseconds(50));
        co_await pause.async_wait(use_tuple);
        continue;
      }
      admit(std::move(socket));
      // To the back of the queue: a flood of connects in the accept queue
      // must not starve the reads of those already admitted, or a client
      // could be evicted while its request sat unread.
      co_await asio::post(io_, use_tuple);
    }
  }

  void admit(tcp::socket socket) {
    boost::system::error_code ec;
    const auto peer = socket.remote_endpoint(ec);
    if (ec) return;  // gone before it was looked at; the socket closes here
    const auto client = client_of(peer.address());
    const auto held = per_client_.find(client);
    const bool client_full = held != per_client_.end() && held->second >= per_client_cap_;
    const bool server_full = static_cast<int>(open_) >= limits_.max_connections;
    if ((client_full || server_full) && !evict_oldest_waiting(client_full ? &client : nullptr, peer)) {
      if (auto more = count(drop::refused))
        spdlog::warn("http: refused a connection from {}: at the {} and every connection is being answered{}",
                     endpoint_text(peer), limit_text(client_full), *more);
      socket.close(ec);
      return;
    }
    // A response goes out as soon as it is written: without this a TLS
    // response split over two segments waits for the client's delayed ACK.
    socket.set_option(tcp::no_delay(true), ec);
    connections_.emplace_back(std::move(socket), peer, security_);
    ++open_;
    ++per_client_[client];
    asio::co_spawn(io_, session(std::prev(connections_.end())), asio::detached);
  }

  std::string limit_text(bool per_client) const {
    return per_client ? fmt::format("per-client limit of {} connections", per_client_cap_)
                      : fmt::format("limit of {} connections", limits_.max_connections);
  }

  // Closes the connection that has waited longest for its request (of
  // `client` only, when given) to make room for `newcomer`. False when
  // every candidate is being answered.
  bool evict_oldest_waiting(const asio::ip::address* client, const tcp::endpoint& newcomer) {
    const auto victim = std::find_if(connections_.begin(), connections_.end(), [&](connection& c) {
      return !c.evicted && !c.answering && (!client || c.client == *client) && !header_arrived(c);
    });
    if (victim == connections_.end()) return false;
    if (auto more = count(drop::evicted))
      spdlog::warn("http: evicted the idle or incomplete connection from {} to admit {} (at the {}){}",
                   endpoint_text(victim->peer), endpoint_text(newcomer), limit_text(client != nullptr), *more);
    victim->evicted = true;
    release(*victim);
    victim->stream.close();  // its session wakes with operation_aborted and erases it
    return true;
  }

  // Whether a complete request header waits unread in the kernel: that
  // client has done its part and only waits for the loop, which a flood of
  // connects can keep busy for longer than it takes to fill every slot.
  static bool header_arrived(connection& c) {
    if (c.tls) return false;  // encrypted: nothing to see
    std::array<char, 8 * 1024> peeked;
    const auto n = ::recv(c.stream.socket().native_handle(), peeked.data(), peeked.size(), MSG_PEEK | MSG_DONTWAIT);
    return n > 0 && std::string_view(peeked.data(), static_cast<std::size_t>(n)).find("\r\n\r\n") !=
                        std::string_view::npos;
  }

  void release(const connection& c) {
    --open_;
    if (auto it = per_client_.find(c.client); it != per_client_.end() && --it->second == 0) per_client_.erase(it);
  }

  // Reports a drop to the hook; engaged when it may be logged now, with the
  // tail saying how many such lines were held back since the last one.
  std::optional<std::string> count(drop reason) {
    const auto index = static_cast<std::size_t>(reason);
    if (on_drop_) on_drop_(drop_names[index]);
    const auto held_back = throttles_[index].admit(std::chrono::steady_clock::now());
    if (!held_back) return std::nullopt;
    return *held_back == 0 ? std::string() : fmt::format("; {} more since the last such line", *held_back);
  }

  http_response dispatch(const http::request<http::string_body>& req) {
    http_request r{std::string(req.method_string()), std::string(req.target()), req.body(), {}};
    for (const auto& field : req) r.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    try {
      return handler_(r);
    } catch (const std::exception& ex) {
      spdlog::error("http: handler for {} {} failed: {}", r.method, r.target, ex.what());
      return http_response::text(500, "internal error");
    }
  }

  // The handler's response, or the one it gives later through `deferred`
  // (a reload loads off the loop). The connection is answering meanwhile,
  // so it is never evicted while a reload runs.
  asio::awaitable<http_response> answer(connection& c, const http::request<http::string_body>& req) {
    auto out = dispatch(req);
    if (!out.deferred) co_return out;
    auto later = std::make_shared<deferred_reply>(io_);
    try {
      out.deferred([later](http_response r) {
        later->response = std::move(r);
        later->wake.cancel();
      });
    } catch (const std::exception& ex) {
      spdlog::error("http: handler for {} {} failed: {}", std::string(req.method_string()),
                    std::string(req.target()), ex.what());
      co_return http_response::text(500, "internal error");
    }
    c.awaiting_reply = &later->wake;
    while (!later->response && !stopping_) co_await later->wake.async_wait(use_tuple);
    c.awaiting_reply = nullptr;
    co_return later->response ? std::move(*later->response) : http_response::text(503, "shutting down");
  }

  // Sends one response under the request deadline; the error, if any, ends the connection.
  // The answer to a HEAD request says how long its body would be and sends none
  // (RFC 9110 §9.3.2): bytes after it would be read as the next response.
  template <class Stream>
  asio::awaitable<boost::system::error_code> write(connection& c, Stream& stream, const http_response& out,
                                                   unsigned version, bool keep_alive, bool head = false) {
    http::response<http::string_body> res{static_cast<http::status>(out.status), version};
    res.set(http::field::server, "vitalsd");
    res.set(http::field::content_type, out.content_type);
    for (const auto& [k, v] : default_security_headers()) res.set(k, v);
    for (const auto& [k, v] : out.headers) res.set(k, v);
    if (c.security)
      for (const auto& [k, v] : c.security->config().headers) res.set(k, v);
    res.keep_alive(keep_alive);
    if (head) {
      res.content_length(out.body.size());
    } else {
      res.body() = out.body;
      res.prepare_payload();
    }
    c.stream.expires_after(limits_.request_timeout);
    auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
    co_return ec;
  }

  // Waits up to idle_timeout for the first byte of the next request, new
  // connection or kept-alive, unless a pipelined one is already buffered.
  template <class Stream>
  asio::awaitable<boost::system::error_code> await_request(connection& c, Stream& stream, beast::flat_buffer& buffer) {
    if (buffer.size() > 0) co_return boost::system::error_code{};
    c.stream.expires_after(limits_.idle_timeout);
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), use_tuple);
    buffer.commit(n);
    co_return ec;
  }

  // Reads the rest of a request under one deadline from its first byte, so
  // a client trickling bytes (slowloris) is cut off. Answers what is not
  // HTTP, or too large, before the error ends the connection.
  template <class Stream>
  asio::awaitable<boost::system::error_code> read_request(connection& c, Stream& stream, beast::flat_buffer& buffer,
                                                          http::request_parser<http::string_body>& parser) {
    parser.header_limit(8 * 1024);
    parser.body_limit(limits_.max_request_bytes);
    c.stream.expires_after(limits_.request_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    unsigned status = 0;
    if (ec == http::error::body_limit) status = 413;
    else if (ec == http::error::header_limit) status = 431;
    else if (ec && ec.category() == beast::http::make_error_code(http::error::end_of_stream).category() &&
             ec != http::error::end_of_stream && ec != http::error::partial_message)
      status = 400;  // the client sent something that is not HTTP/1.x
    if (status != 0 && c.stream.socket().is_open())
      co_await write(c, stream, http_response::text(status, "bad request: " + ec.message()), 11, false);
    co_return ec;
  }

  void timed_out(connection& c, drop reason) {
    if (auto more = count(reason)) {
      const bool idle = reason == drop::idle_timeout;
      spdlog::log(idle ? spdlog::level::debug : spdlog::level::warn, "http: closed the connection from {}: {}{}",
                  endpoint_text(c.peer),
                  idle ? "no request began within " + seconds_text(limits_.idle_timeout)
                       : "request or response not done within " + seconds_text(limits_.request_timeout),
                  *more);
    }
  }

  asio::awaitable<void> session(connection_list::iterator it) {
    auto self = shared_from_this();
    connection& c = *it;
    if (c.security && c.security->tls()) {
      c.tls = std::make_unique<connection::tls_stream>(c.stream, *c.security->tls());
      if (co_await handshake(c)) co_await serve(it, *c.tls);
    } else {
      co_await serve(it, c.stream);
    }
    if (!c.evicted) {
      boost::system::error_code ignored;
      c.stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      c.stream.close();
      release(c);
    }
    connections_.erase(it);
  }

  // Until it is done the connection is waiting: a flood of handshakes that
  // never finish gives way like a flood of idle connections.
  asio::awaitable<bool> handshake(connection& c) {
    c.stream.expires_after(limits_.request_timeout);
    auto [ec] = co_await c.tls->next_layer().async_handshake(asio::ssl::stream_base::server, use_tuple);
    if (!ec) co_return true;
    if (c.evicted || stopping_) co_return false;
    if (auto more = count(drop::tls_handshake))
      spdlog::debug("http: TLS handshake with {} failed: {}{}", endpoint_text(c.peer),
                    ec == beast::error::timeout ? "not done within " + seconds_text(limits_.request_timeout)
                                                : ec.message(),
                    *more);
    co_return false;
  }

  template <class Stream>
  asio::awaitable<void> serve(connection_list::iterator it, Stream& stream) {
    connection& c = *it;
    beast::flat_buffer buffer;
    for (;;) {
      if (auto ec = co_await await_request(c, stream, buffer)) {
        if (ec == beast::error::timeout) timed_out(c, drop::idle_timeout);
        break;
      }
      http::request_parser<http::string_body> parser;
      if (auto ec = co_await read_request(c, stream, buffer, parser)) {
        if (ec == beast::error::timeout) timed_out(c, drop::request_timeout);
        break;
      }
      c.answering = true;
      const auto& req = parser.get();
      // Not a conditional expression: GCC 12 loses temporaries of a
      // co_await inside one.
      http_response out;
      if (auto refusal = co_await admit_request(c, req)) out = std::move(*refusal);
      else out = co_await answer(c, req);
      const bool keep_alive = req.keep_alive() && !stopping_;  // stop() may have come while it was answered
      const bool head = req.method() == http::verb::head;
      const auto written = co_await write(c, stream, out, req.version(), keep_alive, head);
      if (written == beast::error::timeout) timed_out(c, drop::request_timeout);
      if (written || !keep_alive) break;
      c.answering = false;
      connections_.splice(connections_.end(), connections_, it);  // waiting again: now the newest waiter
    }
  }

  // The rate limit and basic auth of the connection's web config: a
  // response refusing the request, or nothing when it may be answered.
  // bcrypt runs on auth_pool_, never on the loop.
  asio::awaitable<std::optional<http_response>> admit_request(connection& c,
                                                              const http::request<http::string_body>& req) {
    if (!c.security) co_return std::nullopt;
    if (!take_rate_token(c.security->config())) co_return refuse("rate_limited", 429, "too many requests");
    if (!c.security->needs_auth(path_of(req.target()))) co_return std::nullopt;
    const auto it = req.find(http::field::authorization);
    const std::string header = it == req.end() ? std::string() : std::string(it->value());
    const auto& auth = c.security->auth();
    auto verdict = auth.quick_check(it == req.end() ? nullptr : &header);
    if (!verdict) {
      if (pending_auth_ >= max_pending_auth) co_return refuse("auth_busy", 503, "too many password checks at once");
      ++pending_auth_;
      const auth_verdict checked = co_await asio::co_spawn(auth_pool_, verify(c.security, header), asio::use_awaitable);
      verdict = checked;
      --pending_auth_;
    }
    if (*verdict == auth_verdict::allowed) co_return std::nullopt;
    const bool missing = *verdict == auth_verdict::missing;
    auto out = refuse(missing ? "missing_credentials" : "wrong_credentials", 401, "unauthorized");
    out.headers.emplace_back("WWW-Authenticate", "Basic realm=\"vitalsd\", charset=\"UTF-8\"");
    co_return out;
  }

  // A coroutine of its own, taking its arguments by value: what it reads
  // lives in its frame (a capturing lambda's captures would not).
  static asio::awaitable<auth_verdict> verify(std::shared_ptr<const web_security> security, std::string header) {
    co_return security->auth().verify(header);
  }

  http_response refuse(std::string_view reason, unsigned status, const char* text) {
    if (on_refusal_) on_refusal_(reason);
    return http_response::text(status, text);
  }

  // A token bucket of `burst` tokens, one more each `interval`.
  bool take_rate_token(const web_config& cfg) {
    if (!cfg.rate_interval) return true;
    const auto now = std::chrono::steady_clock::now();
    const double capacity = cfg.rate_burst;
    if (rate_config_ != &cfg) {
      rate_config_ = &cfg;
      rate_tokens_ = capacity;
      rate_last_ = now;
    }
    const double refill = std::chrono::duration<double>(now - rate_last_) /
                          std::chrono::duration<double>(*cfg.rate_interval);
    rate_tokens_ = std::min(capacity, rate_tokens_ + refill);
    rate_last_ = now;
    if (rate_tokens_ < 1) return false;
    rate_tokens_ -= 1;
    return true;
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  http_handler handler_;
  http_limits limits_;
  int per_client_cap_;
  connection_drop_hook on_drop_;
  connection_list connections_;  // evicted ones stay until their session has ended
  std::size_t open_ = 0;         // connections not evicted
  std::map<asio::ip::address, int> per_client_;  // open connections by client_of(peer)
  std::array<log_throttle, drop_names.size()> throttles_{
      log_throttle(drop_log_interval), log_throttle(drop_log_interval), log_throttle(drop_log_interval),
      log_throttle(drop_log_interval), log_throttle(drop_log_interval)};
  bool stopping_ = false;
  std::shared_ptr<const web_security> security_;  // for connections accepted from now on
  request_refusal_hook on_refusal_;
  int pending_auth_ = 0;
  const web_config* rate_config_ = nullptr;  // whose bucket rate_tokens_ is
  double rate_tokens_ = 0;
  std::chrono::steady_clock::time_point rate_last_;
  asio::thread_pool auth_pool_{1};  // bcrypt: one check at a time, off the loop
};

http_server::http_server(asio::io_context& io, http_handler handler, http_limits limits,
                         connection_drop_hook on_drop)
    : impl_(std::make_shared<impl>(io, std::move(handler), limits, std::move(on_drop))) {}

http_server::~http_server() {
  stop();
  impl_->on_drop_ = nullptr;  // sessions may wind down after us; what the hooks captured may not
  impl_->on_refusal_ = nullptr;
  // A password check still running posts its result to the loop: let it
  // finish while the loop is still there.
  impl_->auth_pool_.stop();
  impl_->auth_pool_.join();
}

tcp::endpoint http_server::listen(const std::string& host_port) {
  auto endpoint = resolve_listen(impl_->io_, host_port);
  auto& a = impl_->acceptor_;
  a.open(endpoint.protocol());
  a.set_option(tcp::acceptor::reuse_address(true));
  a.bind(endpoint);
  a.listen(asio::socket_base::max_listen_connections);
  asio::co_spawn(impl_->io_, impl_->accept_loop(), asio::detached);
  return a.local_endpoint();
}

void http_server::stop() {
  impl_->stopping_ = true;
  boost::system::error_code ignored;
  impl_->acceptor_.close(ignored);
  for (auto& c : impl_->connections_) {
    c.stream.socket().cancel(ignored);
    if (c.awaiting_reply) c.awaiting_reply->cancel();
  }
}

std::size_t http_server::connections() const { return impl_->open_; }

void http_server::secure(std::shared_ptr<const web_security> security) { impl_->security_ = std::move(security); }

std::shared_ptr<const web_security> http_server::security() const { return impl_->security_; }

void http_server::on_refusal(request_refusal_hook hook) { impl_->on_refusal_ = std::move(hook); }

}  // namespace vitals
