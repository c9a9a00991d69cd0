import { useEffect, useRef, useState } from 'preact/hooks';
import { api, withKey, epoch, can } from '../api.js';
import { cameras, go } from '../store.js';
import { Err } from './common.jsx';

const DAY = 86400000;
const pad = (n) => String(n).padStart(2, '0');
/** The browser's UTC offset for a date, as the API's `tz` (+02:00). */
function tzOf(d) {
  const m = -d.getTimezoneOffset();
  return (m >= 0 ? '+' : '-') + pad(Math.floor(Math.abs(m) / 60)) + ':' + pad(Math.abs(m) % 60);
}
const ymd = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
const midnight = (s) => { const [y, m, d] = s.split('-').map(Number); return new Date(y, m - 1, d).getTime(); };
const hhmmss = (ms) => new Date(ms).toLocaleTimeString();
const mb = (b) => (b == null ? '–' : b >= 1e9 ? (b / 1e9).toFixed(2) + ' GB' : (b / 1e6).toFixed(1) + ' MB');

/** The recording status per camera, or { enabled: false }. */
export function useRecordings() {
  const [r, setR] = useState(null);
  useEffect(() => {
    let live = true;
    const load = () => api('/api/recordings').then((x) => live && setR(x)).catch((e) => live && setR(e.status === 503 || e.status === 404 ? { enabled: false } : { error: e }));
    load();
    const t = setInterval(load, 10000);
    return () => { live = false; clearInterval(t); };
  }, [epoch.value]);
  return r;
}

/** The bar from `t0` over `len` ms: runs, gaps, event ticks, the play position. */
function Timeline({ t0, len, tl, events, pos, onPick, label }) {
  const x = (ms) => Math.min(1000, Math.max(0, ((ms - t0) / len) * 1000));
  const w = (a, b) => Math.max(4, x(b) - x(a));
  const pick = (e) => {
    const r = e.currentTarget.getBoundingClientRect();
    onPick(t0 + ((e.clientX - r.left) / r.width) * len);
  };
  const ticks = len > 3 * 3600000 ? [0, 3, 6, 9, 12, 15, 18, 21].map((h) => (h * 1000) / 24) : [0, 1, 2, 3].map((q) => q * 250);
  return (
    <svg class="timeline" viewBox="0 0 1000 40" preserveAspectRatio="none" onClick={pick} data-testid="timeline"
      role="img" aria-label={label}>
      <rect x="0" y="8" width="1000" height="24" fill="#e3e8ee" />
      {tl.runs.filter((r) => r.end_unix_ms > t0 && r.start_unix_ms < t0 + len).map((r) => <rect class="run" x={x(r.start_unix_ms)} y="8" width={w(r.start_unix_ms, r.end_unix_ms)} height="24" fill="#2e9e5b" />)}
      {tl.gaps.filter((g) => g.end_unix_ms > t0 && g.start_unix_ms < t0 + len).map((g) => <rect x={x(g.start_unix_ms)} y="8" width={w(g.start_unix_ms, g.end_unix_ms)} height="24" fill="#e0a100" opacity="0.6" />)}
      {events.filter((e) => e.start_time * 1000 >= t0 && e.start_time * 1000 < t0 + len).map((e) => <line x1={x(e.start_time * 1000)} x2={x(e.start_time * 1000)} y1="0" y2="8" stroke="#0b5cad" stroke-width="1.5" />)}
      {ticks.map((t) => <line x1={t} x2={t} y1="32" y2="40" stroke="#5b6775" stroke-width="1" />)}
      {pos != null && <line x1={x(pos)} x2={x(pos)} y1="4" y2="36" stroke="#d62728" stroke-width="2" />}
    </svg>
  );
}

function Player({ cam }) {
  const [day, setDay] = useState(ymd(new Date()));
  const [tl, setTl] = useState(null);
  const [days, setDays] = useState([]);
  const [events, setEvents] = useState([]);
  const [clip, setClip] = useState(null); // { start, end } in ms
  const [pos, setPos] = useState(null);
  const [rate, setRate] = useState(1);
  const [err, setErr] = useState(null);
  const [exp, setExp] = useState(null);
  const [zoom, setZoom] = useState('hour');
  const video = useRef(null);

  useEffect(() => {
    let live = true;
    const load = async () => {
      const t0 = midnight(day);
      const tz = tzOf(new Date(t0));
      try {
        const [t, cal, ev] = await Promise.all([
          api(`/api/recordings/${encodeURIComponent(cam)}/timeline?start=${t0}&end=${t0 + DAY}`),
          api(`/api/recordings/${encodeURIComponent(cam)}/timeline?start=${Date.now() - 31 * DAY}&end=${Date.now()}&days=true&tz=${encodeURIComponent(tz)}`),
          api(`/api/events?camera=${encodeURIComponent(cam)}&after=${t0 / 1000}&before=${(t0 + DAY) / 1000}&limit=500`).catch(() => ({ events: [] })),
        ]);
        if (!live) return;
        setTl(t); setDays(cal.days || []); setEvents(ev.events || []); setErr(null);
      } catch (e) { if (live) setErr(e); }
    };
    load();
    const t = setInterval(load, 15000);
    return () => { live = false; clearInterval(t); };
  }, [cam, day, epoch.value]);

  useEffect(() => { if (video.current) { video.current.defaultPlaybackRate = rate; video.current.playbackRate = rate; } }, [rate, clip]);
  // Browsers pause a muted autoplaying video that is off screen: bring the player into view.
  useEffect(() => { if (clip && video.current) video.current.scrollIntoView({ block: 'nearest' }); }, [clip]);

  /** Plays from `ms` to the end of its run (at most 10 minutes). */
  const playAt = (ms) => {
    if (!tl) return;
    const run = tl.runs.find((r) => ms >= r.start_unix_ms && ms < r.end_unix_ms) || tl.runs.find((r) => r.start_unix_ms > ms);
    if (!run) { setErr(new Error('Nothing was recorded at or after that time on this day.')); return; }
    const start = Math.max(Math.floor(ms), run.start_unix_ms);
    setErr(null); setExp(null);
    setClip({ start, end: Math.min(run.end_unix_ms, start + 600000) });
    setPos(start);
  };
  const exportClip = async () => {
    try {
      const r = await api(`/api/recordings/${encodeURIComponent(cam)}/export?start=${clip.start}&end=${clip.end}`, { method: 'POST' });
      setExp(r);
    } catch (e) { setErr(e); }
  };
  const src = clip ? withKey(`/api/recordings/${encodeURIComponent(cam)}/view.mp4?start=${clip.start}&end=${clip.end}`) : null;

  return (
    <>
      <div class="toolbar">
        <label class="inline">Day <input type="date" value={day} max={ymd(new Date())} onChange={(e) => e.currentTarget.value && setDay(e.currentTarget.value)} /></label>
        <label class="inline">Speed <select value={rate} onChange={(e) => setRate(Number(e.currentTarget.value))}>
          {[1, 2, 4, 8].map((r) => <option value={r}>{r}×</option>)}</select></label>
      </div>
      {days.length > 0 && (
        <nav class="days" aria-label="Days with recordings (last 31)">
          {days.map((d) => <button type="button" class={d.date === day ? '' : 'secondary'} aria-pressed={d.date === day} onClick={() => setDay(d.date)}
            title={`${(d.recorded_ms / 3600000).toFixed(1)} h recorded`}>{d.date.slice(5)}</button>)}
        </nav>
      )}
      <Err e={err} />
      {!tl ? <p class="muted">Loading…</p> : (
        <section class="card" aria-labelledby="tl-h">
          <h2 id="tl-h">{day}: {(tl.recorded_ms / 60000).toFixed(1)} min recorded</h2>
          {(() => {
            const d0 = midnight(day);
            const last = tl.runs.length ? tl.runs[tl.runs.length - 1].end_unix_ms - 1 : Math.min(Date.now(), d0 + DAY - 1);
            const h0 = Math.floor((pos ?? last) / 3600000) * 3600000;
            const [t0, len] = zoom === 'hour' ? [Math.max(d0, h0), 3600000] : [d0, DAY];
            const hm = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
            const marks = zoom === 'hour' ? [0, 15, 30, 45, 60].map((m) => hm(t0 + m * 60000)) : ['0:00', '6:00', '12:00', '18:00', '24:00'];
            return (
              <>
                <div class="toolbar" role="group" aria-label="Timeline span">
                  <button type="button" aria-pressed={zoom === 'hour'} onClick={() => setZoom('hour')}>Hour</button>
                  <button type="button" aria-pressed={zoom === 'day'} onClick={() => setZoom('day')}>Whole day</button>
                </div>
                <Timeline t0={t0} len={len} tl={tl} events={events} pos={pos} onPick={playAt}
                  label={`Recorded time from ${hm(t0)} over ${zoom === 'hour' ? 'an hour' : 'the day'}: ${tl.runs.length} runs, ${tl.gaps.length} gaps`} />
                <div class="hours muted small" aria-hidden="true">{marks.map((m) => <span>{m}</span>)}</div>
              </>
            );
          })()}
          <p class="muted small">Green: recorded; amber: gaps; blue ticks: object events. Click the bar to play from that time, or pick a run:</p>
          {tl.runs.length === 0 ? <p>No recordings on this day.</p> : (
            <ul class="rules">{tl.runs.slice(-20).reverse().map((r) => (
              <li>{hhmmss(r.start_unix_ms)} – {hhmmss(r.end_unix_ms)} <span class="muted small">({(r.duration_ms / 1000).toFixed(0)} s, {mb(r.bytes)})</span>{' '}
                <button type="button" class="secondary" onClick={() => playAt(r.start_unix_ms)} aria-label={`Play from ${hhmmss(r.start_unix_ms)}`}>Play</button></li>
            ))}</ul>
          )}
        </section>
      )}
      {clip && (
        <section class="card" aria-labelledby="play-h">
          <h2 id="play-h">Playing {hhmmss(clip.start)} – {hhmmss(clip.end)}</h2>
          <video ref={video} src={src} controls autoplay muted playsInline data-testid="playback" class="playback"
            onTimeUpdate={(e) => setPos(clip.start + e.currentTarget.currentTime * 1000)}
            onLoadedMetadata={(e) => { e.currentTarget.playbackRate = rate; }} />
          <div class="toolbar">
            {can.value.operate && <button type="button" class="secondary" onClick={exportClip}>Export this clip</button>}
            {exp && <a href={withKey(exp.url)} download={`${cam}-${clip.start}.mp4`} data-testid="export-link">Download the clip (kept from deletion)</a>}
          </div>
        </section>
      )}
    </>
  );
}

export function Recordings({ arg }) {
  const rec = useRecordings();
  const list = (rec && rec.cameras) || [];
  const ids = [...new Set([...list.map((c) => c.camera), ...(cameras.value || []).filter((c) => c.spec?.record === 'continuous').map((c) => c.id)])];
  const cam = ids.includes(arg) ? arg : ids[0];
  return (
    <>
      <h1>Recordings{cam ? <> <span class="accent">{cam}</span></> : null}</h1>
      {rec === null ? <p class="muted">Loading…</p> : rec.error ? <Err e={rec.error} /> : !rec.enabled ? (
        <div class="card empty" data-testid="recordings-off">
          <h2>Recording is not configured</h2>
          <p>Set <code>record = "continuous"</code> on a camera (in its <code>[[cameras]]</code> table or
            <code>POST /api/cameras</code>) to record it; see docs/recording.md.</p>
        </div>
      ) : (
        <>
          <section class="card" aria-labelledby="rec-h">
            <h2 id="rec-h">Storage</h2>
            <p class="small">Disk: {mb(rec.disk?.free_bytes)} free of {mb(rec.disk?.total_bytes)}{rec.disk?.min_free_bytes ? `, keeping ${mb(rec.disk.min_free_bytes)} free` : ''}.</p>
            <div class="tablewrap"><table class="cams">
              <thead><tr><th scope="col">camera</th><th scope="col">recorder</th><th scope="col">on disk</th><th scope="col">from</th><th scope="col">to</th></tr></thead>
              <tbody>{list.map((c) => (
                <tr><td class="name"><a href={'#/recordings/' + encodeURIComponent(c.camera)}>{c.camera}</a></td>
                  <td data-l="recorder">{c.recorder?.phase || 'off'}{c.recorder?.message ? <div class="small muted">{c.recorder.message}</div> : null}</td>
                  <td data-l="on disk">{mb(c.bytes)} in {c.segments} segment{c.segments === 1 ? '' : 's'}</td>
                  <td data-l="from">{c.oldest_unix_ms ? new Date(c.oldest_unix_ms).toLocaleString() : '–'}</td>
                  <td data-l="to">{c.newest_unix_ms ? new Date(c.newest_unix_ms).toLocaleString() : '–'}</td></tr>
              ))}</tbody>
            </table></div>
          </section>
          {ids.length > 1 && (
            <label class="inline">Camera <select value={cam} onChange={(e) => go('recordings', e.currentTarget.value)}>
              {ids.map((c) => <option value={c}>{c}</option>)}</select></label>
          )}
          {cam ? <Player key={cam} cam={cam} /> : <p>No camera records yet.</p>}
        </>
      )}
    </>
  );
}
