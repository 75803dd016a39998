// node:fs plus the globSync of Node 22, which only the conformance CLI's tier-check uses.
export * from 'node:fs';
export { default } from 'node:fs';
export function globSync() {
  throw new Error('fs.globSync needs Node 22 (the conformance tier-check command)');
}
