#include "src/crypto/tls_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <system_error>

#include "src/base/strings.h"
#include "src/crypto/openssl_error.h"

namespace edgevault::crypto {

using base::StrCat;

absl::StatusOr<std::shared_ptr<const TlsClientContext>> TlsClientContext::Create(const TlsClientFiles& files,
                                                                                 std::string_view label) {
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::InvalidArgumentError(
        StrCat(label, ": a client certificate and its key go together (cert_file and key_file)"));
  }
  for (const std::string* file : {&files.ca_file, &files.cert_file, &files.key_file}) {
    std::error_code ec;
    if (!file->empty() && !std::filesystem::is_regular_file(*file, ec)) {
      return absl::NotFoundError(StrCat(label, ": TLS file ", *file, " does not exist or is not a file"));
    }
  }
  ::ERR_clear_error();
  SSL_CTX* raw = ::SSL_CTX_new(::TLS_client_method());
  if (raw == nullptr) return absl::InternalError(StrCat(label, ": no TLS context: ", OpenSslErrorString()));
  std::shared_ptr<const TlsClientContext> ctx(new TlsClientContext(raw));
  ::SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  ::SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
  // A peer closing without close_notify ends the stream like a plain close: the callers'
  // framing (Redis replies, HTTP lengths and chunks, signed documents) catches a truncation.
  ::SSL_CTX_set_options(raw, SSL_OP_IGNORE_UNEXPECTED_EOF);
  // The callers' write loops send what a partial write left, from wherever the rest is.
  ::SSL_CTX_set_mode(raw, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (files.ca_file.empty()) {
    if (::SSL_CTX_set_default_verify_paths(raw) != 1) {
      return absl::InternalError(StrCat(label, ": cannot load the system's CA store: ", OpenSslErrorString()));
    }
  } else if (::SSL_CTX_load_verify_locations(raw, files.ca_file.c_str(), nullptr) != 1) {
    return absl::InvalidArgumentError(
        StrCat(label, ": CA file ", files.ca_file, " holds no PEM CA certificate: ", OpenSslErrorString()));
  }
  if (!files.cert_file.empty()) {
    if (::SSL_CTX_use_certificate_chain_file(raw, files.cert_file.c_str()) != 1) {
      return absl::InvalidArgumentError(
          StrCat(label, ": cert_file ", files.cert_file, " holds no PEM certificate: ", OpenSslErrorString()));
    }
    auto mismatch = [&] {
      ::ERR_clear_error();
      return absl::InvalidArgumentError(
          StrCat(label, ": key_file ", files.key_file, " is not the key of cert_file ", files.cert_file));
    };
    if (::SSL_CTX_use_PrivateKey_file(raw, files.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      if (ERR_GET_REASON(::ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) return mismatch();
      return absl::InvalidArgumentError(
          StrCat(label, ": key_file ", files.key_file, " holds no PEM private key: ", OpenSslErrorString()));
    }
    if (::SSL_CTX_check_private_key(raw) != 1) return mismatch();
  }
  return ctx;
}

TlsClientContext::~TlsClientContext() { ::SSL_CTX_free(static_cast<SSL_CTX*>(ctx_)); }

absl::StatusOr<void*> TlsClientContext::NewSession(int fd, const std::string& host) const {
  ::ERR_clear_error();
  SSL* ssl = ::SSL_new(static_cast<SSL_CTX*>(ctx_));
  if (ssl == nullptr) return absl::InternalError(StrCat("no TLS session: ", OpenSslErrorString()));
  ::SSL_set_fd(ssl, fd);
  in6_addr v6;
  in_addr v4;
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1 || ::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    ::X509_VERIFY_PARAM_set1_ip_asc(::SSL_get0_param(ssl), host.c_str());
  } else {
    ::SSL_set_tlsext_host_name(ssl, host.c_str());
    ::SSL_set1_host(ssl, host.c_str());
  }
  return static_cast<void*>(ssl);
}

std::string TlsHandshakeFailure(void* ssl, const std::string& host) {
  const long verify = ::SSL_get_verify_result(static_cast<SSL*>(ssl));
  if (verify != X509_V_OK) {
    ::ERR_clear_error();
    return StrCat("the server's certificate is not trusted for ", host, " (",
                  ::X509_verify_cert_error_string(verify), ")");
  }
  return OpenSslErrorString();
}

}  // namespace edgevault::crypto
