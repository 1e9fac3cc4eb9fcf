// The run's time axis: real time → percent, with idle gaps longer than 6 % of the run squeezed
// to a fixed 3 % each (at most 8 of them), so a fork of an old run or a long pause between steps
// does not flatten everything else. Axis labels map back to real time.
import type { StepView } from "../bindings/StepView";

export type Gap = { from: number; to: number; left: number; width: number };
export type Scale = { t0: number; t1: number; pos: (t: number) => number; time: (pct: number) => number; gaps: Gap[] };

type Piece = { a: number; b: number; pa: number; pb: number };

export function makeScale(steps: readonly StepView[], t0: number, t1: number): Scale {
  const span = Math.max(1, t1 - t0);
  const iv: [number, number][] = [];
  for (const s of steps) {
    const a = Math.min(s.created_at, s.attempt_list[0]?.started_at ?? s.created_at);
    iv.push([a, s.finished_at ?? t1]);
  }
  iv.sort((x, y) => x[0] - y[0]);
  // Idle stretches: time no step covers.
  // Worth squeezing: over 6 % of the run and over a second (a 10 ms run keeps its real axis).
  const min = Math.max(span * 0.06, 1000);
  const idle: [number, number][] = [];
  let covered = t0;
  for (const [a, b] of iv) {
    if (a - covered > min) idle.push([covered, a]);
    covered = Math.max(covered, b);
  }
  if (t1 - covered > min && iv.length) idle.push([covered, t1]);
  const big = idle
    .sort((x, y) => y[1] - y[0] - (x[1] - x[0]))
    .slice(0, 8)
    .sort((x, y) => x[0] - y[0]);
  const GAP = 3;
  const idleTotal = big.reduce((n, [a, b]) => n + (b - a), 0);
  const busy = Math.max(1, span - idleTotal);
  const perMs = (100 - GAP * big.length) / busy;
  const pieces: Piece[] = [];
  const gaps: Gap[] = [];
  let t = t0;
  let p = 0;
  for (const [a, b] of big) {
    if (a > t) {
      pieces.push({ a: t, b: a, pa: p, pb: p + (a - t) * perMs });
      p += (a - t) * perMs;
    }
    pieces.push({ a, b, pa: p, pb: p + GAP });
    gaps.push({ from: a, to: b, left: p, width: GAP });
    p += GAP;
    t = b;
  }
  pieces.push({ a: t, b: Math.max(t1, t + 1), pa: p, pb: 100 });
  const pos = (x: number) => {
    if (x <= t0) return ((x - t0) / span) * 100;
    let lo = 0;
    let hi = pieces.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (pieces[mid].b < x) lo = mid + 1;
      else hi = mid;
    }
    const pc = pieces[lo];
    return pc.pa + ((Math.min(x, pc.b) - pc.a) / Math.max(1, pc.b - pc.a)) * (pc.pb - pc.pa) + (x > pc.b ? ((x - pc.b) / span) * 100 : 0);
  };
  const time = (pct: number) => {
    const pc = pieces.find((q) => pct <= q.pb) ?? pieces[pieces.length - 1];
    return pc.a + ((pct - pc.pa) / Math.max(1e-9, pc.pb - pc.pa)) * (pc.b - pc.a);
  };
  return { t0, t1, pos, time, gaps };
}
