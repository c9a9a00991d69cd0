// Shared state: the camera list, polled while the page is open; the hash route.
import { signal, effect } from '@preact/signals';
import { api, epoch, auth, me } from './api.js';

export const cameras = signal(null); // null until loaded
export const camerasError = signal(null);
export const route = signal(parseHash());

function parseHash() {
  const parts = (location.hash.replace(/^#\/?/, '') || 'overview').split('/').map(decodeURIComponent);
  return { page: parts[0] || 'overview', arg: parts[1] || '' };
}
addEventListener('hashchange', () => { route.value = parseHash(); });
export const go = (page, arg) => { location.hash = '#/' + page + (arg ? '/' + encodeURIComponent(arg) : ''); };

let timer = null;
export async function refreshCameras() {
  try {
    const r = await api('/api/cameras');
    cameras.value = r.cameras || [];
    camerasError.value = null;
  } catch (e) {
    camerasError.value = e;
  }
}
effect(() => {
  epoch.value; // refetch when who is signed in changes
  clearInterval(timer);
  if (auth.peek() !== 'ok' || !me.peek()?.can?.view) return;
  refreshCameras();
  timer = setInterval(refreshCameras, 2000);
});

/** The camera a page shows: the one in the route, else the first. */
export function pickCamera(arg) {
  const list = cameras.value || [];
  return list.find((c) => c.id === arg) || list[0] || null;
}

export const fmt = (v, d = 1) => (v == null || Number.isNaN(v) ? '–' : Number(v).toFixed(d));
