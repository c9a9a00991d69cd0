import { useEffect, useState } from 'preact/hooks';
import { apiKey, auth, login, setKey } from '../api.js';

/** The login card: user name and password (a cookie session), or an API key kept in this browser. */
export function Login() {
  const wrongKey = auth.value === 'wrong';
  const [useKey, setUseKey] = useState(wrongKey);
  const [user, setUser] = useState('');
  const [pw, setPw] = useState('');
  const [k, setK] = useState('');
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const [wait, setWait] = useState(0); // seconds left after "too many failed logins"
  useEffect(() => {
    if (wait <= 0) return undefined;
    const t = setTimeout(() => setWait(wait - 1), 1000);
    return () => clearTimeout(t);
  }, [wait]);

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true); setErr(null);
    try {
      await login(user.trim(), pw);
    } catch (e2) {
      setErr(e2); setPw('');
      if (e2.status === 429) setWait(e2.retryAfter);
    } finally { setBusy(false); }
  };
  const errText = !err ? null : err.status === 429
    ? (wait > 0 ? `Too many failed logins from this address. Try again in ${wait} s.` : 'You can try again now.')
    : err.message;

  return (
    <section class="card keyprompt login" aria-labelledby="login-title" data-testid="login">
      <h2 id="login-title">Log in to Osprey</h2>
      {!useKey ? (
        <form class="stack" onSubmit={submit}>
          <label for="login-user">User name</label>
          <input id="login-user" name="username" autocomplete="username" value={user} required autofocus
            onInput={(e) => setUser(e.currentTarget.value)} />
          <label for="login-pw">Password</label>
          <input id="login-pw" name="password" type="password" autocomplete="current-password" value={pw} required
            onInput={(e) => setPw(e.currentTarget.value)} />
          {errText && <div class="banner error" role="alert" data-testid="login-error">{errText}</div>}
          <button type="submit" disabled={busy || wait > 0}>{busy ? 'Logging in…' : 'Log in'}</button>
        </form>
      ) : (
        <form class="stack" onSubmit={(e) => { e.preventDefault(); setKey(k.trim()); }}>
          {wrongKey
            ? <div class="banner error" role="alert">The API key was not accepted. The server refused the key stored in this browser.</div>
            : <p class="small muted">An API key (<code>osk_…</code>, made on the Users page, or the server's <code>--api-key</code>) is kept in this browser and sent as <code>X-API-Key</code>.</p>}
          <label for="api-key">API key</label>
          <input id="api-key" type="password" autocomplete="off" value={k} onInput={(e) => setK(e.currentTarget.value)} required />
          <div class="toolbar">
            <button type="submit">Use this key</button>
            {apiKey.value && <button type="button" class="secondary" onClick={() => setKey('')}>Forget the stored key</button>}
          </div>
        </form>
      )}
      <p class="small">
        <button type="button" class="link" onClick={() => { setUseKey(!useKey); setErr(null); }}>
          {useKey ? 'Log in with a user name and password instead' : 'Use an API key instead'}</button>
      </p>
    </section>
  );
}
