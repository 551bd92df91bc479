// How libpq's and the server's error texts become a reason and one line.
// The messages are verbatim from libpq 15 / PostgreSQL 15.

#include "probes/postgres/pg_errors.hpp"

#include <gtest/gtest.h>

#include <string>

namespace vitals {
namespace {

TEST(postgres_errors, refused_connect_is_refused_and_loses_the_hint_line) {
  const auto f = describe_pg_error(
      "connection to server at \"127.0.0.1\", port 5433 failed: Connection refused\n"
      "\tIs the server running on that host and accepting TCP/IP connections?\n",
      "");
  EXPECT_EQ(f.reason, "refused");
  EXPECT_EQ(f.error, "connection refused");
}

TEST(postgres_errors, missing_unix_socket_is_refused) {
  EXPECT_EQ(pg_error_reason("connection to server on socket \"/run/postgresql/.s.PGSQL.5432\" failed: "
                            "No such file or directory\n\tIs the server running locally?\n"),
            "refused");
}

TEST(postgres_errors, every_address_tried_is_named_once) {
  const auto f = describe_pg_error(
      "connection to server at \"localhost\" (::1), port 5433 failed: Connection refused\n"
      "\tIs the server running on that host and accepting TCP/IP connections?\n"
      "connection to server at \"localhost\" (127.0.0.1), port 5433 failed: Connection refused\n"
      "\tIs the server running on that host and accepting TCP/IP connections?\n",
      "");
  EXPECT_EQ(f.reason, "refused");
  EXPECT_EQ(f.error, "connection refused");
}

TEST(postgres_errors, password_failure_is_auth_and_keeps_the_user) {
  const auto f = describe_pg_error(
      "connection to server at \"127.0.0.1\", port 5433 failed: FATAL:  password authentication failed for "
      "user \"monitor\"\n",
      "s3cret");
  EXPECT_EQ(f.reason, "auth");
  EXPECT_EQ(f.error, "password authentication failed for user \"monitor\"");
}

TEST(postgres_errors, hba_rejection_and_unknown_role_are_auth) {
  EXPECT_EQ(pg_error_reason("FATAL:  no pg_hba.conf entry for host \"10.0.0.1\", user \"monitor\", database "
                            "\"app\", no encryption\n"),
            "auth");
  EXPECT_EQ(pg_error_reason("FATAL:  role \"ghost\" does not exist\n"), "auth");
  EXPECT_EQ(pg_error_reason("fe_sendauth: no password supplied\n"), "auth");
}

TEST(postgres_errors, missing_database_is_no_database) {
  EXPECT_EQ(pg_error_reason("connection to server at \"127.0.0.1\", port 5433 failed: FATAL:  database \"nope\" "
                            "does not exist\n"),
            "no_database");
}

TEST(postgres_errors, full_server_is_too_many_connections) {
  EXPECT_EQ(pg_error_reason("FATAL:  sorry, too many clients already\n"), "too_many_connections");
  EXPECT_EQ(pg_error_reason("FATAL:  remaining connection slots are reserved for non-replication superuser "
                            "connections\n"),
            "too_many_connections");
  EXPECT_EQ(pg_error_reason("FATAL:  too many connections for role \"monitor\"\n"), "too_many_connections");
}

TEST(postgres_errors, garbage_answers_are_protocol_even_when_ssl_is_mentioned) {
  EXPECT_EQ(pg_error_reason("received invalid response to SSL negotiation: H\n"), "protocol");
  EXPECT_EQ(pg_error_reason("expected authentication request from server, but received H\n"), "protocol");
}

TEST(postgres_errors, tls_failures_are_ssl) {
  EXPECT_EQ(pg_error_reason("server does not support SSL, but SSL was required\n"), "ssl");
  EXPECT_EQ(pg_error_reason("SSL error: certificate verify failed\n"), "ssl");
}

TEST(postgres_errors, dropped_connection_is_closed) {
  EXPECT_EQ(pg_error_reason("server closed the connection unexpectedly\n\tThis probably means the server "
                            "terminated abnormally\n\tbefore or while processing the request.\n"),
            "closed");
  EXPECT_EQ(pg_error_reason("FATAL:  terminating connection due to administrator command\n"), "closed");
}

TEST(postgres_errors, unknown_text_is_error) { EXPECT_EQ(pg_error_reason("something odd happened"), "error"); }

TEST(postgres_errors, secret_is_redacted_wherever_it_appears) {
  EXPECT_EQ(pg_error_line("FATAL:  role \"hunter2\" does not exist\n", "hunter2"),
            "role \"<redacted>\" does not exist");
}

TEST(postgres_errors, error_line_is_one_bounded_line) {
  const std::string text = pg_error_line(std::string(1000, 'x') + "\nmore\n", "");
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_LE(text.size(), 310u);
}

TEST(postgres_errors, empty_message_still_names_a_cause) { EXPECT_EQ(pg_error_line("", ""), "connection failed"); }

}  // namespace
}  // namespace vitals
