// The run page's live state, kept outside React: the last runs_get snapshot, what events said
// since (new steps, status changes, streamed progress), child runs loaded on demand. Events are
// batched (≤ 60 ms timer, not requestAnimationFrame, which never fires in a hidden window) and each
// batch bumps one version; components read it through useSyncExternalStore.
import { useSyncExternalStore } from "react";
import type { AttemptRecord } from "../bindings/AttemptRecord";
import type { Event } from "../bindings/Event";
import type { RunGetResponse } from "../bindings/RunGetResponse";
import type { RunStatus } from "../bindings/RunStatus";
import type { StepStatus } from "../bindings/StepStatus";
import type { StepTrace } from "../bindings/StepTrace";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import type { StreamState, Transport } from "../transport";

export const TERMINAL: RunStatus[] = ["succeeded", "failed", "cancelled"];
/** Steps in the first view of a run; the rest load right after. */
const FIRST_PAGE = 200;

/** One line of the timeline: a step of this run, or of a child run expanded in place. */
export type Row = {
  /** Unique across the tree: the StepKey for this run's steps, `child|key` below. */
  id: string;
  runId: string;
  step: StepTrace;
  status: StepStatus;
  depth: number;
  /** For child steps: the child run's id (loaded on demand when expanded). */
  childRunId: string | null;
  expanded: boolean;
  /** A failure (failed / needs_attention) inside this collapsed child run. */
  childFailure: boolean;
  /** A sub-row for one attempt of a retried step (its step's row is expanded). */
  attempt: AttemptRecord | null;
  /** Whether the row can expand (a child run, or a step with several attempts). */
  expandable: boolean;
};

type Patch = { status: StepStatus; seq: number };

export class RunStore {
  version = 0;
  data: RunGetResponse | null = null;
  error: Error | null = null;
  /** Set while only the first page of a long run's steps is loaded. */
  partial: { total: number } | null = null;
  stream: StreamState = "closed";
  /** Steps seen in events but not yet in a snapshot, with the run sequence that announced them. */
  private fresh = new Map<string, { step: StepTrace; seq: number }>();
  private patches = new Map<string, Patch>();
  private snapshotKeys = new Set<string>();
  private runPatch: { status: RunStatus; seq: number } | null = null;
  /** Latest streamed progress per step (a model's partial answer, a tool's progress). */
  progress = new Map<string, JsonValue>();
  children = new Map<string, RunGetResponse | "loading" | Error>();
  expanded = new Set<string>();
  /** Rows (by id) whose attempts are shown as sub-rows. */
  attemptsOpen = new Set<string>();
  private listeners = new Set<() => void>();
  private queue: Event[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private refetchTimer: ReturnType<typeof setTimeout> | null = null;
  private fetching = false;
  private refetchAgain = false;
  private lastFetchMs = 0;
  private unsubscribe: (() => void) | null = null;
  private disposed = false;
  private rowsCache: { version: number; rows: Row[] } | null = null;

  constructor(
    private readonly transport: Transport,
    readonly runId: string,
  ) {}

  subscribe = (l: () => void) => {
    this.listeners.add(l);
    return () => {
      this.listeners.delete(l);
    };
  };
  getVersion = () => this.version;

  private bump() {
    this.version++;
    this.listeners.forEach((l) => l());
  }

  async start() {
    // Started again after dispose (React's StrictMode mounts twice in development).
    this.disposed = false;
    // First view: one page of steps (a long run's whole journal is megabytes); then the rest.
    try {
      const page = await this.transport.call("runs_get_page", { run_id: this.runId, offset: 0, limit: FIRST_PAGE });
      if (this.disposed) return;
      if (page.total_steps > page.trace.steps.length) {
        this.partial = { total: page.total_steps };
        this.apply({ trace: page.trace, summary: page.summary });
        this.stopFollowing();
        this.bump();
      } else {
        this.apply({ trace: page.trace, summary: page.summary });
        this.bump();
        if (!TERMINAL.includes(page.trace.run.status)) this.follow();
        return;
      }
    } catch {
      // An older server without pages: the whole run below.
    }
    await this.fetch();
    if (this.disposed || !this.data) return;
    if (!TERMINAL.includes(this.data.trace.run.status)) this.follow();
  }

  dispose() {
    this.disposed = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.timer) clearTimeout(this.timer);
    if (this.refetchTimer) clearTimeout(this.refetchTimer);
    this.timer = null;
    this.refetchTimer = null;
    this.queue = [];
  }

  private follow() {
    if (this.unsubscribe || !this.data) return;
    this.unsubscribe = this.transport.subscribe(
      { run: this.runId, after: this.data.trace.run.last_seq },
      (e) => this.push(e),
      (s) => {
        this.stream = s;
        this.bump();
      },
    );
  }

  private stopFollowing() {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.stream = "closed";
  }

  /** Re-reads the run now (after an action), then keeps following if it is still live. */
  async refresh() {
    await this.fetch();
    if (this.data && !TERMINAL.includes(this.data.trace.run.status)) this.follow();
  }

  private async fetch() {
    if (this.fetching) {
      this.refetchAgain = true;
      return;
    }
    this.fetching = true;
    const t0 = performance.now();
    try {
      const data = await this.transport.call("runs_get", { run_id: this.runId });
      if (this.disposed) return;
      this.partial = null;
      this.apply(data);
      // Expanded children still running are re-read with their parent.
      for (const id of this.expanded) {
        const c = this.children.get(id);
        if (c && c !== "loading" && !(c instanceof Error) && !TERMINAL.includes(c.trace.run.status)) void this.loadChild(id, true);
      }
    } catch (e) {
      if (this.disposed) return;
      this.error = e instanceof Error ? e : new Error(String(e));
    } finally {
      this.fetching = false;
      this.lastFetchMs = performance.now() - t0;
    }
    this.bump();
    if (this.refetchAgain) {
      this.refetchAgain = false;
      this.scheduleRefetch();
    }
  }

  private apply(data: RunGetResponse) {
    this.data = data;
    this.snapshotKeys = new Set(data.trace.steps.map((s) => s.key));
    this.error = null;
    const seq = data.trace.run.last_seq;
    for (const [k, v] of this.fresh) if (v.seq <= seq) this.fresh.delete(k);
    for (const [k, v] of this.patches) if (v.seq <= seq) this.patches.delete(k);
    if (this.runPatch && this.runPatch.seq <= seq) this.runPatch = null;
    if (TERMINAL.includes(data.trace.run.status)) this.stopFollowing();
  }

  private scheduleRefetch() {
    if (this.refetchTimer || this.disposed) return;
    // Throttled: at most every 300 ms, and never more than a third of the time spent fetching.
    const wait = Math.max(300, this.lastFetchMs * 2);
    this.refetchTimer = setTimeout(() => {
      this.refetchTimer = null;
      void this.fetch();
    }, wait);
  }

  private push(e: Event) {
    this.queue.push(e);
    if (!this.timer) this.timer = setTimeout(() => this.flush(), 60);
  }

  private flush() {
    this.timer = null;
    const batch = this.queue;
    this.queue = [];
    let structural = false;
    let ended = false;
    for (const e of batch) {
      const seq = e.run_seq ?? 0;
      switch (e.type) {
        case "attempt_started": {
          if (!this.hasStep(e.key)) {
            this.fresh.set(e.key, {
              seq,
              step: provisional(this.runId, e.key, e.kind, e.at, e.attempt),
            });
          }
          this.patch(e.key, "running", seq);
          structural = true;
          break;
        }
        case "step_waiting":
          if (!this.hasStep(e.key)) this.fresh.set(e.key, { seq, step: { ...provisional(this.runId, e.key, e.kind, e.at, 0), status: "waiting", wake_at: e.wake_at ?? null } });
          this.patch(e.key, "waiting", seq);
          structural = true;
          break;
        case "attempt_finished":
          this.patch(e.key, e.step_status, seq);
          structural = true;
          break;
        case "step_finished":
          this.patch(e.key, e.status, seq);
          structural = true;
          break;
        case "step_needs_attention":
          this.patch(e.key, "needs_attention", seq);
          structural = true;
          break;
        case "step_resolved":
          structural = true;
          break;
        case "step_progress":
          this.progress.set(e.key, e.progress);
          break;
        case "run_status_changed":
          this.runPatch = { status: e.status, seq };
          structural = true;
          if (TERMINAL.includes(e.status)) ended = true;
          break;
        default:
          break;
      }
    }
    this.bump();
    if (ended) {
      // The run is over: one last read, and the stream closes.
      this.stopFollowing();
      void this.fetch();
    } else if (structural) this.scheduleRefetch();
  }

  private hasStep(key: string) {
    return this.fresh.has(key) || this.snapshotKeys.has(key);
  }

  private patch(key: string, status: StepStatus, seq: number) {
    this.patches.set(key, { status, seq });
  }

  runStatus(): RunStatus | null {
    if (!this.data) return null;
    return this.runPatch?.status ?? this.data.trace.run.status;
  }

  toggleAttempts(rowId: string, open?: boolean) {
    const isOpen = this.attemptsOpen.has(rowId);
    const want = open ?? !isOpen;
    if (want === isOpen) return;
    if (want) this.attemptsOpen.add(rowId);
    else this.attemptsOpen.delete(rowId);
    this.bump();
  }

  toggle(childRunId: string, open?: boolean) {
    const isOpen = this.expanded.has(childRunId);
    const want = open ?? !isOpen;
    if (want === isOpen) return;
    if (want) {
      this.expanded.add(childRunId);
      if (!this.children.has(childRunId)) void this.loadChild(childRunId);
    } else this.expanded.delete(childRunId);
    this.bump();
  }

  private async loadChild(id: string, quiet = false) {
    if (!quiet) {
      this.children.set(id, "loading");
      this.bump();
    }
    try {
      const c = await this.transport.call("runs_get", { run_id: id });
      this.children.set(id, c);
    } catch (e) {
      this.children.set(id, e instanceof Error ? e : new Error(String(e)));
    }
    if (!this.disposed) this.bump();
  }

  private startCache: { version: number; t: number } | null = null;
  /** The axis' origin: the run's start, or earlier when a fork copied older steps. */
  origin(): number {
    if (!this.data) return 0;
    if (this.startCache?.version === this.version) return this.startCache.t;
    let t = this.data.trace.run.created_at;
    for (const s of this.data.trace.steps) if (s.created_at < t) t = s.created_at;
    this.startCache = { version: this.version, t };
    return t;
  }

  /** The flattened tree (this run's steps, expanded children below their step), per version. */
  rows(): Row[] {
    if (this.rowsCache && this.rowsCache.version === this.version) return this.rowsCache.rows;
    const rows: Row[] = [];
    if (this.data) {
      const steps = this.data.trace.steps;
      const fresh = [...this.fresh.values()].map((f) => f.step).filter((s) => !this.snapshotKeys.has(s.key));
      const all = fresh.length ? [...steps, ...fresh] : steps;
      this.flatten(all, this.runId, 0, "", rows, true);
    }
    this.rowsCache = { version: this.version, rows };
    return rows;
  }

  private flatten(steps: StepTrace[], runId: string, depth: number, prefix: string, out: Row[], top: boolean) {
    for (const step of steps) {
      const childRunId = step.kind === "child" ? childOf(step) : null;
      const expanded = !!childRunId && this.expanded.has(childRunId);
      const child = childRunId ? this.children.get(childRunId) : undefined;
      const loaded = child && child !== "loading" && !(child instanceof Error) ? child : null;
      const status = (top ? this.patches.get(step.key)?.status : undefined) ?? step.status;
      const id = prefix + step.key;
      const retried = !childRunId && step.attempt_list.length > 1;
      const attemptsOpen = retried && this.attemptsOpen.has(id);
      out.push({
        id,
        runId,
        step,
        status,
        depth,
        childRunId,
        expanded: expanded || attemptsOpen,
        childFailure: !expanded && !!loaded && loaded.trace.steps.some((s) => s.status === "failed" || s.status === "needs_attention"),
        attempt: null,
        expandable: !!childRunId || retried,
      });
      if (attemptsOpen)
        for (const a of step.attempt_list)
          out.push({ id: `${id}#${a.number}`, runId, step, status, depth: depth + 1, childRunId: null, expanded: false, childFailure: false, attempt: a, expandable: false });
      if (expanded && loaded && childRunId) this.flatten(loaded.trace.steps, childRunId, depth + 1, `${childRunId}|`, out, false);
    }
  }
}

function provisional(runId: string, key: string, kind: StepTrace["kind"], at: number, attempt: number): StepTrace {
  return {
    run_id: runId,
    key,
    ordinal: Number.MAX_SAFE_INTEGER,
    kind,
    safety: "retry_safe",
    status: "running",
    name: null,
    input: null,
    output: null,
    error: null,
    attempts: attempt,
    created_at: at,
    updated_at: at,
    finished_at: null,
    wake_at: null,
    deadline_at: null,
    progress: null,
    meta: {},
    interrupted_attempts: 0,
    attempt_list: attempt > 0 ? [{ run_id: runId, step_key: key, number: attempt, lease_epoch: 0, started_at: at, finished_at: null, outcome: "started" }] : [],
  };
}

export function childOf(step: StepTrace): string | null {
  const m = step.meta as { child_run_id?: string } | null;
  return m && typeof m === "object" && typeof m.child_run_id === "string" ? m.child_run_id : null;
}

/** Re-renders on every batch of the store. */
export function useStoreVersion(store: RunStore): number {
  return useSyncExternalStore(store.subscribe, store.getVersion);
}

/** One clock for running bars and countdowns: ticks every second while `on`. */
let clockNow = Date.now();
const clockListeners = new Set<() => void>();
let clockTimer: ReturnType<typeof setInterval> | null = null;
function clockSubscribe(l: () => void) {
  clockListeners.add(l);
  clockNow = Date.now();
  if (!clockTimer)
    clockTimer = setInterval(() => {
      clockNow = Date.now();
      clockListeners.forEach((f) => f());
    }, 1000);
  return () => {
    clockListeners.delete(l);
    if (!clockListeners.size && clockTimer) {
      clearInterval(clockTimer);
      clockTimer = null;
    }
  };
}
const noop = () => () => {};
function clockSnapshot() {
  // Before the first tick (or after a pause) the clock catches up, at most once a second.
  if (!clockTimer && Date.now() - clockNow > 1000) clockNow = Date.now();
  return clockNow;
}
export function useNow(on: boolean): number {
  return useSyncExternalStore(on ? clockSubscribe : noop, () => (on ? clockSnapshot() : 0));
}

/** Facts read from a step's payloads: usage and cost of model steps, kinds of waits. */
export type Usage = { input: number; output: number; cost: number | null };

export function usageOf(step: StepTrace): Usage | null {
  const o = step.output as { usage?: { input_tokens?: number; output_tokens?: number }; cost_usd?: number | null } | null;
  if (!o || typeof o !== "object" || Array.isArray(o) || !o.usage || typeof o.usage !== "object") return null;
  return { input: o.usage.input_tokens ?? 0, output: o.usage.output_tokens ?? 0, cost: typeof o.cost_usd === "number" ? o.cost_usd : null };
}

export function totals(steps: StepTrace[]): { tokens: number; cost: number | null; hasUsage: boolean } {
  let tokens = 0;
  let cost: number | null = null;
  let hasUsage = false;
  for (const s of steps) {
    const u = usageOf(s);
    if (!u) continue;
    hasUsage = true;
    tokens += u.input + u.output;
    if (u.cost !== null) cost = (cost ?? 0) + u.cost;
  }
  return { tokens, cost, hasUsage };
}

export function waitKind(step: StepTrace): "approval" | "answer" | "event" | "sleep" | null {
  if (step.kind === "sleep") return "sleep";
  if (step.kind !== "event") return null;
  const name = (step.meta as { name?: string } | null)?.name;
  if (name === "approval" || step.key.startsWith("approval/")) return "approval";
  if (name === "answer") return "answer";
  return "event";
}

export function isModelStep(step: StepTrace): boolean {
  return step.key.startsWith("llm/");
}

export function maxAttempts(step: StepTrace): number | null {
  const m = (step.meta as { max_attempts?: number } | null)?.max_attempts;
  return typeof m === "number" ? m : null;
}

/** The run's time axis: real time → percent, with idle gaps longer than 5 % of the run squeezed
 * to a fixed 3 % each (at most 8 of them), so a fork of an old run or a long pause between steps
 * does not flatten everything else. Axis labels map back to real time. */
export type Gap = { from: number; to: number; left: number; width: number };
export type Scale = { t0: number; t1: number; pos: (t: number) => number; time: (pct: number) => number; gaps: Gap[] };

type Piece = { a: number; b: number; pa: number; pb: number };

export function makeScale(steps: StepTrace[], t0: number, t1: number): Scale {
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
