// The one place the UI talks to the server: who is signed in (`me`, from /api/auth/me), the
// session's CSRF token (sent as X-CSRF-Token on every write), an optional API key
// (localStorage, sent as X-API-Key), server reachability and error messages.
import { signal, computed } from '@preact/signals';

const KEY = 'osprey.apiKey';
const stored = () => { try { return localStorage.getItem(KEY) || ''; } catch { return ''; } };
export const apiKey = signal(stored());
/** 'ok' | 'required' (the server asked for credentials) | 'wrong' (the API key sent was refused) */
export const auth = signal('ok');
/**
 * Who the server says we are: undefined while loading, null when signed out, else
 * { name, role, kind: 'session'|'key'|'anonymous', auth, csrf, can: { view, operate, admin, detect } }.
 */
export const me = signal(undefined);
/** What the signed-in principal may do (all false while signed out); `users`: manage users and keys (admin, auth on). */
export const can = computed(() => {
  const m = me.value;
  return m ? { ...m.can, users: !!(m.can.admin && m.auth) } : {};
});
export const unreachable = signal(false);
/** Bumped when the credentials change, so pages fetch again. */
export const epoch = signal(0);

let csrf = null;

export function setKey(k) {
  apiKey.value = k;
  try { k ? localStorage.setItem(KEY, k) : localStorage.removeItem(KEY); } catch { /* private mode */ }
  auth.value = 'ok';
  loadMe();
}

export class ApiError extends Error {
  constructor(status, message, body, retryAfter) { super(message); this.status = status; this.body = body; this.retryAfter = retryAfter; }
}

/** fetch with the credentials and JSON handling; answers { r, body } whatever the status. */
async function request(path, opts = {}, key = true) {
  const headers = { ...(opts.headers || {}) };
  if (key && apiKey.value) headers['X-API-Key'] = apiKey.value;
  const method = (opts.method || 'GET').toUpperCase();
  if (csrf && method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrf;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    opts = { ...opts, body: JSON.stringify(opts.json) };
  }
  let r;
  try {
    r = await fetch(path, { ...opts, headers, credentials: 'same-origin' });
  } catch (e) {
    unreachable.value = true;
    throw new ApiError(0, 'The server cannot be reached.');
  }
  unreachable.value = false;
  const text = await r.text();
  let body = text;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { r, body };
}

const message = (r, body) => (body && typeof body === 'object' && (body.error || body.message)) || `${r.status} ${r.statusText}`;

/** Signed out (or the key refused): the login page shows until credentials work again. */
function signedOut() {
  const was = auth.peek();
  csrf = null;
  me.value = null;
  auth.value = apiKey.peek() ? 'wrong' : 'required';
  if (was === 'ok') epoch.value++; // stops the pollers
}

export async function api(path, opts = {}) {
  const { r, body } = await request(path, opts);
  if (r.status === 401) {
    signedOut();
    throw new ApiError(401, apiKey.value ? 'The API key was not accepted.' : 'Please log in.', body);
  }
  // 403 (a role that may not, a wrong CSRF token) is an error message, not a login prompt.
  if (!r.ok) throw new ApiError(r.status, message(r, body), body);
  return body;
}

/** Everything allowed: a server without /api/auth/me (or with --auth off). */
const OPEN = { name: '', role: 'admin', kind: 'anonymous', auth: false, csrf: null, can: { view: true, operate: true, admin: true, detect: true } };

/** Why /api/auth/me failed (other than 401), shown while it is retried. */
export const meError = signal(null);

/** Asks the server who we are; shows the login page on 401. Retried every 2 s while it fails. */
export async function loadMe() {
  let m;
  try {
    const { r, body } = await request('/api/auth/me');
    if (r.status === 401) { meError.value = null; signedOut(); return; }
    m = r.ok && body && typeof body === 'object' ? body : r.status === 404 ? OPEN : null;
    if (!m) throw new ApiError(r.status, message(r, body), body);
  } catch (e) {
    if (e.status !== 0) meError.value = e;
    setTimeout(loadMe, 2000);
    return;
  }
  meError.value = null;
  csrf = m.csrf || null;
  me.value = { ...m, can: { ...OPEN.can, ...(m.can || {}) } };
  auth.value = 'ok';
  epoch.value++;
}

/** Logs in with a user name and password; throws an ApiError with a message to show. */
export async function login(username, password) {
  const { r, body } = await request('/api/auth/login', { method: 'POST', json: { username, password } }, false);
  if (r.status === 429) {
    const s = Number(r.headers.get('Retry-After')) || Number(body?.retry_after_s) || 60;
    throw new ApiError(429, `Too many failed logins from this address. Try again in ${s} s.`, body, s);
  }
  if (r.status === 401) {
    const m = body?.error || 'wrong user name or password';
    throw new ApiError(401, m[0].toUpperCase() + m.slice(1) + (/[.!]$/.test(m) ? '' : '.'), body);
  }
  // Still signed in (the cookie is valid: a refused stored key hid it): use the session.
  if (r.status === 403 && /CSRF/.test(message(r, body))) { forgetKey(); await loadMe(); if (me.peek()) return; }
  if (!r.ok) throw new ApiError(r.status, message(r, body), body);
  // The session replaces a stored API key (one the server refused, or we would not be here).
  forgetKey();
  csrf = body.csrf || null;
  await loadMe();
}

function forgetKey() {
  if (!apiKey.peek()) return;
  apiKey.value = '';
  try { localStorage.removeItem(KEY); } catch { /* private mode */ }
}

/** Ends the session (or forgets the API key) and shows the login page. */
export async function logout() {
  if (me.value?.kind === 'key') { setKey(''); return; }
  try { await request('/api/auth/logout', { method: 'POST' }); } catch { /* shown by the banner */ }
  signedOut();
}

/** A URL for <img src>: the key goes in the query, since an image request has no headers (a session cookie is sent by itself). */
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
