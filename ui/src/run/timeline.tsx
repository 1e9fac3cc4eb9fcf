// The waterfall: one fixed-height row per step (virtualized), names and bars in one row element,
// bars on the run's time axis with one segment per attempt, backoff waits grey, the running
// attempt striped up to now, waits patterned. Child runs expand in place on the parent's axis.
import { memo, useEffect, useLayoutEffect, useRef, useState, type KeyboardEvent } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import { Bell, ChevronDown, ChevronRight, MessageCircleQuestion, ShieldCheck, Sparkles, Timer, Workflow, Wrench, Box } from "lucide-react";
import type { StepTrace } from "../bindings/StepTrace";
import { formatDuration } from "../components/common";
import { waitKind, isModelStep, type Row } from "./store";

export const ROW_HEIGHT = 28;

export function KindIcon({ step }: { step: StepTrace }) {
  const w = waitKind(step);
  const props = { size: 14, "aria-hidden": true } as const;
  let icon;
  let label: string;
  if (w === "approval") [icon, label] = [<ShieldCheck {...props} />, "approval"];
  else if (w === "answer") [icon, label] = [<MessageCircleQuestion {...props} />, "question to a person"];
  else if (w === "sleep") [icon, label] = [<Timer {...props} />, "timer"];
  else if (w === "event") [icon, label] = [<Bell {...props} />, "event wait"];
  else if (step.kind === "child") [icon, label] = [<Workflow {...props} />, "child run"];
  else if (isModelStep(step)) [icon, label] = [<Sparkles {...props} />, "model call"];
  else if (step.key.startsWith("tool")) [icon, label] = [<Wrench {...props} />, "tool call"];
  else [icon, label] = [<Box {...props} />, "task"];
  return (
    <span className="kind-icon" title={label}>
      {icon}
      <span className="sr-only">{label}</span>
    </span>
  );
}

/** How long a step took (or has taken so far). */
export function stepDuration(step: StepTrace, now: number): number | null {
  const start = step.attempt_list[0]?.started_at ?? step.created_at;
  const end = step.finished_at ?? (now || null);
  return end === null ? null : Math.max(0, end - start);
}

type Seg = { left: number; width: number; cls: string; title: string };

function segments(step: StepTrace, status: string, t0: number, span: number, now: number): Seg[] {
  const pos = (t: number) => ((t - t0) / span) * 100;
  const seg = (a: number, b: number, cls: string, title: string): Seg => ({ left: pos(a), width: Math.max(0, pos(b) - pos(a)), cls, title });
  const end = step.finished_at ?? now;
  const out: Seg[] = [];
  const waiting = step.kind === "event" || step.kind === "sleep" || (step.attempt_list.length === 0 && status === "waiting");
  if (step.attempt_list.length === 0) {
    const cls = waiting ? `wait${step.finished_at ? "" : " live"}` : `exec ${status}${step.finished_at ? "" : " live"}`;
    out.push(seg(step.created_at, end, cls, `${step.kind} ${status} · ${formatDuration(end - step.created_at)}`));
    return out;
  }
  let prevEnd: number | null = null;
  step.attempt_list.forEach((a, i) => {
    if (prevEnd !== null && a.started_at > prevEnd) out.push(seg(prevEnd, a.started_at, "backoff", `backoff · ${formatDuration(a.started_at - prevEnd)}`));
    const last = i === step.attempt_list.length - 1;
    const fin = a.finished_at ?? (last ? now : a.started_at);
    const cls = a.outcome === "ok" ? "succeeded" : a.outcome === "started" ? "running live" : a.outcome === "interrupted" ? "needs_attention" : a.outcome === "cancelled" ? "cancelled" : "failed";
    out.push(seg(a.started_at, fin, `exec ${cls}`, `attempt ${a.number} · ${a.outcome} · ${formatDuration(fin - a.started_at)}`));
    prevEnd = fin;
  });
  // A retry scheduled but not started yet: grey up to now.
  if (status === "retrying" && prevEnd !== null && !step.finished_at) out.push(seg(prevEnd, now, "backoff live", "waiting to retry"));
  if (status === "needs_attention" && prevEnd !== null && !step.finished_at) out.push(seg(prevEnd, now, "wait attention", "needs attention"));
  return out;
}

const StepRow = memo(function StepRow({
  row,
  selected,
  t0,
  span,
  now,
  top,
  onSelect,
  onToggle,
}: {
  row: Row;
  selected: boolean;
  t0: number;
  span: number;
  now: number;
  top: number;
  onSelect: (id: string) => void;
  onToggle: (row: Row) => void;
}) {
  const { step, status } = row;
  const retried = step.attempt_list.length > 1 || step.attempts > 1;
  const n = Math.max(step.attempt_list.length, step.attempts);
  const segs = segments(step, status, t0, span, now || step.finished_at || step.updated_at);
  const dur = stepDuration(step, now);
  return (
    <div
      className={`step-row${selected ? " selected" : ""}`}
      data-testid="step-row"
      data-key={step.key}
      data-status={status}
      role="treeitem"
      aria-selected={selected}
      aria-level={row.depth + 1}
      aria-expanded={row.childRunId ? row.expanded : undefined}
      id={`step-${cssId(row.id)}`}
      style={{ transform: `translateY(${top}px)` }}
      onClick={() => onSelect(row.id)}
    >
      <div className="step-name" style={{ paddingLeft: 6 + row.depth * 16 }}>
        {row.childRunId ? (
          <button
            type="button"
            className="twisty"
            aria-label={row.expanded ? "Collapse child run" : "Expand child run"}
            onClick={(e) => {
              e.stopPropagation();
              onToggle(row);
            }}
            tabIndex={-1}
          >
            {row.expanded ? <ChevronDown size={14} /> : <ChevronRight size={14} />}
          </button>
        ) : (
          <span className="twisty-space" />
        )}
        <span className={`dot ${status}`} title={status.replace("_", " ")} />
        <KindIcon step={step} />
        <span className="step-key mono" title={step.name ? `${step.key} · ${step.name}` : step.key}>
          {step.key}
        </span>
        {step.name ? <span className="step-label muted">{step.name}</span> : <span className="step-label" />}
        {row.childFailure ? <span className="badge fail-mark" title="a step inside failed">!</span> : null}
        {retried ? (
          <span className={`badge attempts ${status === "succeeded" ? "amber" : status === "failed" || status === "needs_attention" ? "red" : "amber"}`} title={`${n} attempts`}>
            ×{n}
          </span>
        ) : null}
        <span className="step-dur mono">{formatDuration(dur)}</span>
      </div>
      <div className="step-bar">
        {segs.map((s, i) => (
          <span key={i} className={`seg ${s.cls}`} style={{ left: `${clamp(s.left)}%`, width: `max(2px, ${clamp(s.width)}%)` }} title={s.title} />
        ))}
      </div>
    </div>
  );
});

function clamp(x: number) {
  return Math.max(0, Math.min(100, x));
}

export function cssId(id: string) {
  return id.replace(/[^a-zA-Z0-9_-]/g, "_");
}

export function Timeline({
  rows,
  selectedId,
  t0,
  t1,
  now,
  onSelect,
  onToggle,
  onKeyDown,
  live,
}: {
  rows: Row[];
  selectedId: string | null;
  t0: number;
  t1: number;
  now: number;
  onSelect: (id: string) => void;
  onToggle: (row: Row) => void;
  onKeyDown: (e: KeyboardEvent<HTMLDivElement>) => void;
  live: boolean;
}) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const span = Math.max(1, t1 - t0);
  const v = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 14,
    getItemKey: (i) => rows[i]?.id ?? i,
    initialRect: { width: 800, height: 700 },
  });
  const selectedIndex = selectedId ? rows.findIndex((r) => r.id === selectedId) : -1;
  useEffect(() => {
    if (selectedIndex >= 0) v.scrollToIndex(selectedIndex, { align: "auto" });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [selectedIndex]);

  // Follow the newest rows only while scrolled to the bottom; else count them in a pill.
  const [newRows, setNewRows] = useState(0);
  const prevCount = useRef(rows.length);
  useLayoutEffect(() => {
    const el = scrollRef.current;
    const added = rows.length - prevCount.current;
    if (el && added > 0 && live && prevCount.current > 0) {
      const atBottom = el.scrollTop + el.clientHeight >= (prevCount.current - 1) * ROW_HEIGHT - 2;
      if (atBottom) v.scrollToIndex(rows.length - 1, { align: "end" });
      else setNewRows((n) => n + added);
    }
    prevCount.current = rows.length;
  }, [rows.length, live, v]);

  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return (
    <div className="timeline">
      <div className="timeline-axis" aria-hidden>
        <div className="step-name muted">Step</div>
        <div className="step-bar axis">
          {ticks.map((f) => (
            <span key={f} className="tick" style={{ left: `${f * 100}%` }}>
              {formatDuration(f * span)}
            </span>
          ))}
        </div>
      </div>
      <div
        className="timeline-scroll"
        ref={scrollRef}
        role="tree"
        aria-label="Steps"
        tabIndex={0}
        aria-activedescendant={selectedId ? `step-${cssId(selectedId)}` : undefined}
        onKeyDown={onKeyDown}
        onScroll={(e) => {
          const el = e.currentTarget;
          if (newRows && el.scrollTop + el.clientHeight >= el.scrollHeight - ROW_HEIGHT) setNewRows(0);
        }}
        data-testid="timeline"
      >
        <div style={{ height: v.getTotalSize(), position: "relative" }}>
          {v.getVirtualItems().map((item) => {
            const row = rows[item.index];
            if (!row) return null;
            return (
              <StepRow
                key={row.id}
                row={row}
                selected={row.id === selectedId}
                t0={t0}
                span={span}
                now={row.step.finished_at ? 0 : now}
                top={item.start}
                onSelect={onSelect}
                onToggle={onToggle}
              />
            );
          })}
        </div>
      </div>
      {newRows > 0 ? (
        <button
          type="button"
          className="new-rows-pill"
          onClick={() => {
            v.scrollToIndex(rows.length - 1, { align: "end" });
            setNewRows(0);
          }}
        >
          {newRows} new step{newRows === 1 ? "" : "s"} ↓
        </button>
      ) : null}
    </div>
  );
}
