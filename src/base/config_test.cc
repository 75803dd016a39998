#include "src/base/config.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/env.h"
#include "src/base/strings.h"

namespace edgevault::base {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the test temp dir, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::path(testing::TempDir()) / "config_test.XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    // Canonical, so that expectations match LoadConfig's normalised absolute paths.
    path_ = fs::canonical(tmpl).string();
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Sub(std::string_view name) const { return StrCat(path_, "/", name); }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, std::string_view text) {
  fs::create_directories(fs::path(path).parent_path());
  ASSERT_TRUE(Env::Default()->WriteFileAtomically(path, text, 0600).ok()) << path;
}

std::string Msg(const absl::Status& s) { return std::string(ToStd(s.message())); }

testing::AssertionResult HasSubstr(const absl::Status& s, std::string_view sub) {
  if (Msg(s).find(sub) != std::string::npos) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "status " << s.ToString() << " lacks \"" << sub << "\"";
}

std::string Cwd() { return fs::current_path().lexically_normal().string(); }

// Loads `toml` from DIR/edgevault.toml with optional env and overrides.
absl::StatusOr<Config> LoadToml(const TempDir& dir, std::string_view toml,
                                std::vector<std::pair<std::string, std::string>> env = {},
                                std::vector<std::pair<std::string, std::string>> overrides = {}) {
  ConfigSources src;
  src.file = dir.Sub("edgevault.toml");
  WriteFile(src.file, toml);
  src.env = std::move(env);
  src.overrides = std::move(overrides);
  return LoadConfig(src);
}

void ExpectSameConfig(const Config& a, const Config& b) {
  EXPECT_EQ(a.config_file, b.config_file);
  EXPECT_EQ(a.data_dir, b.data_dir);
  EXPECT_EQ(a.node_id, b.node_id);
  EXPECT_EQ(a.log_level, b.log_level);
  EXPECT_EQ(a.io_threads, b.io_threads);
  EXPECT_EQ(a.limits.max_header_bytes, b.limits.max_header_bytes);
  EXPECT_EQ(a.limits.max_body_bytes, b.limits.max_body_bytes);
  EXPECT_EQ(a.limits.read_timeout, b.limits.read_timeout);
  EXPECT_EQ(a.limits.idle_timeout, b.limits.idle_timeout);
  EXPECT_EQ(a.limits.max_connections, b.limits.max_connections);
  EXPECT_EQ(a.limits.drain_timeout, b.limits.drain_timeout);
  for (std::string_view name : kServiceNames) {
    SCOPED_TRACE(name);
    EXPECT_EQ(a.Endpoint(name)->host, b.Endpoint(name)->host);
    EXPECT_EQ(a.Endpoint(name)->port, b.Endpoint(name)->port);
  }
  EXPECT_EQ(a.keys_dir, b.keys_dir);
  EXPECT_EQ(a.internal_signature_window, b.internal_signature_window);
  EXPECT_EQ(a.restart_backoff_initial, b.restart_backoff_initial);
  EXPECT_EQ(a.restart_backoff_max, b.restart_backoff_max);
  EXPECT_EQ(a.stop_timeout, b.stop_timeout);
}

// Every declared key, a valid non-default value, and how to read it back.
struct KeyCase {
  std::string key;
  std::string value;
  std::function<bool(const Config&)> applied;
};

std::vector<KeyCase> AllKeys() {
  std::vector<KeyCase> cases = {
      {"data_dir", "/srv/ev", [](const Config& c) { return c.data_dir == "/srv/ev"; }},
      {"node_id", "node-7.b_c", [](const Config& c) { return c.node_id == "node-7.b_c"; }},
      {"log.level", "debug", [](const Config& c) { return c.log_level == LogLevel::kDebug; }},
      {"server.io_threads", "3", [](const Config& c) { return c.io_threads == 3; }},
      {"server.max_header_bytes", "2048",
       [](const Config& c) { return c.limits.max_header_bytes == 2048; }},
      {"server.max_body_bytes", "77",
       [](const Config& c) { return c.limits.max_body_bytes == 77; }},
      {"server.read_timeout_ms", "1500",
       [](const Config& c) { return c.limits.read_timeout == absl::Milliseconds(1500); }},
      {"server.idle_timeout_ms", "2500",
       [](const Config& c) { return c.limits.idle_timeout == absl::Milliseconds(2500); }},
      {"server.max_connections", "12",
       [](const Config& c) { return c.limits.max_connections == 12; }},
      {"server.drain_timeout_ms", "0",
       [](const Config& c) { return c.limits.drain_timeout == absl::ZeroDuration(); }},
      {"keys.dir", "/srv/keys", [](const Config& c) { return c.keys_dir == "/srv/keys"; }},
      {"internal.signature_window_s", "30",
       [](const Config& c) { return c.internal_signature_window == absl::Seconds(30); }},
      {"up.restart_backoff_initial_ms", "150",
       [](const Config& c) { return c.restart_backoff_initial == absl::Milliseconds(150); }},
      {"up.restart_backoff_max_ms", "9000",
       [](const Config& c) { return c.restart_backoff_max == absl::Milliseconds(9000); }},
      {"up.stop_timeout_ms", "100",
       [](const Config& c) { return c.stop_timeout == absl::Milliseconds(100); }},
      {"kv.url", "redis://10.0.0.5:6380/2",
       [](const Config& c) { return c.kv_url == "redis://10.0.0.5:6380/2"; }},
      {"api.rate_limit_per_second", "25",
       [](const Config& c) { return c.api_settings.rate_limit_per_second == 25; }},
      {"rate_limit.url", "redis://10.0.0.6",
       [](const Config& c) { return c.rate_limit_url == "redis://10.0.0.6"; }},
      {"auth.control_db_url", "postgres://auth@db.internal:5433/edgevault?sslmode=verify-full",
       [](const Config& c) {
         return c.auth_settings.control_db_url ==
                "postgres://auth@db.internal:5433/edgevault?sslmode=verify-full";
       }},
      {"api.workspace_db_url", "postgres://ev@db.internal:5432/edgevault",
       [](const Config& c) { return c.api_settings.workspace_db_url == "postgres://ev@db.internal:5432/edgevault"; }},
      {"audit.queue_url", "postgres://ev@db.internal:5432/edgevault",
       [](const Config& c) { return c.audit_queue_url == "postgres://ev@db.internal:5432/edgevault"; }},
      {"auth.throttle_second_factor_failures", "7",
       [](const Config& c) { return c.auth_settings.throttle_second_factor_failures == 7; }},
      {"auth.client_address_header", "X-Forwarded-For",
       [](const Config& c) { return c.auth_settings.client_address_header == "X-Forwarded-For"; }},
      {"auth.trusted_proxies", "10.0.0.0/8, 192.0.2.10, fd00::/8",
       [](const Config& c) { return c.auth_settings.trusted_proxies == "10.0.0.0/8, 192.0.2.10, fd00::/8"; }},
      {"auth.signing_key_settle_s", "4",
       [](const Config& c) { return c.auth_settings.signing_key_settle == absl::Seconds(4); }},
      {"mcp.enabled", "0", [](const Config& c) { return !c.mcp_settings.enabled; }},
      {"mcp.read_only", "1", [](const Config& c) { return c.mcp_settings.read_only; }},
      {"mcp.allow_secret_values", "1", [](const Config& c) { return c.mcp_settings.allow_secret_values; }},
      {"console.web_dir", "/srv/web",
       [](const Config& c) { return c.console_settings.web_dir == "/srv/web"; }},
      {"auth.invitation_ttl_s", "3600",
       [](const Config& c) { return c.auth_settings.invitation_ttl == absl::Hours(1); }},
  };
  uint16_t port = 9100;
  for (std::string_view name : kServiceNames) {
    std::string n(name);
    cases.push_back({StrCat("services.", n, ".host"), "10.0.0.9",
                     [n](const Config& c) { return c.Endpoint(n)->host == "10.0.0.9"; }});
    cases.push_back({StrCat("services.", n, ".port"), StrCat(port),
                     [n, port](const Config& c) { return c.Endpoint(n)->port == port; }});
    ++port;
  }
  return cases;
}

// ---- Defaults and the default file -------------------------------------------------

TEST(ConfigTest, NoSourcesGivesDefaultsRootedInWorkingDirectory) {
  absl::StatusOr<Config> cfg = LoadConfig(ConfigSources{});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  Config expected;
  expected.data_dir = Cwd();
  expected.keys_dir = StrCat(Cwd(), "/keys");
  ExpectSameConfig(*cfg, expected);
  EXPECT_EQ(cfg->config_file, "");
  EXPECT_EQ(cfg->api.host, "127.0.0.1");
  EXPECT_EQ(cfg->api.port, 0);
}

TEST(ConfigTest, DefaultConfigTomlRoundTripsToTheDefaults) {
  for (int port_base : {0, 8080, 60000}) {
    SCOPED_TRACE(port_base);
    TempDir dir;
    absl::StatusOr<Config> cfg = LoadToml(dir, DefaultConfigToml(port_base));
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    Config expected;
    expected.config_file = dir.Sub("edgevault.toml");
    expected.data_dir = dir.path();
    expected.keys_dir = dir.Sub("keys");
    int i = 0;
    for (std::string_view name : kServiceNames) {
      // Base 0: every service on port 0 (a free port picked at each start).
      expected.MutableEndpoint(name)->port = static_cast<uint16_t>(port_base == 0 ? 0 : port_base + i++);
    }
    ExpectSameConfig(*cfg, expected);
  }
}

TEST(ConfigTest, DefaultConfigTomlPutsServicesAtConsecutivePortsInOrder) {
  TempDir dir;
  absl::StatusOr<Config> cfg = LoadToml(dir, DefaultConfigToml(9000));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->console.port, 9000);
  EXPECT_EQ(cfg->api.port, 9001);
  EXPECT_EQ(cfg->delivery.port, 9002);
  EXPECT_EQ(cfg->auth.port, 9003);
  EXPECT_EQ(cfg->audit.port, 9004);
  for (std::string_view name : kServiceNames) EXPECT_EQ(cfg->Endpoint(name)->host, "127.0.0.1");
}

TEST(ConfigTest, DefaultConfigTomlMentionsEveryKey) {
  std::string toml = DefaultConfigToml(8080);
  for (const KeyCase& c : AllKeys()) {
    if (c.key == "data_dir") continue;  // checked below
    std::string leaf = c.key.substr(c.key.rfind('.') + 1);
    size_t dot = c.key.rfind('.');
    if (dot != std::string::npos) {
      EXPECT_NE(toml.find(StrCat("[", c.key.substr(0, dot), "]")), std::string::npos) << c.key;
    }
    EXPECT_NE(toml.find(StrCat("\n", leaf, " = ")), std::string::npos) << c.key;
  }
  // data_dir is only mentioned in a comment, so the directory can be moved.
  EXPECT_NE(toml.find("# data_dir = "), std::string::npos);
  EXPECT_EQ(toml.find("\ndata_dir"), std::string::npos);
}

TEST(ConfigTest, DataDirFollowsTheFileWhenTheDirectoryMoves) {
  TempDir a;
  absl::StatusOr<Config> first = LoadToml(a, DefaultConfigToml(8080));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->data_dir, a.path());

  TempDir b;
  fs::rename(a.Sub("edgevault.toml"), b.Sub("edgevault.toml"));
  ConfigSources src;
  src.file = b.Sub("edgevault.toml");
  absl::StatusOr<Config> second = LoadConfig(src);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->data_dir, b.path());
  EXPECT_EQ(second->keys_dir, b.Sub("keys"));
}

// ---- Every key, from every source -------------------------------------------------

TEST(ConfigTest, EveryKeyCanBeSetFromTheFile) {
  for (const KeyCase& c : AllKeys()) {
    SCOPED_TRACE(c.key);
    size_t dot = c.key.rfind('.');
    const bool is_int = !c.value.empty() && std::all_of(c.value.begin(), c.value.end(),
                                                        [](char ch) { return isdigit(ch); });
    std::string value = is_int ? c.value : StrCat("\"", c.value, "\"");
    std::string toml = dot == std::string::npos ? StrCat(c.key, " = ", value, "\n")
                                                : StrCat("[", c.key.substr(0, dot), "]\n",
                                                         c.key.substr(dot + 1), " = ", value, "\n");
    TempDir dir;
    absl::StatusOr<Config> cfg = LoadToml(dir, toml);
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    EXPECT_TRUE(c.applied(*cfg));
  }
}

TEST(ConfigTest, EveryKeyCanBeSetFromItsEnvironmentVariable) {
  for (const KeyCase& c : AllKeys()) {
    SCOPED_TRACE(c.key);
    ConfigSources src;
    src.env = {{EnvVarName(c.key), c.value}};
    absl::StatusOr<Config> cfg = LoadConfig(src);
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    EXPECT_TRUE(c.applied(*cfg));
  }
}

TEST(ConfigTest, EveryKeyCanBeSetWithAnOverride) {
  for (const KeyCase& c : AllKeys()) {
    SCOPED_TRACE(c.key);
    ConfigSources src;
    src.overrides = {{c.key, c.value}};
    absl::StatusOr<Config> cfg = LoadConfig(src);
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    EXPECT_TRUE(c.applied(*cfg));
  }
}

// The console's TLS files are set together (each alone would fail validation, so they are
// not in AllKeys()).
TEST(ConfigTest, ConsoleTlsFilesAreSetTogether) {
  ConfigSources both;
  both.overrides = {{"console.tls_cert_file", "/etc/ev/console.crt"},
                    {"console.tls_key_file", "/etc/ev/console.key"}};
  absl::StatusOr<Config> cfg = LoadConfig(both);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->console_settings.tls_cert_file, "/etc/ev/console.crt");
  EXPECT_EQ(cfg->console_settings.tls_key_file, "/etc/ev/console.key");

  for (const char* key : {"console.tls_cert_file", "console.tls_key_file"}) {
    SCOPED_TRACE(key);
    ConfigSources one;
    one.overrides = {{key, "/etc/ev/x.pem"}};
    absl::StatusOr<Config> half = LoadConfig(one);
    ASSERT_FALSE(half.ok());
    EXPECT_TRUE(absl::IsInvalidArgument(half.status()));
    EXPECT_NE(half.status().message().find("must be set together"), std::string::npos)
        << half.status();
  }
}

TEST(ConfigTest, EnvironmentVariableNamesAreDistinct) {
  std::vector<std::string> names;
  for (const KeyCase& c : AllKeys()) names.push_back(EnvVarName(c.key));
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
}

// ---- Precedence ------------------------------------------------------------------

TEST(ConfigTest, EnvironmentBeatsFileAndOverrideBeatsEnvironment) {
  TempDir dir;
  const std::string toml = "[services.api]\nport = 9001\n[server]\nio_threads = 2\n";
  absl::StatusOr<Config> file_only = LoadToml(dir, toml);
  ASSERT_TRUE(file_only.ok()) << file_only.status();
  EXPECT_EQ(file_only->api.port, 9001);

  absl::StatusOr<Config> with_env = LoadToml(dir, toml, {{"EDGEVAULT_SERVICES_API_PORT", "9002"}});
  ASSERT_TRUE(with_env.ok()) << with_env.status();
  EXPECT_EQ(with_env->api.port, 9002);
  EXPECT_EQ(with_env->io_threads, 2);

  absl::StatusOr<Config> with_set = LoadToml(dir, toml, {{"EDGEVAULT_SERVICES_API_PORT", "9002"}},
                                             {{"services.api.port", "9003"}});
  ASSERT_TRUE(with_set.ok()) << with_set.status();
  EXPECT_EQ(with_set->api.port, 9003);
  EXPECT_EQ(with_set->io_threads, 2);
}

TEST(ConfigTest, LaterOverrideOfTheSameKeyWins) {
  ConfigSources src;
  src.overrides = {{"log.level", "error"}, {"log.level", "warn"}};
  absl::StatusOr<Config> cfg = LoadConfig(src);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->log_level, LogLevel::kWarn);
}

TEST(ConfigTest, UnrelatedAndUnknownEnvironmentVariablesAreIgnored) {
  ConfigSources src;
  src.env = {{"PATH", "/bin"},
             {"EDGEVAULT_BIN_DIR", "/opt/ev/bin"},  // used by other tools
             {"EDGEVAULT_SERVER_NOPE", "garbage"},
             {"edgevault_node_id", "lower-case-is-not-ours"}};
  absl::StatusOr<Config> cfg = LoadConfig(src);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->node_id, "node-1");
}

// ---- Errors name the key and the source ------------------------------------------

TEST(ConfigTest, BadEnvironmentValueErrorHasTheDocumentedForm) {
  ConfigSources src;
  src.env = {{"EDGEVAULT_SERVICES_API_PORT", "abc"}};
  absl::StatusOr<Config> cfg = LoadConfig(src);
  ASSERT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Msg(cfg.status()),
            "config key 'services.api.port' (from EDGEVAULT_SERVICES_API_PORT): expected an "
            "integer in 0..65535, got \"abc\"");
}

TEST(ConfigTest, BadOverrideNamesSetAsTheSource) {
  ConfigSources src;
  src.overrides = {{"server.io_threads", "257"}};
  absl::StatusOr<Config> cfg = LoadConfig(src);
  ASSERT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Msg(cfg.status()),
            "config key 'server.io_threads' (from --set): expected an integer in 0..256, got "
            "\"257\"");
}

TEST(ConfigTest, IntegersFromTextAreParsedStrictly) {
  for (std::string_view bad :
       {"12x", "", " 12", "12 ", "+12", "1e3", "12.0", "0x10", "-", "99999999999999999999999"}) {
    SCOPED_TRACE(bad);
    ConfigSources src;
    src.overrides = {{"server.io_threads", std::string(bad)}};
    absl::StatusOr<Config> cfg = LoadConfig(src);
    EXPECT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(HasSubstr(cfg.status(), "'server.io_threads'"));
  }
}

TEST(ConfigTest, BooleansAreTrueOrFalse) {
  TempDir dir;
  absl::StatusOr<Config> cfg = LoadToml(dir, "[mcp]\nread_only = true\nallow_secret_values = false\n");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_TRUE(cfg->mcp_settings.read_only);
  EXPECT_FALSE(cfg->mcp_settings.allow_secret_values);
  for (std::string_view text : {"true", "1"}) {
    ConfigSources src;
    src.overrides = {{"mcp.read_only", std::string(text)}};
    absl::StatusOr<Config> set = LoadConfig(src);
    ASSERT_TRUE(set.ok()) << set.status();
    EXPECT_TRUE(set->mcp_settings.read_only);
  }
  for (std::string_view bad : {"yes", "", "2", "TRUE"}) {
    SCOPED_TRACE(bad);
    ConfigSources src;
    src.overrides = {{"mcp.read_only", std::string(bad)}};
    absl::StatusOr<Config> set = LoadConfig(src);
    EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(HasSubstr(set.status(), "expected true or false"));
  }
  absl::StatusOr<Config> wrong = LoadToml(dir, "[mcp]\nread_only = \"yes\"\n");
  EXPECT_TRUE(HasSubstr(wrong.status(), "expected true or false"));
  EXPECT_NE(DefaultConfigToml(7000).find("read_only = false"), std::string::npos);
}

TEST(ConfigTest, IntegerRangesAreInclusive) {
  struct Case {
    std::string key;
    std::string value;
    bool ok;
  };
  const Case cases[] = {
      {"server.io_threads", "0", true},
      {"server.io_threads", "256", true},
      {"server.io_threads", "-1", false},
      {"server.max_header_bytes", "1023", false},
      {"server.max_header_bytes", "1024", true},
      {"server.max_header_bytes", "1048576", true},
      {"server.max_header_bytes", "1048577", false},
      {"server.max_body_bytes", "0", false},
      {"server.max_body_bytes", "1073741824", true},
      {"server.max_body_bytes", "1073741825", false},
      {"server.read_timeout_ms", "0", false},
      {"server.read_timeout_ms", "3600000", true},
      {"server.idle_timeout_ms", "86400001", false},
      {"server.max_connections", "1000000", true},
      {"server.max_connections", "0", false},
      {"server.drain_timeout_ms", "600001", false},
      {"services.audit.port", "65535", true},
      {"services.audit.port", "65536", false},
      {"services.audit.port", "-1", false},
      {"internal.signature_window_s", "0", false},
      {"internal.signature_window_s", "3600", true},
      {"internal.signature_window_s", "3601", false},
      {"up.stop_timeout_ms", "99", false},
      {"up.stop_timeout_ms", "600000", true},
      {"up.restart_backoff_initial_ms", "0", false},
      {"up.restart_backoff_max_ms", "600001", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(StrCat(c.key, "=", c.value));
    ConfigSources src;
    src.overrides = {{c.key, c.value}};
    absl::StatusOr<Config> cfg = LoadConfig(src);
    EXPECT_EQ(cfg.ok(), c.ok) << cfg.status();
  }
}

TEST(ConfigTest, NodeIdMustBeShortAndPlain) {
  for (std::string good : {std::string("a"), std::string(64, 'x'), std::string("A.b_c-9")}) {
    ConfigSources src;
    src.overrides = {{"node_id", good}};
    EXPECT_TRUE(LoadConfig(src).ok()) << good;
  }
  for (std::string bad : {std::string(""), std::string(65, 'x'), std::string("a b"),
                          std::string("a/b"), std::string("n\xc3\xa9")}) {
    ConfigSources src;
    src.overrides = {{"node_id", bad}};
    absl::StatusOr<Config> cfg = LoadConfig(src);
    EXPECT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(HasSubstr(cfg.status(), "config key 'node_id' (from --set): expected"));
  }
}

TEST(ConfigTest, LogLevelMustBeKnown) {
  ConfigSources src;
  src.env = {{"EDGEVAULT_LOG_LEVEL", "verbose"}};
  absl::StatusOr<Config> cfg = LoadConfig(src);
  EXPECT_EQ(Msg(cfg.status()),
            "config key 'log.level' (from EDGEVAULT_LOG_LEVEL): expected one of debug, info, "
            "warn, error, got \"verbose\"");
  for (auto [text, level] : {std::pair{"debug", LogLevel::kDebug},
                             {"info", LogLevel::kInfo},
                             {"warn", LogLevel::kWarn},
                             {"error", LogLevel::kError}}) {
    src.env = {{"EDGEVAULT_LOG_LEVEL", text}};
    absl::StatusOr<Config> ok = LoadConfig(src);
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_EQ(ok->log_level, level);
  }
}

TEST(ConfigTest, HostMustNotBeEmpty) {
  ConfigSources src;
  src.overrides = {{"services.delivery.host", ""}};
  absl::StatusOr<Config> cfg = LoadConfig(src);
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasSubstr(cfg.status(), "'services.delivery.host' (from --set)"));
}

TEST(ConfigTest, TrustedProxiesAndClientAddressHeaderAreChecked) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"auth.trusted_proxies", "proxy.example"},
           {"auth.trusted_proxies", "10.0.0.0/33"},
           {"auth.trusted_proxies", "fd00::/129"},
           {"auth.trusted_proxies", "10.0.0.1/"},
           {"auth.client_address_header", "X Forwarded For"},
           {"auth.client_address_header", "X-Forwarded-For:"}}) {
    ConfigSources src;
    src.overrides = {{key, value}};
    absl::StatusOr<Config> cfg = LoadConfig(src);
    EXPECT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument) << key << "=" << value;
    EXPECT_TRUE(HasSubstr(cfg.status(), StrCat("'", key, "'")));
  }
  ConfigSources ok;
  ok.overrides = {{"auth.trusted_proxies", "127.0.0.1,::1, 10.0.0.0/8"}};
  EXPECT_TRUE(LoadConfig(ok).ok());
}

TEST(ConfigTest, EmptyPathsAreRejected) {
  for (std::string key : {"data_dir", "keys.dir"}) {
    ConfigSources src;
    src.overrides = {{key, ""}};
    absl::StatusOr<Config> cfg = LoadConfig(src);
    EXPECT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_TRUE(HasSubstr(cfg.status(), StrCat("'", key, "'")));
  }
}

TEST(ConfigTest, ControlCharactersInBadValuesAreEscapedInTheMessage) {
  ConfigSources src;
  src.overrides = {{"server.io_threads", "1\n\"2"}};
  absl::StatusOr<Config> cfg = LoadConfig(src);
  EXPECT_TRUE(HasSubstr(cfg.status(), R"(got "1\n\"2")"));
}

TEST(ConfigTest, UnknownKeyInFileNamesTheFullKeyAndTheFile) {
  TempDir dir;
  absl::StatusOr<Config> cfg = LoadToml(dir, "[server]\nio_thread = 4\n");
  ASSERT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasSubstr(cfg.status(), StrCat("config key 'server.io_thread' (from ",
                                             dir.Sub("edgevault.toml"), "): unknown key")));
  EXPECT_TRUE(HasSubstr(cfg.status(), "did you mean 'server.io_threads'?"));
}

TEST(ConfigTest, UnknownTablesInFileNameTheFirstKeyInside) {
  TempDir dir;
  absl::StatusOr<Config> cfg = LoadToml(dir, "[services.billing]\nport = 9000\n");
  EXPECT_TRUE(HasSubstr(cfg.status(), "config key 'services.billing.port'"));

  cfg = LoadToml(dir, "[metrics]\n");
  EXPECT_TRUE(HasSubstr(cfg.status(), "config key 'metrics'"));

  cfg = LoadToml(dir, "[[services]]\nname = \"x\"\n");
  EXPECT_TRUE(HasSubstr(cfg.status(), "config key 'services'"));
}

TEST(ConfigTest, ScalarWhereATableBelongsIsAnError) {
  TempDir dir;
  absl::StatusOr<Config> cfg = LoadToml(dir, "services = 5\n");
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasSubstr(cfg.status(), "config key 'services'"));
  EXPECT_TRUE(HasSubstr(cfg.status(), "expected a table, got 5"));
}

TEST(ConfigTest, KeyOutsideItsTableSuggestsTheRightOne) {
  TempDir dir;
  absl::StatusOr<Config> cfg = LoadToml(dir, "io_threads = 4\n");
  EXPECT_TRUE(HasSubstr(cfg.status(), "did you mean 'server.io_threads'?"));
}

TEST(ConfigTest, UnknownKeyInOverridesIsAnError) {
  ConfigSources src;
  src.overrides = {{"services.api.prot", "9000"}};
  absl::StatusOr<Config> cfg = LoadConfig(src);
  ASSERT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasSubstr(cfg.status(), "config key 'services.api.prot' (from --set): unknown key"));
  EXPECT_TRUE(HasSubstr(cfg.status(), "did you mean 'services.api.port'?"));
}

TEST(ConfigTest, WrongTomlTypeNamesTheKeyAndTheFile) {
  TempDir dir;
  const std::string file = dir.Sub("edgevault.toml");
  struct Case {
    std::string toml;
    std::string message;
  };
  const Case cases[] = {
      {"[server]\nio_threads = \"4\"\n", StrCat("config key 'server.io_threads' (from ", file,
                                                "): expected an integer in 0..256, got \"4\"")},
      {"[services.api]\nport = 8080.0\n", StrCat("config key 'services.api.port' (from ", file,
                                                 "): expected an integer in 0..65535, got 8080.0")},
      {"[services.api]\nport = 70000\n", StrCat("config key 'services.api.port' (from ", file,
                                                "): expected an integer in 0..65535, got 70000")},
      {"node_id = 7\n", StrCat("config key 'node_id' (from ", file,
                               "): expected 1 to 64 characters from [A-Za-z0-9._-], got 7")},
      {"[log]\nlevel = true\n", StrCat("config key 'log.level' (from ", file,
                                       "): expected one of debug, info, warn, error, got true")},
      {"[services.api]\nhost = [\"a\"]\n",
       StrCat("config key 'services.api.host' (from ", file,
              "): expected a non-empty host name or IP address, got an array")},
      {"[server]\nio_threads = { n = 1 }\n",
       StrCat("config key 'server.io_threads' (from ", file,
              "): expected an integer in 0..256, got a table")},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.toml);
    absl::StatusOr<Config> cfg = LoadToml(dir, c.toml);
    EXPECT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Msg(cfg.status()), c.message);
  }
}

TEST(ConfigTest, TomlSyntaxErrorNamesFileLineAndColumn) {
  TempDir dir;
  absl::StatusOr<Config> cfg = LoadToml(dir, "node_id = \"a\"\n[server\nio_threads = 1\n");
  ASSERT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasSubstr(cfg.status(), StrCat(dir.Sub("edgevault.toml"), ":2:")));
  EXPECT_TRUE(HasSubstr(cfg.status(), "invalid TOML"));
}

TEST(ConfigTest, DuplicateTomlKeyIsASyntaxError) {
  TempDir dir;
  absl::StatusOr<Config> cfg = LoadToml(dir, "node_id = \"a\"\nnode_id = \"b\"\n");
  ASSERT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasSubstr(cfg.status(), StrCat(dir.Sub("edgevault.toml"), ":2:")));
}

TEST(ConfigTest, MissingFileIsNotFoundNamingThePath) {
  TempDir dir;
  ConfigSources src;
  src.file = dir.Sub("nope.toml");
  absl::StatusOr<Config> cfg = LoadConfig(src);
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(HasSubstr(cfg.status(), dir.Sub("nope.toml")));
}

TEST(ConfigTest, EmptyFileGivesDefaults) {
  TempDir dir;
  absl::StatusOr<Config> cfg = LoadToml(dir, "");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->node_id, "node-1");
  EXPECT_EQ(cfg->data_dir, dir.path());
}

// ---- Paths -----------------------------------------------------------------------

TEST(ConfigTest, ConfigFileIsStoredAbsolute) {
  TempDir dir;
  WriteFile(dir.Sub("sub/edgevault.toml"), "");
  ConfigSources src;
  src.file = fs::relative(dir.Sub("sub/./edgevault.toml"), fs::current_path()).string();
  ASSERT_FALSE(fs::path(src.file).is_absolute());
  absl::StatusOr<Config> cfg = LoadConfig(src);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->config_file, dir.Sub("sub/edgevault.toml"));
  EXPECT_EQ(cfg->data_dir, dir.Sub("sub"));
}

TEST(ConfigTest, RelativeDataDirInFileIsRelativeToTheFile) {
  TempDir dir;
  absl::StatusOr<Config> cfg = LoadToml(dir, "data_dir = \"a/../b/./c/\"\n");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->data_dir, dir.Sub("b/c"));
  EXPECT_EQ(cfg->keys_dir, dir.Sub("b/c/keys"));
}

TEST(ConfigTest, AbsoluteDataDirIsNormalised) {
  TempDir dir;
  absl::StatusOr<Config> cfg = LoadToml(dir, "data_dir = \"/srv//ev/x/../data/\"\n");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->data_dir, "/srv/ev/data");
  EXPECT_EQ(cfg->keys_dir, "/srv/ev/data/keys");
}

// A relative path typed in a shell (or set in an environment) means the working
// directory, whatever file is loaded.
TEST(ConfigTest, RelativeDataDirFromEnvironmentOrOverrideIsRelativeToWorkingDirectory) {
  TempDir dir;
  absl::StatusOr<Config> cfg = LoadToml(dir, "", {{"EDGEVAULT_DATA_DIR", "from-env"}});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->data_dir, StrCat(Cwd(), "/from-env"));

  cfg = LoadToml(dir, "", {}, {{"data_dir", "x/../from-set"}});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->data_dir, StrCat(Cwd(), "/from-set"));
}

TEST(ConfigTest, KeysDirIsRelativeToTheFinalDataDir) {
  TempDir dir;
  absl::StatusOr<Config> cfg =
      LoadToml(dir, "[keys]\ndir = \"secret/k\"\n", {}, {{"data_dir", "/srv/ev"}});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->data_dir, "/srv/ev");
  EXPECT_EQ(cfg->keys_dir, "/srv/ev/secret/k");

  cfg = LoadToml(dir, "[keys]\ndir = \"/etc/ev/keys/\"\n");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->keys_dir, "/etc/ev/keys");
}

// ---- Cross-key checks --------------------------------------------------------------

TEST(ConfigTest, BackoffMaxBelowInitialIsRejected) {
  ConfigSources src;
  src.overrides = {{"up.restart_backoff_initial_ms", "1000"}, {"up.restart_backoff_max_ms", "999"}};
  absl::StatusOr<Config> cfg = LoadConfig(src);
  ASSERT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasSubstr(cfg.status(), "'up.restart_backoff_max_ms'"));
  EXPECT_TRUE(HasSubstr(cfg.status(), "'up.restart_backoff_initial_ms'"));

  src.overrides = {{"up.restart_backoff_initial_ms", "1000"},
                   {"up.restart_backoff_max_ms", "1000"}};
  EXPECT_TRUE(LoadConfig(src).ok());
  // The default maximum (5 s) is below this initial value.
  src.overrides = {{"up.restart_backoff_initial_ms", "6000"}};
  EXPECT_FALSE(LoadConfig(src).ok());
}

TEST(ConfigTest, TwoServicesOnOneHostAndPortAreRejected) {
  TempDir dir;
  absl::StatusOr<Config> cfg =
      LoadToml(dir, DefaultConfigToml(8080), {}, {{"services.audit.port", "8081"}});
  ASSERT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Msg(cfg.status()),
            "config keys 'services.api.port' and 'services.audit.port' both use "
            "127.0.0.1:8081; give each service its own port");
}

TEST(ConfigTest, SamePortOnDifferentHostsOrPortZeroIsAllowed) {
  ConfigSources src;
  src.overrides = {{"services.api.port", "9000"},
                   {"services.auth.port", "9000"},
                   {"services.auth.host", "127.0.0.2"}};
  EXPECT_TRUE(LoadConfig(src).ok());
  // Every service defaults to port 0 when there is no file.
  EXPECT_TRUE(LoadConfig(ConfigSources{}).ok());
}

// ---- Small functions ---------------------------------------------------------------

TEST(ConfigTest, EndpointMapsEveryServiceName) {
  Config cfg;
  EXPECT_EQ(cfg.Endpoint("console"), &cfg.console);
  EXPECT_EQ(cfg.Endpoint("api"), &cfg.api);
  EXPECT_EQ(cfg.Endpoint("delivery"), &cfg.delivery);
  EXPECT_EQ(cfg.Endpoint("auth"), &cfg.auth);
  EXPECT_EQ(cfg.Endpoint("audit"), &cfg.audit);
  EXPECT_EQ(cfg.Endpoint("billing"), nullptr);
  EXPECT_EQ(cfg.Endpoint(""), nullptr);
  EXPECT_EQ(cfg.Endpoint("API"), nullptr);
  cfg.MutableEndpoint("auth")->port = 4242;
  EXPECT_EQ(cfg.auth.port, 4242);
  EXPECT_EQ(cfg.MutableEndpoint("nope"), nullptr);
}

TEST(ConfigTest, EnvVarName) {
  EXPECT_EQ(EnvVarName("services.api.port"), "EDGEVAULT_SERVICES_API_PORT");
  EXPECT_EQ(EnvVarName("data_dir"), "EDGEVAULT_DATA_DIR");
  EXPECT_EQ(EnvVarName("up.restart_backoff_max_ms"), "EDGEVAULT_UP_RESTART_BACKOFF_MAX_MS");
}

TEST(ConfigTest, ParseOverride) {
  auto kv = ParseOverride("services.api.port=9001");
  ASSERT_TRUE(kv.ok()) << kv.status();
  EXPECT_EQ(kv->first, "services.api.port");
  EXPECT_EQ(kv->second, "9001");

  kv = ParseOverride("node_id=a=b");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->first, "node_id");
  EXPECT_EQ(kv->second, "a=b");

  kv = ParseOverride("node_id=");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->second, "");

  EXPECT_EQ(ParseOverride("node_id").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseOverride("=x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseOverride("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConfigTest, ProcessEnvironmentReadsEnviron) {
  ASSERT_EQ(::setenv("EDGEVAULT_CONFIG_TEST_VAR", "a=b c", 1), 0);
  std::vector<std::pair<std::string, std::string>> env = ProcessEnvironment();
  ::unsetenv("EDGEVAULT_CONFIG_TEST_VAR");
  auto it = std::find_if(env.begin(), env.end(),
                         [](const auto& kv) { return kv.first == "EDGEVAULT_CONFIG_TEST_VAR"; });
  ASSERT_NE(it, env.end());
  EXPECT_EQ(it->second, "a=b c");
}

TEST(ConfigTest, ProcessEnvironmentFeedsLoadConfig) {
  ASSERT_EQ(::setenv("EDGEVAULT_NODE_ID", "from-environ", 1), 0);
  ConfigSources src;
  src.env = ProcessEnvironment();
  ::unsetenv("EDGEVAULT_NODE_ID");
  absl::StatusOr<Config> cfg = LoadConfig(src);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->node_id, "from-environ");
}

// ---- audit.warehouse_url ------------------------------------------------------------

TEST(AuditWarehouseUrlTest, FileUrls) {
  for (std::string_view url : {"", "file:"}) {
    absl::StatusOr<AuditWarehouseUrl> u = ParseAuditWarehouseUrl(url);
    ASSERT_TRUE(u.ok()) << url << ": " << u.status();
    EXPECT_EQ(u->kind, AuditWarehouseUrl::Kind::kFile);
    EXPECT_EQ(u->dir, "");
  }
  absl::StatusOr<AuditWarehouseUrl> u = ParseAuditWarehouseUrl("file:///var/audit");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->dir, "/var/audit");
  EXPECT_FALSE(ParseAuditWarehouseUrl("file:relative").ok());
}

TEST(AuditWarehouseUrlTest, S3UrlsParseWithDefaults) {
  absl::StatusOr<AuditWarehouseUrl> u = ParseAuditWarehouseUrl("s3://audit-logs");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->kind, AuditWarehouseUrl::Kind::kS3);
  EXPECT_EQ(u->bucket, "audit-logs");
  EXPECT_EQ(u->prefix, "");
  EXPECT_EQ(u->region, "us-east-1");
  EXPECT_EQ(u->endpoint, "https://s3.us-east-1.amazonaws.com");
  EXPECT_FALSE(u->virtual_host_style);

  u = ParseAuditWarehouseUrl(
      "s3://audit/prod/eu/?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=eu-west-1&style=virtual"
      "&resolve=10.0.0.5");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->bucket, "audit");
  EXPECT_EQ(u->prefix, "prod/eu/");
  EXPECT_EQ(u->endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(u->region, "eu-west-1");
  EXPECT_TRUE(u->virtual_host_style);
  EXPECT_EQ(u->connect_address, "10.0.0.5");
  // An unencoded endpoint works too: the query is split on '&' only.
  u = ParseAuditWarehouseUrl("s3://audit/p?endpoint=http://127.0.0.1:9000&style=path");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(u->region, "us-east-1");
  EXPECT_EQ(u->ca_file, "");
  // S3 over https with a private CA.
  u = ParseAuditWarehouseUrl("s3://audit/p?endpoint=https://minio.internal:9000&ca_file=/etc/edgevault/s3-ca.pem");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->endpoint, "https://minio.internal:9000");
  EXPECT_EQ(u->ca_file, "/etc/edgevault/s3-ca.pem");
}

TEST(AuditWarehouseUrlTest, MalformedUrlsAreInvalidArgument) {
  for (std::string_view url :
       {"s3://", "s3://ab", "s3://Upper", "s3://b-/x", "s3://bucket/a//b", "s3://bucket/../x",
        "s3://bucket?style=sideways", "s3://bucket?endpoint=ftp://x", "s3://bucket?region=",
        "s3://bucket?color=red", "s3://bucket?region=EU", "gs://bucket", "/var/audit",
        "s3://bucket?ca_file=relative.pem", "s3://bucket?endpoint=http://h:9000&ca_file=/ca.pem"}) {
    absl::StatusOr<AuditWarehouseUrl> u = ParseAuditWarehouseUrl(url);
    EXPECT_EQ(u.status().code(), absl::StatusCode::kInvalidArgument) << url;
  }
}

// ---- kv.url -----------------------------------------------------------------------

TEST(EdgeKvUrlTest, EmptyAndLmdbMeanTheEmbeddedStore) {
  for (std::string_view url : {"", "lmdb:"}) {
    absl::StatusOr<EdgeKvUrl> u = ParseEdgeKvUrl(url);
    ASSERT_TRUE(u.ok()) << url << ": " << u.status();
    EXPECT_EQ(u->kind, EdgeKvUrl::Kind::kLmdb);
  }
}

TEST(EdgeKvUrlTest, RedisUrlsParseWithDefaults) {
  absl::StatusOr<EdgeKvUrl> u = ParseEdgeKvUrl("redis://cache.internal");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->kind, EdgeKvUrl::Kind::kRedis);
  EXPECT_EQ(u->host, "cache.internal");
  EXPECT_EQ(u->port, 6379);
  EXPECT_EQ(u->db, 0);
  EXPECT_EQ(u->username, "");
  EXPECT_EQ(u->password, "");

  u = ParseEdgeKvUrl("redis://:s%40cr%2Ft@127.0.0.1:6380/3");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->db, 3);
  EXPECT_EQ(u->username, "");
  EXPECT_EQ(u->password, "s@cr/t");

  u = ParseEdgeKvUrl("redis://edge:pw@[::1]:7000/");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 7000);
  EXPECT_EQ(u->db, 0);
  EXPECT_EQ(u->username, "edge");
  EXPECT_EQ(u->password, "pw");
}

TEST(EdgeKvUrlTest, MalformedUrlsAreInvalidArgumentWithoutThePassword) {
  for (std::string_view url :
       {"lmdb", "redis://", "redis://:6379", "redis://host:0", "redis://host:65536",
        "redis://host:", "redis://host:12x", "redis://host/db", "redis://host/-1",
        "redis://pw@host", "redis://:@host", "redis://:p%zz@host", "redis://ho st",
        "redis://[::1", "redis://[zz]:1", "redis://host?timeout=1", "redis://host?ca_file=/ca.pem",
        "rediss://host?ca_file=ca.pem", "rediss://host?cert_file=/c.pem", "rediss://host?key_file=/k.pem",
        "rediss://host?timeout=1", "rediss://host?server_name=bad%20name", "rediss://host?ca_file=",
        "rediss://host#x", "rediss://", "http://host:6379", "postgres://x"}) {
    absl::StatusOr<EdgeKvUrl> u = ParseEdgeKvUrl(url);
    EXPECT_EQ(u.status().code(), absl::StatusCode::kInvalidArgument) << url;
  }
  absl::StatusOr<EdgeKvUrl> u = ParseEdgeKvUrl("redis://:hunter2@host:99999");
  EXPECT_EQ(Msg(u.status()).find("hunter2"), std::string::npos) << u.status();
}

TEST(EdgeKvUrlTest, RedissIsTlsWithItsFilesAndServerName) {
  absl::StatusOr<EdgeKvUrl> u = ParseEdgeKvUrl("rediss://default:p%40ss@cache.internal:6380/2");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "cache.internal");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->password, "p@ss");
  EXPECT_EQ(u->db, 2);
  EXPECT_EQ(u->tls_ca_file, "");
  u = ParseEdgeKvUrl(
      "rediss://:pw@10.0.0.5?ca_file=/etc/ev/redis%20ca.pem&cert_file=/etc/ev/c.pem&key_file=/etc/ev/"
      "c.key&server_name=redis.internal");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "10.0.0.5");
  EXPECT_EQ(u->port, 6379);
  EXPECT_EQ(u->tls_ca_file, "/etc/ev/redis ca.pem");
  EXPECT_EQ(u->tls_cert_file, "/etc/ev/c.pem");
  EXPECT_EQ(u->tls_key_file, "/etc/ev/c.key");
  EXPECT_EQ(u->tls_server_name, "redis.internal");
  u = ParseEdgeKvUrl("redis://host");
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u->tls);
  ConfigSources src;
  src.overrides = {{"kv.url", "rediss://cache?ca_file=/ca.pem"}, {"rate_limit.url", "rediss://cache"}};
  EXPECT_TRUE(LoadConfig(src).ok());
}

TEST(ConfigTest, BadKvUrlNamesTheKeyAndHidesThePassword) {
  ConfigSources src;
  src.overrides = {{"kv.url", "redis://:hunter2@cache:notaport"}};
  absl::StatusOr<Config> cfg = LoadConfig(src);
  ASSERT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasSubstr(cfg.status(), "config key 'kv.url' (from --set)"));
  EXPECT_TRUE(HasSubstr(cfg.status(), "redis://***@cache:notaport"));
  EXPECT_EQ(Msg(cfg.status()).find("hunter2"), std::string::npos) << cfg.status();

  TempDir dir;
  cfg = LoadToml(dir, "[kv]\nurl = \"redis://:hunter2@\"\n");
  ASSERT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasSubstr(cfg.status(), "config key 'kv.url'"));
  EXPECT_EQ(Msg(cfg.status()).find("hunter2"), std::string::npos) << cfg.status();
}

TEST(ConfigTest, KvUrlComesFromTheEnvironment) {
  ConfigSources src;
  src.env = {{"EDGEVAULT_KV_URL", "redis://127.0.0.1:6390"}};
  absl::StatusOr<Config> cfg = LoadConfig(src);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->kv_url, "redis://127.0.0.1:6390");
  EXPECT_EQ(LoadConfig(ConfigSources{})->kv_url, "");
}

TEST(ConfigTest, RateLimitUrlIsEmptyOrRedisAndHidesThePassword) {
  EXPECT_EQ(LoadConfig(ConfigSources{})->rate_limit_url, "");
  ConfigSources src;
  src.env = {{"EDGEVAULT_RATE_LIMIT_URL", "redis://:pw@127.0.0.1:6390/1"}};
  absl::StatusOr<Config> cfg = LoadConfig(src);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->rate_limit_url, "redis://:pw@127.0.0.1:6390/1");
  // "lmdb:" is the edge KV's, not a place to count.
  for (const char* bad : {"lmdb:", "memory:", "redis://:hunter2@cache:notaport"}) {
    src.env = {{"EDGEVAULT_RATE_LIMIT_URL", bad}};
    cfg = LoadConfig(src);
    ASSERT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(HasSubstr(cfg.status(), "config key 'rate_limit.url'")) << cfg.status();
    EXPECT_EQ(Msg(cfg.status()).find("hunter2"), std::string::npos) << cfg.status();
  }
}

// ---- auth.control_db_url --------------------------------------------------------

TEST(ConfigTest, ControlDbUrlIsSqliteByDefaultOrAPostgresUrlFromTheEnvironment) {
  EXPECT_EQ(LoadConfig(ConfigSources{})->auth_settings.control_db_url, "");
  for (std::string_view url : {"sqlite:", "postgresql://u:p@h/db", "postgres://h"}) {
    ConfigSources src;
    src.env = {{"EDGEVAULT_AUTH_CONTROL_DB_URL", std::string(url)}};
    absl::StatusOr<Config> cfg = LoadConfig(src);
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    EXPECT_EQ(cfg->auth_settings.control_db_url, url);
  }
}

TEST(ConfigTest, BadControlDbUrlNamesTheKeyAndHidesThePassword) {
  for (std::string_view url : {"mysql://root:hunter2@db/x", "postgres://", "sqlite:/x.db",
                               "postgres://u:hunter2@db/x y", "redis://:hunter2@h"}) {
    ConfigSources src;
    src.overrides = {{"auth.control_db_url", std::string(url)}};
    absl::StatusOr<Config> cfg = LoadConfig(src);
    ASSERT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument) << url;
    EXPECT_TRUE(HasSubstr(cfg.status(), "config key 'auth.control_db_url' (from --set)"));
    EXPECT_EQ(Msg(cfg.status()).find("hunter2"), std::string::npos) << cfg.status();
  }
}

// ---- api.workspace_db_url ------------------------------------------------------------

TEST(ConfigTest, WorkspaceDbUrlIsSqliteOrPostgres) {
  EXPECT_EQ(LoadConfig(ConfigSources{})->api_settings.workspace_db_url, "");
  EXPECT_EQ(LoadConfig(ConfigSources{})->audit_queue_url, "");
  for (std::string_view url : {"", "sqlite:", "postgres://h/db", "postgresql://u:p@h:5433/db?sslmode=require"}) {
    ConfigSources src;
    src.overrides = {{"api.workspace_db_url", std::string(url)}, {"audit.queue_url", std::string(url)}};
    absl::StatusOr<Config> cfg = LoadConfig(src);
    ASSERT_TRUE(cfg.ok()) << url << ": " << cfg.status();
    EXPECT_EQ(cfg->api_settings.workspace_db_url, url);
    EXPECT_EQ(cfg->audit_queue_url, url);
  }
  ConfigSources env;
  env.env = {{"EDGEVAULT_API_WORKSPACE_DB_URL", "postgres://ev@10.0.0.9/ev"},
             {"EDGEVAULT_AUDIT_QUEUE_URL", "postgres://ev@10.0.0.8/ev"}};
  absl::StatusOr<Config> cfg = LoadConfig(env);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->api_settings.workspace_db_url, "postgres://ev@10.0.0.9/ev");
  EXPECT_EQ(cfg->audit_queue_url, "postgres://ev@10.0.0.8/ev");
}

TEST(ConfigTest, BadWorkspaceDbUrlNamesTheKeyAndHidesThePassword) {
  for (std::string key : {"api.workspace_db_url", "audit.queue_url"}) {
    for (std::string_view url : {"sqlite", "mysql://u:hunter2@h/db", "postgres://", "postgres://u:hunter2@h /db",
                                 "redis://u:hunter2@h"}) {
      ConfigSources src;
      src.overrides = {{key, std::string(url)}};
      absl::StatusOr<Config> cfg = LoadConfig(src);
      ASSERT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument) << url;
      EXPECT_TRUE(HasSubstr(cfg.status(), "config key '" + key + "' (from --set)")) << cfg.status();
      EXPECT_EQ(Msg(cfg.status()).find("hunter2"), std::string::npos) << cfg.status();
    }
  }
}

// ---- PostgreSQL pool sizes ------------------------------------------------------------

TEST(ConfigTest, PostgresPoolSizesDefaultTo8AndAre1To1000) {
  absl::StatusOr<Config> defaults = LoadConfig(ConfigSources{});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->auth_settings.control_db_pool_size, 8);
  EXPECT_EQ(defaults->api_settings.workspace_db_pool_size, 8);
  ConfigSources src;
  src.overrides = {{"auth.control_db_pool_size", "1"}, {"api.workspace_db_pool_size", "1000"}};
  absl::StatusOr<Config> cfg = LoadConfig(src);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->auth_settings.control_db_pool_size, 1);
  EXPECT_EQ(cfg->api_settings.workspace_db_pool_size, 1000);
  for (std::string key : {"auth.control_db_pool_size", "api.workspace_db_pool_size"}) {
    for (std::string bad : {"0", "-1", "1001", "many"}) {
      ConfigSources b;
      b.overrides = {{key, bad}};
      absl::StatusOr<Config> refused = LoadConfig(b);
      ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << key << "=" << bad;
      EXPECT_TRUE(HasSubstr(refused.status(), "config key '" + key + "'")) << refused.status();
    }
  }
}

}  // namespace
}  // namespace edgevault::base
