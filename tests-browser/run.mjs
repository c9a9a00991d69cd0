// End-to-end tests of the web UI: headless Debian Chromium driven by playwright-core against the
// real `osprey serve` with the pedestrian video as a looping file camera. Prints what it measured
// (asset sizes, first page usable time), saves screenshots of every page (desktop and 390 px) to
// target/ui-screenshots/, and ends with "N passed, N failed".
//
// Environment: OSPREY_BIN (default: $CARGO_TARGET_DIR/release/osprey, else target/release/osprey),
// OSPREY_SHARED (default ../shared), ORT_DYLIB_PATH (default runtime/onnxruntime/lib/
// libonnxruntime.so), CHROMIUM (default /usr/bin/chromium), SCREENSHOTS (default
// target/ui-screenshots).
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { request } from 'node:http';
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
async function test(name, fn) {
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
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`osprey exited ${child.exitCode}: ${Buffer.concat(log).toString().slice(-2000)}`);
    try { if ((await fetch(base + '/readyz')).ok) break; } catch { /* not up yet */ }
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
async function shots(browser, base, page, hash, name, ready, storage) {
  for (const [vp, tag] of [[DESKTOP, 'desktop'], [PHONE, '390']]) {
    const ctx = await browser.newContext({ viewport: vp, deviceScaleFactor: 1 });
    if (storage) await ctx.addInitScript(storage);
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
  const srv = await startServer('main', [], cfg);
  const { base } = srv;
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

  // API key: a second server, no camera.
  const keyed = await startServer('key', ['--api-key', 'sesame'], '');
  try {
    await test('with --api-key the UI asks for the key, says when it is wrong, then works', async () => {
      const ctx = await browser.newContext({ viewport: DESKTOP });
      const page = await ctx.newPage();
      await page.goto(`${keyed.base}/ui/`);
      await page.waitForSelector('text=This server needs an API key');
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
