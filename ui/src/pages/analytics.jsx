import { useEffect, useState } from 'preact/hooks';
import { api, getOr, epoch, can } from '../api.js';
import { pickCamera } from '../store.js';
import { CameraSelect, NeedCamera, Err } from './common.jsx';
import { Chart } from './chart.jsx';

const RANGES = [[600, 'last 10 minutes', 30], [3600, 'last hour', 300], [6 * 3600, 'last 6 hours', 1800], [86400, 'last 24 hours', 3600]];
const LOCAL_TZ = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local';
const q = (o) => Object.entries(o).filter(([, v]) => v != null && v !== '').map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
const star = (objs, field) => (objs || []).find((o) => o.type === '*')?.[field] ?? 0;
const ev = (events, type) => (events || []).find((e) => e.type === type)?.objects;
const secs = (iso) => Date.parse(iso) / 1000;

async function loadAll(cam, span, bucket) {
  const to = new Date(Math.ceil(Date.now() / 1000) * 1000);
  const from = new Date(to.getTime() - span * 1000);
  const range = { sensorId: cam, fromTimestamp: from.toISOString(), toTimestamp: to.toISOString() };
  const [tw, rois] = await Promise.all([
    getOr(`/emdx/api/v2/config/tripwire?sensorId=${encodeURIComponent(cam)}`, { tripwires: [] }),
    getOr(`/emdx/api/v2/config/roi?sensorId=${encodeURIComponent(cam)}`, { rois: [] }),
  ]);
  const [totals, fov, roiH, ...twH] = await Promise.all([
    tw.tripwires.length ? api(`/emdx/api/v2/metrics/tripwire?${q(range)}`) : { tripwireKpis: [] },
    api(`/emdx/api/v2/metrics/occupancy/fov/histogram?${q({ ...range, bucketSizeInSec: bucket })}`),
    rois.rois.length ? api(`/emdx/api/v2/metrics/occupancy/roi/histogram?${q({ ...range, bucketSizeInSec: bucket })}`) : { rois: [] },
    ...tw.tripwires.map((t) => api(`/emdx/api/v2/metrics/tripwire/histogram?${q({ ...range, tripwireId: t.id, bucketSizeInSec: bucket })}`)),
  ]);
  return { range, tripwires: tw.tripwires, rois: rois.rois, totals, fov, roiH, twH };
}

function Charts({ d, tz }) {
  const fovH = d.fov.histogram || [];
  const fx = fovH.map((b) => secs(b.start));
  return (
    <>
      {d.twH.map((h, i) => {
        const t = (h.tripwires || [])[0];
        if (!t) return null;
        const xs = t.histogram.map((b) => secs(b.start));
        const tcfg = d.tripwires[i];
        return <Chart stamp={d} key={'tw' + t.id} title={`Tripwire ${t.id}: crossings per ${h.bucketSizeInSec} s`} tz={tz} fill end={secs(d.range.toTimestamp)} xs={xs} series={[
          { label: tcfg?.direction?.entry?.name || 'IN', values: t.histogram.map((b) => star(ev(b.events, 'IN'), 'actualCount')) },
          { label: tcfg?.direction?.exit?.name || 'OUT', values: t.histogram.map((b) => star(ev(b.events, 'OUT'), 'actualCount')) },
        ]} />;
      })}
      <Chart stamp={d} title={`Field of view: objects per ${d.fov.bucketSizeInSec} s`} tz={tz} end={secs(d.range.toTimestamp)} xs={fx} series={[
        { label: 'average', values: fovH.map((b) => star(b.objects, 'averageCount')) },
        { label: 'max', values: fovH.map((b) => star(b.objects, 'maxCount')) },
      ]} />
      {(d.roiH.rois || []).map((r) => (
        <Chart stamp={d} key={'roi' + r.id} title={`Region ${r.id}: occupancy per ${d.roiH.bucketSizeInSec} s`} tz={tz} end={secs(d.range.toTimestamp)} xs={r.histogram.map((b) => secs(b.start))} series={[
          { label: 'average', values: r.histogram.map((b) => star(b.objects, 'averageCount')) },
          { label: 'max', values: r.histogram.map((b) => star(b.objects, 'maxCount')) },
        ]} />
      ))}
    </>
  );
}

const KINDS = { tripwire: ['increment', 'flowrate'], roi: ['occupancy_threshold', 'occupancy_switch', 'loitering'], fov: ['occupancy_threshold', 'occupancy_switch'] };

function Rules({ cam, d }) {
  const [rules, setRules] = useState(null);
  const [err, setErr] = useState(null);
  const [f, setF] = useState({ kind: 'tripwire', id: '', ruleType: 'increment', target: '', direction: 'both', countThreshold: 1, timeInterval: 60, objectType: '', cooldownSeconds: 0 });
  const load = async () => {
    try {
      const all = await Promise.all(Object.keys(KINDS).map((k) => getOr(`/emdx/api/v2/config/rule/alerts/${k}?sensorId=${encodeURIComponent(cam)}`, { rules: [] })
        .then((r) => r.rules.map((x) => ({ ...x, kind: k })))));
      setRules(all.flat());
    } catch (e) { setErr(e); }
  };
  useEffect(() => { load(); }, [cam, epoch.value]);
  const save = async (e) => {
    e.preventDefault(); setErr(null);
    const rule = { id: f.id.trim(), ruleType: f.ruleType, countThreshold: Number(f.countThreshold), timeInterval: Number(f.timeInterval), cooldownSeconds: Number(f.cooldownSeconds) };
    if (f.kind === 'tripwire') { rule.tripwireId = f.target; rule.direction = f.direction; }
    if (f.kind === 'roi') rule.roiId = f.target;
    const types = f.objectType.split(',').map((s) => s.trim()).filter(Boolean);
    if (types.length) rule.objectType = types;
    try {
      await api(`/emdx/api/v2/config/rule/alerts/${f.kind}`, { method: 'POST', json: { sensorId: cam, deleteIfPresent: false, rules: [rule] } });
      await load();
    } catch (e2) { setErr(e2); }
  };
  const del = async (r) => {
    try { await api(`/emdx/api/v2/config/rule/alerts/${r.kind}?sensorId=${encodeURIComponent(cam)}&ruleId=${encodeURIComponent(r.id)}`, { method: 'DELETE' }); await load(); } catch (e) { setErr(e); }
  };
  const targets = f.kind === 'tripwire' ? d.tripwires : f.kind === 'roi' ? d.rois : [];
  return (
    <section class="card" aria-labelledby="rules-h">
      <h2 id="rules-h">Alert rules</h2>
      <Err e={err} />
      {rules === null ? <p class="muted">Loading…</p> : rules.length === 0 ? <p>No alert rules.</p> : (
        <ul class="rules">{rules.map((r) => (
          <li><strong>{r.id}</strong> <span class="muted small">{r.kind} · {r.ruleType}{r.tripwireId ? ' · ' + r.tripwireId : ''}{r.roiId ? ' · ' + r.roiId : ''} · ≥ {r.countThreshold ?? 1} in {r.timeInterval ?? 1} s</span>{' '}
            {can.value.operate && <button type="button" class="danger" onClick={() => del(r)} aria-label={`Delete rule ${r.id}`}>Delete</button>}</li>
        ))}</ul>
      )}
      {can.value.operate && <form class="form" onSubmit={save}>
        <div class="fields">
          <label>Applies to <select value={f.kind} onChange={(e) => { const k = e.currentTarget.value; setF({ ...f, kind: k, ruleType: KINDS[k][0], target: '' }); }}>
            <option value="tripwire">tripwire</option><option value="roi">region</option><option value="fov">field of view</option></select></label>
          <label>Rule id <input required value={f.id} onInput={(e) => setF({ ...f, id: e.currentTarget.value })} /></label>
          <label>Rule type <select value={f.ruleType} onChange={(e) => setF({ ...f, ruleType: e.currentTarget.value })}>
            {KINDS[f.kind].map((t) => <option value={t}>{t}</option>)}</select></label>
          {f.kind !== 'fov' && <label>{f.kind === 'tripwire' ? 'Tripwire' : 'Region'} <select required value={f.target} onChange={(e) => setF({ ...f, target: e.currentTarget.value })}>
            <option value="">choose…</option>{targets.map((t) => <option value={t.id}>{t.id}</option>)}</select></label>}
          {f.kind === 'tripwire' && <label>Direction <select value={f.direction} onChange={(e) => setF({ ...f, direction: e.currentTarget.value })}>
            <option value="both">both</option><option value="entry">entry</option><option value="exit">exit</option></select></label>}
          <label>Count threshold <input type="number" min="1" value={f.countThreshold} onInput={(e) => setF({ ...f, countThreshold: e.currentTarget.value })} /></label>
          <label>Time interval (s) <input type="number" min="0" step="any" value={f.timeInterval} onInput={(e) => setF({ ...f, timeInterval: e.currentTarget.value })} /></label>
          <label>Object types (comma separated) <input value={f.objectType} onInput={(e) => setF({ ...f, objectType: e.currentTarget.value })} /></label>
          <label>Cooldown (s) <input type="number" min="0" step="any" value={f.cooldownSeconds} onInput={(e) => setF({ ...f, cooldownSeconds: e.currentTarget.value })} /></label>
        </div>
        <button type="submit">Save rule</button>
      </form>}
    </section>
  );
}

function Alerts({ cam, range }) {
  const [a, setA] = useState(null);
  const [err, setErr] = useState(null);
  useEffect(() => {
    api(`/emdx/api/v2/alerts?${q({ ...range, limit: 50 })}`).then((r) => setA(r.alerts)).catch(setErr);
  }, [cam, range.fromTimestamp]);
  return (
    <section class="card" aria-labelledby="alerts-h">
      <h2 id="alerts-h">Alerts</h2>
      <Err e={err} />
      {a === null ? <p class="muted">Loading…</p> : a.length === 0 ? <p>No alerts in this range.</p> : (
        <div class="tablewrap"><table>
          <thead><tr><th scope="col">rule</th><th scope="col">what</th><th scope="col">start</th><th scope="col">end</th></tr></thead>
          <tbody>{a.map((x) => <tr><td>{x.ruleId}</td><td>{x.description}</td><td>{new Date(x.startTimestamp).toLocaleString()}</td>
            <td>{x.active ? <span class="badge warn">active</span> : x.endTimestamp ? new Date(x.endTimestamp).toLocaleString() : '–'}</td></tr>)}</tbody>
        </table></div>
      )}
    </section>
  );
}

export function Analytics({ arg }) {
  const cam = pickCamera(arg);
  const [span, setSpan] = useState(600);
  const [tz, setTz] = useState('local');
  const [d, setD] = useState(null);
  const [err, setErr] = useState(null);
  const [tick, setTick] = useState(0);
  const camId = cam?.id;
  useEffect(() => {
    if (!camId) return;
    let live = true;
    const bucket = RANGES.find((r) => r[0] === span)[2];
    loadAll(camId, span, bucket).then((x) => { if (live) { setD(x); setErr(null); } }).catch((e) => live && setErr(e));
    return () => { live = false; };
  }, [camId, span, tick, epoch.value]);
  const missing = NeedCamera({ cam });
  if (missing) return <><h1>Analytics</h1>{missing}</>;
  return (
    <>
      <h1>Analytics <span class="accent">{cam.id}</span></h1>
      <div class="toolbar">
        <CameraSelect page="analytics" current={cam.id} />
        <label class="inline">Range <select value={span} onChange={(e) => setSpan(Number(e.currentTarget.value))}>
          {RANGES.map(([s, l]) => <option value={s}>{l}</option>)}</select></label>
        <label class="inline">Times in <select value={tz} onChange={(e) => setTz(e.currentTarget.value)}>
          <option value="local">local ({LOCAL_TZ})</option><option value="UTC">UTC</option></select></label>
        <button type="button" class="secondary" onClick={() => setTick(tick + 1)}>Refresh</button>
      </div>
      <Err e={err} />
      {!d ? <p class="muted">Loading…</p> : (
        <>
          <section class="card" aria-labelledby="totals-h" data-testid="totals" data-from={d.range.fromTimestamp} data-to={d.range.toTimestamp}>
            <h2 id="totals-h">Counts</h2>
            <p class="muted small">From {new Date(d.range.fromTimestamp).toLocaleString(undefined, { timeZone: tz === 'UTC' ? 'UTC' : undefined })} to {new Date(d.range.toTimestamp).toLocaleString(undefined, { timeZone: tz === 'UTC' ? 'UTC' : undefined, timeZoneName: 'short' })}.</p>
            {d.tripwires.length === 0 ? <p>No tripwires on this camera{can.value.operate ? <>: draw one on the <a href={'#/setup/' + encodeURIComponent(cam.id)}>Setup</a> page</> : ''}.</p> : (
              <div class="tablewrap"><table>
                <thead><tr><th scope="col">tripwire</th><th scope="col">IN (all crossings)</th><th scope="col">OUT (all crossings)</th><th scope="col">IN (objects)</th><th scope="col">OUT (objects)</th></tr></thead>
                <tbody>{(d.totals.tripwireKpis || []).map((k) => (
                  <tr data-tripwire={k.id}>
                    <td>{k.id}</td>
                    <td data-k="in">{star(ev(k.events, 'IN'), 'actualCount')}</td>
                    <td data-k="out">{star(ev(k.events, 'OUT'), 'actualCount')}</td>
                    <td data-k="in-eff">{star(ev(k.events, 'IN'), 'count')}</td>
                    <td data-k="out-eff">{star(ev(k.events, 'OUT'), 'count')}</td>
                  </tr>
                ))}</tbody>
              </table></div>
            )}
          </section>
          <section class="card charts" aria-label="Charts"><Charts d={d} tz={tz} /></section>
          <Rules cam={cam.id} d={d} />
          <Alerts cam={cam.id} range={d.range} />
        </>
      )}
    </>
  );
}
