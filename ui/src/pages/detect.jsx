import { useState } from 'preact/hooks';
import { api, apiKey } from '../api.js';
import { fmt } from '../store.js';
import { Err } from './common.jsx';

const COLORS = ['#00e0ff', '#ff7f0e'];

/** A label on a filled tab, kept inside the image. */
function Label({ p, i, sw, w }) {
  const fs = sw * 8;
  const text = `${p.label} ${fmt(p.confidence, 2)}`;
  const tw = text.length * fs * 0.6 + sw * 2;
  const x = Math.max(0, Math.min(p.x_min, w - tw));
  const y = p.y_min >= fs * 1.3 ? p.y_min - fs * 1.3 : p.y_min;
  return (
    <g>
      <rect x={x} y={y} width={tw} height={fs * 1.3} fill={COLORS[i % 2]} />
      <text x={x + sw} y={y + fs} font-size={fs} fill="#000">{text}</text>
    </g>
  );
}

export function Detect() {
  const [file, setFile] = useState(null);
  const [url, setUrl] = useState(null);
  const [size, setSize] = useState(null);
  const [conf, setConf] = useState('0.4');
  const [res, setRes] = useState(null);
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const pick = (f) => {
    setFile(f); setRes(null); setSize(null);
    if (url) URL.revokeObjectURL(url);
    setUrl(f ? URL.createObjectURL(f) : null);
  };
  const run = async (e) => {
    e.preventDefault(); if (!file) return;
    setBusy(true); setErr(null);
    const fd = new FormData();
    fd.append('image', file, file.name);
    fd.append('min_confidence', conf);
    try {
      const r = await api('/v1/vision/detection', { method: 'POST', body: fd });
      if (!r.success) throw new Error(r.error || 'detection failed');
      setRes(r);
    } catch (e2) { setErr(e2); setRes(null); } finally { setBusy(false); }
  };
  const sw = size ? Math.max(2, size.w / 300) : 2;
  return (
    <>
      <h1>Detect</h1>
      <p class="muted">Send an image to <code>POST /v1/vision/detection</code> (the DeepStack API) and see what the default model finds{apiKey.value ? ' (with your API key)' : ''}.</p>
      <form class="card form" onSubmit={run}>
        <div class="fields">
          <label class="wide">Image (JPEG, PNG, WebP, BMP) <input type="file" accept="image/*" data-testid="file" onChange={(e) => pick(e.currentTarget.files[0] || null)} /></label>
          <label>Minimum confidence <input type="number" min="0.1" max="1" step="0.05" value={conf} onInput={(e) => setConf(e.currentTarget.value)} /></label>
        </div>
        <button type="submit" disabled={!file || busy}>{busy ? 'Detecting…' : 'Detect objects'}</button>
      </form>
      <Err e={err} />
      {url && (
        <div class="detectview" style={size ? { aspectRatio: `${size.w} / ${size.h}` } : null}>
          <img src={url} alt="The uploaded image" onLoad={(e) => setSize({ w: e.currentTarget.naturalWidth, h: e.currentTarget.naturalHeight })} />
          {size && res && (
            <svg viewBox={`0 0 ${size.w} ${size.h}`} preserveAspectRatio="none" data-testid="boxes" aria-label={`${res.count} objects found`} role="img">
              {res.predictions.map((p, i) => (
                <g data-label={p.label} data-box={`${p.x_min},${p.y_min},${p.x_max},${p.y_max}`}>
                  <rect x={p.x_min} y={p.y_min} width={p.x_max - p.x_min} height={p.y_max - p.y_min} fill="none" stroke={COLORS[i % 2]} stroke-width={sw} />
                  <Label p={p} i={i} sw={sw} w={size.w} />
                </g>
              ))}
            </svg>
          )}
        </div>
      )}
      {res && (
        <section class="card" aria-labelledby="pred-h">
          <h2 id="pred-h">{res.count} object{res.count === 1 ? '' : 's'} · {res.inferenceMs} ms inference</h2>
          <div class="tablewrap"><table data-testid="predictions">
            <thead><tr><th scope="col">label</th><th scope="col">confidence</th><th scope="col">box (x min, y min, x max, y max)</th></tr></thead>
            <tbody>{res.predictions.map((p) => <tr><td>{p.label}</td><td>{fmt(p.confidence, 3)}</td><td>{p.x_min}, {p.y_min}, {p.x_max}, {p.y_max}</td></tr>)}</tbody>
          </table></div>
        </section>
      )}
    </>
  );
}
