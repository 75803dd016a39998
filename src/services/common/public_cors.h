#pragma once
// CORS for public, credential-less documents and endpoints that browser-based OAuth
// clients (an MCP client running in a web page, such as the MCP Inspector's OAuth helper)
// must call cross-origin: auth's authorization-server metadata, registration, token and
// revocation endpoints and the api's protected-resource metadata (docs/design/oauth.md
// §2b). Any origin, never credentials: these answers depend only on what the request
// itself carries (a code and its verifier, a refresh token), never on a cookie or an
// ambient credential, so letting a page read them gives it nothing it did not already
// hold. Nothing else in auth or the api uses this (DESIGN.md §1).
//
//   router.Add(verb::get, "/.well-known/x", services::WithPublicCors(handler));
//   router.Add(verb::options, "/.well-known/x", services::PublicCorsPreflight("GET"));
//
// Thread-safety: pure functions; the wrappers are as thread-safe as what they wrap.

#include <string>
#include <string_view>
#include <utility>

#include "src/net/router.h"

namespace edgevault::services {

// Request headers a browser client may send: the form or JSON body's type, and the MCP
// SDK's protocol-version header on discovery requests.
inline constexpr std::string_view kPublicCorsAllowHeaders = "Content-Type, MCP-Protocol-Version";

// `Access-Control-Allow-Origin: *` (and no Allow-Credentials, so a browser sends no
// cookies and reads the answer only when it sent none).
inline void AddPublicCors(net::Response& r) {
  r.headers.emplace_back("Access-Control-Allow-Origin", "*");
  r.headers.emplace_back("Access-Control-Expose-Headers", "Retry-After");
}

inline net::Handler WithPublicCors(net::Handler h) {
  return [h = std::move(h)](net::Request& req) {
    net::Response r = h(req);
    AddPublicCors(r);
    return r;
  };
}

inline net::AsyncHandler WithPublicCors(net::AsyncHandler h) {
  return [h = std::move(h)](net::Request& req, net::Responder respond) {
    h(req, [respond = std::move(respond)](net::Response r) {
      AddPublicCors(r);
      respond(std::move(r));
    });
  };
}

// The answer to a preflight (OPTIONS) of a public route taking `methods` ("GET", "POST").
inline net::Handler PublicCorsPreflight(std::string methods) {
  return [methods = std::move(methods)](net::Request&) {
    net::Response r;
    r.status = 204;
    r.content_type.clear();
    AddPublicCors(r);
    r.headers.emplace_back("Access-Control-Allow-Methods", methods);
    r.headers.emplace_back("Access-Control-Allow-Headers", std::string(kPublicCorsAllowHeaders));
    r.headers.emplace_back("Access-Control-Max-Age", "600");
    return r;
  };
}

}  // namespace edgevault::services
