import { render } from 'preact';
import { useState } from 'preact/hooks';
import { apiKey, auth, unreachable, setKey } from './api.js';
import { route } from './store.js';
import { Overview } from './pages/overview.jsx';
import { CameraPage } from './pages/camera.jsx';
import { Setup } from './pages/setup.jsx';
import { Analytics } from './pages/analytics.jsx';
import { Recordings } from './pages/recordings.jsx';
import { Detect } from './pages/detect.jsx';
import './style.css';

const PAGES = [
  ['overview', 'Overview', Overview],
  ['camera', 'Camera', CameraPage],
  ['setup', 'Setup', Setup],
  ['analytics', 'Analytics', Analytics],
  ['recordings', 'Recordings', Recordings],
  ['detect', 'Detect', Detect],
];

function KeyPrompt() {
  const [k, setK] = useState('');
  const wrong = auth.value === 'wrong';
  return (
    <section class="card keyprompt" role="alertdialog" aria-labelledby="key-title">
      <h2 id="key-title">{wrong ? 'The API key was not accepted' : 'This server needs an API key'}</h2>
      <p>{wrong
        ? 'The server refused the key stored in this browser. Enter the key the server was started with (--api-key).'
        : 'Enter the key the server was started with (--api-key). It is kept in this browser and sent as X-API-Key.'}</p>
      <form onSubmit={(e) => { e.preventDefault(); setKey(k.trim()); }}>
        <label for="api-key">API key</label>
        <input id="api-key" type="password" autocomplete="current-password" value={k}
          onInput={(e) => setK(e.currentTarget.value)} required />
        <button type="submit">Use this key</button>
        {apiKey.value && <button type="button" class="secondary" onClick={() => setKey('')}>Forget the stored key</button>}
      </form>
    </section>
  );
}

function App() {
  const r = route.value;
  const page = PAGES.find((p) => p[0] === r.page) || PAGES[0];
  const Page = page[2];
  return (
    <>
      <header class="top">
        <a class="brand" href="#/overview" aria-label="Osprey overview">
          <img src="/ui/favicon.svg" alt="" width="24" height="24" /> Osprey
        </a>
        <nav aria-label="Pages">
          {PAGES.map(([id, label]) => (
            <a href={'#/' + id + (r.arg && id !== 'detect' && id !== 'overview' ? '/' + encodeURIComponent(r.arg) : '')}
              aria-current={id === page[0] ? 'page' : undefined}>{label}</a>
          ))}
        </nav>
      </header>
      {unreachable.value && (
        <div class="banner error" role="alert">The server cannot be reached. Retrying…</div>
      )}
      <main id="main">
        {auth.value !== 'ok' ? <KeyPrompt /> : <Page arg={r.arg} />}
      </main>
    </>
  );
}

const root = document.getElementById('app');
root.textContent = ''; // the static "Loading" line
render(<App />, root);
