// Builds the UI into dist/: one JS and one CSS bundle with content-hashed names, index.html
// linking them, and a gzipped copy of each (served with Content-Encoding: gzip). Deterministic:
// the same sources and package-lock give the same bytes, so dist/ is committed and
// `node build.mjs --check` (make ui-check) fails when it differs from a fresh build.
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { gzipSync, gunzipSync } from 'node:zlib';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const check = process.argv.includes('--check');
const out = check ? mkdtempSync(join(tmpdir(), 'osprey-ui-')) : join(here, 'dist');

const result = await esbuild.build({
  entryPoints: { app: join(here, 'src/main.jsx') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome100', 'firefox100', 'safari15'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  write: false,
  outdir: 'out',
  legalComments: 'none',
  logLevel: 'warning',
});

const files = {};
const hash = (b) => createHash('sha256').update(b).digest('base64url').replace(/[-_]/g, '').slice(0, 10);
let js, css;
for (const f of result.outputFiles) {
  if (f.path.endsWith('.js')) js = f.contents;
  else if (f.path.endsWith('.css')) css = f.contents;
}
const jsName = `app-${hash(js)}.js`;
files[jsName] = js;
let cssLink = '';
if (css) {
  const cssName = `app-${hash(css)}.css`;
  files[cssName] = css;
  cssLink = `<link rel="stylesheet" href="/ui/${cssName}">`;
}
const icon = readFileSync(join(here, 'src/favicon.svg'));
files['favicon.svg'] = icon;
const html = readFileSync(join(here, 'src/index.html'), 'utf8')
  .replace('<!--CSS-->', cssLink)
  .replace('<!--JS-->', `<script type="module" src="/ui/${jsName}"></script>`);
files['index.html'] = Buffer.from(html);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const [name, bytes] of Object.entries(files)) {
  writeFileSync(join(out, name), bytes);
  if (!name.endsWith('.svg') || bytes.length > 1024) writeFileSync(join(out, name + '.gz'), gzipSync(bytes, { level: 9 }));
}

const sizes = Object.entries(files)
  .filter(([n]) => /\.(js|css)$/.test(n))
  .map(([n, b]) => [n, b.length, gzipSync(b, { level: 9 }).length]);
for (const [n, raw, gz] of sizes) console.log(`${n}: ${raw} B, ${gz} B gzipped`);
console.log(`JS+CSS total: ${sizes.reduce((a, s) => a + s[2], 0)} B gzipped`);

if (check) {
  const dist = join(here, 'dist');
  const a = readdirSync(out).sort();
  const b = readdirSync(dist).sort();
  let same = JSON.stringify(a) === JSON.stringify(b);
  // .gz files are compared by their content: another zlib may compress the same bytes differently.
  const body = (dir, f) => (f.endsWith('.gz') ? gunzipSync(readFileSync(join(dir, f))) : readFileSync(join(dir, f)));
  if (same) for (const f of a) if (!body(out, f).equals(body(dist, f))) same = false;
  rmSync(out, { recursive: true, force: true });
  if (!same) {
    console.error(`ui/dist differs from a fresh build (committed: ${b.join(' ')}; built: ${a.join(' ')}): run make ui and commit ui/dist`);
    process.exit(1);
  }
  console.log('ui/dist matches a fresh build');
}
