#pragma once
// A second org next to up's own, made in the control DB as an operator would (orgs are
// not created over the api): the caller who holds a real role, but over someone else's
// workspaces. Indirect-path tests use it to prove a route answers another org as it
// answers a workspace that does not exist.

#include <string>

#include "tests/integration/harness.h"

namespace edgevault::testing {

// Creates the org `org_<name>` with one owner (`<name>-owner@example.com`), logs them in
// and returns a JWT for them from auth's POST /v1/token; "" after a failed expectation.
// `name` must be unique within the test's data directory.
std::string TokenForOwnerOfAnotherOrg(EdgeVaultUp& up, const std::string& name);

}  // namespace edgevault::testing
