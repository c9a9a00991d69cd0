// End-to-end tests of the web UI: headless Debian Chromium driven by playwright-core against the
// real `osprey serve` with the pedestrian video as a looping file camera. Prints what it measured
// (asset sizes, first page usable time), saves screenshots of every page (desktop and 390 px) to
// target/ui-screenshots/, and ends with "N passed, N failed". The main server runs with
// `--auth off`; a second one has `--api-key`; a third has users (made with `osprey users add`)
// and cookie sessions: login, roles, logout, CSRF and API keys made on the Users page.
//
// Environment: OSPREY_BIN (default: $CARGO_TARGET_DIR/release/osprey, else target/release/osprey),
// OSPREY_SHARED (default ../shared), ORT_DYLIB_PATH (default runtime/onnxruntime/lib/
// libonnxruntime.so), CHROMIUM (default /usr/bin/chromium), SCREENSHOTS (default
// target/ui-screenshots), UI_TESTS (a regular expression: only the tests whose names match run;
// the servers still start).
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const targetDir = process.env.CARGO_TARGET_DIR || join(root, 'target');
const BIN = process.env.OSPREY_BIN || join(targetDir, 'release/osprey');
const SHARED = resolve(process.env.OSPREY_SHARED || join(root, '../shared'));
const ORT = process.env.ORT_DYLIB_PATH || join(root, 'runtime/onnxruntime/lib/libonnxruntime.so');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.SCREENSHOTS || join(root, 'target/ui-screenshots');
const VIDEO = join(SHARED, 'video/pedestrians.mp4');
const MODEL = join(SHARED, 'models/yolo11n-320.onnx');
const BUS = join(SHARED, 'images/bus.jpg');

for (const [what, p] of [['osprey binary (OSPREY_BIN)', BIN], ['chromium (CHROMIUM)', CHROMIUM], ['test video', VIDEO], ['model', MODEL], ['ONNX Runtime (ORT_DYLIB_PATH)', ORT]]) {
  if (!existsSync(p)) {
    console.log(`*** SKIPPED the UI browser tests: ${what} not found at ${p}`);
    process.exit(77);
  }
}
mkdirSync(SHOTS, { recursive: true });

const results = [];
const ONLY = process.env.UI_TESTS ? new RegExp(process.env.UI_TESTS) : null;
async function test(name, fn) {
  if (ONLY && !ONLY.test(name)) return;
  const t0 = Date.now();
  try {
    await fn();
    results.push([name, true]);
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    results.push([name, false]);
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
  }
}
function assert(c, msg) { if (!c) throw new Error(msg); }
function eq(a, b, msg) { if (!isDeepStrictEqual(a, b)) throw new Error(`${msg}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
}

async function startServer(name, extraArgs, config) {
  const dir = mkdtempSync(join(tmpdir(), `osprey-ui-${name}-`));
  const port = await freePort();
  const cfg = join(dir, 'osprey.toml');
  const recording = /record = "continuous"/.test(config || '') ? `\n[recording]\nrecordings_dir = "${join(dir, 'recordings')}"\n` : '';
  writeFileSync(cfg, (config || '') + `\n[store]\nevents_db = "${join(dir, 'events.sqlite')}"\n` + recording);
  const args = ['serve', '--config', cfg, '--model', MODEL, '--host', '127.0.0.1', '--port', String(port), ...extraArgs];
  const log = [];
  const child = spawn(BIN, args, { env: { ...process.env, ORT_DYLIB_PATH: ORT }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => log.push(d));
  child.stderr.on('data', (d) => log.push(d));
  const tls = extraArgs.includes('--tls-self-signed');
  const base = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const deadline = Date.now() + 60000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`osprey exited ${child.exitCode}: ${Buffer.concat(log).toString().slice(-2000)}`);
    try { if (tls ? (await httpsStatus(base + '/readyz')) === 200 : (await fetch(base + '/readyz')).ok) break; } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error('osprey did not become ready in 60 s');
    await sleep(200);
  }
  return {
    base, dir, child,
    async stop() {
      if (child.exitCode === null) { child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)); }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The status of an HTTPS GET to a server with a self-signed certificate. */
function httpsStatus(url) {
  return new Promise((res, rej) => {
    httpsRequest(url, { rejectUnauthorized: false }, (r) => { r.resume(); r.on('end', () => res(r.statusCode)); }).on('error', rej).end();
  });
}

/** A raw GET (no automatic decompression): status, headers, body length. */
function rawGet(url, headers = {}) {
  return new Promise((res, rej) => {
    request(url, { headers }, (r) => {
      let n = 0; r.on('data', (d) => { n += d.length; }); r.on('end', () => res({ status: r.statusCode, headers: r.headers, bytes: n }));
    }).on('error', rej).end();
  });
}

const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };
async function shots(browser, base, page, hash, name, ready, storage, cookies) {
  for (const [vp, tag] of [[DESKTOP, 'desktop'], [PHONE, '390']]) {
    const ctx = await browser.newContext({ viewport: vp, deviceScaleFactor: 1 });
    if (storage) await ctx.addInitScript(storage);
    if (cookies) await ctx.addCookies(cookies);
    const p = await ctx.newPage();
    await p.goto(`${base}/ui/${hash}`);
    if (ready) await ready(p);
    await sleep(400);
    await p.screenshot({ path: join(SHOTS, `${name}-${tag}.png`), fullPage: true });
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    await ctx.close();
    if (tag === '390') assert(overflow <= 1, `${name} scrolls sideways at 390 px (${overflow} px too wide)`);
  }
}

/** `osprey users add NAME --role ROLE --password-stdin --auth-db DB`, the password on stdin. */
function addUser(db, name, role, password) {
  return new Promise((res, rej) => {
    const child = spawn(BIN, ['users', 'add', name, '--role', role, '--password-stdin', '--auth-db', db],
      { env: { ...process.env, ORT_DYLIB_PATH: ORT }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('error', rej);
    child.on('exit', (code) => (code === 0 ? res(out) : rej(new Error(`osprey users add ${name} exited ${code}: ${out.slice(-1000)}`))));
    child.stdin.end(password + '\n');
  });
}

/** Logs in from Node: the session cookie's value, its Set-Cookie header and the CSRF token. */
async function loginFromNode(base, username, password) {
  const r = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username, password }) });
  const text = await r.text();
  assert(r.status === 200, `login as ${username}: ${r.status} ${text}`);
  const setCookie = r.headers.get('set-cookie') || '';
  const m = /osprey_session=([^;]*)/.exec(setCookie);
  assert(m && m[1], `login as ${username}: no osprey_session cookie in ${JSON.stringify(setCookie)}`);
  return { value: m[1], setCookie, body: JSON.parse(text) };
}

/** Fills the login card and submits it. */
async function uiLogin(page, username, password) {
  await page.waitForSelector('[data-testid=login]');
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
}

/** The page's nav link texts. */
const navLinks = (page) => page.$$eval('nav[aria-label=Pages] a', (as) => as.map((a) => a.textContent.trim()));

/** GET `path` from the page (its cookie, no headers of the UI's own): [status, body]. */
const pageFetch = (page, path, init) => page.evaluate(async ([path, init]) => {
  const r = await fetch(path, init || {});
  const t = await r.text();
  let b = t; try { b = JSON.parse(t); } catch { /* not JSON */ }
  return [r.status, b];
}, [path, init || null]);

const W = 480, H = 360; // pedestrians.mp4
const LINE_A = [[366, 288], [330, 108]];
const ROI_R = [[204, 126], [294, 117], [330, 162], [312, 216], [216, 207]];

async function clickAt(page, pts) {
  const box = await page.locator('svg[data-testid=draw]').boundingBox();
  for (const [x, y] of pts) {
    await page.mouse.click(box.x + ((x + 0.5) / W) * box.width, box.y + ((y + 0.5) / H) * box.height);
  }
}

/** tools/rtsp-server.py serving the video (GStreamer's RTSP server), or null when it is not installed. */
async function startRtsp() {
  const script = join(root, 'tools/rtsp-server.py');
  const port = await freePort();
  const child = spawn('/usr/bin/python3', [script, '--port', String(port), '--file', VIDEO, '--loops', '40'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const url = await new Promise((res) => {
    let out = '';
    child.stdout.on('data', (d) => { out += d; const m = /READY (\S+)/.exec(out); if (m) res(m[1]); });
    child.once('exit', () => res(null));
    setTimeout(() => res(null), 30000);
  });
  if (!url) {
    child.kill('SIGTERM');
    console.log(`*** the RTSP camera is left out: tools/rtsp-server.py did not start (GStreamer's RTSP server missing? make test-deps) ${err.slice(-300)}`);
    return null;
  }
  return { url, stop: () => { if (child.exitCode === null) child.kill('SIGTERM'); } };
}

async function main() {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  const rtsp = await startRtsp();
  let cfg = `[[cameras]]\nid = "walk"\nurl = "${VIDEO}"\nloop = true\n`;
  // The RTSP camera at 2 detections a second, so the two cameras fit a 2-core machine; it is
  // recorded (docs/recording.md).
  if (rtsp) cfg += `\n[[cameras]]\nid = "rtsp"\nurl = "${rtsp.url}"\ndetect_fps = 2\nrecord = "continuous"\n`;
  const srv = await startServer('main', ['--auth', 'off'], cfg);
  const { base } = srv;
  const dist = join(root, 'ui/dist/index.html');
  if (existsSync(dist) && (await (await fetch(`${base}/ui/`)).text()) !== readFileSync(dist, 'utf8')) {
    console.log('*** the binary serves another UI than ui/dist/ holds (it embeds ui/dist at build time): rebuild it to test the current UI');
  }
  let savedAt = null;
  try {
    await test('assets: hashed names cached a year, index.html no-cache, ETag/304, gzip; JS+CSS <= 150 KB gzipped', async () => {
      const idx = await rawGet(`${base}/ui/`);
      assert(idx.status === 200, `/ui/ ${idx.status}`);
      assert(/no-cache/.test(idx.headers['cache-control']), `index.html cache-control ${idx.headers['cache-control']}`);
      const html = await (await fetch(`${base}/ui/`)).text();
      const assets = [...html.matchAll(/\/ui\/(app-[A-Za-z0-9]+\.(?:js|css))/g)].map((m) => m[1]);
      assert(assets.length === 2, `index.html links ${assets}`);
      let total = 0;
      for (const a of assets) {
        const raw = await rawGet(`${base}/ui/${a}`);
        const gz = await rawGet(`${base}/ui/${a}`, { 'accept-encoding': 'gzip, deflate, br' });
        assert(gz.headers['content-encoding'] === 'gzip', `${a} not gzipped`);
        assert(/max-age=31536000/.test(gz.headers['cache-control']) && /immutable/.test(gz.headers['cache-control']), `${a} cache-control ${gz.headers['cache-control']}`);
        const again = await rawGet(`${base}/ui/${a}`, { 'if-none-match': gz.headers.etag });
        assert(again.status === 304, `${a} If-None-Match gave ${again.status}`);
        console.log(`     size ${a}: ${raw.bytes} B, ${gz.bytes} B gzipped`);
        total += gz.bytes;
      }
      console.log(`     size JS+CSS total: ${total} B gzipped (${(total / 1024).toFixed(1)} KiB)`);
      assert(total <= 150 * 1024, `JS+CSS ${total} B gzipped > 150 KB`);
      // The status page and the DeepStack routes are unchanged for non-browsers.
      const root = await rawGet(`${base}/`);
      assert(root.status === 200 && /text\/html/.test(root.headers['content-type']), `GET / ${root.status}`);
      const browserRoot = await rawGet(`${base}/`, { accept: 'text/html,application/xhtml+xml' });
      assert(browserRoot.status === 303 && browserRoot.headers.location === '/ui/', `browser GET / ${browserRoot.status} ${browserRoot.headers.location}`);
      const missing = await rawGet(`${base}/ui/nope.js`);
      assert(missing.status === 404, `missing asset ${missing.status}`);
    });

    // Wait for the camera to be running before the overview test.
    for (let i = 0; i < 150; i++) {
      const c = (await (await fetch(`${base}/api/cameras/walk`)).json());
      if (c.connected && c.fps && c.fps.detected > 0) break;
      await sleep(200);
    }

    await test(`overview lists the camera${rtsp ? 's (file and RTSP)' : ''} with live fps; first page usable time`, async () => {
      const ctx = await browser.newContext({ viewport: DESKTOP });
      const page = await ctx.newPage();
      await page.addInitScript(() => {
        const mark = () => {
          if (window.__usable == null && document.querySelector('tr[data-camera]')) window.__usable = performance.now();
        };
        new MutationObserver(mark).observe(document, { childList: true, subtree: true });
      });
      await page.goto(`${base}/`); // a browser asking for / is sent to /ui/
      assert(page.url().endsWith('/ui/'), `landed on ${page.url()}`);
      await page.waitForSelector('tr[data-camera="walk"]');
      assert(!(await page.$('[data-testid=who]')) && !(await page.$('[data-testid=login]')), 'with --auth off the page shows a user or the login card');
      const usable = await page.waitForFunction(() => window.__usable).then((h) => h.jsonValue());
      console.log(`     first page usable (navigation start -> camera list rendered): ${usable.toFixed(0)} ms`);
      assert(usable < 1000, `first page usable after ${usable} ms`);
      for (const id of rtsp ? ['walk', 'rtsp'] : ['walk']) {
        await page.waitForFunction((id) => Number(document.querySelector(`tr[data-camera="${id}"] td.fps`)?.dataset.fps) > 0, id, { timeout: 20000 });
        const text = await page.locator(`tr[data-camera="${id}"]`).innerText();
        assert(/connected/.test(text), `row: ${text}`);
        console.log(`     overview: ${text.replace(/\s+/g, ' ')}`);
      }
      await ctx.close();
    });

    await test('a tripwire drawn with the mouse is saved and read back identical', async () => {
      const ctx = await browser.newContext({ viewport: DESKTOP });
      const page = await ctx.newPage();
      await page.goto(`${base}/ui/#/setup/walk`);
      await page.waitForSelector('svg[data-testid=draw]');
      await page.waitForFunction(() => document.querySelector('.editor img')?.naturalWidth > 0);
      await clickAt(page, LINE_A);
      await page.getByLabel('Id', { exact: true }).fill('A');
      await page.getByLabel('Name', { exact: true }).fill('footpath');
      await page.getByLabel('Entry name (arrow way)').fill('north');
      await page.getByLabel('Exit name').fill('south');
      const [req] = await Promise.all([
        page.waitForRequest((r) => r.url().includes('/emdx/api/v2/config/tripwire') && r.method() === 'POST'),
        page.getByRole('button', { name: 'Save tripwire' }).click(),
      ]);
      await page.waitForSelector('text=Saved tripwire A.');
      savedAt = Date.now();
      const posted = JSON.parse(req.postData()).tripwires.find((t) => t.id === 'A');
      const wire = posted.wire.map((p) => [p.x, p.y]);
      wire.forEach((p, i) => assert(Math.abs(p[0] - LINE_A[i][0]) <= 1 && Math.abs(p[1] - LINE_A[i][1]) <= 1, `point ${i} ${p} vs ${LINE_A[i]}`));
      const got = await (await fetch(`${base}/emdx/api/v2/config/tripwire?sensorId=walk`)).json();
      eq(got.tripwires.find((t) => t.id === 'A'), posted, 'GET config/tripwire');
      eq(posted.direction.entry, { name: 'north' }, 'entry name');
      await page.screenshot({ path: join(SHOTS, 'setup-tripwire-desktop.png') });
      await ctx.close();
    });

    await test('an ROI drawn with the mouse is saved and read back identical', async () => {
      const ctx = await browser.newContext({ viewport: DESKTOP });
      const page = await ctx.newPage();
      await page.goto(`${base}/ui/#/setup/walk`);
      await page.waitForSelector('svg[data-testid=draw]');
      await page.getByRole('button', { name: 'Region (ROI)' }).click();
      await clickAt(page, ROI_R);
      await page.getByLabel('Id', { exact: true }).fill('R');
      await page.getByLabel('person').check();
      const [req] = await Promise.all([
        page.waitForRequest((r) => r.url().includes('/emdx/api/v2/config/roi') && r.method() === 'POST'),
        page.getByRole('button', { name: 'Save region' }).click(),
      ]);
      await page.waitForSelector('text=Saved region R.');
      const posted = JSON.parse(req.postData()).rois.find((t) => t.id === 'R');
      eq(posted.classes, ['person'], 'classes');
      posted.coordinates.forEach((p, i) => assert(Math.abs(p.x - ROI_R[i][0]) <= 1 && Math.abs(p.y - ROI_R[i][1]) <= 1, `point ${i}`));
      const got = await (await fetch(`${base}/emdx/api/v2/config/roi?sensorId=walk`)).json();
      eq(got.rois.find((t) => t.id === 'R'), posted, 'GET config/roi');
      await ctx.close();
    });

    await test('the Detect page shows the boxes the DeepStack API returns for bus.jpg', async () => {
      const ctx = await browser.newContext({ viewport: DESKTOP });
      const page = await ctx.newPage();
      await page.goto(`${base}/ui/#/detect`);
      await page.locator('input[data-testid=file]').setInputFiles(BUS);
      await page.getByRole('button', { name: 'Detect objects' }).click();
      await page.waitForSelector('svg[data-testid=boxes] g');
      const shown = await page.$$eval('svg[data-testid=boxes] g[data-label]', (gs) => gs.map((g) => [g.dataset.label, g.dataset.box]));
      const fd = new FormData();
      fd.append('image', new Blob([readFileSync(BUS)], { type: 'image/jpeg' }), 'bus.jpg');
      fd.append('min_confidence', '0.4');
      const api = await (await fetch(`${base}/v1/vision/detection`, { method: 'POST', body: fd })).json();
      const want = api.predictions.map((p) => [p.label, `${p.x_min},${p.y_min},${p.x_max},${p.y_max}`]);
      assert(want.length > 0, 'the API found nothing on bus.jpg');
      eq(shown, want, 'boxes');
      console.log(`     detect: ${shown.length} boxes (${shown.map((s) => s[0]).join(', ')})`);
      await ctx.close();
    });

    await test('screenshots of Overview, Camera, Setup, Detect (desktop and 390 px)', async () => {
      await shots(browser, base, null, '#/overview', 'overview', async (p) => { await p.waitForSelector('tr[data-camera="walk"]'); await p.waitForFunction(() => !/measuring/.test(document.querySelector('[data-testid=det-rate]').textContent)); });
      await shots(browser, base, null, '#/camera/walk', 'camera', (p) => p.waitForFunction(() => document.querySelector('video[data-testid=live-video]')?.currentTime > 0.5 && document.querySelectorAll('svg.overlay g').length > 0, null, { timeout: 20000 }));
      await shots(browser, base, null, '#/setup/walk', 'setup', (p) => p.waitForFunction(() => document.querySelector('.editor img')?.naturalWidth > 0 && document.querySelectorAll('g.saved').length >= 2));
      await shots(browser, base, null, '#/detect', 'detect', async (p) => {
        await p.locator('input[data-testid=file]').setInputFiles(BUS);
        await p.getByRole('button', { name: 'Detect objects' }).click();
        await p.waitForSelector('svg[data-testid=boxes] g');
      });
    });

    /** Opens the Camera page of `id` and waits until the live video (MSE over the WebSocket) has played `secs` seconds. */
    async function livePlays(id, secs) {
      const ctx = await browser.newContext({ viewport: DESKTOP });
      const page = await ctx.newPage();
      const t0 = Date.now();
      await page.goto(`${base}/ui/#/camera/${id}`);
      await page.waitForSelector('video[data-testid=live-video]');
      const start = await page.waitForFunction(() => {
        const v = document.querySelector('video[data-testid=live-video]');
        if (v.error) return `error ${v.error.code} ${v.error.message}`;
        return v.currentTime > 0 ? v.currentTime : false;
      }, null, { timeout: 20000 }).then((h) => h.jsonValue());
      assert(typeof start === 'number', `the live video did not start: ${start}`);
      const firstMs = Date.now() - t0;
      const t = await page.waitForFunction(([s0, secs]) => {
        const v = document.querySelector('video[data-testid=live-video]');
        if (v.error) return `error ${v.error.code} ${v.error.message}`;
        return v.currentTime > s0 + secs ? v.currentTime : false;
      }, [start, secs], { timeout: 20000 }).then((h) => h.jsonValue());
      assert(typeof t === 'number', `the live video stopped: ${t}`);
      const info = await page.$eval('video[data-testid=live-video]', (v) => ({ w: v.videoWidth, h: v.videoHeight, lag: v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : null }));
      assert(info.w === W && info.h === H, `video size ${info.w}x${info.h}`);
      assert(!(await page.$('[data-testid=fallback]')), 'fell back to MJPEG');
      console.log(`     live ${id}: first frame ${firstMs} ms after navigation; played ${start.toFixed(1)} -> ${t.toFixed(1)} s; ${info.w}x${info.h}; ${info.lag?.toFixed(2)} s behind the newest frame`);
      return { ctx, page };
    }

    await test('the live view plays over the WebSocket (MSE, currentTime advances, no error), tracks drawn; MJPEG view selectable', async () => {
      const { ctx, page } = await livePlays('walk', 2);
      await page.waitForFunction(() => document.querySelectorAll('svg.overlay g').length > 0, null, { timeout: 15000 });
      await page.locator('select[data-testid=view-mode]').selectOption('mjpeg');
      await page.waitForFunction(() => document.querySelector('img[data-testid=live]')?.naturalWidth === 480, null, { timeout: 15000 });
      // The WebSocket contract, from the page: init text + init segment, a time message, then a keyframe fragment.
      const msgs = await page.evaluate((url) => new Promise((res, rej) => {
        const ws = new WebSocket(url);
        ws.binaryType = 'arraybuffer';
        const got = [];
        const box = (b) => new TextDecoder().decode(new Uint8Array(b, 4, 4));
        ws.onmessage = (m) => { got.push(typeof m.data === 'string' ? m.data : box(m.data)); if (got.length === 4) { ws.close(); res(got); } };
        ws.onerror = () => rej(new Error('WebSocket error'));
        setTimeout(() => rej(new Error(`only ${got.length} messages in 10 s`)), 10000);
      }), `${base.replace('http', 'ws')}/api/cameras/walk/live?tracks=0`);
      await ctx.close();
      const init = JSON.parse(msgs[0]);
      eq([init.type, init.width, init.height, /^avc1\./.test(init.codec)], ['init', W, H, true], 'init message');
      eq([msgs[1], JSON.parse(msgs[2]).type, msgs[3]], ['ftyp', 'time', 'moof'], 'init segment, time, then a fragment');
      const notWs = await fetch(`${base}/api/cameras/walk/live`);
      assert(notWs.status === 400 && /WebSocket/.test((await notWs.json()).error), `plain GET ${notWs.status}`);
    });

    if (rtsp) await test('the RTSP camera plays live over the WebSocket too', async () => {
      const { ctx } = await livePlays('rtsp', 2);
      await ctx.close();
    });

    await test('after the video has run, Analytics shows non-zero counts equal to the API for the same range', async () => {
      // One loop of the clip (30 s) after the line was saved, plus the store's 1 s commit.
      const wait = savedAt ? Math.max(0, savedAt + 34000 - Date.now()) : 34000;
      await sleep(wait);
      const ctx = await browser.newContext({ viewport: DESKTOP });
      const page = await ctx.newPage();
      await page.goto(`${base}/ui/#/analytics/walk`);
      await page.waitForSelector('tr[data-tripwire="A"]');
      await page.waitForFunction(() => document.querySelectorAll('.chart canvas').length >= 3);
      const range = await page.$eval('[data-testid=totals]', (e) => [e.dataset.from, e.dataset.to]);
      const shown = await page.$$eval('tr[data-tripwire="A"] td[data-k]', (tds) => Object.fromEntries(tds.map((t) => [t.dataset.k, Number(t.textContent)])));
      const q = `sensorId=walk&tripwireId=A&fromTimestamp=${encodeURIComponent(range[0])}&toTimestamp=${encodeURIComponent(range[1])}`;
      const kpi = (await (await fetch(`${base}/emdx/api/v2/metrics/tripwire?${q}`)).json()).tripwireKpis[0];
      const star = (t, f) => kpi.events.find((e) => e.type === t).objects.find((o) => o.type === '*')[f];
      const api = { in: star('IN', 'actualCount'), out: star('OUT', 'actualCount'), 'in-eff': star('IN', 'count'), 'out-eff': star('OUT', 'count') };
      eq(shown, api, 'tripwire A counts');
      assert(api.in + api.out > 0, 'no crossings counted');
      // Occupancy: the FOV histogram the page charted has a non-zero bucket.
      const fov = await (await fetch(`${base}/emdx/api/v2/metrics/occupancy/fov/histogram?sensorId=walk&fromTimestamp=${encodeURIComponent(range[0])}&toTimestamp=${encodeURIComponent(range[1])}&bucketSizeInSec=30`)).json();
      const maxFov = Math.max(...fov.histogram.map((b) => (b.objects.find((o) => o.type === '*') || {}).maxCount || 0));
      assert(maxFov > 0, 'FOV occupancy is zero');
      console.log(`     analytics: tripwire A IN ${api.in} / OUT ${api.out} (objects ${api['in-eff']} / ${api['out-eff']}), FOV max ${maxFov}, range ${range[0]} .. ${range[1]}`);
      await ctx.close();
      await shots(browser, base, null, '#/analytics/walk', 'analytics', (p) => p.waitForFunction(() => document.querySelectorAll('.chart canvas').length >= 3));
    });

    if (rtsp) await test('a recorded range plays from the Recordings timeline', async () => {
      // The first segment is indexed when it closes (about a minute after the camera started).
      let runs = 0;
      for (let i = 0; i < 120 && runs === 0; i++) {
        const r = await fetch(`${base}/api/recordings/rtsp/timeline`);
        if (r.ok) runs = (await r.json()).runs.length;
        if (runs === 0) await sleep(1000);
      }
      assert(runs > 0, 'no recording of the RTSP camera after 2 minutes');
      const ctx = await browser.newContext({ viewport: DESKTOP });
      const page = await ctx.newPage();
      await page.goto(`${base}/ui/#/recordings/rtsp`);
      await page.waitForSelector('svg[data-testid=timeline] rect.run');
      await page.getByRole('button', { name: /^Play from/ }).last().click();
      await page.waitForSelector('video[data-testid=playback]');
      const t = await page.waitForFunction(() => {
        const v = document.querySelector('video[data-testid=playback]');
        if (v.error) return `error ${v.error.code} ${v.error.message}`;
        return v.currentTime > 1 ? v.currentTime : false;
      }, null, { timeout: 20000 }).then((h) => h.jsonValue());
      assert(typeof t === 'number', `the video did not play: ${t}`);
      console.log(`     recordings: ${runs} run(s); playback reached ${t.toFixed(1)} s`);
      await page.getByLabel('Speed').selectOption('4');
      await page.waitForFunction(() => document.querySelector('video[data-testid=playback]').playbackRate === 4, null, { timeout: 5000 });
      await page.getByRole('button', { name: 'Export this clip' }).click();
      await page.waitForSelector('[data-testid=export-link]');
      await ctx.close();
      // The Camera page links each event of the recorded camera to its clip.
      const cp = await browser.newContext({ viewport: DESKTOP });
      const camPage = await cp.newPage();
      await camPage.goto(`${base}/ui/#/camera/rtsp`);
      const href = await camPage.waitForSelector('tr[data-event] a[data-testid=clip]', { timeout: 20000 }).then((a) => a.getAttribute('href'));
      const clip = await fetch(base + href, { redirect: 'manual' });
      assert(clip.status === 307 && /^\/api\/recordings\/rtsp\/view\.mp4\?start=\d+&end=\d+$/.test(clip.headers.get('location')), `clip ${clip.status} ${clip.headers.get('location')}`);
      await cp.close();
      await shots(browser, base, null, '#/recordings/rtsp', 'recordings', async (p) => {
        await p.waitForSelector('svg[data-testid=timeline] rect.run');
        await p.getByRole('button', { name: /^Play from/ }).last().click();
        await p.locator('video[data-testid=playback]').scrollIntoViewIfNeeded();
        await p.waitForFunction(() => document.querySelector('video[data-testid=playback]')?.currentTime > 0.5, null, { timeout: 20000 });
      });
    });
  } finally {
    await srv.stop();
    if (rtsp) rtsp.stop();
  }

  // API key: a second server, no camera, no users.
  const keyed = await startServer('key', ['--auth', 'off', '--api-key', 'sesame'], '');
  try {
    await test('with --api-key the login card takes the key, says when it is wrong, then works', async () => {
      const ctx = await browser.newContext({ viewport: DESKTOP });
      const page = await ctx.newPage();
      await page.goto(`${keyed.base}/ui/`);
      await page.waitForSelector('[data-testid=login]');
      await page.getByRole('button', { name: 'Use an API key instead' }).click();
      await page.screenshot({ path: join(SHOTS, 'apikey-desktop.png') });
      await page.getByLabel('API key', { exact: true }).fill('wrong');
      await page.getByRole('button', { name: 'Use this key' }).click();
      await page.waitForSelector('text=The API key was not accepted');
      await page.screenshot({ path: join(SHOTS, 'apikey-wrong-desktop.png') });
      await page.getByLabel('API key', { exact: true }).fill('sesame');
      await page.getByRole('button', { name: 'Use this key' }).click();
      await page.waitForSelector('[data-testid=no-cameras]');
      await page.screenshot({ path: join(SHOTS, 'overview-empty-desktop.png'), fullPage: true });
      // Stored: a reload needs no prompt.
      await page.reload();
      await page.waitForSelector('[data-testid=no-cameras]');
      // Server unreachable: the page says so.
      await keyed.stop();
      await page.waitForSelector('text=The server cannot be reached', { timeout: 10000 });
      await page.screenshot({ path: join(SHOTS, 'unreachable-desktop.png') });
      await ctx.close();
    });
  } finally {
    await keyed.stop();
  }

  // Users, roles and sessions: a third server with an auth database made by `osprey users add`.
  const authDir = mkdtempSync(join(tmpdir(), 'osprey-ui-authdb-'));
  const db = join(authDir, 'auth.sqlite');
  const PW = { admin: 'correct horse battery', viewer: 'viewer pass 123' };
  let authed = null;
  try {
    await addUser(db, 'admin', 'admin', PW.admin);
    await addUser(db, 'viewer', 'viewer', PW.viewer);
    authed = await startServer('auth', ['--auth-db', db], `[[cameras]]\nid = "walk"\nurl = "${VIDEO}"\nloop = true\ndetect_fps = 2\n`);
    const A = authed.base;

    await test('auth: /ui/ shows the login page; a wrong password is refused; admin logs in, sees the Users page and changes users', async () => {
      const me0 = await fetch(`${A}/api/auth/me`);
      const me0b = await me0.json();
      assert(me0.status === 401 && me0b.auth === true, `/api/auth/me without credentials: ${me0.status} ${JSON.stringify(me0b)}`);
      const ctx = await browser.newContext({ viewport: DESKTOP });
      const page = await ctx.newPage();
      page.on('dialog', (d) => d.accept());
      await page.goto(`${A}/ui/`);
      await page.waitForSelector('[data-testid=login]');
      assert(!(await page.$('nav[aria-label=Pages]')), 'the nav shows before login');
      await uiLogin(page, 'admin', 'not the password');
      const err = await page.waitForSelector('[data-testid=login-error]').then((e) => e.textContent());
      assert(/wrong user name or password/i.test(err), `wrong password: ${err}`);
      await page.screenshot({ path: join(SHOTS, 'login-wrong-desktop.png') });
      await uiLogin(page, 'admin', PW.admin);
      await page.waitForSelector('[data-testid=who]');
      eq([await page.textContent('[data-testid=who]'), await page.textContent('[data-testid=role]')], ['admin', 'admin'], 'header user and role');
      eq(await navLinks(page), ['Overview', 'Camera', 'Setup', 'Analytics', 'Recordings', 'Detect', 'Users'], 'admin nav');
      await page.waitForSelector('tr[data-camera="walk"]'); // the Overview, signed in
      // The session cookie: HttpOnly, SameSite=Strict, Path=/.
      const c = (await ctx.cookies()).find((x) => x.name === 'osprey_session');
      assert(c && c.httpOnly && c.sameSite === 'Strict' && c.path === '/', `session cookie ${JSON.stringify(c)}`);
      assert(!(await page.evaluate(() => document.cookie.includes('osprey_session'))), 'the session cookie is readable from JS');
      await page.getByRole('link', { name: 'Users', exact: true }).click();
      await page.waitForSelector('tr[data-user="admin"]');
      await page.waitForSelector('tr[data-user="viewer"]');
      // Add, change the role of, reset the password of and remove a user, through the UI (CSRF token sent).
      await page.getByLabel('User name', { exact: true }).fill('carol');
      await page.getByLabel('Password', { exact: true }).fill('carol password 1');
      await page.locator('form[aria-label="Add a user"] select').selectOption('operator');
      await page.getByRole('button', { name: 'Add user' }).click();
      await page.waitForSelector('tr[data-user="carol"]');
      eq(await page.locator('tr[data-user="carol"] select').inputValue(), 'operator', 'carol role');
      await page.getByLabel('Role of carol').selectOption('viewer');
      await page.waitForSelector('text=carol is now viewer.');
      await page.getByRole('button', { name: 'Reset the password of carol' }).click();
      await page.getByLabel('New password for carol').fill('carol password 2');
      await page.getByRole('button', { name: 'Set password' }).click();
      await page.waitForSelector('text=Set a new password for carol.');
      const carol = await loginFromNode(A, 'carol', 'carol password 2');
      eq(carol.body.role, 'viewer', 'carol logs in with the new password and role');
      await page.getByRole('button', { name: 'Remove user carol' }).click();
      await page.waitForSelector('tr[data-user="carol"]', { state: 'detached' });
      const gone = await fetch(`${A}/api/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'carol', password: 'carol password 2' }) });
      eq(gone.status, 401, 'a removed user cannot log in');
      // A write with the cookie but no CSRF token is refused; the audit log shows the requests.
      const [st, body] = await pageFetch(page, '/api/users', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'mallory', password: 'mallory password', role: 'admin' }) });
      assert(st === 403 && /CSRF/i.test(body.error), `POST /api/users without X-CSRF-Token: ${st} ${JSON.stringify(body)}`);
      await page.getByRole('button', { name: 'Refresh' }).click();
      await page.waitForSelector('table[data-testid=audit] tbody tr');
      const bad = await page.$('.banner.error');
      assert(!bad, `error on the Users page: ${bad && await bad.textContent()}`);
      // A reload keeps the session.
      await page.reload();
      await page.waitForSelector('tr[data-user="admin"]');
      await ctx.close();
    });

    await test('auth: a viewer sees no Setup link or setup controls, and a forced write gets 403', async () => {
      const ctx = await browser.newContext({ viewport: DESKTOP });
      const page = await ctx.newPage();
      await page.goto(`${A}/ui/#/camera/walk`);
      await uiLogin(page, 'viewer', PW.viewer);
      await page.waitForSelector('[data-testid=who]');
      eq(await page.textContent('[data-testid=role]'), 'viewer', 'role badge');
      assert(page.url().endsWith('#/camera/walk'), `after login: ${page.url()}`);
      eq(await navLinks(page), ['Overview', 'Camera', 'Analytics', 'Recordings', 'Detect'], 'viewer nav');
      await page.waitForSelector('h1:has-text("Camera")');
      eq(await page.getByRole('link', { name: 'Draw lines and regions' }).count(), 0, 'setup link on the Camera page');
      // The live video's WebSocket and the images authenticate with the cookie.
      const t = await page.waitForFunction(() => {
        const v = document.querySelector('video[data-testid=live-video]');
        if (!v) return document.querySelector('img[data-testid=live]')?.naturalWidth > 0 ? 'img' : false;
        if (v.error) return `error ${v.error.code}`;
        return v.currentTime > 0 ? v.currentTime : false;
      }, null, { timeout: 20000 }).then((h) => h.jsonValue());
      assert(typeof t === 'number' || t === 'img', `the live view did not play: ${t}`);
      console.log(`     viewer: live ${typeof t === 'number' ? 'video over the WebSocket' : 'MJPEG'} with the session cookie`);
      await page.goto(`${A}/ui/#/analytics/walk`);
      await page.waitForSelector('#rules-h');
      await page.waitForFunction(() => !document.querySelector('#rules-h').parentElement.textContent.includes('Loading'));
      eq(await page.getByRole('button', { name: 'Save rule' }).count(), 0, 'Save rule for a viewer');
      await page.goto(`${A}/ui/#/setup/walk`);
      await page.waitForSelector('[data-testid=forbidden]');
      assert(!(await page.$('svg[data-testid=draw]')), 'the drawing area shows for a viewer');
      eq(await page.getByRole('button', { name: /Save tripwire|Add camera|Remove/ }).count(), 0, 'setup buttons for a viewer');
      await page.goto(`${A}/ui/#/users`);
      await page.waitForSelector('[data-testid=forbidden]');
      const [st, body] = await page.evaluate(async () => {
        const csrf = (await (await fetch('/api/auth/me')).json()).csrf;
        const r = await fetch('/emdx/api/v2/config/tripwire', { method: 'POST', headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/json' }, body: '{}' });
        return [r.status, await r.json().catch(() => null)];
      });
      assert(st === 403 && /^role viewer/.test(body?.error), `a viewer's forced write: ${st} ${JSON.stringify(body)}`);
      await ctx.close();
    });

    await test('auth: logout ends the session (me 401, reload shows the login page, the old cookie is refused)', async () => {
      const ctx = await browser.newContext({ viewport: DESKTOP });
      const page = await ctx.newPage();
      await page.goto(`${A}/ui/`);
      await uiLogin(page, 'admin', PW.admin);
      await page.waitForSelector('[data-testid=who]');
      const old = (await ctx.cookies()).find((x) => x.name === 'osprey_session').value;
      const before = await fetch(`${A}/api/auth/me`, { headers: { cookie: `osprey_session=${old}` } });
      eq(before.status, 200, 'the cookie works from Node before logout');
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.waitForSelector('[data-testid=login]');
      eq((await pageFetch(page, '/api/auth/me'))[0], 401, '/api/auth/me after logout');
      await page.reload();
      await page.waitForSelector('[data-testid=login]');
      assert(!(await page.$('[data-testid=who]')), 'a user shows after logout');
      const after = await fetch(`${A}/api/auth/me`, { headers: { cookie: `osprey_session=${old}` } });
      eq(after.status, 401, 'the old session cookie after logout');
      const cams = await fetch(`${A}/api/cameras`, { headers: { cookie: `osprey_session=${old}` } });
      eq(cams.status, 401, 'GET /api/cameras with the old cookie');
      await ctx.close();
    });

    await test('auth: an API key made on the Users page is shown once and works with X-API-Key; revoked, it does not', async () => {
      const ctx = await browser.newContext({ viewport: DESKTOP });
      await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: A });
      const page = await ctx.newPage();
      page.on('dialog', (d) => d.accept());
      await page.goto(`${A}/ui/#/users`);
      await uiLogin(page, 'admin', PW.admin);
      await page.waitForSelector('h1:has-text("Users")');
      await page.getByLabel('Key name').fill('ci');
      await page.getByLabel('Key role').selectOption('viewer');
      await page.getByLabel('Expires after (days, empty: never)').fill('30');
      await page.getByRole('button', { name: 'Create key' }).click();
      const dlg = page.locator('dialog[data-testid=new-key]');
      await dlg.waitFor();
      assert(/you will not see it again/i.test(await dlg.textContent()), 'the show-once warning');
      const key = await page.locator('[data-testid=new-key-value]').inputValue();
      assert(/^osk_/.test(key), `the key shown: ${key}`);
      await dlg.getByRole('button', { name: 'Copy' }).click();
      await dlg.locator('[role=status]').waitFor();
      const clip = await page.evaluate(() => navigator.clipboard.readText().catch(() => null));
      assert(clip === null || clip === key, 'the clipboard holds another text');
      await page.screenshot({ path: join(SHOTS, 'users-newkey-desktop.png') });
      await dlg.getByRole('button', { name: 'Done' }).click();
      await dlg.waitFor({ state: 'hidden' });
      assert(!(await page.content()).includes(key), 'the key is still in the page after Done');
      const row = page.locator('table[data-testid=keys] tbody tr', { hasText: 'ci' });
      await row.waitFor();
      // The key from Node: reads work, the role is the key's, and writes need no CSRF token (403 is the role).
      const H = { 'X-API-Key': key };
      const cams = await fetch(`${A}/api/cameras`, { headers: H });
      eq(cams.status, 200, 'GET /api/cameras with the new key');
      const who = await (await fetch(`${A}/api/auth/me`, { headers: H })).json();
      eq([who.kind, who.role], ['key', 'viewer'], '/api/auth/me with the key');
      const w = await fetch(`${A}/emdx/api/v2/config/tripwire`, { method: 'POST', headers: { ...H, 'Content-Type': 'application/json' }, body: '{}' });
      const wb = await w.json();
      assert(w.status === 403 && !/CSRF/i.test(wb.error), `a write with a viewer key: ${w.status} ${JSON.stringify(wb)}`);
      await shots(browser, A, null, '#/users', 'users', (p) => p.waitForSelector('table[data-testid=audit] tbody tr'), null, await ctx.cookies());
      await row.getByRole('button', { name: /^Revoke/ }).click();
      await row.waitFor({ state: 'detached' });
      eq((await fetch(`${A}/api/cameras`, { headers: H })).status, 401, 'GET /api/cameras with the revoked key');
      await ctx.close();
    });

    await test('auth: screenshots of the login page (desktop and 390 px)', async () => {
      await shots(browser, A, null, '', 'login', (p) => p.waitForSelector('[data-testid=login]'));
    });

    // Last: it locks 127.0.0.1 out of this server.
    await test('auth: after repeated wrong passwords the login card says how long to wait (429, Retry-After)', async () => {
      const ctx = await browser.newContext({ viewport: DESKTOP });
      const page = await ctx.newPage();
      await page.goto(`${A}/ui/`);
      let text = '';
      for (let i = 0; i < 8; i++) {
        await page.getByLabel('User name').fill('admin');
        await page.getByLabel('Password', { exact: true }).fill(`wrong ${i}`);
        const [resp] = await Promise.all([
          page.waitForResponse((r) => r.url().endsWith('/api/auth/login')),
          page.getByRole('button', { name: 'Log in', exact: true }).click(),
        ]);
        await page.waitForFunction(() => document.querySelector('[data-testid=login-error]') && !document.querySelector('.login button[type=submit]').textContent.includes('…'));
        text = await page.textContent('[data-testid=login-error]');
        if (resp.status() === 429) break;
        assert(resp.status() === 401, `wrong password ${i}: ${resp.status()}`);
      }
      assert(/Too many failed logins from this address\. Try again in \d+ s\./.test(text), `login card: ${text}`);
      assert(await page.getByRole('button', { name: 'Log in', exact: true }).isDisabled(), 'Log in is enabled while locked out');
      await page.screenshot({ path: join(SHOTS, 'login-locked-desktop.png') });
      const r = await fetch(`${A}/api/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: PW.admin }) });
      const b = await r.json();
      assert(r.status === 429 && Number(r.headers.get('retry-after')) > 0 && b.retry_after_s > 0, `login while locked out: ${r.status} Retry-After ${r.headers.get('retry-after')} ${JSON.stringify(b)}`);
      console.log(`     lock-out: "${text}"; the API says ${r.headers.get('retry-after')} s`);
      await ctx.close();
    });
  } finally {
    if (authed) await authed.stop();
  }

  // HTTPS (a self-signed certificate): the page over HTTP/2, the login cookie marked Secure, and
  // the live view's WebSocket (wss) playing with that cookie.
  let secure = null;
  try {
    secure = await startServer('tls', ['--auth-db', db, '--tls-self-signed'], `[[cameras]]\nid = "walk"\nurl = "${VIDEO}"\nloop = true\ndetect_fps = 2\n`);
    const S = secure.base;
    await test('tls: over HTTPS the UI loads by HTTP/2, the session cookie is Secure, and the live video plays over wss', async () => {
      const ctx = await browser.newContext({ viewport: DESKTOP, ignoreHTTPSErrors: true });
      const page = await ctx.newPage();
      await page.goto(`${S}/ui/#/camera/walk`);
      await page.fill('#login-user', 'viewer');
      await page.fill('#login-pw', PW.viewer);
      await page.getByRole('button', { name: 'Log in', exact: true }).click();
      await page.waitForSelector('h1:has-text("Camera")');
      const proto = await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
      eq(proto, 'h2', 'the page\'s protocol');
      const cookie = (await ctx.cookies()).find((c) => c.name === 'osprey_session');
      assert(cookie && cookie.secure && cookie.httpOnly && cookie.sameSite === 'Strict', `cookie ${JSON.stringify(cookie)}`);
      const t = await page.waitForFunction(() => {
        const v = document.querySelector('video[data-testid=live-video]');
        if (!v) return false;
        if (v.error) return `error ${v.error.code}`;
        return v.currentTime > 0.5 ? v.currentTime : false;
      }, null, { timeout: 30000 }).then((h) => h.jsonValue());
      assert(typeof t === 'number', `the live video did not play over wss: ${t}`);
      console.log(`     https: page over ${proto}, Secure cookie, live video at ${t.toFixed(1)} s over wss`);
      await ctx.close();
    });
  } finally {
    if (secure) await secure.stop();
    rmSync(authDir, { recursive: true, force: true });
    await browser.close();
  }
}

try {
  await main();
} catch (e) {
  results.push(['setup', false]);
  console.log(`FAIL setup: ${e && e.stack ? e.stack : e}`);
}
const passed = results.filter((r) => r[1]).length;
console.log(`screenshots in ${SHOTS}`);
console.log(`${passed} passed, ${results.length - passed} failed`);
process.exit(results.length === passed ? 0 : 1);
