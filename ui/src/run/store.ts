// The run page's live state, kept outside React. The trace is read to start (a first page, then
// the rest) and again only after a gap in the run's event sequence; otherwise events carry the
// state: each step change holds the step's new view, each run change the run's summary. Events
// are batched (≤ 60 ms timer, not requestAnimationFrame, which never fires in a hidden window)
// and each batch bumps one version; components read it through useSyncExternalStore.
import { useSyncExternalStore } from "react";
import type { ApiEvent } from "../bindings/ApiEvent";
import type { AttemptView } from "../bindings/AttemptView";
import type { RunGetResponse } from "../bindings/RunGetResponse";
import type { RunStatus } from "../bindings/RunStatus";
import type { RunSummary } from "../bindings/RunSummary";
import type { RunView } from "../bindings/RunView";
import type { StepView } from "../bindings/StepView";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import type { StreamState, Transport } from "../transport";
import { isTerminal } from "./facts";
import { StepTable } from "./steps";

/** Steps in the first view of a run; the rest load right after. */
const FIRST_PAGE = 200;

/** One line of the timeline: a step of this run, or of a child run expanded in place. */
export type Row = {
  /** Unique across the tree: the StepKey for this run's steps, `child|key` below. */
  id: string;
  runId: string;
  /** The step's view (its status is the row's). */
  step: StepView;
  depth: number;
  /** For child steps: the child run's id (loaded on demand when expanded). */
  childRunId: string | null;
  expanded: boolean;
  /** A failure (failed / needs_attention) inside this collapsed child run. */
  childFailure: boolean;
  /** A sub-row for one attempt of a retried step (its step's row is expanded). */
  attempt: AttemptView | null;
  /** Whether the row can expand (a child run, or a step with several attempts). */
  expandable: boolean;
};

export class RunStore {
  version = 0;
  run: RunView | null = null;
  private table = new StepTable();
  error: Error | null = null;
  /** Set while only the first page of a long run's steps is loaded. */
  partial: { total: number } | null = null;
  stream: StreamState = "closed";
  /** Latest streamed progress per step (a model's partial answer, a tool's progress). */
  progress = new Map<string, JsonValue>();
  children = new Map<string, RunGetResponse | "loading" | Error>();
  expanded = new Set<string>();
  /** Rows (by id) whose attempts are shown as sub-rows. */
  attemptsOpen = new Set<string>();

  /** Like a step's, the run sequence number the run view held is at least as new as. */
  private runSeq = -1;
  /** Like runSeq, for the last whole run view read (events bring summaries without output). */
  private runViewSeq = -1;
  private endAfterLoad = false;
  /** The last event applied; the next one must be this + 1, else events were missed. */
  private lastSeq = 0;
  private listeners = new Set<() => void>();
  private queue: ApiEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private unsubscribe: (() => void) | null = null;
  private generation = 0;
  /** The generation whose trace read is in flight (-1: none). */
  private loadingGen = -1;
  private reloadAgain = false;
  private completing = new Set<string>();
  private rowsCache: { version: number; rows: Row[] } | null = null;
  private startCache: { version: number; t: number } | null = null;

  constructor(
    private readonly transport: Transport,
    readonly runId: string,
  ) {}

  /** This run's steps in their order (ordinal). */
  get steps(): readonly StepView[] {
    return this.table.list;
  }

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
    const gen = ++this.generation;
    await this.load(gen);
  }

  dispose() {
    this.generation++;
    this.stopFollowing();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue = [];
  }

  private live(gen: number) {
    return gen === this.generation;
  }

  /** Reads the trace: the first page (painted at once), then the rest. Following starts after
   * the first page, so the page is live while the rest loads. */
  private async load(gen: number) {
    if (this.loadingGen === gen) {
      this.reloadAgain = true;
      return;
    }
    this.loadingGen = gen;
    try {
      const first = await this.transport.call("runs_get_page", { run_id: this.runId, offset: 0, limit: FIRST_PAGE });
      if (!this.live(gen)) return;
      this.applySnapshot(first.run, first.steps);
      this.partial = first.steps.length < first.total_steps ? { total: first.total_steps } : null;
      this.error = null;
      this.bump();
      if (!isTerminal(first.run.status)) this.follow(first.run.seq);
      if (this.partial) {
        // The rest in one read of the whole trace: the server reads a whole trace much faster
        // than pages past the first (it joins attempts to a page's steps).
        const rest = await this.transport.call("runs_get", { run_id: this.runId });
        if (!this.live(gen)) return;
        this.applySnapshot(rest.run, rest.steps);
        this.partial = null;
        this.bump();
      }
      if (this.endAfterLoad) {
        this.endAfterLoad = false;
        void this.readEnd(gen);
      }
    } catch (e) {
      if (!this.live(gen)) return;
      this.error = toError(e);
      this.bump();
    } finally {
      if (this.loadingGen === gen) this.loadingGen = -1;
    }
    if (this.reloadAgain && this.live(gen)) {
      this.reloadAgain = false;
      await this.load(gen);
    }
  }

  private follow(after: number) {
    if (this.unsubscribe) return;
    this.lastSeq = after;
    this.unsubscribe = this.transport.subscribe(
      { run: this.runId, after },
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

  /** After an action: its effects arrive as events; this only makes sure they are followed. */
  resume() {
    if (this.run && !isTerminal(this.run.status) && !this.unsubscribe) this.follow(Math.max(this.lastSeq, this.runSeq));
  }

  private applySnapshot(run: RunView, steps: StepView[]) {
    if (run.seq >= this.runSeq) {
      this.run = run;
      this.runSeq = run.seq;
      this.runViewSeq = run.seq;
    }
    this.table.putRead(steps, run.seq);
  }

  /** A run summary from an event. It is read when the event is sent, so a replay after a
   * reconnect brings the run's current status with old events: the status shown is the one
   * the status changes say, in their order, so it never runs ahead of the steps. */
  private applyRun(e: ApiEvent, s: RunSummary, seq: number) {
    if (!this.run || seq < this.runSeq) return;
    this.runSeq = seq;
    const status = e.type === "run_status_changed" ? e.status : this.run.status;
    const over = isTerminal(status);
    this.run = {
      ...this.run,
      status,
      error: over || status === "needs_attention" ? (s.error ?? null) : null,
      finished_at: over ? (s.finished_at ?? null) : null,
      step_count: s.step_count,
      updated_at: Math.max(this.run.updated_at, e.at),
    };
  }

  private push(e: ApiEvent) {
    this.queue.push(e);
    if (!this.timer) this.timer = setTimeout(() => this.flush(), 60);
  }

  private flush() {
    this.timer = null;
    const batch = this.queue;
    this.queue = [];
    let gap = false;
    let ended = false;
    for (const e of batch) {
      const seq = e.run_seq;
      if (e.run_id !== this.runId || seq === null || seq <= this.lastSeq) continue;
      // The stream resumed somewhere it should not have: what was skipped is read again.
      if (seq !== this.lastSeq + 1) gap = true;
      this.lastSeq = seq;
      if (e.step) this.table.putEvent(e.step, seq);
      if (e.run) this.applyRun(e, e.run, seq);
      switch (e.type) {
        case "step_progress":
          this.progress.set(e.key, e.progress);
          break;
        case "run_cancel_requested":
          if (this.run) this.run = { ...this.run, cancel_requested: true };
          break;
        case "run_pinned":
          if (this.run) this.run = { ...this.run, pinned: e.pinned };
          break;
        case "run_status_changed":
          if (isTerminal(e.status)) ended = true;
          break;
        default:
          break;
      }
    }
    if (!batch.length) return;
    this.refreshChildren();
    this.bump();
    if (gap) void this.load(this.generation);
    if (ended) {
      this.stopFollowing();
      if (this.loadingGen === this.generation) this.endAfterLoad = true;
      else void this.readEnd(this.generation);
    }
  }

  /** The run is over and its stream closed: one read without steps brings its output (a run
   * summary has none) and checks that no step was missed. */
  private async readEnd(gen: number) {
    if (this.run && this.runViewSeq >= this.lastSeq && this.steps.length >= this.run.step_count) return;
    try {
      const known = this.steps.length;
      const end = await this.transport.call("runs_get_page", { run_id: this.runId, offset: known, limit: 1 });
      if (!this.live(gen)) return;
      this.applySnapshot(end.run, end.steps);
      if (end.total_steps > this.steps.length) void this.load(gen);
    } catch (e) {
      if (!this.live(gen)) return;
      this.error = toError(e);
    }
    this.bump();
  }

  /** Fills in the payloads an event left out (too large to stream), for the inspector. */
  complete(key: string) {
    if (!this.table.get(key)?.payloads_omitted || this.completing.has(key)) return;
    this.completing.add(key);
    const gen = this.generation;
    const seqBefore = this.table.seqOf(key);
    this.transport
      .call("runs_get_step", { run_id: this.runId, step: key })
      .then((full) => {
        if (!this.live(gen)) return;
        // Read after every change held when asked: newer than the view held, unless an event came.
        if (this.table.putWhole(full, seqBefore)) this.bump();
      })
      .catch((e: unknown) => {
        if (this.live(gen)) this.error = toError(e);
        this.bump();
      })
      .finally(() => this.completing.delete(key));
  }

  runStatus(): RunStatus | null {
    return this.run?.status ?? null;
  }

  toggleAttempts(rowId: string, open?: boolean) {
    if (setMember(this.attemptsOpen, rowId, open)) this.bump();
  }

  toggle(childRunId: string, open?: boolean) {
    if (!setMember(this.expanded, childRunId, open)) return;
    if (this.expanded.has(childRunId) && !this.children.has(childRunId)) void this.loadChild(childRunId);
    this.bump();
  }

  /** Expanded child runs still going are re-read when their parent's events arrive. */
  private refreshChildren() {
    for (const id of this.expanded) {
      const c = this.loadedChild(id);
      if (c && !isTerminal(c.run.status)) void this.loadChild(id, true);
    }
  }

  private childLoads = new Set<string>();
  private async loadChild(id: string, quiet = false) {
    if (this.childLoads.has(id)) return;
    this.childLoads.add(id);
    if (!quiet) {
      this.children.set(id, "loading");
      this.bump();
    }
    try {
      const c = await this.transport.call("runs_get", { run_id: id });
      this.children.set(id, c);
    } catch (e) {
      this.children.set(id, toError(e));
    } finally {
      this.childLoads.delete(id);
    }
    this.bump();
  }

  /** A child run once read (not loading, not failed). */
  private loadedChild(id: string): RunGetResponse | null {
    const c = this.children.get(id);
    return c && c !== "loading" && !(c instanceof Error) ? c : null;
  }

  /** The steps of this run or of a loaded child run. */
  stepsOf(runId: string): readonly StepView[] | undefined {
    return runId === this.runId ? this.steps : this.loadedChild(runId)?.steps;
  }

  /** The axis' origin: the run's start, or earlier when a fork copied older steps. */
  origin(): number {
    if (!this.run) return 0;
    if (this.startCache?.version === this.version) return this.startCache.t;
    let t = this.run.created_at;
    for (const s of this.steps) if (s.created_at < t) t = s.created_at;
    this.startCache = { version: this.version, t };
    return t;
  }

  /** The flattened tree (this run's steps, expanded children below their step), per version. */
  rows(): Row[] {
    if (this.rowsCache && this.rowsCache.version === this.version) return this.rowsCache.rows;
    const rows: Row[] = [];
    if (this.run) this.flatten(this.steps, this.runId, 0, "", rows);
    this.rowsCache = { version: this.version, rows };
    return rows;
  }

  private flatten(steps: readonly StepView[], runId: string, depth: number, prefix: string, out: Row[]) {
    for (const step of steps) {
      const childRunId = step.kind === "child_run" ? step.child_run_id : null;
      const expanded = !!childRunId && this.expanded.has(childRunId);
      const loaded = childRunId ? this.loadedChild(childRunId) : null;
      const id = prefix + step.key;
      const retried = !childRunId && step.attempt_list.length > 1;
      const attemptsOpen = retried && this.attemptsOpen.has(id);
      out.push({
        id,
        runId,
        step,
        depth,
        childRunId,
        expanded: expanded || attemptsOpen,
        childFailure: !expanded && !!loaded && loaded.steps.some((s) => s.status === "failed" || s.status === "needs_attention"),
        attempt: null,
        expandable: !!childRunId || retried,
      });
      if (attemptsOpen)
        for (const a of step.attempt_list)
          out.push({ id: `${id}#${a.number}`, runId, step, depth: depth + 1, childRunId: null, expanded: false, childFailure: false, attempt: a, expandable: false });
      if (expanded && loaded && childRunId) this.flatten(loaded.steps, childRunId, depth + 1, `${childRunId}|`, out);
    }
  }
}

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** Adds `key` to `set` or removes it (`open` unset: the other way); whether that changed it. */
function setMember(set: Set<string>, key: string, open?: boolean): boolean {
  const isOpen = set.has(key);
  const want = open ?? !isOpen;
  if (want === isOpen) return false;
  if (want) set.add(key);
  else set.delete(key);
  return true;
}

/** Re-renders on every batch of the store. */
export function useStoreVersion(store: RunStore): number {
  return useSyncExternalStore(store.subscribe, store.getVersion);
}
