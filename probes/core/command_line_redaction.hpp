#pragma once

// Command lines of other processes often carry secrets the config never
// saw (`--db-password=…`, `PGPASSWORD=…`, `postgres://app:…@db`, `?token=…`),
// so the redactor of the config's own secrets cannot know them. Wherever a
// command line becomes evidence (the process probe, a port's owner, an
// SQLite lock holder), it goes through this first. Pure; any thread.

#include <string>
#include <string_view>

namespace vitals {

// `cmdline` (argv joined by single spaces) with the values of well-known
// secret-looking arguments replaced by "<redacted>", everything else kept:
//   --db-password=V, -token=V         an option whose name holds a secret word
//   --password V                      ... and its value as the next argument
//                                     (unless that is a --long option itself)
//   PGPASSWORD=V, api_key=V           NAME=V with a secret word in NAME
//   scheme://user:V@host              a URL's password
//   …?access_token=V&…                a query parameter named with a secret word
//   Authorization: Bearer V           a header-like "Name:" argument and its value
//   mysql -pV                         the password glued to -p, for mysql and mariadb
// Secret words, in any case: password, passwd, pass, token, secret, key,
// credential. Errs on the side of hiding: `--keyspace v` loses its v.
std::string redact_command_line(std::string_view cmdline);

}  // namespace vitals
