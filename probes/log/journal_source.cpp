#include "probes/log/journal_source.hpp"

#include "probes/core/valid_text.hpp"
#include "probes/log/line_splitter.hpp"
#include "probes/log/sd_journal_library.hpp"


#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace vitals {

namespace {

// Entries walked past when more was logged than the budget allows; beyond
// it the skipped bytes are a lower bound and the pass ends at the tail.
constexpr std::uint64_t max_skipped_entries = 1'000'000;
constexpr std::string_view message_field = "MESSAGE=";

struct journal_closer {
  decltype(sd_journal_library::close) close = nullptr;
  void operator()(sd_journal* j) const { close(j); }
};
using journal_ptr = std::unique_ptr<sd_journal, journal_closer>;

std::string uid_text() { return " (vitalsd runs as uid " + std::to_string(::geteuid()) + ")"; }

// The current entry's MESSAGE without its "MESSAGE=", or nullopt.
std::optional<std::string_view> message_of(const sd_journal_library& sd, sd_journal* j) {
  const void* data = nullptr;
  std::size_t size = 0;
  if (sd.get_data(j, "MESSAGE", &data, &size) < 0 || size < message_field.size()) return std::nullopt;
  std::string_view text(static_cast<const char*>(data), size);
  text.remove_prefix(message_field.size());
  return text;
}

std::uint64_t message_size(const sd_journal_library& sd, sd_journal* j) {
  const auto m = message_of(sd, j);
  return m ? m->size() : 0;
}

std::string cursor_of(const sd_journal_library& sd, sd_journal* j) {
  char* text = nullptr;
  if (sd.get_cursor(j, &text) < 0 || text == nullptr) return {};
  std::string cursor = text;
  std::free(text);
  return cursor;
}

// journalctl -u's core: the unit's own processes, and what systemd (pid 1)
// said about the unit ("Main process exited", "Failed with result").
bool add_matches(const sd_journal_library& sd, sd_journal* j, const journal_source::target& t) {
  if (!t.identifier.empty()) return sd.add_match(j, ("SYSLOG_IDENTIFIER=" + t.identifier).c_str(), 0) >= 0;
  const std::string unit = journal_source::unit_name(t.unit);
  return sd.add_match(j, ("_SYSTEMD_UNIT=" + unit).c_str(), 0) >= 0 && sd.add_disjunction(j) >= 0 &&
         sd.add_match(j, "_PID=1", 0) >= 0 && sd.add_match(j, ("UNIT=" + unit).c_str(), 0) >= 0;
}

// Whether `dir` holds a journal file (sd_journal's has_*_files() speak of
// the system journal's directories only).
bool has_journal_files(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return false;
  bool found = false;
  while (const dirent* e = ::readdir(d))
    if (std::string_view(e->d_name).ends_with(".journal")) {
      found = true;
      break;
    }
  ::closedir(d);
  return found;
}

class journal_pass {
 public:
  journal_pass(const sd_journal_library& sd, sd_journal* j, read_pass& pass, std::string& cursor,
               const std::string& source)
      : sd(sd), j_(j), pass_(pass), cursor_(cursor), source_(source) {}

  // Counts the entries after the cursor, the newest ones within the budget.
  void run() {
    // Walk back from the newest entry to the cursor, as far as the budget
    // goes; `boundary` is the entry just before the first one to read.
    sd.seek_tail(j_);
    std::uint64_t fitting = 0;
    std::uint64_t used = 0;
    bool from_head = false;
    std::string boundary;
    std::uint64_t walked = 0;
    while (true) {
      if (pass_.should_stop()) return;  // out of time: the next pass starts from the same cursor
      if (sd.previous(j_) <= 0) {
        from_head = true;
        break;
      }
      if (at_cursor()) {
        boundary = cursor_;
        break;
      }
      const auto size = message_size(sd, j_);
      // Over the budget, or a flood of entries without a message (they
      // cost no budget but time): the older ones are skipped.
      if (used + size > pass_.budget || ++walked > max_skipped_entries) {
        boundary = cursor_of(sd, j_);
        skip_older(size);
        if (fitting == 0) cursor_ = boundary;  // all of it skipped: carry on after the newest
        break;
      }
      used += size;
      ++fitting;
    }
    if (fitting == 0) return;
    // Then forward over exactly those entries: one appended meanwhile is
    // the next pass's.
    if (from_head) {
      sd.seek_head(j_);
      sd.next(j_);
    } else {
      sd.seek_cursor(j_, boundary.c_str());
      if (sd.next(j_) > 0 && sd.test_cursor(j_, boundary.c_str()) > 0) sd.next(j_);
    }
    for (std::uint64_t i = 0; i < fitting && !pass_.should_stop(); ++i) {
      count_entry();
      if (i + 1 < fitting && sd.next(j_) <= 0) break;
    }
    pass_.budget -= std::min(used, pass_.budget);
  }

 private:
  bool at_cursor() const { return !cursor_.empty() && sd.test_cursor(j_, cursor_.c_str()) > 0; }

  // The entry at hand and the older ones up to the cursor are not read.
  void skip_older(std::uint64_t first) {
    std::uint64_t skipped = first;
    std::uint64_t entries = 1;
    while (entries < max_skipped_entries && !pass_.should_stop() && sd.previous(j_) > 0 && !at_cursor()) {
      skipped += message_size(sd, j_);
      ++entries;
    }
    pass_.tally.skipped(skipped);
    pass_.note("skipped", std::to_string(entries) + " journal entries (" + std::to_string(skipped) +
                              " bytes) not read: more was logged since the last run than max_read_per_run allows");
  }

  void count_entry() {
    const auto text = message_of(sd, j_);
    const std::string cursor = cursor_of(sd, j_);
    if (!cursor.empty()) cursor_ = cursor;
    if (!text) return;  // an entry without a message (a coredump's metadata): not a line
    std::uint64_t usec = 0;
    const auto at = sd.get_realtime_usec(j_, &usec) >= 0
                        ? wall_clock::time_point(std::chrono::microseconds(usec))
                        : pass_.now;
    const bool cut = text->size() > line_splitter::default_max_line;
    pass_.tally.read(text->size());
    pass_.tally.line(cut ? text->substr(0, line_splitter::default_max_line) : *text, cut, {source_, at});
  }

  const sd_journal_library& sd;
  sd_journal* j_;
  read_pass& pass_;
  std::string& cursor_;
  const std::string& source_;
};

}  // namespace

journal_source::journal_source(target t) : target_(std::move(t)) {}

std::string journal_source::unit_name(const std::string& name) {
  static constexpr std::string_view suffixes[] = {".service", ".socket", ".timer", ".scope",  ".slice",    ".mount",
                                                  ".target",  ".path",   ".swap",  ".device", ".automount"};
  for (const auto suffix : suffixes)
    if (name.ends_with(suffix)) return name;
  return name + ".service";
}

std::string journal_source::following() const {
  std::string text = target_.identifier.empty() ? "unit " + printable(unit_name(target_.unit))
                                                : "identifier " + printable(target_.identifier);
  return text + " in " + (target_.directory.empty() ? std::string("the system journal") : printable(target_.directory));
}

namespace {

// Why the journal (the system one or `directory`) cannot be read, from
// sd_journal's error or from finding no journal file to read.
source_problem open_problem(const journal_source::target& t, int rc) {
  const std::string where = t.directory.empty() ? "the system journal" : printable(t.directory);
  if (rc == -ENOENT || rc == -ENOTDIR) return {"missing", "journal directory " + where + " does not exist"};
  if (rc == -EACCES || rc == -EPERM) return {"permission", "cannot read " + where + ": permission denied" + uid_text()};
  if (rc < 0) return {"error", "cannot open " + where + ": " + std::strerror(-rc)};
  if (t.directory.empty() && ::geteuid() != 0)
    return {"permission",
            "no journal files readable in " + where + uid_text() + "; add the user to the systemd-journal group"};
  return {"missing", "no journal files in " + where};
}

// The journal with its matches set, or null with `problem` said.
journal_ptr open_journal(const sd_journal_library& sd, const journal_source::target& t,
                         std::optional<source_problem>& problem) {
  sd_journal* opened = nullptr;
  const int rc = t.directory.empty() ? sd.open(&opened, SD_JOURNAL_LOCAL_ONLY)
                                     : sd.open_directory(&opened, t.directory.c_str(), 0);
  journal_ptr j(opened, journal_closer{sd.close});
  const bool any_files = rc >= 0 && (t.directory.empty() ? sd.has_runtime_files(j.get()) > 0 ||
                                                               sd.has_persistent_files(j.get()) > 0
                                                         : has_journal_files(t.directory));
  if (!any_files) {
    problem = open_problem(t, rc);
    return nullptr;
  }
  // A message longer than a line may be is cut, not copied whole.
  sd.set_data_threshold(j.get(), message_field.size() + line_splitter::default_max_line + 1);
  if (!add_matches(sd, j.get(), t)) {
    problem = source_problem{"error", "cannot select the entries of " + t.unit + t.identifier};
    return nullptr;
  }
  return j;
}

}  // namespace

void journal_source::read(read_pass& pass) {
  std::string why;
  const sd_journal_library* library = sd_journal_library::get(&why);
  if (library == nullptr) {
    open_ = false;
    pass.fail("error", why);
    return;
  }
  const sd_journal_library& sd = *library;
  std::optional<source_problem> problem;
  const journal_ptr j = open_journal(sd, target_, problem);
  open_ = j != nullptr;
  if (!j) {
    pass.fail(problem->reason, problem->error);
    return;
  }
  if (!started_) {
    started_ = true;
    if (pass.start_at_end()) {
      sd.seek_tail(j.get());
      if (sd.previous(j.get()) > 0) cursor_ = cursor_of(sd, j.get());
      return;
    }
  }
  const std::string source = target_.identifier.empty() ? unit_name(target_.unit) : target_.identifier;
  journal_pass(sd, j.get(), pass, cursor_, source).run();
}

}  // namespace vitals
