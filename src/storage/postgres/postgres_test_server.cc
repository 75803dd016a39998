#include "src/storage/postgres/postgres_test_server.h"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "src/storage/postgres/pg_db.h"
#include "src/storage/testing/candidate_port.h"

namespace edgevault::storage {

namespace fs = std::filesystem;
using base::StrCat;

namespace {

// The newest PostgreSQL server binaries installed.
std::string FindBinDir() {
  if (const char* env = std::getenv("EDGEVAULT_PG_BINDIR"); env != nullptr && *env != '\0') {
    return env;
  }
  std::string best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    int version = std::atoi(entry.path().filename().c_str());
    if (version > best_version && fs::exists(entry.path() / "bin" / "initdb", ec)) {
      best_version = version;
      best = (entry.path() / "bin").string();
    }
  }
  return best;
}

// In the forked child, before exec: output to `log`, the unprivileged user, the working
// directory, and death with the parent. Only async-signal-safe calls.
void PrepareChild(const char* log, const char* dir, uid_t uid, gid_t gid) {
  int fd = ::open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd >= 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
  }
  int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd >= 0) ::dup2(null_fd, 0);
  if (::geteuid() == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(126);
  }
  // After setuid: changing credentials clears the parent-death signal.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::chdir(dir) != 0) ::_exit(126);
}

std::string Tail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

}  // namespace

PostgresTestServer::PostgresTestServer(PostgresTestServerOptions options) : options_(options) {
  // tmpfs when there is one: initdb, CREATE DATABASE and the final removal write and
  // delete tens of megabytes, slow on a disk (more so with online discard). A durable
  // server's fsyncs must reach a disk.
  std::vector<const char*> bases = {"/dev/shm", "/tmp"};
  if (options_.durable) bases = {"/var/tmp", "/tmp"};
  for (const char* base : bases) {
    std::string tmpl = StrCat(base, "/ev-pg-XXXXXX");
    if (::mkdtemp(tmpl.data()) != nullptr) {
      dir_ = tmpl;
      break;
    }
  }
  bindir_ = FindBinDir();
  uid_ = ::geteuid();
  gid_ = ::getegid();
  if (uid_ == 0) {
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) pw = ::getpwnam("nobody");
    if (pw != nullptr) {
      uid_ = pw->pw_uid;
      gid_ = pw->pw_gid;
    }
  }
  if (!dir_.empty() && ::geteuid() == 0) {
    if (::chown(dir_.c_str(), uid_, gid_) != 0) error_ = "cannot chown the scratch directory";
  }
}

PostgresTestServer::~PostgresTestServer() {
  Stop();
  std::error_code ec;
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

std::string PostgresTestServer::Url(std::string_view database) const {
  return StrCat("postgres://postgres@127.0.0.1:", port_, "/", database);
}

pid_t PostgresTestServer::Spawn(const std::string& log, const std::vector<std::string>& args) {
  std::vector<const char*> argv;  // built before fork: the child only calls exec
  for (const std::string& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    error_ = "fork failed";
    return -1;
  }
  if (pid == 0) {
    PrepareChild(log.c_str(), dir_.c_str(), uid_, gid_);
    ::execv(argv[0], const_cast<char* const*>(argv.data()));
    ::_exit(127);
  }
  return pid;
}

bool PostgresTestServer::InitDb() {
  if (initialised_) return true;
  if (dir_.empty()) {
    error_ = "cannot create a scratch directory under /dev/shm or /tmp";
    return false;
  }
  if (bindir_.empty()) {
    error_ = "no PostgreSQL server binaries (install postgresql-15 or set EDGEVAULT_PG_BINDIR)";
    return false;
  }
  if (uid_ == 0) {
    error_ = "running as root and neither a postgres nor a nobody user exists";
    return false;
  }
  const std::string log = dir_ + "/initdb.log";
  pid_t pid = Spawn(log, {bindir_ + "/initdb", "-D", dir_ + "/data", "-U", "postgres", "-A",
                          "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"});
  if (pid < 0) return false;
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    error_ = StrCat("initdb failed (status ", status, "): ", Tail(log));
    return false;
  }
  ::mkdir((dir_ + "/sock").c_str(), 0700);
  if (::geteuid() == 0 && ::chown((dir_ + "/sock").c_str(), uid_, gid_) != 0) {
    error_ = "cannot chown the socket directory";
    return false;
  }
  initialised_ = true;
  return true;
}

bool PostgresTestServer::Start() {
  if (running()) return true;
  if (!InitDb()) return false;
  for (int tries = 0; tries < 8; ++tries) {
    if (port_ == 0 || tries > 0) port_ = testing::CandidatePort();
    if (Launch()) return true;
  }
  return false;
}

bool PostgresTestServer::Restart() {
  Stop();
  // Same port first (clients reconnect to the same URL); another one if it was taken.
  if (Launch()) return true;
  return Start();
}

void PostgresTestServer::Stop() {
  if (pid_ <= 0) return;
  // Fast shutdown: the postmaster disconnects every client, writes a checkpoint (cheap
  // with fsync off) and exits, so committed data survives a Restart.
  ::kill(pid_, SIGINT);
  for (int i = 0; i < 1000; ++i) {  // up to ~10 s, then SIGKILL
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

bool PostgresTestServer::Launch() {
  const std::string sock = dir_ + "/sock";
  const std::string log = dir_ + "/postgres.log";
  const std::string port = std::to_string(port_);
  std::vector<std::string> args = {bindir_ + "/postgres", "-D", dir_ + "/data", "-p", port, "-k", sock,
                                   "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300",
                                   "-c", "shared_buffers=16MB", "-c", "log_min_messages=warning"};
  if (!options_.durable) {
    for (const char* setting : {"fsync=off", "synchronous_commit=off", "full_page_writes=off"}) {
      args.push_back("-c");
      args.push_back(setting);
    }
  }
  pid_t pid = Spawn(log, args);
  if (pid < 0) return false;
  pid_ = pid;
  // Ready when it answers on the unix socket in our own directory (so it is ours, not
  // another test's server on the same TCP port: that one would have made ours exit).
  const std::string conninfo =
      StrCat("host=", sock, " port=", port, " user=postgres dbname=postgres connect_timeout=2");
  for (int i = 0; i < 3000; ++i) {  // up to ~30 s
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {  // exited: port taken, or broken setup
      pid_ = -1;
      error_ = StrCat("postgres exited: ", Tail(log));
      return false;
    }
    if (PQping(conninfo.c_str()) == PQPING_OK) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  error_ = StrCat("postgres did not answer: ", Tail(log));
  Stop();
  return false;
}

absl::Status PostgresTestServer::Exec(std::string_view sql) {
  auto conn = PgConnection::Connect({.url = Url()});
  if (!conn.ok()) return conn.status();
  return (*conn)->ExecScript(sql);
}

absl::StatusOr<std::string> PostgresTestServer::CreateDatabase() {
  const std::string name = StrCat("test_", next_db_.fetch_add(1));
  absl::Status st = Exec(StrCat("CREATE DATABASE ", name, ""));
  if (!st.ok()) return st;
  return Url(name);
}

PostgresTestServer* PostgresTestServer::Shared() {
  static std::unique_ptr<PostgresTestServer> server = [] {
    auto s = std::make_unique<PostgresTestServer>();
    if (!s->Start()) {
      std::fprintf(stderr, "PostgresTestServer: cannot start: %s\n", s->error().c_str());
      return std::unique_ptr<PostgresTestServer>();
    }
    return s;
  }();
  return server.get();
}

std::string NewPostgresTestDatabase() {
  PostgresTestServer* server = PostgresTestServer::Shared();
  if (server == nullptr) {
    ADD_FAILURE() << "no PostgreSQL test server (see stderr)";
    return "";
  }
  // Drop the databases earlier tests made (their stores are gone), so a long suite keeps
  // one or two databases rather than one per test.
  static std::mutex mu;
  static std::vector<std::pair<std::string, std::string>> made;  // test name, database
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string test =
      info != nullptr ? StrCat(info->test_suite_name(), ".", info->name()) : std::string();
  {
    std::lock_guard<std::mutex> lock(mu);
    std::erase_if(made, [&](const std::pair<std::string, std::string>& m) {
      if (m.first == test) return false;
      absl::Status dropped = server->Exec(StrCat("DROP DATABASE IF EXISTS ", m.second, " WITH (FORCE)"));
      if (!dropped.ok()) std::fprintf(stderr, "DROP DATABASE %s: %s\n", m.second.c_str(),
                                      dropped.ToString().c_str());
      return true;
    });
  }
  absl::StatusOr<std::string> url = server->CreateDatabase();
  if (!url.ok()) {
    ADD_FAILURE() << "CREATE DATABASE: " << url.status();
    return "";
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    made.emplace_back(test, url->substr(url->rfind('/') + 1));
  }
  return *url;
}

int OtherConnectionsTo(const std::string& url) {
  absl::StatusOr<std::unique_ptr<PgConnection>> conn = PgConnection::Connect({.url = url});
  if (!conn.ok()) {
    ADD_FAILURE() << conn.status();
    return -1;
  }
  absl::StatusOr<PgResult> r = (*conn)->Query(
      "SELECT count(*)::text FROM pg_stat_activity WHERE datname = current_database() "
      "AND pid <> pg_backend_pid()");
  if (!r.ok() || r->Rows() != 1) {
    ADD_FAILURE() << (r.ok() ? "no row" : r.status().ToString());
    return -1;
  }
  return std::stoi(r->String(0, 0));
}

}  // namespace edgevault::storage
