// Secret-looking arguments of other processes' command lines, as they
// really look, are hidden; everything else is kept.

#include "probes/core/command_line_redaction.hpp"

#include <gtest/gtest.h>

namespace vitals {
namespace {

TEST(command_line_redaction, option_with_a_secret_word_loses_its_glued_value) {
  EXPECT_EQ(redact_command_line("node /srv/app/server.js --db-password=hunter2 --port=3000"),
            "node /srv/app/server.js --db-password=<redacted> --port=3000");
  EXPECT_EQ(redact_command_line("java -Dapi.secret=abc -jar app.jar -auth-token=xyz"),
            "java -Dapi.secret=<redacted> -jar app.jar -auth-token=<redacted>");
}

TEST(command_line_redaction, option_with_a_secret_word_loses_the_next_argument) {
  EXPECT_EQ(redact_command_line("redis-cli --pass hunter2 -h 127.0.0.1 ping"),
            "redis-cli --pass <redacted> -h 127.0.0.1 ping");
  EXPECT_EQ(redact_command_line("vault login -token s.abcdef"), "vault login -token <redacted>");
}

TEST(command_line_redaction, a_long_option_after_a_secret_flag_is_not_taken_for_its_value) {
  EXPECT_EQ(redact_command_line("app --use-keyring --verbose"), "app --use-keyring --verbose");
}

TEST(command_line_redaction, environment_style_assignments_with_a_secret_word_are_hidden) {
  EXPECT_EQ(redact_command_line("env PGPASSWORD=hunter2 AWS_SECRET_ACCESS_KEY=abc/def PGUSER=app psql"),
            "env PGPASSWORD=<redacted> AWS_SECRET_ACCESS_KEY=<redacted> PGUSER=app psql");
  EXPECT_EQ(redact_command_line("worker api_key=k-123 credentials=c-456 mode=fast"),
            "worker api_key=<redacted> credentials=<redacted> mode=fast");
}

TEST(command_line_redaction, url_passwords_are_hidden_and_the_rest_of_the_url_kept) {
  EXPECT_EQ(redact_command_line("pg_dump postgres://app:hunter2@db.internal:5432/app"),
            "pg_dump postgres://app:<redacted>@db.internal:5432/app");
  EXPECT_EQ(redact_command_line("worker --broker=redis://:s3cret@cache:6379/0"),
            "worker --broker=redis://:<redacted>@cache:6379/0");
  EXPECT_EQ(redact_command_line("curl http://user@host/x http://host:8080/y"),
            "curl http://user@host/x http://host:8080/y");
}

TEST(command_line_redaction, secret_query_parameters_are_hidden_up_to_the_next_one) {
  EXPECT_EQ(redact_command_line("curl https://api/v1/x?access_token=abc123&page=2#top"),
            "curl https://api/v1/x?access_token=<redacted>&page=2#top");
  EXPECT_EQ(redact_command_line("wget http://h/feed?user=me&apikey=k1&password=p2"),
            "wget http://h/feed?user=me&apikey=<redacted>&password=<redacted>");
}

TEST(command_line_redaction, header_arguments_hide_their_value_and_keep_the_scheme) {
  EXPECT_EQ(redact_command_line("curl -H Authorization: Bearer eyJhbGci.x.y https://api/"),
            "curl -H Authorization: Bearer <redacted> https://api/");
  EXPECT_EQ(redact_command_line("curl -H X-Api-Key: k-9 -H Accept: text/plain http://h/"),
            "curl -H X-Api-Key: <redacted> -H Accept: text/plain http://h/");
  EXPECT_EQ(redact_command_line("curl -H Cookie: session=abc http://h/"), "curl -H Cookie: <redacted> http://h/");
}

TEST(command_line_redaction, mysql_password_glued_to_p_is_hidden_but_not_elsewhere) {
  EXPECT_EQ(redact_command_line("/usr/bin/mysql -uroot -phunter2 app"), "/usr/bin/mysql -uroot -p<redacted> app");
  EXPECT_EQ(redact_command_line("mariadb-dump -ps3cret app"), "mariadb-dump -p<redacted> app");
  EXPECT_EQ(redact_command_line("ssh -p2222 host"), "ssh -p2222 host");
}

TEST(command_line_redaction, secret_words_match_in_any_case) {
  EXPECT_EQ(redact_command_line("app --DB-PASSWORD=X1 Token=Y2"), "app --DB-PASSWORD=<redacted> Token=<redacted>");
}

TEST(command_line_redaction, ordinary_command_lines_are_unchanged) {
  for (const char* cmd : {"node /srv/app/server.js", "/usr/bin/python3 -m http.server 3001",
                          "postgres: app app 127.0.0.1(5432) idle", "sqlite3 /srv/app.db", ""})
    EXPECT_EQ(redact_command_line(cmd), cmd);
}

TEST(command_line_redaction, overlapping_matches_are_hidden_once) {
  EXPECT_EQ(redact_command_line("app --token=a?key=b"), "app --token=<redacted>");
}

}  // namespace
}  // namespace vitals
