#include "cli/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>

#include "src/base/strings.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "src/base/config.h"
#include "src/crypto/jwt_keys.h"
#include "src/crypto/keygen.h"
#include "src/audit/correlation_key.h"
#include "src/net/signing.h"

namespace edgevault::cli {

DataDirLayout DataDirLayout::For(const std::string& dir) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(dir, ec).lexically_normal();
  std::string root = p.string();
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  DataDirLayout l;
  l.root = root;
  l.config_file = root + "/edgevault.toml";
  l.keys_dir = root + "/keys";
  l.run_dir = root + "/run";
  l.lock_file = root + "/edgevault.lock";
  return l;
}

namespace {

// NotFound (with `missing_hint`) when `path` is absent; PermissionDenied naming the chmod
// when its mode has any bit of `forbidden`.
absl::Status CheckMode(base::Env* env, const std::string& path, uint32_t forbidden,
                       std::string_view chmod, std::string_view missing_hint) {
  absl::StatusOr<uint32_t> mode = env->FileMode(path);
  if (!mode.ok()) {
    return absl::NotFoundError(
        base::StrCat(path, " is missing (", mode.status().message(), "); ", missing_hint));
  }
  if ((*mode & forbidden) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "%s is %s by group or others (mode %04o); run: chmod %s %s", path,
        forbidden == 022 ? "writable" : "accessible", *mode, chmod, path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> EnsureServiceCredentials(base::Env* env,
                                                                  const std::string& keys_dir,
                                                                  const std::string& trust_dir) {
  std::vector<std::string> created;
  EV_RETURN_IF_ERROR(env->CreateDirs(base::StrCat(keys_dir, "/services"), 0700));
  EV_RETURN_IF_ERROR(env->CreateDirs(trust_dir, 0755));
  for (std::string_view name : base::kServiceNames) {
    const std::string path = net::ServiceCredentialPath(keys_dir, name);
    if (!env->Exists(path)) {
      EV_ASSIGN_OR_RETURN(std::string pem, crypto::GenerateEd25519PrivateKeyPem());
      absl::Status st = env->WriteFileAtomically(path, pem, 0600);
      std::fill(pem.begin(), pem.end(), '\0');
      EV_RETURN_IF_ERROR(st);
      created.emplace_back(name);
    }
    EV_ASSIGN_OR_RETURN(net::ServiceCredential credential, net::ServiceCredential::Load(env, path, name));
    EV_ASSIGN_OR_RETURN(std::string public_pem, credential.PublicKeyPem());
    const std::string pub_path = net::TrustedKeyPath(trust_dir, name);
    absl::StatusOr<std::string> published = env->Exists(pub_path) ? env->ReadFile(pub_path) : std::string();
    if (!published.ok() || *published != public_pem) {
      EV_RETURN_IF_ERROR(env->WriteFileAtomically(pub_path, public_pem, 0644));
    }
  }
  // A file found in place may come from an earlier run that crashed, or failed, before its
  // directory fsync: make every name durable before a service relies on it.
  EV_RETURN_IF_ERROR(env->SyncDir(base::StrCat(keys_dir, "/services")));
  EV_RETURN_IF_ERROR(env->SyncDir(trust_dir));
  return created;
}

absl::StatusOr<bool> MigrateLegacyInternalKey(base::Env* env, const std::string& keys_dir) {
  const std::string legacy = base::StrCat(keys_dir, "/", kLegacyInternalKeyFile);
  if (!env->Exists(legacy)) return false;
  EV_RETURN_IF_ERROR(audit::LoadOrCreateCorrelationKey(env, keys_dir).status());
  EV_RETURN_IF_ERROR(env->DeleteFile(legacy));
  return true;
}

absl::StatusOr<bool> InitDataDir(base::Env* env, const DataDirLayout& layout, int port_base) {
  EV_RETURN_IF_ERROR(env->CreateDirs(layout.root, 0700));
  EV_RETURN_IF_ERROR(env->CreateDirs(layout.run_dir, 0700));
  if (env->Exists(layout.config_file)) {
    // Possibly from a run whose last directory fsync failed: make the mark durable.
    EV_RETURN_IF_ERROR(env->SyncDir(layout.root));
    return false;
  }

  EV_RETURN_IF_ERROR(env->CreateDirs(layout.keys_dir, 0700));
  for (const char* name : kInitialKeyFiles) {
    std::string path = base::StrCat(layout.keys_dir, "/", name);
    if (env->Exists(path)) {
      // A half-finished earlier initialisation: never overwrite key material.
      continue;
    }
    std::string text = crypto::GenerateSymmetricKeyFile(env);
    absl::Status st = env->WriteFileAtomically(path, text, 0600);
    std::fill(text.begin(), text.end(), '\0');
    EV_RETURN_IF_ERROR(st);
  }
  EV_RETURN_IF_ERROR(
      EnsureServiceCredentials(env, layout.keys_dir, base::StrCat(layout.root, "/trust")).status());
  const std::string jwt_dir = base::StrCat(layout.keys_dir, "/", kJwtSigningDir);
  EV_RETURN_IF_ERROR(env->CreateDirs(jwt_dir, 0700));
  absl::Status loaded = crypto::LoadSigningKeys(env, jwt_dir, env->Now(),
                                                crypto::kDefaultSigningKeyRetireAfter)
                            .status();
  if (loaded.code() == absl::StatusCode::kNotFound) {
    EV_RETURN_IF_ERROR(crypto::AddSigningKey(env, jwt_dir).status());
  }
  // Key files kept from a half-finished earlier initialisation may not be durable yet
  // (docs/design/durability.md): the configuration file must not outlive them.
  EV_RETURN_IF_ERROR(env->SyncDir(layout.keys_dir));
  EV_RETURN_IF_ERROR(env->SyncDir(jwt_dir));
  // The configuration file goes last: its presence marks a finished initialisation.
  EV_RETURN_IF_ERROR(env->WriteFileAtomically(layout.config_file,
                                              base::DefaultConfigToml(port_base), 0600));
  return true;
}

absl::Status CheckKeyFiles(base::Env* env, const std::string& keys_dir, const std::string& trust_dir) {
  absl::StatusOr<uint32_t> dir_mode = env->FileMode(keys_dir);
  if (!dir_mode.ok()) {
    return absl::NotFoundError(base::StrCat("keys directory ", keys_dir,
                                            " is missing: ", dir_mode.status().message()));
  }
  if ((*dir_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "keys directory %s is accessible by group or others (mode %04o); run: chmod 700 %s",
        keys_dir, *dir_mode, keys_dir));
  }
  const std::string services_dir = base::StrCat(keys_dir, "/services");
  EV_RETURN_IF_ERROR(CheckMode(env, services_dir, 077, "700",
                               "run `edgevault up` once to create the services' credentials"));
  for (std::string_view name : base::kServiceNames) {
    EV_RETURN_IF_ERROR(CheckMode(env, net::ServiceCredentialPath(keys_dir, name), 077, "600",
                                 "restore it from your backup, or delete it and run `edgevault "
                                 "up` to make a new one"));
    EV_RETURN_IF_ERROR(CheckMode(env, net::TrustedKeyPath(trust_dir, name), 022, "644",
                                 "run `edgevault up` to publish it again"));
  }
  EV_RETURN_IF_ERROR(net::ServiceTrust::LoadDir(env, trust_dir).status());
  const std::string jwt_dir = base::StrCat(keys_dir, "/", kJwtSigningDir);
  absl::StatusOr<uint32_t> jwt_mode = env->FileMode(jwt_dir);
  if (!jwt_mode.ok()) {
    return absl::NotFoundError(base::StrCat(
        "JWT signing key directory ", jwt_dir, " is missing (", jwt_mode.status().message(),
        "); restore it from your backup or run `edgevault keys rotate-signing`"));
  }
  if ((*jwt_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "JWT signing key directory %s is accessible by group or others (mode %04o); run: "
        "chmod 700 %s",
        jwt_dir, *jwt_mode, jwt_dir));
  }
  return crypto::LoadSigningKeys(env, jwt_dir, env->Now(), crypto::kDefaultSigningKeyRetireAfter)
      .status();
}

absl::StatusOr<std::unique_ptr<DataDirLock>> DataDirLock::Acquire(const DataDirLayout& layout) {
  int fd = ::open(layout.lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return base::ErrnoStatus("open", layout.lock_file, errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[32] = {0};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    if (err == EWOULDBLOCK) {
      std::string pid = n > 0 ? std::string(absl::StripAsciiWhitespace(buf)) : "unknown";
      return absl::FailedPreconditionError(base::StrCat(
          "another `edgevault up` (pid ", pid, ") is already running on ", layout.root,
          "; stop it first or use another --data-dir"));
    }
    return base::ErrnoStatus("flock", layout.lock_file, err);
  }
  std::string pid = base::StrCat(::getpid(), "\n");
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    int err = errno;
    ::close(fd);
    return base::ErrnoStatus("write", layout.lock_file, err);
  }
  return std::unique_ptr<DataDirLock>(new DataDirLock(fd));
}

DataDirLock::~DataDirLock() {
  if (::ftruncate(fd_, 0) != 0) {
    // Nothing to do: the lock itself is released by close() below either way.
  }
  ::close(fd_);
}

absl::StatusOr<base::Config> LoadDataDirConfig(base::Env* env, const DataDirLayout& layout) {
  if (!env->Exists(layout.config_file)) {
    return absl::FailedPreconditionError(base::StrCat(
        layout.config_file, " does not exist; run `edgevault up --data-dir ", layout.root,
        "` once first"));
  }
  base::ConfigSources sources;
  sources.file = layout.config_file;
  sources.env = base::ProcessEnvironment();
  return base::LoadConfig(sources);
}

}  // namespace edgevault::cli
