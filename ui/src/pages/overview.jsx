import { useEffect, useRef, useState } from 'preact/hooks';
import { api, parseProm, epoch, can } from '../api.js';
import { cameras, camerasError, fmt } from '../store.js';
import { Err, StateBadge } from './common.jsx';
import { useRecordings } from './recordings.jsx';

const sum = (rows, name, pred = () => true) =>
  rows.filter((r) => r.name === name && pred(r.labels)).reduce((a, r) => a + r.value, 0);
const isDetect = (l) => l.route === '/v1/vision/detection' || l.route === '/v1/vision/custom/{model}';

/** Models, request rate and latency (from /metrics, two samples apart), cameras. */
function useServer() {
  const [s, setS] = useState({ models: null, rate: null, err: null });
  const prev = useRef(null);
  useEffect(() => {
    let live = true;
    const tick = async () => {
      try {
        const [list, text] = await Promise.all([
          // A role without the detection routes sees no model list.
          api('/v1/vision/custom/list').catch((e) => (e.status === 403 ? { models: [] } : Promise.reject(e))),
          fetch('/metrics').then((r) => (r.ok ? r.text() : '')),
        ]);
        const rows = parseProm(text);
        const info = rows.filter((r) => r.name === 'osprey_model_info');
        const models = (list.models || []).map((name) => ({
          name, ...((info.find((i) => i.labels.model === name) || {}).labels || {}),
        }));
        const now = performance.now();
        const cur = {
          t: now,
          all: sum(rows, 'osprey_http_requests_total', (l) => l.route !== '/metrics'),
          det: sum(rows, 'osprey_http_requests_total', isDetect),
          detSum: sum(rows, 'osprey_http_request_duration_seconds_sum', isDetect),
          detCount: sum(rows, 'osprey_http_request_duration_seconds_count', isDetect),
          allSum: sum(rows, 'osprey_http_request_duration_seconds_sum', (l) => l.route !== '/metrics'),
          allCount: sum(rows, 'osprey_http_request_duration_seconds_count', (l) => l.route !== '/metrics'),
          up: rows.find((r) => r.name === 'process_start_time_seconds')?.value,
          version: rows.find((r) => r.name === 'osprey_build_info')?.labels.version,
        };
        let rate = null;
        const p = prev.current;
        if (p) {
          const dt = (cur.t - p.t) / 1000;
          rate = {
            all: (cur.all - p.all) / dt,
            det: (cur.det - p.det) / dt,
            detMs: cur.detCount > p.detCount ? ((cur.detSum - p.detSum) / (cur.detCount - p.detCount)) * 1e3 : null,
            allMs: cur.allCount > p.allCount ? ((cur.allSum - p.allSum) / (cur.allCount - p.allCount)) * 1e3 : null,
          };
        }
        prev.current = cur;
        if (live) setS({ models, rate, totals: cur, err: null });
      } catch (e) {
        if (live) setS((o) => ({ ...o, err: e }));
      }
    };
    tick();
    const t = setInterval(tick, 3000);
    return () => { live = false; clearInterval(t); };
  }, [epoch.value]);
  return s;
}

export function Overview() {
  const s = useServer();
  const list = cameras.value;
  const rec = useRecordings();
  const recOf = (id) => (rec && rec.cameras || []).find((c) => c.camera === id);
  const recText = (id) => {
    if (!rec || rec.error) return '–';
    if (!rec.enabled) return 'not configured';
    const r = recOf(id);
    if (!r) return 'off';
    const mbs = r.bytes >= 1e9 ? (r.bytes / 1e9).toFixed(2) + ' GB' : (r.bytes / 1e6).toFixed(1) + ' MB';
    return `${r.recorder?.phase || 'off'} · ${mbs}`;
  };
  return (
    <>
      <h1>Overview{s.totals?.version ? <small> Osprey {s.totals.version}</small> : null}</h1>
      <Err e={s.err} />
      <div class="grid2">
        <section class="card" aria-labelledby="models-h">
          <h2 id="models-h">Models</h2>
          {s.models === null ? <p class="muted">Loading…</p> : s.models.length === 0 ? <p>No models loaded.</p> : (
            <table class="models">
              <thead><tr><th scope="col">model</th><th scope="col">provider</th><th scope="col">input</th></tr></thead>
              <tbody>
                {s.models.map((m) => (
                  <tr><td>{m.name}</td><td>{m.provider || '–'}</td><td>{m.imgsz || m.input || '–'}</td></tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <section class="card" aria-labelledby="req-h">
          <h2 id="req-h">Requests</h2>
          <dl class="kv">
            <dt>detection rate</dt><dd data-testid="det-rate">{s.rate ? fmt(s.rate.det, 2) + ' /s' : 'measuring…'}</dd>
            <dt>detection latency (mean)</dt><dd>{s.rate?.detMs != null ? fmt(s.rate.detMs, 1) + ' ms' : '–'}</dd>
            <dt>all requests</dt><dd>{s.rate ? fmt(s.rate.all, 2) + ' /s' : 'measuring…'}</dd>
            <dt>detection requests since start</dt><dd>{s.totals ? s.totals.det : '–'}</dd>
          </dl>
        </section>
      </div>
      <section class="card" aria-labelledby="cams-h">
        <h2 id="cams-h">Cameras</h2>
        {camerasError.value ? <Err e={camerasError.value} /> : list === null ? <p class="muted">Loading cameras…</p> : list.length === 0 ? (
          <p data-testid="no-cameras">No cameras yet. {can.value.operate ? <>Add one on the <a href="#/setup">Setup</a> page or with</> : 'An operator can add one with'} <code>--camera ID=URL</code>.</p>
        ) : (
          <div class="tablewrap">
            <table class="cams" data-testid="camera-list">
              <thead><tr>
                <th scope="col">camera</th><th scope="col">state</th><th scope="col">stream</th>
                <th scope="col">fps in / detected</th><th scope="col">tracks</th><th scope="col">dropped</th>
                <th scope="col">reconnects</th><th scope="col">recording · storage</th>
              </tr></thead>
              <tbody>
                {list.map((c) => (
                  <tr data-camera={c.id}>
                    <td class="name"><a href={'#/camera/' + encodeURIComponent(c.id)}>{c.id}</a><div class="muted small">{c.source} · {c.model}</div></td>
                    <td data-l="state"><StateBadge cam={c} />{c.last_error && c.state !== 'connected' ? <div class="small">{c.last_error.message}</div> : null}</td>
                    <td data-l="stream">{c.stream ? `${c.stream.codec} ${c.stream.width}×${c.stream.height}` : '–'}</td>
                    <td data-l="fps in / detected" class="fps" data-fps={c.fps?.detected}>{fmt(c.fps?.in)} / {fmt(c.fps?.detected)}</td>
                    <td data-l="tracks">{c.tracks}</td>
                    <td data-l="dropped">{c.frames?.dropped ?? 0}</td>
                    <td data-l="reconnects">{c.reconnects}</td>
                    <td data-l="recording">{recText(c.id)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
