import { useEffect, useState } from 'preact/hooks';
import { api, withKey, epoch, can } from '../api.js';
import { pickCamera, fmt } from '../store.js';
import { CameraSelect, NeedCamera, CameraHealth, StateBadge, Err } from './common.jsx';
import { LiveVideo, canMse } from './live.jsx';
import { useRecordings } from './recordings.jsx';

const time = (t) => (t == null ? '–' : new Date(t * 1000).toLocaleTimeString());

function Events({ cam, recorded }) {
  const [ev, setEv] = useState(null);
  const [err, setErr] = useState(null);
  useEffect(() => {
    let live = true;
    const load = () => api(`/api/events?camera=${encodeURIComponent(cam)}&limit=20`)
      .then((r) => { if (live) { setEv(r.events); setErr(null); } })
      .catch((e) => live && setErr(e));
    load();
    const t = setInterval(load, 5000);
    return () => { live = false; clearInterval(t); };
  }, [cam, epoch.value]);
  return (
    <section class="card" aria-labelledby="ev-h">
      <h2 id="ev-h">Recent events</h2>
      <Err e={err} />
      {ev === null ? <p class="muted">Loading…</p> : ev.length === 0 ? <p>No events yet.</p> : (
        <div class="tablewrap"><table>
          <thead><tr><th scope="col">object</th><th scope="col">track</th><th scope="col">from</th><th scope="col">to</th><th scope="col">best score</th><th scope="col">media</th></tr></thead>
          <tbody>{ev.map((e) => {
            const base = `/api/events/${encodeURIComponent(e.id)}`;
            return (
              <tr data-event={e.id}><td>{e.label}</td><td>{e.track_id}</td><td>{time(e.start_time)}</td>
                <td>{e.end_time == null ? <span class="badge ok">in view</span> : time(e.end_time)}</td>
                <td>{fmt(e.top_score, 2)}</td>
                <td>{recorded && <a href={withKey(base + '/clip.mp4')} target="_blank" rel="noopener" data-testid="clip">clip</a>}
                  {recorded && e.has_snapshot && ' · '}
                  {e.has_snapshot && <a href={withKey(base + '/snapshot.jpg')} target="_blank" rel="noopener">snapshot</a>}
                  {!recorded && !e.has_snapshot && '–'}</td></tr>
            );
          })}</tbody>
        </table></div>
      )}
    </section>
  );
}

const MODES = { video: 'Live video', mjpeg: 'Live MJPEG (boxes drawn by the server)', still: 'Snapshot' };

export function CameraPage({ arg }) {
  const cam = pickCamera(arg);
  const [mode, setMode] = useState(canMse() ? 'video' : 'mjpeg');
  const [fallback, setFallback] = useState(null);
  const [showTracks, setShowTracks] = useState(true);
  const rec = useRecordings();
  const id = cam?.id;
  useEffect(() => { setFallback(null); setMode(canMse() ? 'video' : 'mjpeg'); }, [id]);
  const missing = NeedCamera({ cam });
  if (missing) return <><h1>Camera</h1>{missing}</>;
  const w = cam.stream?.width || 16, h = cam.stream?.height || 9;
  const shown = mode === 'video' && fallback ? 'mjpeg' : mode;
  const recorded = !!rec?.cameras?.some((c) => c.camera === cam.id && c.segments > 0);
  const picture = cam.connected || cam.frames?.detected > 0;
  return (
    <>
      <h1>Camera <span class="accent">{cam.id}</span> <StateBadge cam={cam} /></h1>
      <div class="toolbar">
        <CameraSelect page="camera" current={cam.id} />
        <label>View <select data-testid="view-mode" value={mode} onChange={(e) => { setFallback(null); setMode(e.currentTarget.value); }}>
          {Object.entries(MODES).filter(([k]) => k !== 'video' || canMse()).map(([k, v]) => <option value={k}>{v}</option>)}
        </select></label>
        {shown === 'video' && <label class="inline"><input type="checkbox" checked={showTracks} onChange={(e) => setShowTracks(e.currentTarget.checked)} /> Tracks</label>}
        {can.value.operate && <a href={'#/setup/' + encodeURIComponent(cam.id)}>Draw lines and regions</a>}
      </div>
      <CameraHealth cam={cam} />
      {fallback && mode === 'video' && <p class="muted small" data-testid="fallback">Live video is not available ({fallback}); showing MJPEG instead.</p>}
      <div class="viewer" style={{ aspectRatio: `${w} / ${h}` }}>
        {!picture ? <p class="muted center">No picture yet.</p>
          : shown === 'video' ? <LiveVideo key={cam.id} cam={cam} tracks={showTracks} onFallback={setFallback} />
          : <img key={shown} data-testid="live"
            src={withKey(`/api/cameras/${encodeURIComponent(cam.id)}/${shown === 'mjpeg' ? 'stream.mjpeg' : 'snapshot.jpg'}`)}
            alt={`Live view of camera ${cam.id} with detected objects boxed and track ids`} />}
      </div>
      <p class="muted small">{shown === 'video' ? 'The camera\'s own video, not re-encoded; boxes and track ids from the server' : 'Boxes and track ids are drawn by the server on every processed frame'}
        {' '}({fmt(cam.fps?.detected)} fps detected, {cam.tracks} tracks now, {cam.frames?.dropped ?? 0} frames dropped).</p>
      <Events cam={cam.id} recorded={recorded} />
    </>
  );
}
