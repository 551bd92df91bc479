#include "probes/log/docker_source.hpp"

#include "probes/core/text_file.hpp"
#include "probes/core/valid_text.hpp"

#include <boost/json/parse.hpp>

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

namespace vitals {

namespace {

namespace json = boost::json;

// config.v2.json holds the container's whole configuration and state; a
// few KiB usually. Larger is not a container's config.
constexpr std::size_t max_config_bytes = 4 << 20;

std::string uid_text() { return " (vitalsd runs as uid " + std::to_string(::geteuid()) + ")"; }

// A JSON file under the Docker root, bounded in size and depth.
std::optional<json::object> read_json_file(const std::string& path, int& error) {
  std::string text;
  error = read_text_file(path, text, max_config_bytes);
  if (error != 0) return std::nullopt;
  json::parse_options options;
  options.max_depth = 32;
  boost::system::error_code ec;
  auto value = json::parse(text, ec, json::storage_ptr(), options);
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.get_object());
}

std::string string_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

struct dir_closer {
  void operator()(DIR* d) const { ::closedir(d); }
};

bool digits(std::string_view text, std::size_t at, std::size_t n, int& out) {
  if (at + n > text.size()) return false;
  const auto [end, error] = std::from_chars(text.data() + at, text.data() + at + n, out);
  return error == std::errc() && end == text.data() + at + n;
}

}  // namespace

std::optional<wall_clock::time_point> parse_rfc3339(std::string_view text) {
  std::tm tm{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(text, 0, 4, year) || text.size() < 19 || text[4] != '-' || !digits(text, 5, 2, month) || text[7] != '-' ||
      !digits(text, 8, 2, day) || (text[10] != 'T' && text[10] != 't' && text[10] != ' ') ||
      !digits(text, 11, 2, hour) || text[13] != ':' || !digits(text, 14, 2, minute) || text[16] != ':' ||
      !digits(text, 17, 2, second))
    return std::nullopt;
  std::size_t at = 19;
  std::int64_t nanos = 0;
  if (at < text.size() && text[at] == '.') {
    std::int64_t scale = 100'000'000;
    for (++at; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, scale /= 10)
      nanos += (text[at] - '0') * scale;
  }
  int offset_minutes = 0;
  if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    int oh = 0, om = 0;
    if (!digits(text, at + 1, 2, oh) || text.size() < at + 6 || text[at + 3] != ':' || !digits(text, at + 4, 2, om))
      return std::nullopt;
    offset_minutes = (text[at] == '+' ? 1 : -1) * (oh * 60 + om);
    at += 6;
  } else if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
  } else {
    return std::nullopt;
  }
  // The clock counts nanoseconds in 64 bits: it ends in 2262.
  if (at != text.size() || year < 1970 || year > 2200 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 ||
      minute > 59 || second > 60)
    return std::nullopt;
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const std::time_t t = ::timegm(&tm);
  return wall_clock::time_point(std::chrono::seconds(t - offset_minutes * 60)) +
         std::chrono::duration_cast<wall_clock::duration>(std::chrono::nanoseconds(nanos));
}

void docker_log_decoder::line(std::string_view text, bool cut, const std::string&, read_pass& pass) {
  const json::object* envelope = cut ? nullptr : json_.parse(text);
  const json::value* log = envelope ? envelope->if_contains("log") : nullptr;
  if (log == nullptr || !log->is_string()) {
    pass.tally.line(text, cut, {container_, pass.now});
    return;
  }
  const json::value* time = envelope->if_contains("time");
  const auto logged = time && time->is_string() ? parse_rfc3339(time->get_string()) : std::nullopt;
  const line_origin origin{container_, logged.value_or(pass.now)};
  std::string_view piece = log->get_string();
  const bool ended = piece.ends_with('\n');
  if (ended) piece.remove_suffix(1);
  if (ended && piece.ends_with('\r')) piece.remove_suffix(1);
  if (dropping_) {
    dropping_ = !ended;
    return;
  }
  if (ended && pending_.empty()) {
    pass.tally.line(piece, false, origin);
    return;
  }
  pending_.append(piece);
  if (pending_.size() > line_splitter::default_max_line) {
    pass.tally.line(std::string_view(pending_).substr(0, line_splitter::default_max_line), true, origin);
    pending_.clear();
    dropping_ = !ended;
  } else if (ended) {
    pass.tally.line(pending_, false, origin);
    pending_.clear();
  }
}

docker_source::docker_source(std::string container, std::string root)
    : container_(std::move(container)), root_(std::move(root)), decoder_(container_) {}

std::string docker_source::following() const {
  std::string text = "container " + printable(container_);
  if (!id_.empty()) text += " (id " + printable(id_.substr(0, 12)) + ")";
  return text;
}

bool docker_source::still_named(const std::string& id) const {
  int error = 0;
  const auto config = read_json_file(root_ + "/containers/" + id + "/config.v2.json", error);
  return config && string_at(*config, "Name") == "/" + container_;
}

std::string docker_source::resolve(read_pass& pass, bool& gone) {
  gone = false;
  if (!id_.empty() && still_named(id_)) return id_;
  const std::string dir = root_ + "/containers";
  const std::unique_ptr<DIR, dir_closer> d(::opendir(dir.c_str()));
  if (!d) {
    const int e = errno;
    gone = e == ENOENT || e == ENOTDIR;
    if (gone)
      pass.fail("missing", "no Docker containers directory " + printable(dir));
    else if (e == EACCES)
      pass.fail("permission", "cannot read " + printable(dir) + ": permission denied" + uid_text());
    else
      pass.fail("error", "cannot read " + printable(dir) + ": " + std::strerror(e));
    return {};
  }
  bool denied = false;
  bool unsure = false;  // a container's config could not be read: it may be the one
  while (const dirent* e = ::readdir(d.get())) {
    const std::string id = e->d_name;
    if (id == "." || id == "..") continue;
    int error = 0;
    const auto config = read_json_file(dir + "/" + id + "/config.v2.json", error);
    denied = denied || error == EACCES;
    unsure = unsure || (error != 0 && error != ENOENT && error != ENOTDIR);
    if (config && string_at(*config, "Name") == "/" + container_) return id;
  }
  gone = !denied && !unsure;
  if (denied)
    pass.fail("permission", "cannot read the containers' config.v2.json under " + printable(dir) + uid_text());
  else if (unsure)
    pass.fail("error", "cannot tell which container is " + printable(container_) + ": a config.v2.json under " +
                           printable(dir) + " could not be read");
  else
    pass.fail("missing", "no container named " + printable(container_) + " under " + printable(dir));
  return {};
}

void docker_source::read(read_pass& pass) {
  bool gone = false;
  const std::string id = resolve(pass, gone);
  if (id.empty()) {
    // Removed: what its log still held is read before it is let go. Not
    // found for another reason (a config that could not be read): kept as
    // it is, so that nothing is read twice once it is found again.
    if (gone) {
      if (file_) file_->finish_all(pass);
      file_.reset();
      id_.clear();
    }
    return;
  }
  if (id != id_ && file_) {
    file_->finish_all(pass);
    file_.reset();
  }
  int error = 0;
  if (const auto host = read_json_file(root_ + "/containers/" + id + "/hostconfig.json", error)) {
    const auto* log_config = host->if_contains("LogConfig");
    const std::string driver = log_config && log_config->is_object() ? string_at(log_config->get_object(), "Type") : "";
    if (!driver.empty() && driver != "json-file") {
      id_ = id;
      pass.fail("log_driver", "container " + printable(container_) + " logs through the " + printable(driver) +
                                  " driver; only json-file logs can be read");
      return;
    }
  }
  id_ = id;
  if (!file_) file_ = std::make_unique<file_source>(root_ + "/containers/" + id + "/" + id + "-json.log", 1, decoder_);
  file_->read(pass);
}

}  // namespace vitals
