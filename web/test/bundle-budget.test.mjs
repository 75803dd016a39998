// The initial load's JavaScript budget: every script index.html loads (and every module those
// import statically), gzip-compressed, must stay under 150 KiB. Reads the build in
// EDGEVAULT_WEB_DIR (CTest: <build>/web, which `make build` writes); without it, builds the
// app into a temporary directory first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const BUDGET_BYTES = 150 * 1024;
const webSrc = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function builtDir(t) {
  const given = process.env.EDGEVAULT_WEB_DIR;
  if (given && existsSync(path.join(given, 'index.html'))) return given;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'ev-web-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  execFileSync(process.execPath, [path.join(webSrc, 'build.mjs'), tmp], { cwd: webSrc, stdio: 'inherit' });
  return tmp;
}

// The same-origin scripts a page loads before it is usable: <script src>, modulepreload
// links, and (transitively) the static imports of those modules. Dynamic import() chunks
// load later and are not counted.
export function initialScripts(dir) {
  const html = readFileSync(path.join(dir, 'index.html'), 'utf8');
  const queue = [];
  for (const m of html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"/g)) queue.push(m[1]);
  for (const m of html.matchAll(/<link\b[^>]*rel="modulepreload"[^>]*href="([^"]+)"/g)) queue.push(m[1]);
  const seen = new Set();
  while (queue.length) {
    const url = queue.shift();
    if (seen.has(url)) continue;
    seen.add(url);
    const text = readFileSync(path.join(dir, url), 'utf8');
    for (const m of text.matchAll(/(?:\bfrom|\bimport)\s*["'](\.\/[^"']+\.js)["']/g)) {
      queue.push(path.posix.join(path.posix.dirname(url), m[1]));
    }
  }
  return [...seen];
}

test('the initial load ships at most 150 KiB of gzip-compressed JavaScript', (t) => {
  const dir = builtDir(t);
  const scripts = initialScripts(dir);
  assert.ok(scripts.length > 0, 'index.html loads no script: the budget would pass vacuously');
  let total = 0;
  for (const url of scripts) {
    assert.ok(url.startsWith('/assets/'), `${url}: scripts are served from /assets/`);
    total += gzipSync(readFileSync(path.join(dir, url)), { level: 9 }).length;
  }
  t.diagnostic(`initial JS: ${scripts.join(', ')}: ${(total / 1024).toFixed(1)} KiB gzip`);
  assert.ok(total <= BUDGET_BYTES, `initial JS is ${(total / 1024).toFixed(1)} KiB gzip, over the 150 KiB budget`);
});

test('index.html has no inline script or style (the console CSP forbids them)', (t) => {
  const html = readFileSync(path.join(builtDir(t), 'index.html'), 'utf8');
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'inline <script>');
  assert.doesNotMatch(html, /<style\b/, 'inline <style>');
  assert.doesNotMatch(html, /\sstyle=|\son[a-z]+=/i, 'style or event-handler attribute');
});
