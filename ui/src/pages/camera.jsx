import { useEffect, useState } from 'preact/hooks';
import { api, withKey, epoch } from '../api.js';
import { pickCamera, fmt } from '../store.js';
import { CameraSelect, NeedCamera, CameraHealth, StateBadge, Err } from './common.jsx';

const time = (t) => (t == null ? '–' : new Date(t * 1000).toLocaleTimeString());

function Events({ cam }) {
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
          <thead><tr><th scope="col">object</th><th scope="col">track</th><th scope="col">from</th><th scope="col">to</th><th scope="col">best score</th></tr></thead>
          <tbody>{ev.map((e) => (
            <tr><td>{e.label}</td><td>{e.track_id}</td><td>{time(e.start_time)}</td>
              <td>{e.end_time == null ? <span class="badge ok">in view</span> : time(e.end_time)}</td>
              <td>{fmt(e.top_score, 2)}</td></tr>
          ))}</tbody>
        </table></div>
      )}
    </section>
  );
}

export function CameraPage({ arg }) {
  const cam = pickCamera(arg);
  const [live, setLive] = useState(true);
  const missing = NeedCamera({ cam });
  if (missing) return <><h1>Camera</h1>{missing}</>;
  const w = cam.stream?.width || 16, h = cam.stream?.height || 9;
  return (
    <>
      <h1>Camera <span class="accent">{cam.id}</span> <StateBadge cam={cam} /></h1>
      <div class="toolbar">
        <CameraSelect page="camera" current={cam.id} />
        <label class="inline"><input type="checkbox" checked={live} onChange={(e) => setLive(e.currentTarget.checked)} /> Live (MJPEG)</label>
        <a href={'#/setup/' + encodeURIComponent(cam.id)}>Draw lines and regions</a>
      </div>
      <CameraHealth cam={cam} />
      <div class="viewer" style={{ aspectRatio: `${w} / ${h}` }}>
        {cam.connected || cam.frames?.detected > 0 ? (
          <img key={live ? 'live' : 'still'} data-testid="live"
            src={withKey(`/api/cameras/${encodeURIComponent(cam.id)}/${live ? 'stream.mjpeg' : 'snapshot.jpg'}`)}
            alt={`Live view of camera ${cam.id} with detected objects boxed and track ids`} />
        ) : <p class="muted center">No picture yet.</p>}
      </div>
      <p class="muted small">Boxes and track ids are drawn by the server on every processed frame
        ({fmt(cam.fps?.detected)} fps detected, {cam.tracks} tracks now, {cam.frames?.dropped ?? 0} frames dropped).</p>
      <Events cam={cam.id} />
    </>
  );
}
