import { render } from 'preact';
import { auth, can, me, meError, loadMe, logout, unreachable } from './api.js';
import { route } from './store.js';
import { Overview } from './pages/overview.jsx';
import { CameraPage } from './pages/camera.jsx';
import { Setup } from './pages/setup.jsx';
import { Analytics } from './pages/analytics.jsx';
import { Recordings } from './pages/recordings.jsx';
import { Detect } from './pages/detect.jsx';
import { UsersPage } from './pages/users.jsx';
import { Login } from './pages/login.jsx';
import { Err } from './pages/common.jsx';
import './style.css';

// [route, nav label, page, what me.can must allow]
const PAGES = [
  ['overview', 'Overview', Overview, 'view'],
  ['camera', 'Camera', CameraPage, 'view'],
  ['setup', 'Setup', Setup, 'operate'],
  ['analytics', 'Analytics', Analytics, 'view'],
  ['recordings', 'Recordings', Recordings, 'view'],
  ['detect', 'Detect', Detect, 'detect'],
  ['users', 'Users', UsersPage, 'users'], // admin, and only when the server has users (not --auth off)
];
const WITH_CAMERA = ['camera', 'setup', 'analytics', 'recordings'];

function Forbidden({ label }) {
  const m = me.value;
  if (!m.auth) return (
    <div class="card empty" data-testid="forbidden">
      <h2>No users</h2>
      <p>This server runs without users and sessions (<code>--auth off</code>): there is no {label} page.</p>
    </div>
  );
  return (
    <div class="card empty" data-testid="forbidden">
      <h2>Not available to your role</h2>
      <p>The {label} page is not available to {m.name ? <strong>{m.name}</strong> : 'you'} (role <strong>{m.role}</strong>). An admin can change roles on the Users page.</p>
    </div>
  );
}

function Who() {
  const m = me.value;
  if (!m || !m.auth) return null;
  return (
    <div class="who">
      <span data-testid="who" title={m.kind === 'key' ? 'signed in with an API key' : undefined}>{m.name}</span>
      <span class="badge role" data-testid="role">{m.role}</span>
      <button type="button" class="secondary" onClick={logout}>Log out</button>
    </div>
  );
}

function App() {
  const r = route.value;
  const m = me.value;
  const c = can.value;
  const allowed = PAGES.filter((p) => c[p[3]]);
  let page = PAGES.find((p) => p[0] === r.page) || PAGES[0];
  // The landing page (Overview) becomes the first one the role may see (Detect for `detect`).
  if (m && !c[page[3]] && page[0] === 'overview' && allowed.length) page = allowed[0];
  const Page = page[2];
  let body;
  if (auth.value !== 'ok') body = <Login />;
  else if (!m) body = <><p class="muted">Loading…</p><Err e={meError.value} /></>;
  else if (!c[page[3]]) body = <Forbidden label={page[1]} />;
  else body = <Page arg={r.arg} />;
  return (
    <>
      <header class="top">
        <a class="brand" href={'#/' + (allowed[0] ? allowed[0][0] : '')} aria-label="Osprey home">
          <img src="/ui/favicon.svg" alt="" width="24" height="24" /> Osprey
        </a>
        {m && (
          <nav aria-label="Pages">
            {allowed.map(([id, label]) => (
              <a href={'#/' + id + (r.arg && WITH_CAMERA.includes(id) ? '/' + encodeURIComponent(r.arg) : '')}
                aria-current={id === page[0] ? 'page' : undefined}>{label}</a>
            ))}
          </nav>
        )}
        <Who />
      </header>
      {unreachable.value && (
        <div class="banner error" role="alert">The server cannot be reached. Retrying…</div>
      )}
      <main id="main">{body}</main>
    </>
  );
}

const root = document.getElementById('app');
root.textContent = ''; // the static "Loading" line
render(<App />, root);
loadMe();
