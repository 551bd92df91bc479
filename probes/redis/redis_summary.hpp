#pragma once

// What the redis probe's replies mean: connection errors and error replies
// classified into reasons, and the samples and evidence of a healthy run.
// Pure: no I/O.

#include "probes/core/probe.hpp"
#include "probes/redis/hiredis_asio.hpp"
#include "probes/redis/info_parser.hpp"
#include "probes/redis/memory_limit.hpp"

#include <string>
#include <string_view>

namespace vitals {

// A failed run's reason and its one-line error.
struct redis_failure {
  std::string reason;
  std::string error;
};

// A connection-level error from hiredis. `during` names the step ("PING");
// empty for the connect itself.
redis_failure classify_link(const redis_link_error& e, std::string_view during);

// A server error reply to `command`. `text` is already scrubbed of secrets.
redis_failure classify_reply_error(std::string_view command, const std::string& text);

// "integer 42", "status OK": a reply that was not the one expected.
std::string describe_reply(const redis_reply& r);

// Newlines and runs of blanks to one space, cut to `limit` characters.
std::string one_line(std::string_view text, std::size_t limit);

// What a healthy run learnt besides INFO.
struct redis_run_facts {
  double ping_seconds = 0;
  bool local = false;         // the server runs on this host
  memory_limit limit;         // for a local server without maxmemory
  std::string memory_doctor;  // MEMORY DOCTOR's text
  std::string memory_doctor_problem;
  std::string resolved;       // "cache.lan -> 10.0.0.5", for names
};

// The samples and evidence of a healthy run.
probe_result summarize(const redis_info& info, const redis_run_facts& facts);

}  // namespace vitals
