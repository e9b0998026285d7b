/**
 * The live loss curve: training loss per step and held-out loss (step 0 is before training) as an
 * SVG line chart with axes, drawn again after every step. The numbers also go on the figure's data
 * attributes, so a test reads what the chart shows.
 */

export interface LossHistory {
  totalSteps: number;
  /** Training loss of steps 1, 2, ... */
  train: number[];
  heldOut: { step: number; loss: number }[];
}

const W = 1000, H = 230, PAD = { left: 52, right: 16, top: 12, bottom: 34 };
const SVG_NS = 'http://www.w3.org/2000/svg';

function el(name: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text != null) node.textContent = text;
  return node;
}

/** About `count` round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export function renderLossChart(figure: HTMLElement, history: LossHistory): void {
  figure.dataset.train = JSON.stringify(history.train);
  figure.dataset.heldOut = JSON.stringify(history.heldOut);
  const values = [...history.train, ...history.heldOut.map((p) => p.loss)];
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'loss per step' });
  const lo = values.length ? Math.min(...values) : 0, hi = values.length ? Math.max(...values) : 1;
  const margin = (hi - lo) * 0.08 || 0.1;
  const [y0, y1] = [lo - margin, hi + margin];
  const steps = Math.max(1, history.totalSteps);
  const x = (step: number) => PAD.left + (step / steps) * (W - PAD.left - PAD.right);
  const y = (v: number) => PAD.top + (1 - (v - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom);

  for (const v of ticks(y0, y1, 6)) {
    svg.append(el('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), stroke: '#e6e8ec' }));
    svg.append(el('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 12, fill: '#667085' }, v.toString()));
  }
  for (const s of ticks(0, steps, Math.min(steps, 8)).filter(Number.isInteger)) {
    svg.append(el('text', { x: x(s), y: H - PAD.bottom + 16, 'text-anchor': 'middle', 'font-size': 12, fill: '#667085' }, String(s)));
  }
  svg.append(el('line', { x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom, y2: H - PAD.bottom, stroke: '#98a2b3' }));
  svg.append(el('text', { x: (PAD.left + W - PAD.right) / 2, y: H - 4, 'text-anchor': 'middle', 'font-size': 12, fill: '#667085' }, 'step'));
  svg.append(el('text', { x: 14, y: (PAD.top + H - PAD.bottom) / 2, 'text-anchor': 'middle', 'font-size': 12, fill: '#667085',
    transform: `rotate(-90 14 ${(PAD.top + H - PAD.bottom) / 2})` }, 'loss (nats/token)'));

  const line = (points: [number, number][], color: string, dots: boolean) => {
    if (points.length === 0) return;
    svg.append(el('polyline', {
      points: points.map(([s, v]) => `${x(s).toFixed(1)},${y(v).toFixed(1)}`).join(' '),
      fill: 'none', stroke: color, 'stroke-width': 2.2, 'stroke-linejoin': 'round',
    }));
    if (dots) for (const [s, v] of points) svg.append(el('circle', { cx: x(s), cy: y(v), r: 3.2, fill: color }));
  };
  line(history.train.map((v, i) => [i + 1, v]), 'var(--train)', history.train.length <= 40);
  line(history.heldOut.map((p) => [p.step, p.loss]), 'var(--held)', true);

  const legend = document.createElement('figcaption');
  legend.className = 'legend';
  const first = (list: number[]) => (list.length ? list[0].toFixed(3) : '—');
  const last = (list: number[]) => (list.length ? list.at(-1)!.toFixed(3) : '—');
  const held = history.heldOut.map((p) => p.loss);
  legend.innerHTML = `<b style="color: var(--train)">━ training</b> ${first(history.train)} → ${last(history.train)} &nbsp; `
    + `<b style="color: var(--held)">━ held-out</b> ${first(held)} → ${last(held)} &nbsp; `
    + `(step ${history.train.length} of ${history.totalSteps})`;
  figure.replaceChildren(svg, legend);
}
