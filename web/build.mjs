// Builds the console's web app into the directory given on the command line:
//   node build.mjs OUT_DIR
// OUT_DIR/index.html references content-hashed OUT_DIR/assets/app-<hash>.js and .css; no
// inline script or style, because the console's CSP is `script-src 'self'; style-src 'self'`.
// Type-checks with `tsc --noEmit` first: esbuild strips types without checking them.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const outArg = process.argv[2];
if (!outArg) {
  console.error('usage: node build.mjs OUT_DIR');
  process.exit(2);
}
const outDir = path.resolve(outArg);

const tsc = spawnSync(process.execPath, [path.join(here, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', here],
  { stdio: 'inherit' });
if (tsc.status !== 0) {
  console.error('web: type check failed');
  process.exit(1);
}

// Old hashed files would pile up otherwise; the directory belongs to this build.
rmSync(path.join(outDir, 'assets'), { recursive: true, force: true });
mkdirSync(path.join(outDir, 'assets'), { recursive: true });

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: { app: 'src/main.tsx' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022'],
  outdir: path.join(outDir, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});

let script, style;
for (const [file, info] of Object.entries(result.metafile.outputs)) {
  if (!info.entryPoint && !file.endsWith('.css')) continue;
  const url = '/assets/' + path.basename(file);
  if (file.endsWith('.js')) script = url;
  else if (file.endsWith('.css')) style = url;
}
if (!script || !style) {
  console.error('web: esbuild produced no script or no style', Object.keys(result.metafile.outputs));
  process.exit(1);
}

writeFileSync(path.join(outDir, 'index.html'), `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>EdgeVault console</title>
<link rel="stylesheet" href="${style}">
<script type="module" src="${script}"></script>
</head>
<body>
<div id="app"><noscript>The EdgeVault console needs JavaScript.</noscript></div>
</body>
</html>
`);
console.log(`web: built ${path.relative(process.cwd(), outDir) || '.'} (${script}, ${style})`);
