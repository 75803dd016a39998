// Loaded with `node --import` into the official MCP conformance CLI
// (@modelcontextprotocol/conformance, dist/index.js) by tests/e2e/mcp-conformance.test.mjs.
//
// 1. The CLI's server scenarios connect with no credentials and it has no option to add a
//    header, while /mcp answers 401 without a token. Every fetch() to the server under test
//    (the origin of MCP_CONFORMANCE_URL) gets `Authorization: Bearer MCP_CONFORMANCE_TOKEN`;
//    requests elsewhere are untouched.
// 2. dist/index.js imports `globSync` from 'fs' (Node >= 22; only its tier-check command
//    uses it), so on Node 20 the module fails to link. hooks.mjs hands that one module an
//    'fs' with a globSync that throws. On Node >= 22 it changes nothing.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);

const target = process.env.MCP_CONFORMANCE_URL;
const token = process.env.MCP_CONFORMANCE_TOKEN;
if (target && token) {
  const origin = new URL(target).origin;
  const plainFetch = globalThis.fetch;
  globalThis.fetch = (input, init = {}) => {
    const url = input instanceof Request ? input.url : String(input);
    if (new URL(url).origin !== origin) return plainFetch(input, init);
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${token}`);
    return plainFetch(input, { ...init, headers });
  };
}
