// Admin: users (roles, passwords), API keys (the new key shown once), the audit log.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, epoch, me } from '../api.js';
import { Err } from './common.jsx';

export const ROLES = ['viewer', 'operator', 'admin', 'detect'];
const ROLE_HELP = {
  viewer: 'sees cameras, live video, recordings, analytics and events',
  operator: 'viewer + cameras, lines, regions, alert rules, protecting and exporting recordings',
  admin: 'operator + users, API keys, deleting recordings, the audit log',
  detect: 'only the DeepStack detection routes (the Detect page)',
};
/** A time from the API (RFC 3339, or Unix seconds / ms) in the browser's zone. */
export function when(t) {
  if (t == null || t === '') return '–';
  const d = typeof t === 'number' ? new Date(t < 1e12 ? t * 1000 : t) : new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleString();
}
const path = (s) => encodeURIComponent(s);

function RoleSelect({ value, onChange, label, id }) {
  return (
    <select id={id} aria-label={label} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
      {ROLES.map((r) => <option value={r}>{r}</option>)}
    </select>
  );
}

function Users() {
  const [list, setList] = useState(null);
  const [err, setErr] = useState(null);
  const [msg, setMsg] = useState(null);
  const [f, setF] = useState({ name: '', password: '', role: 'viewer' });
  const [reset, setReset] = useState(null); // { name, password }
  const self = me.value?.name;
  const load = () => api('/api/users').then((r) => setList(r.users || [])).catch(setErr);
  useEffect(() => { load(); }, [epoch.value]);
  const run = async (what, done) => {
    setErr(null); setMsg(null);
    try { await what(); setMsg(done); await load(); return true; } catch (e) { setErr(e); return false; }
  };
  const add = async (e) => {
    e.preventDefault();
    const u = { name: f.name.trim(), password: f.password, role: f.role };
    if (await run(() => api('/api/users', { method: 'POST', json: u }), `Added user ${u.name} (${u.role}).`)) setF({ name: '', password: '', role: f.role });
  };
  const setRole = (name, role) => run(() => api(`/api/users/${path(name)}`, { method: 'PUT', json: { role } }), `${name} is now ${role}.`);
  const savePassword = async (e) => {
    e.preventDefault();
    if (await run(() => api(`/api/users/${path(reset.name)}`, { method: 'PUT', json: { password: reset.password } }), `Set a new password for ${reset.name}.`)) setReset(null);
  };
  const remove = (name) => confirm(`Remove user ${name}? Their sessions end.`)
    && run(() => api(`/api/users/${path(name)}`, { method: 'DELETE' }), `Removed user ${name}.`);

  return (
    <section class="card" aria-labelledby="users-h">
      <h2 id="users-h">Users</h2>
      <Err e={err} />
      {msg && <div class="banner ok" role="status">{msg}</div>}
      {list === null ? <p class="muted">Loading…</p> : list.length === 0 ? <p>No users.</p> : (
        <div class="tablewrap"><table data-testid="users" class="cams">
          <thead><tr><th scope="col">user</th><th scope="col">role</th><th scope="col">created</th><th scope="col">last login</th><th scope="col" aria-label="actions" /></tr></thead>
          <tbody>{list.map((u) => (
            <tr data-user={u.name}>
              <td class="name"><strong>{u.name}</strong>{u.name === self ? <span class="muted small"> (you)</span> : null}</td>
              <td data-l="role"><RoleSelect value={u.role} label={`Role of ${u.name}`} onChange={(r) => setRole(u.name, r)} /></td>
              <td data-l="created" class="small">{when(u.created)}</td>
              <td data-l="last login" class="small">{u.last_login ? when(u.last_login) : 'never'}</td>
              <td class="actions">
                <button type="button" class="secondary" onClick={() => setReset(reset?.name === u.name ? null : { name: u.name, password: '' })}
                  aria-label={`Reset the password of ${u.name}`} aria-expanded={reset?.name === u.name}>Reset password</button>{' '}
                <button type="button" class="danger" onClick={() => remove(u.name)} disabled={u.name === self}
                  aria-label={`Remove user ${u.name}`} title={u.name === self ? 'You cannot remove yourself' : undefined}>Remove</button>
              </td>
            </tr>
          ))}</tbody>
        </table></div>
      )}
      {reset && (
        <form class="form inset" onSubmit={savePassword}>
          <div class="fields">
            <label>New password for {reset.name} <input type="password" autocomplete="new-password" required value={reset.password}
              onInput={(e) => setReset({ ...reset, password: e.currentTarget.value })} /></label>
          </div>
          <div class="toolbar">
            <button type="submit">Set password</button>
            <button type="button" class="secondary" onClick={() => setReset(null)}>Cancel</button>
          </div>
        </form>
      )}
      <form class="form" onSubmit={add} aria-label="Add a user">
        <h3>Add a user</h3>
        <div class="fields">
          <label>User name <input required pattern="[A-Za-z0-9_.@\-]+" autocomplete="off" value={f.name} onInput={(e) => setF({ ...f, name: e.currentTarget.value })} /></label>
          <label>Password <input required type="password" autocomplete="new-password" value={f.password} onInput={(e) => setF({ ...f, password: e.currentTarget.value })} /></label>
          <label>Role <RoleSelect value={f.role} onChange={(r) => setF({ ...f, role: r })} /></label>
        </div>
        <p class="muted small">{f.role}: {ROLE_HELP[f.role]}.</p>
        <button type="submit">Add user</button>
      </form>
    </section>
  );
}

/** The new key, shown once in a modal dialog with a copy button. */
function NewKey({ k, onClose }) {
  const ref = useRef(null);
  const input = useRef(null);
  const [copied, setCopied] = useState(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) { if (d.showModal) d.showModal(); else d.setAttribute('open', ''); }
    input.current?.select();
  }, []);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(k.key);
      setCopied('Copied to the clipboard.');
    } catch {
      input.current.select();
      setCopied(document.execCommand('copy') ? 'Copied to the clipboard.' : 'Select the key and copy it (Ctrl+C).');
    }
  };
  return (
    <dialog ref={ref} class="card newkey" aria-labelledby="newkey-h" data-testid="new-key" onClose={onClose}>
      <h2 id="newkey-h">API key {k.name} ({k.role})</h2>
      <p><strong>Copy the key now: you will not see it again.</strong> Send it as <code>X-API-Key</code> (or{' '}
        <code>Authorization: Bearer</code>).{k.expires ? ` It expires ${when(k.expires)}.` : ' It does not expire.'}</p>
      <div class="keyrow">
        <input ref={input} readOnly value={k.key} aria-label="The new API key" data-testid="new-key-value" onFocus={(e) => e.currentTarget.select()} />
        <button type="button" onClick={copy}>Copy</button>
      </div>
      {copied && <p class="small" role="status">{copied}</p>}
      <form method="dialog"><button type="submit" class="secondary">Done</button></form>
    </dialog>
  );
}

function Keys() {
  const [list, setList] = useState(null);
  const [err, setErr] = useState(null);
  const [msg, setMsg] = useState(null);
  const [created, setCreated] = useState(null);
  const [f, setF] = useState({ name: '', role: 'viewer', days: '' });
  const load = () => api('/api/keys').then((r) => setList(r.keys || [])).catch(setErr);
  useEffect(() => { load(); }, [epoch.value]);
  const add = async (e) => {
    e.preventDefault(); setErr(null); setMsg(null);
    const body = { name: f.name.trim(), role: f.role };
    if (f.days) body.expires_days = Number(f.days);
    try {
      const k = await api('/api/keys', { method: 'POST', json: body });
      setCreated(k); setF({ ...f, name: '', days: '' });
      await load();
    } catch (e2) { setErr(e2); }
  };
  const revoke = async (k) => {
    if (!confirm(`Revoke the API key ${k.name} (${k.prefix}…)? Programs using it stop working.`)) return;
    setErr(null); setMsg(null);
    try { await api(`/api/keys/${path(String(k.id))}`, { method: 'DELETE' }); setMsg(`Revoked ${k.name}.`); await load(); } catch (e) { setErr(e); }
  };
  return (
    <section class="card" aria-labelledby="keys-h">
      <h2 id="keys-h">API keys</h2>
      <Err e={err} />
      {msg && <div class="banner ok" role="status">{msg}</div>}
      {created && <NewKey k={created} onClose={() => setCreated(null)} />}
      {list === null ? <p class="muted">Loading…</p> : list.length === 0 ? <p>No API keys.</p> : (
        <div class="tablewrap"><table data-testid="keys" class="cams">
          <thead><tr><th scope="col">name</th><th scope="col">role</th><th scope="col">starts with</th><th scope="col">created</th><th scope="col">expires</th><th scope="col">last used</th><th scope="col" aria-label="actions" /></tr></thead>
          <tbody>{list.map((k) => (
            <tr data-key={k.id}>
              <td class="name"><strong>{k.name}</strong></td><td data-l="role">{k.role}</td><td data-l="starts with"><code>{k.prefix}…</code></td>
              <td data-l="created" class="small">{when(k.created)}</td><td data-l="expires" class="small">{k.expires ? when(k.expires) : 'never'}</td>
              <td data-l="last used" class="small">{k.last_used ? when(k.last_used) : 'never'}</td>
              <td class="actions"><button type="button" class="danger" onClick={() => revoke(k)} aria-label={`Revoke key ${k.name}`}>Revoke</button></td>
            </tr>
          ))}</tbody>
        </table></div>
      )}
      <form class="form" onSubmit={add} aria-label="Create an API key">
        <h3>Create an API key</h3>
        <div class="fields">
          <label>Key name <input required autocomplete="off" value={f.name} onInput={(e) => setF({ ...f, name: e.currentTarget.value })} /></label>
          <label>Key role <RoleSelect value={f.role} onChange={(r) => setF({ ...f, role: r })} /></label>
          <label>Expires after (days, empty: never) <input type="number" min="1" step="1" value={f.days} onInput={(e) => setF({ ...f, days: e.currentTarget.value })} /></label>
        </div>
        <button type="submit">Create key</button>
      </form>
    </section>
  );
}

function Audit() {
  const [rows, setRows] = useState(null);
  const [err, setErr] = useState(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    api('/api/audit?limit=100').then((r) => { if (live) { setRows(r.entries || []); setErr(null); } }).catch((e) => live && setErr(e));
    return () => { live = false; };
  }, [tick, epoch.value]);
  return (
    <section class="card" aria-labelledby="audit-h">
      <h2 id="audit-h">Audit log <button type="button" class="secondary small" onClick={() => setTick(tick + 1)}>Refresh</button></h2>
      <Err e={err} />
      {rows === null ? <p class="muted">Loading…</p> : rows.length === 0 ? <p>Nothing recorded yet.</p> : (
        <div class="tablewrap"><table data-testid="audit" class="audit">
          <thead><tr><th scope="col">time</th><th scope="col">who</th><th scope="col">role</th><th scope="col">from</th><th scope="col">request</th><th scope="col">status</th><th scope="col">detail</th></tr></thead>
          <tbody>{rows.map((a) => (
            <tr><td class="small nowrap">{when(a.time)}</td><td>{a.principal || '–'}</td><td>{a.role || '–'}</td><td class="small">{a.source || '–'}</td>
              <td class="small"><code>{a.method} {a.route}</code></td>
              <td><span class={'badge ' + (a.status >= 400 ? 'bad' : 'ok')}>{a.status}</span></td><td class="small">{a.detail || ''}</td></tr>
          ))}</tbody>
        </table></div>
      )}
    </section>
  );
}

export function UsersPage() {
  return (
    <>
      <h1>Users</h1>
      <p class="muted">Roles: {ROLES.map((r, i) => <>{i ? '; ' : ''}<strong>{r}</strong> {ROLE_HELP[r]}</>)}.</p>
      <Users />
      <Keys />
      <Audit />
    </>
  );
}
