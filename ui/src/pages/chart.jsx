import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

/**
 * A uPlot chart of per-bucket values: `xs` are bucket starts (unix s), `end` the range end; each
 * bucket is drawn as a step over its whole width. Redrawn when `stamp` (the fetched data), the title
 * or the time zone change.
 */
export function Chart({ title, xs, end, series, tz, fill, label, stamp }) {
  const box = useRef(null);
  useEffect(() => {
    const el = box.current;
    if (!el || !xs.length) return;
    const width = () => Math.max(260, el.clientWidth);
    const x = [...xs, end];
    const data = [x, ...series.map((s) => [...s.values, s.values[s.values.length - 1]])];
    const opts = {
      title, width: width(), height: 220,
      tzDate: tz === 'UTC' ? (t) => uPlot.tzDate(new Date(t * 1e3), 'Etc/UTC') : (t) => new Date(t * 1e3),
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{}, { label: label || 'count', size: 50 }],
      series: [{}, ...series.map((s, i) => ({
        label: s.label, stroke: COLORS[i % COLORS.length], width: 2,
        fill: fill ? COLORS[i % COLORS.length] + '30' : undefined,
        paths: uPlot.paths.stepped({ align: 1 }),
        points: { show: false },
      }))],
    };
    const u = new uPlot(opts, data, el);
    const ro = new ResizeObserver(() => u.setSize({ width: width(), height: 220 }));
    ro.observe(el);
    return () => { ro.disconnect(); u.destroy(); };
  }, [stamp, title, tz]); // stamp: the fetched data the series come from
  return <div class="chart" ref={box} role="img" aria-label={title} />;
}
