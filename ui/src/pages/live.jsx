// The live view: fMP4 fragments over the camera's WebSocket into Media Source Extensions, with
// the server's tracks drawn over the video as SVG. Falls back (through `onFallback`) when the
// browser cannot play the stream's codec (H.265 in most) or the source cannot be streamed
// this way (MJPEG cameras).
import { useEffect, useRef, useState } from 'preact/hooks';
import { withKey } from '../api.js';

export const canMse = () => typeof window !== 'undefined' && !!window.MediaSource;

function wsUrl(path) {
  const u = new URL(withKey(path), location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.href;
}

/** Connects `video` to the camera's live WebSocket; returns a function that disconnects. */
function connect(id, video, { onInit, onTime, onTracks, onFallback, onError }) {
  const ws = new WebSocket(wsUrl(`/api/cameras/${encodeURIComponent(id)}/live`));
  ws.binaryType = 'arraybuffer';
  let ms = null, sb = null, mime = null, url = null;
  const queue = [];
  let closed = false;
  const pump = () => {
    if (!sb || sb.updating || closed) return;
    const b = video.buffered;
    if (b.length) {
      const end = b.end(b.length - 1);
      // Stay at the live edge; keep at most ~30 s buffered.
      if (video.currentTime < b.start(0) || end - video.currentTime > 1) video.currentTime = Math.max(b.start(0), end - 0.2);
      if (video.currentTime - b.start(0) > 30) { sb.remove(b.start(0), video.currentTime - 10); return; }
    }
    if (queue.length === 0) return;
    try {
      sb.appendBuffer(queue.shift());
    } catch (e) {
      onError(`the browser refused the stream: ${e.message}`);
    }
  };
  const setup = (m) => {
    if (url) URL.revokeObjectURL(url);
    mime = m;
    sb = null;
    queue.length = 0;
    ms = new MediaSource();
    url = URL.createObjectURL(ms);
    video.src = url;
    ms.addEventListener('sourceopen', () => {
      sb = ms.addSourceBuffer(m);
      sb.mode = 'segments';
      sb.addEventListener('updateend', () => {
        if (video.paused && video.buffered.length) video.play().catch(() => {});
        pump();
      });
      pump();
    }, { once: true });
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data !== 'string') {
      queue.push(ev.data);
      pump();
      return;
    }
    const msg = JSON.parse(ev.data);
    if (msg.type === 'init') {
      if (!canMse() || !MediaSource.isTypeSupported(msg.mime)) {
        onFallback(`this browser cannot play ${msg.codec} video`);
        ws.close();
        return;
      }
      if (msg.mime !== mime) setup(msg.mime);
      onInit(msg);
    } else if (msg.type === 'time') {
      onTime(msg.wall_ms - msg.decode_90k / 90);
    } else if (msg.type === 'tracks') {
      onTracks(msg);
    } else if (msg.type === 'unavailable') {
      onFallback(msg.reason);
      ws.close();
    }
  };
  ws.onerror = () => { if (!closed) onError('the live connection failed'); };
  video.addEventListener('error', () => onError(`the video failed: ${video.error?.message || video.error?.code}`));
  return () => {
    closed = true;
    ws.close();
    if (url) URL.revokeObjectURL(url);
  };
}

/** Live H.264 video over MSE with the tracks drawn over it. */
export function LiveVideo({ cam, tracks: showTracks, onFallback }) {
  const ref = useRef(null);
  const [info, setInfo] = useState(null);
  const [tracks, setTracks] = useState([]);
  const [err, setErr] = useState(null);
  useEffect(() => {
    setErr(null);
    setInfo(null);
    // Tracks wait until the video shows their frame: wall time = offset + media time.
    let offset = null, shown = -1;
    const pending = [];
    const sync = setInterval(() => {
      const v = ref.current;
      if (!v || offset == null) return;
      const now = offset + v.currentTime * 1000 + 50;
      let pick = null;
      while (pending.length && pending[0].wall_ms <= now) pick = pending.shift();
      if (pick && pick.seq !== shown) { shown = pick.seq; setTracks(pick.objects); }
    }, 40);
    const stop = connect(cam.id, ref.current, {
      onInit: setInfo,
      onTime: (o) => { offset = o; },
      onTracks: (t) => { pending.push(t); if (pending.length > 200) pending.shift(); },
      onFallback,
      onError: setErr,
    });
    return () => { clearInterval(sync); stop(); };
  }, [cam.id]);
  const w = info?.width || cam.stream?.width || 16, h = info?.height || cam.stream?.height || 9;
  return (
    <>
      <video ref={ref} data-testid="live-video" muted autoplay playsinline
        aria-label={`Live video of camera ${cam.id}`} />
      {showTracks && (
        <svg class="overlay" viewBox={`0 0 ${w} ${h}`} preserveAspectRatio="none" aria-hidden="true">
          {tracks.map((t) => (
            <g>
              <rect x={t.box[0]} y={t.box[1]} width={t.box[2] - t.box[0]} height={t.box[3] - t.box[1]} />
              <text x={t.box[0] + 2} y={Math.max(12, t.box[1] - 3)}>{t.id} {t.label}</text>
            </g>
          ))}
        </svg>
      )}
      {err && <p class="error overlay-msg" role="alert">{err}</p>}
      {!info && !err && <p class="muted overlay-msg">Connecting…</p>}
    </>
  );
}
