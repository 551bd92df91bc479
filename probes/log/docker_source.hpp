#pragma once

// `docker:` — a container's log as Docker's json-file driver writes it:
// <root>/containers/<id>/<id>-json.log, one JSON envelope per piece of
// output ({"log":"…\n","stream":"stdout","time":"…"}), the container found
// by name in each container's config.v2.json. Restarts append to the same
// file; a container re-created under the same name gets a new id and a new
// file, which is followed from its beginning; the driver's own rotation
// (max-size) is followed like a rename. Runs on the pool.

#include "probes/log/file_follower.hpp"
#include "probes/log/file_source.hpp"
#include "probes/log/json_fields.hpp"
#include "probes/log/log_source.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace vitals {

// Unwraps json-file envelopes into the container's own lines. Docker cuts
// output longer than 16 KiB into pieces whose "log" does not end in a
// newline: they are joined (up to the line limit) before counting. An
// envelope that is not one (a torn write, another format) counts as the
// line it is. Pure apart from the tally it feeds.
class docker_log_decoder final : public line_sink {
 public:
  explicit docker_log_decoder(std::string container) : container_(std::move(container)) {}
  void line(std::string_view text, bool cut, const std::string& file, read_pass& pass) override;

 private:
  std::string container_;
  json_line json_;
  std::string pending_;    // the pieces of a line not yet ended
  bool dropping_ = false;  // the pieces so far passed the line limit: the rest of the line goes
};

// "2024-05-01T10:00:00.123456789Z" (RFC 3339, UTC or an offset) as a time.
std::optional<wall_clock::time_point> parse_rfc3339(std::string_view text);

class docker_source final : public log_source {
 public:
  docker_source(std::string container, std::string root);

  void read(read_pass& pass) override;
  std::size_t followed() const override { return file_ ? file_->followed() : 0; }
  std::string following() const override;

 private:
  // The id of the container named container_, or empty with the pass
  // failed; then `gone` says whether it is surely not there (not merely
  // unreadable this time).
  std::string resolve(read_pass& pass, bool& gone);
  bool still_named(const std::string& id) const;

  std::string container_;
  std::string root_;
  std::string id_;
  docker_log_decoder decoder_;
  std::unique_ptr<file_source> file_;
};

}  // namespace vitals
