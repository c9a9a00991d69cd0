import { cameras, camerasError, go } from '../store.js';
import { can } from '../api.js';

/** The camera picker shared by Camera, Setup and Analytics. */
export function CameraSelect({ page, current }) {
  const list = cameras.value || [];
  if (list.length < 2) return null;
  return (
    <label class="inline">Camera{' '}
      <select value={current} onChange={(e) => go(page, e.currentTarget.value)}>
        {list.map((c) => <option value={c.id}>{c.id}</option>)}
      </select>
    </label>
  );
}

/** Loading, error and "no cameras" states for pages that need a camera. */
export function NeedCamera({ cam }) {
  if (camerasError.value) return <Err e={camerasError.value} />;
  if (cameras.value === null) return <p class="muted">Loading cameras…</p>;
  if (!cam) return (
    <div class="card empty">
      <h2>No cameras</h2>
      <p>This server has no cameras. {can.value.operate ? <>Add one on the <a href="#/setup">Setup</a> page, with</> : 'An operator can add one with'}
        {' '}<code>--camera ID=URL</code>, or in the <code>[[cameras]]</code> section of the configuration file.</p>
    </div>
  );
  return null;
}

export function Err({ e }) {
  if (!e) return null;
  return <div class="banner error" role="alert">{e.message || String(e)}</div>;
}

export function StateBadge({ cam }) {
  const s = cam.state;
  const cls = s === 'connected' ? 'ok' : s === 'reconnecting' || s === 'connecting' ? 'warn' : 'bad';
  return <span class={'badge ' + cls}>{s}</span>;
}

/** Offline / reconnecting explanation for a camera. */
export function CameraHealth({ cam }) {
  if (cam.state === 'connected') return null;
  const why = cam.last_error ? `: ${cam.last_error.message}` : '';
  const text = {
    connecting: 'Connecting to the camera…',
    reconnecting: 'The camera is offline; reconnecting',
    ended: 'The file ended (loop is off)',
    failed: 'The camera failed and will not be retried',
    stopped: 'The camera is stopped',
  }[cam.state] || cam.state;
  return <div class={'banner ' + (cam.state === 'failed' ? 'error' : 'warn')} role="status">{text}{why}</div>;
}
