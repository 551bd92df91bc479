#pragma once

// A throwaway PostgreSQL cluster for integration tests: initdb + pg_ctl in a
// temp dir, listening on 127.0.0.1 at a free port and on a unix socket in
// the same dir, fsync off. Stopped with `pg_ctl stop -m immediate` and
// removed on destruction.
//
// PostgreSQL refuses to run as root: then every server tool runs as the
// `postgres` user (runuser) and the temp dir belongs to it.
//
// Roles: `postgres` (superuser, trust over the unix socket — for the tests'
// own sessions) and `monitor` (LOGIN, scram-sha-256 password, pg_monitor —
// what the probe uses, over TCP). Database `app` with table `t`.
//
// Test code only: everything here blocks.

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace vitals::test {

namespace pg_detail {

// The newest /usr/lib/postgresql/<version>/bin holding initdb.
inline std::string find_bin_dir() {
  namespace fs = std::filesystem;
  std::string best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const auto name = entry.path().filename().string();
    int version = 0;
    try {
      version = std::stoi(name);
    } catch (...) {
      continue;
    }
    if (version > best_version && fs::exists(entry.path() / "bin" / "initdb")) {
      best_version = version;
      best = (entry.path() / "bin").string();
    }
  }
  if (best.empty()) throw std::runtime_error("no PostgreSQL server under /usr/lib/postgresql (scripts/install-deps)");
  return best;
}

inline std::string quote(const std::string& arg) {
  std::string q = "'";
  for (char c : arg) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// A TCP port nothing listens on right now (bound to 0, read back, closed).
inline std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace pg_detail

class postgres_cluster {
public:
  struct options {
    int max_connections = 30;
    int superuser_reserved_connections = 3;
  };

  postgres_cluster() : postgres_cluster(options{}) {}
  explicit postgres_cluster(options o) : bin_(pg_detail::find_bin_dir()), as_root_(::geteuid() == 0) {
    char tmpl[] = "/tmp/vitals_pg_XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    if (as_root_) {
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr) throw std::runtime_error("running as root but there is no postgres user");
      if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("chown failed");
    }
    port_ = pg_detail::free_port();

    const std::string pwfile = dir_ + "/superuser.pw";
    write_file(pwfile, "postgres\n");
    run_tool({bin_ + "/initdb", "-D", data_dir(), "-U", "postgres", "--pwfile=" + pwfile, "--auth-local=trust",
              "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"});
    append_file(data_dir() + "/postgresql.conf",
                "port = " + std::to_string(port_) +
                    "\n"
                    "listen_addresses = '127.0.0.1'\n"
                    "unix_socket_directories = '" + dir_ + "'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                    "shared_buffers = 16MB\n"
                    "password_encryption = 'scram-sha-256'\n"
                    "lc_messages = 'C'\n"
                    "max_connections = " + std::to_string(o.max_connections) + "\n" +
                    "superuser_reserved_connections = " + std::to_string(o.superuser_reserved_connections) + "\n");
    start();
    psql("postgres", "CREATE ROLE monitor LOGIN PASSWORD " + literal(password()));
    psql("postgres", "GRANT pg_monitor TO monitor");
    psql("postgres", "CREATE DATABASE app");
    psql("app", "CREATE TABLE t (id int)");
  }

  ~postgres_cluster() {
    if (running_) run_tool({bin_ + "/pg_ctl", "-D", data_dir(), "-m", "immediate", "-w", "stop"}, false);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  postgres_cluster(const postgres_cluster&) = delete;
  postgres_cluster& operator=(const postgres_cluster&) = delete;

  std::uint16_t port() const { return port_; }
  const std::string& socket_dir() const { return dir_; }
  static std::string password() { return "monitor-pw-7c1f"; }

  // What the probe uses: TCP, role monitor (the password goes separately).
  std::string conninfo(const std::string& dbname = "app") const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + dbname + " user=monitor";
  }
  // The tests' own sessions: superuser over the unix socket.
  std::string superuser_conninfo(const std::string& dbname = "app") const {
    return "host=" + dir_ + " port=" + std::to_string(port_) + " dbname=" + dbname +
           " user=postgres application_name=vitals_test";
  }

  void start() {
    run_tool({bin_ + "/pg_ctl", "-D", data_dir(), "-l", dir_ + "/server.log", "-w", "-t", "30", "start"});
    running_ = true;
  }
  // Like a crash: no shutdown checkpoint, clients see their connection drop.
  void stop() {
    run_tool({bin_ + "/pg_ctl", "-D", data_dir(), "-m", "immediate", "-w", "stop"});
    running_ = false;
  }

  // Runs one statement as the superuser and returns psql's unaligned output.
  std::string psql(const std::string& dbname, const std::string& sql) const {
    return run_tool({bin_ + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", dir_, "-p",
                     std::to_string(port_), "-U", "postgres", "-d", dbname, "-c", sql});
  }

  static std::string literal(const std::string& text) {
    std::string q = "'";
    for (char c : text) q += c == '\'' ? std::string("''") : std::string(1, c);
    return q + "'";
  }

private:
  std::string data_dir() const { return dir_ + "/data"; }

  // Runs a server tool (as postgres when we are root); returns its stdout.
  std::string run_tool(const std::vector<std::string>& argv, bool must_succeed = true) const {
    std::string command;
    if (as_root_) command = "runuser -u postgres -- ";
    for (const auto& a : argv) command += pg_detail::quote(a) + " ";
    command += "2>" + pg_detail::quote(dir_ + "/tool.err");
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) throw std::runtime_error("popen failed");
    std::string out;
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
    const int status = ::pclose(pipe);
    if (must_succeed && status != 0) {
      std::ifstream err(dir_ + "/tool.err");
      std::string text((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
      throw std::runtime_error(argv.front() + " failed: " + text);
    }
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

  void write_file(const std::string& path, const std::string& text) const {
    { std::ofstream(path) << text; }
    chown_to_postgres(path);
  }
  void append_file(const std::string& path, const std::string& text) const {
    std::ofstream(path, std::ios::app) << text;
  }
  void chown_to_postgres(const std::string& path) const {
    if (!as_root_) return;
    if (const passwd* pw = ::getpwnam("postgres")) (void)::chown(path.c_str(), pw->pw_uid, pw->pw_gid);
  }

  std::string bin_;
  bool as_root_;
  std::string dir_;
  std::uint16_t port_ = 0;
  bool running_ = false;
};

// A blocking libpq session for arranging server state in tests (idle
// sessions, open transactions, sleeping queries, lock waits).
class pg_session {
public:
  explicit pg_session(const std::string& conninfo) : conn_(::PQconnectdb(conninfo.c_str())) {
    if (::PQstatus(conn_) != CONNECTION_OK)
      throw std::runtime_error(std::string("test session: ") + ::PQerrorMessage(conn_));
  }
  ~pg_session() {
    // A query still running (pg_sleep, a lock wait) would keep the backend
    // busy after we hang up: cancel it first.
    if (::PQisBusy(conn_) != 0) {
      if (PGcancel* cancel = ::PQgetCancel(conn_)) {
        char err[256];
        ::PQcancel(cancel, err, sizeof err);
        ::PQfreeCancel(cancel);
      }
      while (PGresult* r = ::PQgetResult(conn_)) ::PQclear(r);
    }
    ::PQfinish(conn_);
  }
  pg_session(const pg_session&) = delete;
  pg_session& operator=(const pg_session&) = delete;

  int pid() const { return ::PQbackendPID(conn_); }

  // Runs `sql` to completion; throws on error.
  void exec(const std::string& sql) {
    PGresult* r = ::PQexec(conn_, sql.c_str());
    const auto status = ::PQresultStatus(r);
    std::string error = ::PQresultErrorMessage(r);
    ::PQclear(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
      throw std::runtime_error("test session: " + error);
  }
  // Sends `sql` and returns at once: the query keeps running on the server.
  void start(const std::string& sql) {
    if (::PQsendQuery(conn_, sql.c_str()) == 0)
      throw std::runtime_error(std::string("test session: ") + ::PQerrorMessage(conn_));
  }

private:
  PGconn* conn_;
};

}  // namespace vitals::test
