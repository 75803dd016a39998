// Module hooks registered by preload.mjs (see there): on a Node without fs.globSync, the
// conformance CLI's `import { globSync } from 'fs'` resolves to fs-shim.mjs.
import fs from 'node:fs';

export async function resolve(specifier, context, next) {
  if (typeof fs.globSync !== 'function' && (specifier === 'fs' || specifier === 'node:fs') &&
      context.parentURL?.includes('/@modelcontextprotocol/conformance/')) {
    return { url: new URL('./fs-shim.mjs', import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
