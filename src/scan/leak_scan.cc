#include "src/scan/leak_scan.h"

#include <re2/re2.h>

#include "src/base/json_patch.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <set>
#include <utility>

namespace edgevault::scan {

namespace json = boost::json;

namespace {

constexpr int kMaxDepth = 64;

// The kinds found by a pattern, in report order. RE2 syntax (no lookaround): each pattern
// is searched unanchored in the string.
struct PatternSpec {
  std::string_view kind;
  std::string_view description;
  std::string_view pattern;
};
constexpr PatternSpec kPatterns[] = {
    {"private_key", "private key (PEM block)", R"(-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)"},
    {"gcp_service_account_key", "Google Cloud service-account key (JSON)",
     R"("type"\s*:\s*"service_account"[\s\S]*"private_key"|"private_key"[\s\S]*"type"\s*:\s*"service_account")"},
    {"aws_access_key_id", "AWS access key ID", R"(\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b)"},
    {"aws_secret_access_key", "AWS secret access key",
     R"((?i)aws.{0,24}secret.{0,24}?[=:"'\s]+[A-Za-z0-9/+]{40}\b)"},
    {"azure_storage_connection_string", "Azure storage connection string",
     R"((?i)(?:AccountKey|SharedAccessKey)=[A-Za-z0-9+/]{40,}={0,2})"},
    {"github_token", "GitHub token", R"(\bgh[pousr]_[A-Za-z0-9]{36,255}\b|\bgithub_pat_[A-Za-z0-9_]{60,255}\b)"},
    {"gitlab_token", "GitLab token", R"(\bgl(?:pat|dt|rt|ptt|cbt|oas)-[A-Za-z0-9_\-]{20,}\b)"},
    {"slack_token", "Slack token", R"(\bxox[abposr]-[A-Za-z0-9-]{10,}\b)"},
    {"slack_webhook", "Slack incoming-webhook URL",
     R"(https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9]+/[A-Za-z0-9]+/[A-Za-z0-9]+)"},
    {"stripe_secret_key", "Stripe secret or restricted key", R"(\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}\b)"},
    {"jwt", "JSON Web Token", R"(\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)"},
};
// Found by code around a pattern (the password of a URL must not be a placeholder).
constexpr std::string_view kUrlWithPassword = "url_with_password";
constexpr std::string_view kUrlPattern = R"(\b[a-zA-Z][a-zA-Z0-9+.\-]{1,30}://[^\s:/?#@"']*:([^\s/?#@"']+)@[^\s/?#@"']+)";
constexpr std::string_view kHighEntropy = "high_entropy_secret";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool Contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

}  // namespace

struct LeakScanner::Patterns {
  std::vector<std::pair<std::string_view, std::unique_ptr<re2::RE2>>> kinds;
  std::unique_ptr<re2::RE2> url;
};

const std::vector<LeakKind>& LeakKinds() {
  static const std::vector<LeakKind>* const kAll = [] {
    auto* all = new std::vector<LeakKind>;
    for (const PatternSpec& p : kPatterns) all->push_back({p.kind, p.description});
    all->push_back({kUrlWithPassword, "URL with a password"});
    all->push_back({kHighEntropy, "high-entropy value under a secret-like name"});
    return all;
  }();
  return *kAll;
}

double ShannonEntropy(std::string_view s) {
  if (s.empty()) return 0;
  std::array<size_t, 256> counts{};
  for (char c : s) ++counts[static_cast<unsigned char>(c)];
  double bits = 0;
  const double n = static_cast<double>(s.size());
  for (size_t count : counts) {
    if (count == 0) continue;
    double p = static_cast<double>(count) / n;
    bits -= p * std::log2(p);
  }
  return bits;
}

bool IsSecretName(std::string_view name) {
  if (name.empty()) return false;
  std::string n = Lower(name);
  for (char& c : n) {
    if (c == '-' || c == '.' || c == ' ') c = '_';
  }
  // Names that merely mention a key or token without holding one.
  for (std::string_view benign : {"public_key", "publickey", "cache_key", "sort_key", "partition_key",
                                  "primary_key", "foreign_key", "idempotency_key", "key_id", "keyid",
                                  "token_url", "token_endpoint", "password_policy", "secret_name",
                                  "secret_ref", "max_tokens", "publishable"}) {
    if (Contains(n, benign)) return false;
  }
  // Names of where a secret is, not of the secret itself.
  for (std::string_view suffix : {"_path", "_file", "_name", "_ref", "_url", "_id", "_arn", "_hint"}) {
    if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) return false;
  }
  for (std::string_view word : {"password", "passwd", "passphrase", "pwd", "secret", "token", "credential",
                                "apikey", "api_key", "private_key", "privatekey", "access_key", "accesskey",
                                "auth_key", "signing_key", "encryption_key", "master_key", "license_key",
                                "connection_string", "conn_str", "dsn"}) {
    if (Contains(n, word)) return true;
  }
  return n.size() > 4 && n.compare(n.size() - 4, 4, "_key") == 0;
}

bool IsPlaceholder(std::string_view value) {
  std::string v = Lower(value);
  if (v.empty()) return true;
  // Templates and references to something stored elsewhere.
  for (std::string_view marker : {"${", "{{", "}}", "%(", "$(", "<%"}) {
    if (Contains(v, marker)) return true;
  }
  for (std::string_view prefix : {"arn:", "vault:", "secret://", "op://", "env:", "file:"}) {
    if (v.rfind(prefix, 0) == 0) return true;
  }
  if (v.front() == '<' && v.back() == '>') return true;
  if (v.front() == '$' && v.size() > 1) return true;  // $VAR
  for (std::string_view word : {"example", "changeme", "change_me", "change-me", "placeholder", "your_", "your-",
                                "yourpassword", "xxxx", "****", "....", "redacted", "dummy", "sample",
                                "todo", "fixme", "replace", "notreal", "not-a-real", "fake", "test123",
                                "password", "secret", "undefined", "null", "none"}) {
    if (Contains(v, word)) return true;
  }
  std::set<char> distinct(v.begin(), v.end());
  return distinct.size() <= 3;
}

namespace {

// The entropy heuristic: a long, varied, random-looking string under a secret-like name.
bool LooksLikeSecretValue(std::string_view value) {
  if (value.size() < kMinSecretLength || value.size() > 4096) return false;
  for (char c : value) {
    if (std::isspace(static_cast<unsigned char>(c))) return false;  // prose, not a credential
  }
  if (Contains(value, "://")) return false;  // URLs: only a password inside one counts
  if (value.front() == '/' || value.rfind("./", 0) == 0 || value.rfind("~/", 0) == 0) return false;  // a path
  if (IsPlaceholder(value)) return false;
  int classes = 0;
  bool lower = false, upper = false, digit = false, other = false;
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    lower = lower || std::islower(u);
    upper = upper || std::isupper(u);
    digit = digit || std::isdigit(u);
    other = other || (!std::isalnum(u) && c != '-' && c != '_' && c != '.' && c != '/' && c != ':');
  }
  classes = lower + upper + digit + other;
  if (classes < 2) return false;
  return ShannonEntropy(value) >= kMinEntropyBits;
}

}  // namespace

LeakScanner::LeakScanner() : patterns_(std::make_unique<Patterns>()) {
  RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(8 << 20);
  for (const PatternSpec& p : kPatterns) {
    patterns_->kinds.emplace_back(p.kind, std::make_unique<re2::RE2>(
                                              re2::StringPiece(p.pattern.data(), p.pattern.size()), options));
  }
  patterns_->url = std::make_unique<re2::RE2>(re2::StringPiece(kUrlPattern.data(), kUrlPattern.size()), options);
}

LeakScanner::~LeakScanner() = default;

const LeakScanner& LeakScanner::Get() {
  static const LeakScanner* const kScanner = new LeakScanner();
  return *kScanner;
}

std::vector<std::string_view> LeakScanner::ScanString(std::string_view value, std::string_view name) const {
  std::vector<std::string_view> kinds;
  if (value.size() > kMaxScannedBytes) value = value.substr(0, kMaxScannedBytes);
  re2::StringPiece text(value.data(), value.size());
  for (const auto& [kind, re] : patterns_->kinds) {
    if (re->ok() && re2::RE2::PartialMatch(text, *re)) kinds.push_back(kind);
  }
  // A URL with a password: the password must be a real one, not "${DB_PASSWORD}".
  re2::StringPiece rest = text;
  std::string password;
  while (patterns_->url->ok() && re2::RE2::FindAndConsume(&rest, *patterns_->url, &password)) {
    if (!IsPlaceholder(password)) {
      kinds.push_back(kUrlWithPassword);
      break;
    }
  }
  // AWS secret access key stored under its own name (the pattern above needs the name in
  // the string): 40 characters of base64 under a name saying aws + secret.
  std::string lname = Lower(name);
  if (kinds.empty() && value.size() == 40 && Contains(lname, "secret") &&
      (Contains(lname, "aws") || Contains(lname, "access")) &&
      std::all_of(value.begin(), value.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '+';
      })) {
    kinds.push_back("aws_secret_access_key");
  }
  if (kinds.empty() && IsSecretName(name) && LooksLikeSecretValue(value)) kinds.push_back(kHighEntropy);
  return kinds;
}

void AppendPointerToken(std::string& pointer, std::string_view token) {
  pointer += base::JsonPointer({std::string(token)});
}

namespace {
std::string_view DescriptionOf(std::string_view kind) {
  for (const LeakKind& k : LeakKinds()) {
    if (k.kind == kind) return k.description;
  }
  return kind;
}
}  // namespace

void LeakScanner::Walk(const json::value& v, std::string& pointer, std::string_view name, int depth,
                       std::vector<LeakFinding>& out) const {
  if (depth > kMaxDepth) return;
  if (const json::string* s = v.if_string()) {
    for (std::string_view kind : ScanString(*s, name)) {
      out.push_back({pointer, std::string(kind), std::string(DescriptionOf(kind))});
    }
    return;
  }
  size_t mark = pointer.size();
  if (const json::object* o = v.if_object()) {
    // A service-account key as JSON (not as a string): {"type": "service_account", "private_key": ...}.
    const json::value* type = o->if_contains("type");
    const json::value* key = o->if_contains("private_key");
    if (type != nullptr && type->is_string() && type->get_string() == "service_account" && key != nullptr &&
        key->is_string() && !key->get_string().empty()) {
      out.push_back({pointer, "gcp_service_account_key", std::string(DescriptionOf("gcp_service_account_key"))});
    }
    for (const auto& member : *o) {
      AppendPointerToken(pointer, member.key());
      Walk(member.value(), pointer, member.key(), depth + 1, out);
      pointer.resize(mark);
    }
    return;
  }
  if (const json::array* a = v.if_array()) {
    for (size_t i = 0; i < a->size(); ++i) {
      AppendPointerToken(pointer, std::to_string(i));
      Walk((*a)[i], pointer, name, depth + 1, out);  // array elements keep the member's name
      pointer.resize(mark);
    }
  }
}

std::vector<LeakFinding> LeakScanner::ScanValue(const json::value& value, std::string_view pointer,
                                                std::string_view name) const {
  std::vector<LeakFinding> out;
  std::string p(pointer);
  Walk(value, p, name, 0, out);
  return out;
}

std::vector<LeakFinding> LeakScanner::ScanItem(std::string_view kind, std::string_view key,
                                               const json::object& body) const {
  std::vector<LeakFinding> out;
  auto append = [&](std::vector<LeakFinding> more) {
    out.insert(out.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  };
  if (kind == "config") {
    if (const json::value* values = body.if_contains("values"); values != nullptr && values->is_object()) {
      for (const auto& [env, value] : values->get_object()) {
        std::string p = "/values";
        AppendPointerToken(p, env);
        append(ScanValue(value, p, key));
      }
    }
    // The description and schema are text a person wrote: patterns only.
    for (std::string_view member : {"description", "schema"}) {
      if (const json::value* v = body.if_contains(member)) {
        std::string p;
        AppendPointerToken(p, member);
        append(ScanValue(*v, p, ""));
      }
    }
    return out;
  }
  if (kind == "flag") {
    for (const auto& member : body) {
      std::string p;
      AppendPointerToken(p, member.key());
      if (member.key() == "salt") continue;  // random by design, never a credential
      if (member.key() == "variations" && member.value().is_array()) {
        const json::array& vars = member.value().get_array();
        for (size_t i = 0; i < vars.size(); ++i) {
          std::string vp = p;
          AppendPointerToken(vp, std::to_string(i));
          if (const json::object* var = vars[i].if_object()) {
            for (const auto& field : *var) {
              std::string fp = vp;
              AppendPointerToken(fp, field.key());
              append(ScanValue(field.value(), fp, field.key() == "value" ? key : std::string_view(field.key())));
            }
          }
        }
        continue;
      }
      append(ScanValue(member.value(), p, member.key()));
    }
    return out;
  }
  append(ScanValue(json::value(body), "", ""));
  return out;
}

json::object FindingJson(const LeakFinding& f) {
  return {{"pointer", f.pointer}, {"kind", f.kind}, {"description", f.description}};
}

}  // namespace edgevault::scan
