import { useEffect, useRef, useState } from 'preact/hooks';
import { api, getOr, withKey, epoch } from '../api.js';
import { pickCamera, refreshCameras, cameras, go } from '../store.js';
import { CameraSelect, NeedCamera, CameraHealth, Err } from './common.jsx';

const CLASSES = ['person', 'bicycle', 'car', 'motorcycle', 'bus', 'truck', 'dog', 'cat'];
const P = (x, y) => ({ x: Math.round(x), y: Math.round(y) });
const ptsText = (pts) => pts.map((p) => `${p.x},${p.y}`).join(' ');
const parsePts = (s) => s.trim().split(/\s+/).filter(Boolean).map((t) => t.split(',').map(Number))
  .filter((a) => a.length === 2 && a.every(Number.isFinite)).map(([x, y]) => P(x, y));

/** An arrow across the wire's first segment, pointing to its left (image y down) or right. */
function arrowFor(wire, flip, len) {
  const [a, b] = wire;
  const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2;
  let nx = -(b.y - a.y), ny = b.x - a.x;
  const n = Math.hypot(nx, ny) || 1;
  nx = (nx / n) * len * (flip ? -1 : 1); ny = (ny / n) * len * (flip ? -1 : 1);
  return { p1: P(mx - nx, my - ny), p2: P(mx + nx, my + ny) };
}

function blank(kind, n) {
  return kind === 'tripwire'
    ? { id: `line${n}`, name: '', wire: [], direction: null, classes: [], entry: 'in', exit: 'out', flip: false }
    : { id: `region${n}`, name: '', coordinates: [], classes: [] };
}

/** The rule as the API takes it. */
function toApi(kind, d, size) {
  const base = { id: d.id.trim() };
  if (d.name.trim()) base.name = d.name.trim();
  if (kind === 'tripwire') {
    const dir = d.direction || arrowFor(d.wire, d.flip, Math.max(10, Math.min(size.w, size.h) / 12));
    Object.assign(base, { wire: d.wire, direction: { ...dir, entry: { name: d.entry || 'in' }, exit: { name: d.exit || 'out' } } });
  } else base.coordinates = d.coordinates;
  if (d.classes.length) base.classes = d.classes;
  return base;
}
function fromApi(kind, r) {
  return kind === 'tripwire'
    ? { id: r.id, name: r.name || '', wire: r.wire, direction: { p1: r.direction.p1, p2: r.direction.p2 }, classes: r.classes || [],
        entry: r.direction.entry?.name || 'in', exit: r.direction.exit?.name || 'out', flip: false }
    : { id: r.id, name: r.name || '', coordinates: r.coordinates, classes: r.classes || [] };
}

function Editor({ cam, size }) {
  const [kind, setKind] = useState('tripwire');
  const [saved, setSaved] = useState({ tripwire: null, roi: null });
  const [draft, setDraft] = useState(blank('tripwire', 1));
  const [msg, setMsg] = useState(null);
  const [err, setErr] = useState(null);
  const [snap, setSnap] = useState(0);
  const svg = useRef(null);
  const drag = useRef(null);

  const load = async () => {
    try {
      const [t, r] = await Promise.all([
        getOr(`/emdx/api/v2/config/tripwire?sensorId=${encodeURIComponent(cam.id)}`, { tripwires: [] }),
        getOr(`/emdx/api/v2/config/roi?sensorId=${encodeURIComponent(cam.id)}`, { rois: [] }),
      ]);
      setSaved({ tripwire: t.tripwires, roi: r.rois });
    } catch (e) { setErr(e); }
  };
  useEffect(() => { load(); }, [cam.id, epoch.value]);

  const pts = kind === 'tripwire' ? draft.wire : draft.coordinates;
  const setPts = (p) => setDraft((d) => (kind === 'tripwire' ? { ...d, wire: p, direction: null } : { ...d, coordinates: p }));
  const toImg = (e) => {
    const m = svg.current.getScreenCTM().inverse();
    const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(m);
    // The pixel under the pointer.
    return { x: Math.floor(Math.min(size.w - 1, Math.max(0, p.x))), y: Math.floor(Math.min(size.h - 1, Math.max(0, p.y))) };
  };
  const onDown = (e) => {
    if (e.button !== 0) return;
    const idx = e.target.dataset?.idx;
    if (idx !== undefined) { drag.current = Number(idx); svg.current.setPointerCapture(e.pointerId); return; }
    setPts([...pts, toImg(e)]);
  };
  const onMove = (e) => {
    if (drag.current == null) return;
    const p = [...pts]; p[drag.current] = toImg(e); setPts(p);
  };
  const onUp = () => { drag.current = null; };

  const switchKind = (k) => { setKind(k); setDraft(blank(k, (saved[k]?.length || 0) + 1)); setMsg(null); setErr(null); };
  const list = saved[kind] || [];
  const enough = kind === 'tripwire' ? pts.length >= 2 : pts.length >= 3;

  const save = async () => {
    setErr(null); setMsg(null);
    const rule = toApi(kind, draft, size);
    const others = list.filter((r) => r.id !== rule.id);
    const body = kind === 'tripwire'
      ? { sensorId: cam.id, deleteIfPresent: true, tripwires: [...others, rule] }
      : { sensorId: cam.id, deleteIfPresent: true, rois: [...others, rule] };
    try {
      await api(`/emdx/api/v2/config/${kind}`, { method: 'POST', json: body });
      setMsg(`Saved ${kind === 'tripwire' ? 'tripwire' : 'region'} ${rule.id}.`);
      await load();
      setDraft(blank(kind, list.length + 2));
    } catch (e) { setErr(e); }
  };
  const remove = async (id) => {
    setErr(null);
    try {
      await api(`/emdx/api/v2/config/${kind}?sensorId=${encodeURIComponent(cam.id)}&${kind === 'tripwire' ? 'tripwireId' : 'roiId'}=${encodeURIComponent(id)}`, { method: 'DELETE' });
      setMsg(`Deleted ${id}.`);
      await load();
    } catch (e) { setErr(e); }
  };

  const arrow = kind === 'tripwire' && pts.length >= 2
    ? draft.direction || arrowFor(pts, draft.flip, Math.max(10, Math.min(size.w, size.h) / 12)) : null;
  const stroke = Math.max(2, size.w / 320);
  const toggleClass = (c) => setDraft((d) => ({ ...d, classes: d.classes.includes(c) ? d.classes.filter((x) => x !== c) : [...d.classes, c] }));

  return (
    <>
      <div class="toolbar" role="group" aria-label="What to draw">
        <button type="button" aria-pressed={kind === 'tripwire'} onClick={() => switchKind('tripwire')}>Tripwire</button>
        <button type="button" aria-pressed={kind === 'roi'} onClick={() => switchKind('roi')}>Region (ROI)</button>
        <button type="button" class="secondary" onClick={() => setSnap(snap + 1)}>New snapshot</button>
      </div>
      <p class="muted small">Click on the picture to add points ({kind === 'tripwire' ? 'a line of 2 or more points' : 'a polygon of 3 or more points'}); drag a point to move it.
        Coordinates are stream pixels ({size.w}×{size.h}); they can also be typed below.</p>
      <div class="editor" style={{ aspectRatio: `${size.w} / ${size.h}` }}>
        <img src={withKey(`/api/cameras/${encodeURIComponent(cam.id)}/snapshot.jpg?t=${snap}`)} alt={`Snapshot of camera ${cam.id}`} />
        <svg ref={svg} data-testid="draw" viewBox={`0 0 ${size.w} ${size.h}`} preserveAspectRatio="none"
          onPointerDown={onDown} onPointerMove={onMove} onPointerUp={onUp}
          role="img" aria-label="Drawing area: click to add points">
          <defs>
            <marker id="arrowhead" markerWidth="6" markerHeight="6" refX="5" refY="3" orient="auto">
              <path d="M0,0 L6,3 L0,6 z" fill="#ffd400" />
            </marker>
            <marker id="arrowhead-saved" markerWidth="6" markerHeight="6" refX="5" refY="3" orient="auto">
              <path d="M0,0 L6,3 L0,6 z" fill="#39f" />
            </marker>
          </defs>
          {(saved.tripwire || []).map((t) => (
            <g class="saved">
              <polyline points={ptsText(t.wire)} fill="none" stroke="#39f" stroke-width={stroke} />
              <line x1={t.direction.p1.x} y1={t.direction.p1.y} x2={t.direction.p2.x} y2={t.direction.p2.y} stroke="#39f" stroke-width={stroke / 1.5} marker-end="url(#arrowhead-saved)" />
              <text x={t.wire[0].x + 4} y={t.wire[0].y - 4} font-size={size.w / 40} fill="#fff" stroke="#000" stroke-width="0.5">{t.id}</text>
            </g>
          ))}
          {(saved.roi || []).map((r) => (
            <g class="saved">
              <polygon points={ptsText(r.coordinates)} fill="rgba(51,153,255,0.18)" stroke="#39f" stroke-width={stroke} />
              <text x={r.coordinates[0].x + 4} y={r.coordinates[0].y + size.w / 40} font-size={size.w / 40} fill="#fff" stroke="#000" stroke-width="0.5">{r.id}</text>
            </g>
          ))}
          {kind === 'tripwire'
            ? <polyline points={ptsText(pts)} fill="none" stroke="#ffd400" stroke-width={stroke * 1.5} />
            : <polygon points={ptsText(pts)} fill="rgba(255,212,0,0.25)" stroke="#ffd400" stroke-width={stroke * 1.5} />}
          {arrow && <line x1={arrow.p1.x} y1={arrow.p1.y} x2={arrow.p2.x} y2={arrow.p2.y} stroke="#ffd400" stroke-width={stroke} marker-end="url(#arrowhead)" />}
          {arrow && <text x={arrow.p2.x + 4} y={arrow.p2.y} font-size={size.w / 36} fill="#ffd400" stroke="#000" stroke-width="0.4">{draft.entry || 'in'}</text>}
          {pts.map((p, i) => <circle data-idx={i} cx={p.x} cy={p.y} r={stroke * 3} fill="#ffd400" stroke="#000" stroke-width={stroke / 2} class="handle" />)}
        </svg>
      </div>
      <Err e={err} />
      {msg && <div class="banner ok" role="status">{msg}</div>}
      <form class="card form" onSubmit={(e) => { e.preventDefault(); save(); }}>
        <h2>{kind === 'tripwire' ? 'New tripwire' : 'New region'}</h2>
        <div class="fields">
          <label>Id <input required pattern="[A-Za-z0-9_\-]+" value={draft.id} onInput={(e) => setDraft({ ...draft, id: e.currentTarget.value })} /></label>
          <label>Name <input value={draft.name} onInput={(e) => setDraft({ ...draft, name: e.currentTarget.value })} /></label>
          {kind === 'tripwire' && <>
            <label>Entry name (arrow way) <input value={draft.entry} onInput={(e) => setDraft({ ...draft, entry: e.currentTarget.value })} /></label>
            <label>Exit name <input value={draft.exit} onInput={(e) => setDraft({ ...draft, exit: e.currentTarget.value })} /></label>
          </>}
          <label class="wide">Points (x,y …) <input data-testid="points" value={ptsText(pts)} onChange={(e) => setPts(parsePts(e.currentTarget.value))} /></label>
        </div>
        <fieldset class="classes"><legend>Classes counted (none ticked: all)</legend>
          {CLASSES.map((c) => <label class="inline"><input type="checkbox" checked={draft.classes.includes(c)} onChange={() => toggleClass(c)} /> {c}</label>)}
        </fieldset>
        <div class="toolbar">
          {kind === 'tripwire' && <button type="button" class="secondary" disabled={pts.length < 2} onClick={() => setDraft({ ...draft, direction: null, flip: !draft.flip })}>Flip direction</button>}
          <button type="button" class="secondary" disabled={!pts.length} onClick={() => setPts(pts.slice(0, -1))}>Undo point</button>
          <button type="button" class="secondary" disabled={!pts.length} onClick={() => setPts([])}>Clear</button>
          <button type="submit" disabled={!enough}>Save {kind === 'tripwire' ? 'tripwire' : 'region'}</button>
        </div>
      </form>
      <section class="card" aria-labelledby="saved-h">
        <h2 id="saved-h">Saved {kind === 'tripwire' ? 'tripwires' : 'regions'}</h2>
        {list.length === 0 ? <p>None yet.</p> : (
          <ul class="rules">{list.map((r) => (
            <li><strong>{r.id}</strong>{r.name ? ` (${r.name})` : ''} <span class="muted small">{ptsText(r.wire || r.coordinates)}{r.classes?.length ? ' · ' + r.classes.join(', ') : ''}</span>{' '}
              <button type="button" class="secondary" onClick={() => setDraft(fromApi(kind, r))} aria-label={`Edit ${r.id}`}>Edit</button>{' '}
              <button type="button" class="danger" onClick={() => remove(r.id)} aria-label={`Delete ${r.id}`}>Delete</button></li>
          ))}</ul>
        )}
      </section>
    </>
  );
}

function CameraAdmin() {
  const [f, setF] = useState({ id: '', url: '', detect_fps: '', loop: true, labels: '', record: 'off', retain_days: '', retain_gb: '' });
  const [err, setErr] = useState(null);
  const [msg, setMsg] = useState(null);
  const add = async (e) => {
    e.preventDefault(); setErr(null); setMsg(null);
    const spec = { id: f.id.trim(), url: f.url.trim() };
    if (f.detect_fps) spec.detect_fps = Number(f.detect_fps);
    if (!/^(rtsp|https?|ffmpeg):/.test(spec.url)) spec.loop = f.loop;
    const labels = f.labels.split(',').map((s) => s.trim()).filter(Boolean);
    if (labels.length) spec.labels = labels;
    if (f.record !== 'off') spec.record = f.record;
    if (f.retain_days) spec.retain_days = Number(f.retain_days);
    if (f.retain_gb) spec.retain_bytes = Math.round(Number(f.retain_gb) * 1e9);
    try {
      await api('/api/cameras', { method: 'POST', json: spec });
      setMsg(`Added camera ${spec.id}.`); await refreshCameras(); go('setup', spec.id);
    } catch (e2) { setErr(e2); }
  };
  const remove = async (id) => {
    if (!confirm(`Remove camera ${id}?`)) return;
    setErr(null);
    try { await api(`/api/cameras/${encodeURIComponent(id)}`, { method: 'DELETE' }); setMsg(`Removed ${id}.`); await refreshCameras(); } catch (e) { setErr(e); }
  };
  return (
    <section class="card" aria-labelledby="camadmin-h">
      <h2 id="camadmin-h">Cameras</h2>
      <Err e={err} />
      {msg && <div class="banner ok" role="status">{msg}</div>}
      <ul class="rules">{(cameras.value || []).map((c) => (
        <li><strong>{c.id}</strong> <span class="muted small">{c.url}</span>{' '}
          <button type="button" class="danger" onClick={() => remove(c.id)} aria-label={`Remove camera ${c.id}`}>Remove</button></li>
      ))}</ul>
      <form class="form" onSubmit={add}>
        <div class="fields">
          <label>Camera id <input required pattern="[A-Za-z0-9_\-]+" value={f.id} onInput={(e) => setF({ ...f, id: e.currentTarget.value })} /></label>
          <label class="wide">URL (rtsp://, http:// MJPEG, file path) <input required value={f.url} onInput={(e) => setF({ ...f, url: e.currentTarget.value })} /></label>
          <label>Detections per second <input type="number" min="0.1" step="0.1" value={f.detect_fps} onInput={(e) => setF({ ...f, detect_fps: e.currentTarget.value })} /></label>
          <label>Labels (comma separated) <input value={f.labels} onInput={(e) => setF({ ...f, labels: e.currentTarget.value })} /></label>
          <label>Recording <select value={f.record} onChange={(e) => setF({ ...f, record: e.currentTarget.value })}>
            <option value="off">off</option><option value="continuous">continuous</option><option value="events">events (around objects)</option>
          </select></label>
          <label>Keep recordings (days) <input type="number" min="0.01" step="any" value={f.retain_days} onInput={(e) => setF({ ...f, retain_days: e.currentTarget.value })} /></label>
          <label>Most storage (GB) <input type="number" min="0.001" step="any" value={f.retain_gb} onInput={(e) => setF({ ...f, retain_gb: e.currentTarget.value })} /></label>
          <label class="inline"><input type="checkbox" checked={f.loop} onChange={(e) => setF({ ...f, loop: e.currentTarget.checked })} /> Loop a file</label>
        </div>
        <button type="submit">Add camera</button>
      </form>
    </section>
  );
}

export function Setup({ arg }) {
  const cam = pickCamera(arg);
  const missing = NeedCamera({ cam });
  return (
    <>
      <h1>Setup{cam ? <> <span class="accent">{cam.id}</span></> : null}</h1>
      {missing || (
        <>
          <div class="toolbar"><CameraSelect page="setup" current={cam.id} /></div>
          <CameraHealth cam={cam} />
          {cam.stream ? <Editor key={cam.id} cam={cam} size={{ w: cam.stream.width, h: cam.stream.height }} />
            : <p class="muted">The stream has not opened yet; lines can be drawn once its size is known.</p>}
        </>
      )}
      <CameraAdmin />
    </>
  );
}
