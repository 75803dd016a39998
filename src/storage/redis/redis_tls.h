#pragma once
// TLS to Redis (rediss://), shared by the Redis backends' options (edge_kv_redis.h,
// rate_limiter_redis.h). docs/design/edge-kv.md, "TLS".

#include <string>

namespace edgevault::storage {

struct RedisTls {
  bool enabled = false;
  // PEM CA certificates the server's certificate must chain to; "" = the system's store
  // (OpenSSL's default paths, e.g. /etc/ssl/certs).
  std::string ca_file;
  // A client certificate (PEM, with its chain) and its key, for a server that asks for one
  // (redis-server's default, tls-auth-clients yes). Both or neither.
  std::string cert_file;
  std::string key_file;
  // The name the server's certificate must carry and the SNI sent; "" = the host connected
  // to (a DNS name, or an IP address matched against the certificate's IP entries).
  std::string server_name;
};

}  // namespace edgevault::storage
