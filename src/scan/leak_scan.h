#pragma once
// Secret-leak detection (docs/secret-scanning.md): finds credentials pasted into config
// and flag values. Pure: no I/O, no clock; the patterns (RE2) are compiled once, by the
// first call of LeakScanner::Get(), and the scanner is immutable afterwards.
//
// Two detectors, both over every string in a JSON value (walked recursively):
//  - well-known token formats (AWS access key ids and secret keys, GCP service-account
//    keys, Azure storage connection strings, GitHub/GitLab tokens, Slack tokens and
//    webhooks, Stripe secret keys, private-key PEM blocks, JWTs, URLs with a password);
//  - high-entropy strings under a name that says "secret" (password, token, secret,
//    api_key, credential, ...): the name of the nearest object member, or for a value
//    that is not inside an object, the item key the caller passes. A string counts when
//    it is at least kMinSecretLength characters long, its Shannon entropy is at least
//    kMinEntropyBits per character, and it is not an obvious placeholder (`${VAR}`,
//    `<password>`, `changeme`, `xxxx`, ...).
// A finding names where (an RFC 6901 JSON pointer) and what (a kind), never the value.
//
// Thread-safety: LeakScanner is immutable; every method may be called concurrently.
//
//   const scan::LeakScanner& s = scan::LeakScanner::Get();
//   std::vector<scan::LeakFinding> found = s.ScanItem(storage::ItemKind::kConfig, "db.url", body);
//   for (const auto& f : found) { /* f.pointer "/values/prod", f.kind "url_with_password" */ }

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace edgevault::scan {

struct LeakFinding {
  std::string pointer;  // RFC 6901, within the scanned body, e.g. "/values/prod/db/password"
  std::string kind;     // e.g. "aws_access_key_id", "high_entropy_secret" (LeakKinds())
  std::string description;  // e.g. "AWS access key ID"
  bool operator==(const LeakFinding&) const = default;
};

// Every kind the scanner reports, with its description, in a fixed order.
struct LeakKind {
  std::string_view kind;
  std::string_view description;
};
const std::vector<LeakKind>& LeakKinds();

inline constexpr size_t kMinSecretLength = 12;
inline constexpr double kMinEntropyBits = 3.0;
// Strings longer than this are scanned only for their first kMaxScannedBytes bytes (a
// config value is at most 64 KiB; the cap keeps a scan's cost bounded whatever calls it).
inline constexpr size_t kMaxScannedBytes = 64 * 1024;

// Shannon entropy of the bytes of `s`, in bits per byte (0 for an empty string).
double ShannonEntropy(std::string_view s);
// Whether `name` (an object member name or an item key) says its value is secret.
bool IsSecretName(std::string_view name);
// Whether `value` is an obvious placeholder rather than a credential.
bool IsPlaceholder(std::string_view value);

class LeakScanner {
 public:
  // The process-wide scanner (patterns compiled on first use).
  static const LeakScanner& Get();
  ~LeakScanner();

  // The kinds of credential found in one string (each kind once), given the name it is
  // stored under ("" when none): pattern kinds plus "high_entropy_secret".
  std::vector<std::string_view> ScanString(std::string_view value, std::string_view name) const;

  // Every finding in `value`, pointers prefixed with `pointer` (already escaped). `name`
  // is the name the top-level value is stored under (used when it is not in an object).
  // Each (pointer, kind) once, in document order. Depth is bounded (deeper values are
  // not scanned: stored bodies are far shallower).
  std::vector<LeakFinding> ScanValue(const boost::json::value& value, std::string_view pointer = "",
                                     std::string_view name = "") const;

  // A config or flag body as stored (docs/design/items.md). Configs: each value under
  // /values/<env>, named after the item key. Flags: each variation's value, named after the
  // flag key, and everything else in the body (rules, targets: patterns and member
  // names). Other kinds: the whole body, patterns and member names only.
  std::vector<LeakFinding> ScanItem(std::string_view kind, std::string_view key,
                                    const boost::json::object& body) const;

 private:
  struct Patterns;
  LeakScanner();
  void Walk(const boost::json::value& v, std::string& pointer, std::string_view name, int depth,
            std::vector<LeakFinding>& out) const;
  std::unique_ptr<Patterns> patterns_;
};

// Appends the RFC 6901 escape of `token` ("~" → "~0", "/" → "~1") to `pointer`, after a "/".
void AppendPointerToken(std::string& pointer, std::string_view token);

// {"pointer", "kind", "description"} for API answers.
boost::json::object FindingJson(const LeakFinding& f);

}  // namespace edgevault::scan
