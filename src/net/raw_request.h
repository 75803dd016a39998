#pragma once
// The definition of net::RawRequest (Beast's request<string_body>), for the few files that
// touch a request's Beast message directly (Request::raw(), the HTTP server, tests that make
// requests by hand). src/net/router.h only declares it, so that handler files do not pay for
// Beast's message headers (issue 20).
//
//   #include "src/net/raw_request.h"
//   req.raw().erase("X-Internal-Header");
//
// Thread-safety: as Request (src/net/router.h).

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "src/net/router.h"
