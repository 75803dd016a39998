#include "src/net/tls_test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "src/base/strings.h"

namespace edgevault::net {
namespace {

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "no OpenSSL error queued";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

bool WritePem(const std::string& path, mode_t mode, const std::function<int(FILE*)>& write) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return false;
  ::fchmod(::fileno(f), mode);
  bool ok = write(f) == 1;
  return std::fclose(f) == 0 && ok;
}

}  // namespace

absl::StatusOr<TlsFiles> MakeSelfSignedCert(const std::string& dir, const std::string& name) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) return absl::InternalError("EVP_EC_gen: " + OpenSslError());
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 2 * 86400);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), subject);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  if (X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "IP:127.0.0.1")) {
    X509_add_ext(cert.get(), san, -1);
    X509_EXTENSION_free(san);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return absl::InternalError("X509_sign: " + OpenSslError());
  }
  TlsFiles files{base::StrCat(dir, "/", name, ".crt"), base::StrCat(dir, "/", name, ".key")};
  if (!WritePem(files.cert_file, 0644, [&](FILE* f) { return PEM_write_X509(f, cert.get()); }) ||
      !WritePem(files.key_file, 0600, [&](FILE* f) {
        return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
      })) {
    return absl::InternalError(base::StrCat("cannot write ", files.cert_file, " or ", files.key_file));
  }
  return files;
}

TlsTestClient::TlsTestClient(uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{20, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error_ = base::StrCat("connect: ", std::strerror(errno));
    return;
  }
  ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_);
  if (SSL_connect(ssl_) != 1) {
    error_ = base::StrCat("TLS handshake failed: ", OpenSslError());
    return;
  }
  ok_ = true;
}

TlsTestClient::~TlsTestClient() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

bool TlsTestClient::Send(std::string_view bytes) {
  return ok_ && SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) == static_cast<int>(bytes.size());
}

TlsTestClient::Ending TlsTestClient::ReadToEnd() {
  Ending out;
  if (!ok_) {
    out.detail = error_;
    return out;
  }
  char buf[4096];
  for (;;) {
    ERR_clear_error();
    errno = 0;
    int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) {
      out.data.append(buf, static_cast<size_t>(n));
      continue;
    }
    int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_ZERO_RETURN) {
      out.end = End::kCloseNotify;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      out.end = End::kTimeout;
    } else if ((err == SSL_ERROR_SYSCALL && errno == 0) ||
               (err == SSL_ERROR_SSL &&
                ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
      out.end = End::kTruncated;
    } else {
      out.end = End::kError;
      out.detail = base::StrCat("SSL_get_error ", err, ", errno ", errno, ": ", OpenSslError());
    }
    return out;
  }
}

std::string TlsTestClient::ReadUntil(std::string_view marker) {
  std::string out;
  char buf[4096];
  while (ok_ && out.find(marker) == std::string::npos) {
    int n = SSL_read(ssl_, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string_view EndName(TlsTestClient::End end) {
  switch (end) {
    case TlsTestClient::End::kCloseNotify:
      return "close_notify";
    case TlsTestClient::End::kTruncated:
      return "TCP close without close_notify";
    case TlsTestClient::End::kError:
      return "TLS error";
    case TlsTestClient::End::kTimeout:
      return "timeout";
  }
  return "?";
}

}  // namespace edgevault::net
