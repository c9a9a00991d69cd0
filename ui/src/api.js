// The one place the UI talks to the server: the API key (localStorage, sent as X-API-Key),
// server reachability and error messages.
import { signal } from '@preact/signals';

const KEY = 'osprey.apiKey';
const stored = () => { try { return localStorage.getItem(KEY) || ''; } catch { return ''; } };
export const apiKey = signal(stored());
/** 'ok' | 'required' (the server asked for a key) | 'wrong' (the key sent was refused) */
export const auth = signal('ok');
export const unreachable = signal(false);
/** Bumped when the key changes, so pages fetch again. */
export const epoch = signal(0);

export function setKey(k) {
  apiKey.value = k;
  try { k ? localStorage.setItem(KEY, k) : localStorage.removeItem(KEY); } catch { /* private mode */ }
  auth.value = 'ok';
  epoch.value++;
}

export class ApiError extends Error {
  constructor(status, message, body) { super(message); this.status = status; this.body = body; }
}

export async function api(path, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (apiKey.value) headers['X-API-Key'] = apiKey.value;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    opts = { ...opts, body: JSON.stringify(opts.json) };
  }
  let r;
  try {
    r = await fetch(path, { ...opts, headers });
  } catch (e) {
    unreachable.value = true;
    throw new ApiError(0, 'The server cannot be reached.');
  }
  unreachable.value = false;
  const text = await r.text();
  let body = text;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  if (r.status === 401) {
    auth.value = apiKey.value ? 'wrong' : 'required';
    throw new ApiError(401, apiKey.value ? 'The API key was not accepted.' : 'This server needs an API key.', body);
  }
  if (!r.ok) {
    const msg = (body && typeof body === 'object' && (body.error || body.message)) || `${r.status} ${r.statusText}`;
    throw new ApiError(r.status, msg, body);
  }
  return body;
}

/** A URL for <img src>: the key goes in the query, since an image request has no headers. */
export function withKey(url) {
  if (!apiKey.value) return url;
  return url + (url.includes('?') ? '&' : '?') + 'api_key=' + encodeURIComponent(apiKey.value);
}

/** GET that answers `fallback` on 422/404 (Metropolis' "no configuration yet"). */
export async function getOr(path, fallback) {
  try { return await api(path); } catch (e) {
    if (e.status === 422 || e.status === 404) return fallback;
    throw e;
  }
}

/** Parses Prometheus text into [{name, labels, value}]. */
export function parseProm(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[2]) for (const l of m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}
