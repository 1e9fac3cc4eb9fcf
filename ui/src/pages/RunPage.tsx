// One run: header (status, totals, actions), the live waterfall left, the step inspector right.
// The selected step and attempt live in the URL (`?step=tool/1.1&attempt=1`).
import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";
import { ArrowLeft, Copy } from "lucide-react";
import { useTransport } from "../transport";
import { href, navigate } from "../lib/router";
import { ErrorBanner, copyText, formatDuration } from "../components/common";
import { RunStore, useStoreVersion, type Row } from "../run/store";
import { useNow } from "../run/clock";
import { makeScale } from "../run/scale";
import { isTerminal, totals } from "../run/facts";
import { Timeline } from "../run/timeline";
import { Inspector, formatCost } from "../run/inspector";
import { ApprovalDialog, CancelRun, ResolveBanner, type ApprovalMode } from "../run/actions";
import { KEY_HINT, KeyHelp, bindingFor, isTyping, type KeyAction } from "../run/keys";
import "../run/run.css";
import type { RunsSettleSendResponse } from "../bindings/RunsSettleSendResponse";
import { settleMessage } from "../mail/SentEmail";
import { ElicitationCard } from "../run/ElicitationCard";
import { isOpenQuestion, lostQuestionCalls, lostReasonFor } from "../run/elicitation";
import { SamplingCard } from "../run/SamplingCard";
import { isOpenSamplingApproval, samplingRequestOf } from "../run/sampling";

const FAILURE = new Set(["failed", "needs_attention"]);

export function RunPage({ runId, query }: { runId: string; query: URLSearchParams }) {
  const transport = useTransport();
  const store = useMemo(() => new RunStore(transport, runId), [transport, runId]);
  useEffect(() => {
    void store.start();
    return () => store.dispose();
  }, [store]);
  const version = useStoreVersion(store);
  const run = store.run;
  const status = store.runStatus();
  const live = !!status && !isTerminal(status);
  const now = useNow(live);
  const allRows = store.rows();
  // Timeline filters, in the URL: text in the key or name, failures only.
  const filterText = query.get("filter") ?? "";
  const failedOnly = query.get("failed") === "1";
  const rows = useMemo(() => {
    if (!filterText && !failedOnly) return allRows;
    const q = filterText.toLowerCase();
    return allRows.filter(
      (r) =>
        (!failedOnly || FAILURE.has(r.step.status) || r.childFailure || r.step.attempt_list.some((a) => a.outcome !== "ok" && a.outcome !== "started")) &&
        (!q || r.step.key.toLowerCase().includes(q) || (r.step.name ?? "").toLowerCase().includes(q)),
    );
  }, [allRows, filterText, failedOnly]);

  const selectedId = query.get("step");
  const attemptParam = query.get("attempt") ? Number(query.get("attempt")) : null;
  const select = useCallback(
    (id: string | null, attempt?: number | null) => {
      navigate(href(["runs", runId], { step: id, attempt: attempt ?? undefined, filter: query.get("filter"), failed: query.get("failed") }), true);
    },
    [runId, query],
  );
  const setFilter = (patch: { filter?: string | null; failed?: string | null }) => {
    const next = { step: query.get("step"), attempt: query.get("attempt"), filter: query.get("filter"), failed: query.get("failed"), ...patch };
    navigate(href(["runs", runId], next), true);
  };

  const index = useMemo(() => {
    const m = new Map<string, number>();
    rows.forEach((r, i) => m.set(r.id, i));
    return m;
  }, [rows]);
  const selectedIndex = selectedId !== null ? (index.get(selectedId) ?? -1) : -1;
  const selectedRow = selectedIndex >= 0 ? rows[selectedIndex] : null;

  const failures = useMemo(() => {
    const list: number[] = [];
    let failed = 0;
    let attention = 0;
    for (const r of allRows) {
      if (r.step.status === "failed") failed++;
      if (r.step.status === "needs_attention") attention++;
    }
    rows.forEach((r, i) => {
      if (!r.attempt && (FAILURE.has(r.step.status) || r.childFailure)) list.push(i);
    });
    return { list, failed, attention };
  }, [rows, allRows]);

  // A failed run opens on its first failure (once, and only when nothing is selected).
  const opened = useRef<string | null>(null);
  useEffect(() => {
    if (opened.current === runId || !run) return;
    opened.current = runId;
    if (selectedId === null && (run.status === "failed" || run.status === "needs_attention") && failures.list.length) {
      select(rows[failures.list[0]].id);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [run]);

  const jumpFailure = (dir: 1 | -1) => {
    const list = failures.list;
    if (!list.length) return;
    const next = dir === 1 ? (list.find((i) => i > selectedIndex) ?? list[0]) : ([...list].reverse().find((i) => i < selectedIndex) ?? list[list.length - 1]);
    select(rows[next].id);
  };

  // Approve / Reject from a timeline row: the same confirm dialog as the inspector's buttons.
  const [asking, setAsking] = useState<{ row: Row; mode: ApprovalMode } | null>(null);
  const onApproval = useCallback((row: Row, mode: ApprovalMode) => setAsking({ row, mode }), []);
  const closeAsking = useCallback(() => setAsking(null), []);
  // What looking a send up in Sent found: kept here, as the step's banner goes once it is settled.
  const [settled, setSettled] = useState<{ step: string; result: RunsSettleSendResponse }[]>([]);
  // An in-doubt answer leaves the step waiting for a person: its banner says so itself.
  const onSettled = useCallback(
    (step: string, result: RunsSettleSendResponse) => setSettled((l) => [...l.filter((x) => x.step !== step), ...(result.outcome === "in_doubt" ? [] : [{ step, result }])]),
    [],
  );
  const toggle = useCallback((row: Row) => (row.childRunId ? store.toggle(row.childRunId) : store.toggleAttempts(row.id)), [store]);
  // Every key goes through KEYMAP (run/keys.tsx), which the `?` help is built from.
  const [help, setHelp] = useState(false);
  const closeHelp = useCallback(() => setHelp(false), []);
  const perform = (action: KeyAction, key: string) => {
    const move = (i: number) => {
      if (!rows.length) return;
      select(rows[Math.max(0, Math.min(rows.length - 1, i))].id);
    };
    switch (action) {
      case "next":
        return move(selectedIndex < 0 ? 0 : selectedIndex + 1);
      case "prev":
        return move(selectedIndex < 0 ? 0 : selectedIndex - 1);
      case "first":
        return move(0);
      case "last":
        return move(rows.length - 1);
      case "expand":
        if (selectedRow?.childRunId) store.toggle(selectedRow.childRunId, true);
        else if (selectedRow?.expandable) store.toggleAttempts(selectedRow.id, true);
        return;
      case "collapse":
        if (selectedRow?.childRunId && selectedRow.expanded) store.toggle(selectedRow.childRunId, false);
        else if (selectedRow?.expandable && selectedRow.expanded) store.toggleAttempts(selectedRow.id, false);
        else if (selectedRow && selectedRow.depth > 0) {
          // To the parent step.
          for (let i = selectedIndex - 1; i >= 0; i--) if (rows[i].depth < selectedRow.depth) return void move(i);
        }
        return;
      case "open":
        if (selectedRow?.expandable) toggle(selectedRow);
        else document.querySelector<HTMLElement>(".inspector [role=tab][aria-selected=true]")?.focus();
        return;
      case "clear":
        return select(null);
      case "filter":
        return void document.querySelector<HTMLInputElement>("[data-testid=step-filter]")?.focus();
      case "nextFailure":
        return jumpFailure(1);
      case "prevFailure":
        return jumpFailure(-1);
      case "tab":
        return void document.querySelectorAll<HTMLElement>(".inspector [role=tablist] [role=tab]")[Number(key) - 1]?.click();
      case "help":
        return setHelp((h) => !h);
    }
  };
  const performRef = useRef(perform);
  performRef.current = perform;
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const b = bindingFor(e, true);
    if (!b) return;
    e.preventDefault();
    e.stopPropagation();
    perform(b.action, e.key);
  };
  // Page keys from anywhere else, except while typing or while another dialog is open.
  useEffect(() => {
    const onKey = (e: globalThis.KeyboardEvent) => {
      if (e.defaultPrevented || isTyping(e.target)) return;
      const b = bindingFor(e, false);
      if (!b) return;
      const dialog = document.querySelector("[role=dialog]");
      if (dialog && !(b.action === "help" && dialog.querySelector("[data-testid=key-help]"))) return;
      e.preventDefault();
      performRef.current(b.action, e.key);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const t0 = store.origin();
  const t1 = run ? (run.finished_at ?? Math.max(now || 0, run.updated_at)) : 0;
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const scale = useMemo(() => makeScale(store.steps, t0, t1), [version, t0, t1]);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const t = useMemo(() => totals(store.steps), [version]);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const lostCalls = useMemo(() => lostQuestionCalls(store.steps), [version]);
  const resume = useCallback(() => store.resume(), [store]);
  const needPayloads = useCallback((row: Row) => {
    if (row.runId === runId) store.complete(row.step.key);
  }, [store, runId]);
  // A running step's latest progress message (a task's status), from the stream or its view.
  const liveMessageOf = useCallback(
    (row: Row): string | null => {
      const p = (row.runId === runId ? store.progress.get(row.step.key) : undefined) ?? row.step.progress;
      return p && typeof p === "object" && !Array.isArray(p) && typeof p.message === "string" ? p.message : null;
    },
    [store, runId],
  );

  // A question's card needs its input: an event may have left it out (it is large).
  useEffect(() => {
    for (const r of allRows)
      if (r.runId === runId && !r.attempt && r.step.payloads_omitted && (isOpenQuestion(r.step) || isOpenSamplingApproval(r.step))) store.complete(r.step.key);
  }, [allRows, runId, store]);

  const [split, setSplit] = useState(() => Number(localStorage.getItem("waymark.run.split")) || 55);
  useEffect(() => localStorage.setItem("waymark.run.split", String(split)), [split]);
  const body = useRef<HTMLDivElement>(null);

  if (!run) {
    return (
      <div className="page">
        {store.error ? <ErrorBanner error={store.error} title={`Run ${runId}`} /> : <p className="muted" role="status">Loading run…</p>}
      </div>
    );
  }
  const end = t1;
  const topCount = allRows.reduce((n, r) => n + (r.depth === 0 ? 1 : 0), 0);
  const attention = allRows.filter((r) => r.depth === 0 && r.step.status === "needs_attention");
  // A server's question waits on its step whatever the run's status says (an older server's
  // question keeps the run `running`): each gets its card.
  const questions = allRows.filter((r) => !r.attempt && isOpenQuestion(r.step));
  // Likewise a server's request for a completion that waits for a person's approval.
  const samplings = allRows.filter((r) => !r.attempt && isOpenSamplingApproval(r.step));
  void version;

  return (
    <div className="page wide run-page">
      <header className="run-header">
        <div className="row wrap">
          <a href={href(["runs"])} className="back" aria-label="All runs">
            <ArrowLeft size={16} aria-hidden />
          </a>
          <h1 className="run-title">{run.agent}</h1>
          <span className={`status ${status}`} data-testid="run-status" data-status={status} aria-live="polite">
            {status}
          </span>
          <button type="button" className="small mono run-id" title="Copy the run id" onClick={() => void copyText(run.id)}>
            {run.id.slice(0, 13)}… <Copy size={12} aria-hidden />
          </button>
          {run.forked_from ? (
            <span className="muted" data-testid="forked-from">
              forked from{" "}
              <a href={href(["runs", run.forked_from], { step: run.forked_at_step })}>
                {run.forked_from.slice(0, 13)}…{run.forked_at_step ? ` at ${run.forked_at_step}` : ""}
              </a>
            </span>
          ) : null}
          {run.parent_run_id ? (
            <span className="muted">
              child of <a href={href(["runs", run.parent_run_id], { step: run.parent_step_key })}>{run.parent_run_id.slice(0, 13)}…</a>
            </span>
          ) : null}
          <div className="grow" />
          <dl className="totals" aria-label="Totals">
            <div>
              <dt>Time</dt>
              <dd data-testid="total-time">{formatDuration(end - run.created_at)}</dd>
            </div>
            <div>
              <dt>Steps</dt>
              <dd>{(store.partial?.total ?? topCount).toLocaleString()}</dd>
            </div>
            <div>
              <dt>Tokens</dt>
              <dd data-testid="total-tokens">{t.hasUsage ? t.tokens.toLocaleString() : "–"}</dd>
            </div>
            <div>
              <dt>Cost</dt>
              <dd data-testid="total-cost">{formatCost(t.cost)}</dd>
            </div>
          </dl>
          {live ? <CancelRun runId={runId} onDone={resume} /> : null}
        </div>
        <div className="row wrap sub-header">
          {failures.failed || failures.attention ? (
            <button type="button" className="failure-chip" onClick={() => jumpFailure(1)} data-testid="failure-chip" title="Jump to the first failure (e / E: next / previous)">
              {[failures.failed ? `${failures.failed} failed` : null, failures.attention ? `${failures.attention} need${failures.attention === 1 ? "s" : ""} attention` : null].filter(Boolean).join(" · ")}
            </button>
          ) : null}
          {run.error ? (
            <span className="run-error" role="alert">
              <strong>{run.error.kind}:</strong> {run.error.message}
            </span>
          ) : null}
          {live ? (
            <span className="muted stream-state" aria-live="polite">
              {store.stream === "open" ? "● live" : store.stream === "reconnecting" ? "reconnecting…" : store.stream}
            </span>
          ) : null}
          <span className="grow" />
          <span className="hint">{KEY_HINT}</span>
          <button type="button" className="small" onClick={() => setHelp(true)} data-testid="key-help-open" title="Keyboard shortcuts (?)">
            Keys
          </button>
        </div>
        {store.error ? <ErrorBanner error={store.error} /> : null}
        {store.partial ? (
          <p className="muted steps-loading" role="status" data-testid="steps-loading">
            Showing the first {store.steps.length.toLocaleString()} of {store.partial.total.toLocaleString()} steps; loading the rest…
          </p>
        ) : null}
        {settled
          .filter((s) => !attention.some((r) => r.step.key === s.step))
          .map((s) => (
            <div key={s.step} className={`banner ${s.result.outcome === "in_doubt" ? "warn" : "info"} row`} role="status" data-testid="settle-notice" data-outcome={s.result.outcome}>
              <span className="grow">
                <span className="mono">{s.step}</span> ({s.result.message_id}): {settleMessage(s.result)}
              </span>
              <button type="button" className="small" onClick={() => setSettled((l) => l.filter((x) => x.step !== s.step))}>
                Dismiss
              </button>
            </div>
          ))}
        {attention.map((r) => (
          <ResolveBanner
            key={r.id}
            runId={runId}
            step={r.step}
            onDone={resume}
            onSelect={() => select(r.id)}
            onSettled={onSettled}
            lostQuestion={lostReasonFor(r.step.key, store.steps)}
          />
        ))}
        {questions.length ? (
          <div className="elicit-cards" role="region" aria-label="Questions from servers">
            {questions.map((r) => (
              <ElicitationCard key={r.id} runId={r.runId} step={r.step} onDone={resume} onSelect={() => select(r.id)} />
            ))}
          </div>
        ) : null}
        {samplings.length ? (
          <div className="elicit-cards" role="region" aria-label="Requests for the agent's model">
            {samplings.map((r) => (
              <SamplingCard key={r.id} runId={r.runId} step={r.step} onDone={resume} onSelect={() => select(r.id)} />
            ))}
          </div>
        ) : null}
      </header>
      <div className="run-body" ref={body} style={{ gridTemplateColumns: `${split}% 6px minmax(0, 1fr)` }}>
        <section className="run-timeline" aria-label="Timeline">
          <div className="timeline-filters row" role="search">
            <input
              type="search"
              placeholder="Filter steps by key or name"
              aria-label="Filter steps"
              value={filterText}
              onChange={(e) => setFilter({ filter: e.target.value || null })}
              data-testid="step-filter"
            />
            <label className="inline-check row">
              <input type="checkbox" checked={failedOnly} onChange={(e) => setFilter({ failed: e.target.checked ? "1" : null })} data-testid="failed-only" /> Failures and retries only
            </label>
            {rows.length !== allRows.length ? (
              <span className="muted">
                {rows.length.toLocaleString()} of {allRows.length.toLocaleString()}
              </span>
            ) : null}
          </div>
          {rows.length === 0 && allRows.length > 0 ? (
            <p className="muted waiting-note">
              No step matches.{" "}
              <button type="button" className="small" onClick={() => setFilter({ filter: null, failed: null })}>
                Clear filters
              </button>
            </p>
          ) : rows.length === 0 ? (
            <p className="muted waiting-note" role="status">
              {run.status === "queued" ? "Waiting for a worker to pick this run up." : "No steps yet."}
            </p>
          ) : (
            <Timeline
              rows={rows}
              selectedId={selectedRow ? selectedRow.id : null}
              scale={scale}
              now={now}
              onSelect={select}
              onToggle={toggle}
              onKeyDown={onKeyDown}
              onApproval={onApproval}
              live={live}
              lostCalls={lostCalls}
              liveMessageOf={liveMessageOf}
            />
          )}
        </section>
        <div
          className="splitter"
          role="separator"
          aria-orientation="vertical"
          aria-label="Resize the timeline and the inspector"
          aria-valuemin={20}
          aria-valuemax={80}
          aria-valuenow={Math.round(split)}
          tabIndex={0}
          onKeyDown={(e) => {
            if (e.key === "ArrowLeft") setSplit((s) => Math.max(20, s - 5));
            else if (e.key === "ArrowRight") setSplit((s) => Math.min(80, s + 5));
            else return;
            e.preventDefault();
          }}
          onPointerDown={(e) => {
            const el = body.current;
            if (!el) return;
            e.currentTarget.setPointerCapture(e.pointerId);
            const rect = el.getBoundingClientRect();
            const moveTo = (ev: PointerEvent) => setSplit(Math.max(20, Math.min(80, ((ev.clientX - rect.left) / rect.width) * 100)));
            const up = () => {
              window.removeEventListener("pointermove", moveTo);
              window.removeEventListener("pointerup", up);
            };
            window.addEventListener("pointermove", moveTo);
            window.addEventListener("pointerup", up);
          }}
        />
        <aside className="inspector" aria-label="Inspector" data-testid="inspector">
          <Inspector
            row={selectedRow}
            run={run}
            steps={(selectedRow ? store.stepsOf(selectedRow.runId) : undefined) ?? store.steps}
            progress={selectedRow ? (selectedRow.runId === runId ? store.progress.get(selectedRow.step.key) : undefined) : undefined}
            now={now}
            attemptParam={selectedRow?.attempt ? selectedRow.attempt.number : attemptParam}
            onAttempt={(n) => select(selectedRow ? selectedRow.id.replace(/#\d+$/, "") : null, n)}
            onDone={resume}
            onNeedPayloads={needPayloads}
            status={status ?? run.status}
          />
        </aside>
      </div>
      {help ? <KeyHelp onClose={closeHelp} /> : null}
      {asking ? (
        <ApprovalDialog
          runId={asking.row.runId}
          stepKey={asking.row.step.key}
          mode={asking.mode}
          toolInput={asking.row.step.call?.arguments ?? null}
          tool={asking.row.step.call?.tool}
          sampling={samplingRequestOf(asking.row.step)}
          runInput={asking.row.runId === runId ? run.input : null}
          onClose={closeAsking}
          onDone={resume}
        />
      ) : null}
    </div>
  );
}
