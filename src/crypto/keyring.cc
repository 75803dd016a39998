#include "src/crypto/keyring.h"

#include <openssl/crypto.h>

#include <charconv>

#include "src/base/strings.h"

namespace edgevault::crypto {
namespace {

constexpr std::string_view kMasterKeyFile = "master.key";
constexpr std::string_view kActiveFile = "master.active";
constexpr std::string_view kKeyFilePrefix = "master-";
constexpr std::string_view kKeyFileSuffix = ".key";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "0644" for mode 0644.
std::string OctalMode(uint32_t mode) {
  char buf[12];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, mode, 8);
  std::string digits(buf, end);
  return std::string(digits.size() < 4 ? 4 - digits.size() : 0, '0') + digits;
}

// Keeps the message of an Env error but says which file it was about.
absl::Status Annotate(const absl::Status& s, std::string_view what) {
  return absl::Status(s.code(), base::StrCat(what, ": ", base::ToStd(s.message())));
}

absl::Status CheckPrivate(base::Env* env, const std::string& path, std::string_view what,
                          std::string_view chmod) {
  absl::StatusOr<uint32_t> mode = env->FileMode(path);
  if (!mode.ok()) return Annotate(mode.status(), what);
  if ((*mode & 077) != 0) {
    return absl::PermissionDeniedError(
        base::StrCat(what, " ", path, " has mode ", OctalMode(*mode),
                     ", which lets group or others access it; run `chmod ", chmod, " ", path,
                     "`"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SecureBuffer> LoadKeyFile(base::Env* env, const std::string& path) {
  EV_RETURN_IF_ERROR(CheckPrivate(env, path, "master key file", "600"));
  absl::StatusOr<std::string> text = env->ReadFile(path);
  if (!text.ok()) return Annotate(text.status(), "master key file");
  absl::StatusOr<SecureBuffer> key = ParseMasterKey(*text);
  OPENSSL_cleanse(text->data(), text->size());
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        base::StrCat("master key file ", path, ": ", base::ToStd(key.status().message())));
  }
  return key;
}

std::string JoinIds(const std::vector<std::string>& ids) {
  std::string out;
  for (const std::string& id : ids) base::StrAppend(&out, out.empty() ? "" : ", ", id);
  return out;
}

absl::StatusOr<Keyring> LoadDirectory(base::Env* env, const std::string& dir) {
  EV_RETURN_IF_ERROR(CheckPrivate(env, dir, "keys directory", "700"));
  absl::StatusOr<std::vector<std::string>> names = env->ListDir(dir);
  if (!names.ok()) return Annotate(names.status(), "keys directory");

  Keyring keyring;
  std::map<std::string, std::string> file_of_id;
  for (const std::string& name : *names) {
    std::string id;
    if (name == kMasterKeyFile) {
      id = std::string(kDefaultMasterKeyId);
    } else if (name.size() > kKeyFilePrefix.size() + kKeyFileSuffix.size() &&
               name.starts_with(kKeyFilePrefix) && name.ends_with(kKeyFileSuffix)) {
      id = name.substr(kKeyFilePrefix.size(),
                       name.size() - kKeyFilePrefix.size() - kKeyFileSuffix.size());
      if (!IsValidMasterKeyId(id)) {
        return absl::InvalidArgumentError(base::StrCat(
            "master key file ", dir, "/", name,
            ": the id between \"master-\" and \".key\" must be 1 to 8 characters of "
            "a-z, 0-9, '_' or '-'; rename the file"));
      }
    } else {
      continue;  // internal.key, jwt-signing/, ...
    }
    std::string path = base::StrCat(dir, "/", name);
    auto [it, inserted] = file_of_id.emplace(id, name);
    if (!inserted) {
      return absl::InvalidArgumentError(base::StrCat("master key id ", id, " is defined twice in ",
                                                     dir, ": by ", it->second, " and by ", name,
                                                     "; remove one of them"));
    }
    EV_ASSIGN_OR_RETURN(SecureBuffer key, LoadKeyFile(env, path));
    EV_RETURN_IF_ERROR(keyring.Add(id, std::move(key)));
  }
  if (keyring.empty()) {
    return absl::NotFoundError(base::StrCat(
        "no master key in ", dir, " (want master.key or master-<id>.key); `edgevault up` "
        "creates master.key on first run"));
  }

  std::string active_path = base::StrCat(dir, "/", kActiveFile);
  if (env->Exists(active_path)) {
    EV_RETURN_IF_ERROR(CheckPrivate(env, active_path, "active master key file", "600"));
    absl::StatusOr<std::string> text = env->ReadFile(active_path);
    if (!text.ok()) return Annotate(text.status(), "active master key file");
    std::string_view id = *text;
    while (!id.empty() && (id.back() == '\n' || id.back() == '\r' || id.back() == ' ')) {
      id.remove_suffix(1);
    }
    if (!IsValidMasterKeyId(id)) {
      return absl::InvalidArgumentError(
          base::StrCat(active_path, " must hold one key id (1 to 8 characters of a-z, 0-9, "
                                    "'_' or '-') and a newline"));
    }
    if (!keyring.Contains(id)) {
      return absl::FailedPreconditionError(base::StrCat(
          active_path, " names master key ", id, ", but neither ", dir, "/master-", id,
          ".key", id == kDefaultMasterKeyId ? " nor master.key" : "",
          " exists; loaded: ", JoinIds(keyring.ids())));
    }
    EV_RETURN_IF_ERROR(keyring.SetActive(id));
  } else if (keyring.ids().size() > 1) {
    return absl::FailedPreconditionError(base::StrCat(
        dir, " holds several master keys (", JoinIds(keyring.ids()), ") and no ", kActiveFile,
        "; write the id new secrets should be sealed under into ", active_path));
  }
  return keyring;
}

}  // namespace

bool IsValidMasterKeyId(std::string_view id) {
  if (id.empty() || id.size() > kMaxMasterKeyIdSize) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

absl::StatusOr<SecureBuffer> ParseMasterKey(std::string_view text) {
  std::string_view hex = text;
  if (!hex.empty() && hex.back() == '\n') hex.remove_suffix(1);
  SecureBuffer key(kMasterKeySize);
  bool ok = hex.size() == 2 * kMasterKeySize;
  for (size_t i = 0; ok && i < kMasterKeySize; ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) ok = false;
    else key.bytes()[i] = static_cast<unsigned char>((hi << 4) | lo);
  }
  if (!ok) {
    // Never echo the text: it may be a nearly-right key.
    return absl::InvalidArgumentError(base::StrCat(
        "want exactly ", 2 * kMasterKeySize,
        " hex characters (256 bits) and an optional trailing newline; got ", text.size(),
        " bytes that do not match (generate one with `openssl rand -hex 32`)"));
  }
  return key;
}

absl::Status Keyring::Add(std::string_view id, SecureBuffer key) {
  if (!IsValidMasterKeyId(id)) {
    return absl::InvalidArgumentError(
        "master key id must be 1 to 8 characters of a-z, 0-9, '_' or '-'");
  }
  if (key.size() != kMasterKeySize) {
    return absl::InvalidArgumentError(base::StrCat("master key ", id, " must be ",
                                                   kMasterKeySize, " bytes, got ", key.size()));
  }
  auto [it, inserted] = keys_.emplace(std::string(id), std::move(key));
  if (!inserted) {
    return absl::AlreadyExistsError(base::StrCat("master key ", id, " is already loaded"));
  }
  if (active_id_.empty()) active_id_ = std::string(id);
  return absl::OkStatus();
}

absl::Status Keyring::SetActive(std::string_view id) {
  if (!Contains(id)) {
    return absl::NotFoundError(base::StrCat("master key ", id, " is not loaded"));
  }
  active_id_ = std::string(id);
  return absl::OkStatus();
}

absl::Status Keyring::Remove(std::string_view id) {
  auto it = keys_.find(id);
  if (it == keys_.end()) {
    return absl::NotFoundError(base::StrCat("master key ", id, " is not loaded"));
  }
  if (id == active_id_) {
    return absl::FailedPreconditionError(base::StrCat(
        "master key ", id, " is the active key; activate another one before removing it"));
  }
  keys_.erase(it);
  return absl::OkStatus();
}

std::vector<std::string> Keyring::ids() const {
  std::vector<std::string> out;
  out.reserve(keys_.size());
  for (const auto& [id, key] : keys_) out.push_back(id);
  return out;
}

const SecureBuffer* Keyring::Find(std::string_view id) const {
  auto it = keys_.find(id);
  return it == keys_.end() ? nullptr : &it->second;
}

KeyringSource KeyringSource::Directory(std::string dir) {
  KeyringSource s;
  s.kind = Kind::kDirectory;
  s.location = std::move(dir);
  return s;
}

KeyringSource KeyringSource::File(std::string path, std::string key_id) {
  KeyringSource s;
  s.kind = Kind::kFile;
  s.location = std::move(path);
  s.key_id = std::move(key_id);
  return s;
}

KeyringSource KeyringSource::EnvironmentVariable(
    std::string name, std::vector<std::pair<std::string, std::string>> environment,
    std::string key_id) {
  KeyringSource s;
  s.kind = Kind::kEnvironmentVariable;
  s.location = std::move(name);
  s.environment = std::move(environment);
  s.key_id = std::move(key_id);
  return s;
}

absl::StatusOr<Keyring> LoadKeyring(base::Env* env, const KeyringSource& source) {
  switch (source.kind) {
    case KeyringSource::Kind::kDirectory:
      return LoadDirectory(env, source.location);
    case KeyringSource::Kind::kFile: {
      if (!IsValidMasterKeyId(source.key_id)) {
        return absl::InvalidArgumentError(
            "master key id must be 1 to 8 characters of a-z, 0-9, '_' or '-'");
      }
      EV_ASSIGN_OR_RETURN(SecureBuffer key, LoadKeyFile(env, source.location));
      Keyring keyring;
      EV_RETURN_IF_ERROR(keyring.Add(source.key_id, std::move(key)));
      return keyring;
    }
    case KeyringSource::Kind::kEnvironmentVariable: {
      if (!IsValidMasterKeyId(source.key_id)) {
        return absl::InvalidArgumentError(
            "master key id must be 1 to 8 characters of a-z, 0-9, '_' or '-'");
      }
      const std::string* value = nullptr;
      for (const auto& [name, v] : source.environment) {
        if (name == source.location) value = &v;
      }
      if (value == nullptr) {
        return absl::NotFoundError(base::StrCat("environment variable ", source.location,
                                                " (the master key) is not set"));
      }
      absl::StatusOr<SecureBuffer> key = ParseMasterKey(*value);
      if (!key.ok()) {
        return absl::InvalidArgumentError(base::StrCat("environment variable ", source.location,
                                                       ": ", base::ToStd(key.status().message())));
      }
      Keyring keyring;
      EV_RETURN_IF_ERROR(keyring.Add(source.key_id, *std::move(key)));
      return keyring;
    }
  }
  return absl::InvalidArgumentError("unknown keyring source kind");
}

KeyringSource MasterKeySource(const base::Config& config) {
  if (!config.master_key_env.empty()) {
    return KeyringSource::EnvironmentVariable(config.master_key_env, base::ProcessEnvironment());
  }
  if (!config.master_key_file.empty()) return KeyringSource::File(config.master_key_file);
  return KeyringSource::Directory(config.keys_dir);
}

KeyringHolder::KeyringHolder(Keyring keyring)
    : current_(std::make_shared<const Keyring>(std::move(keyring))) {}

KeyringHolder::KeyringHolder(base::Env* env, KeyringSource source, Keyring keyring)
    : env_(env),
      source_(std::move(source)),
      current_(std::make_shared<const Keyring>(std::move(keyring))) {}

absl::StatusOr<std::unique_ptr<KeyringHolder>> KeyringHolder::Load(base::Env* env,
                                                                   KeyringSource source) {
  EV_ASSIGN_OR_RETURN(Keyring keyring, LoadKeyring(env, source));
  return std::unique_ptr<KeyringHolder>(
      new KeyringHolder(env, std::move(source), std::move(keyring)));
}

std::shared_ptr<const Keyring> KeyringHolder::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

absl::Status KeyringHolder::Reload() {
  if (env_ == nullptr) return absl::OkStatus();
  EV_ASSIGN_OR_RETURN(Keyring keyring, LoadKeyring(env_, source_));
  auto fresh = std::make_shared<const Keyring>(std::move(keyring));
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::move(fresh);
  return absl::OkStatus();
}

}  // namespace edgevault::crypto
