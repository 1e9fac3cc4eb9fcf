// The waterfall: one fixed-height row per step (virtualized), names and bars in one row element,
// bars on the run's time axis with one segment per attempt, backoff waits grey, the running
// attempt striped up to now, waits patterned. Child runs expand in place on the parent's axis.
import { memo, useEffect, useLayoutEffect, useRef, useState, type KeyboardEvent } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import { ChevronDown, ChevronRight } from "lucide-react";
import type { StepView } from "../bindings/StepView";
import { formatDuration } from "../components/common";
import { isWait } from "./facts";
import { capText, outcomeOf, questionLabel, toolRoundOf } from "./elicitation";
import { lostTask, taskHandleOf, taskRoleOf } from "./mcpTask";
import { samplingLabel } from "./sampling";
import { KindIcon, kindLabel } from "./kind";
import type { Scale } from "./scale";
import type { Row } from "./store";

export const ROW_HEIGHT = 28;

/** How long a step took (or has taken so far). */
export function stepDuration(step: StepView, now: number): number | null {
  const start = step.attempt_list[0]?.started_at ?? step.created_at;
  const end = step.finished_at ?? (now || null);
  return end === null ? null : Math.max(0, end - start);
}

type Seg = { left: number; width: number; cls: string; title: string };

function segments(step: StepView, status: string, scale: Scale, now: number): Seg[] {
  const pos = scale.pos;
  const seg = (a: number, b: number, cls: string, title: string): Seg => ({ left: pos(a), width: Math.max(0, pos(b) - pos(a)), cls, title });
  const end = step.finished_at ?? now;
  const out: Seg[] = [];
  const waiting = isWait(step) || (step.attempt_list.length === 0 && status === "waiting");
  if (step.attempt_list.length === 0) {
    const cls = waiting ? `wait${step.finished_at ? "" : " live"}` : `exec ${status}${step.finished_at ? "" : " live"}`;
    out.push(seg(step.created_at, end, cls, `${kindLabel(step.kind)} ${status} · ${formatDuration(end - step.created_at)}`));
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
  scale,
  now,
  top,
  onSelect,
  onToggle,
  onApproval,
  lostQuestion,
  liveMessage,
}: {
  row: Row;
  selected: boolean;
  scale: Scale;
  now: number;
  top: number;
  onSelect: (id: string) => void;
  onToggle: (row: Row) => void;
  onApproval?: (row: Row, mode: "approve" | "reject") => void;
  /** A server's question asked in this call was lost with its process. */
  lostQuestion: boolean;
  /** The latest progress message of a running step (a task's status). */
  liveMessage: string | null;
}) {
  if (row.attempt) return <AttemptRow row={row} selected={selected} scale={scale} now={now} top={top} onSelect={onSelect} />;
  const { step } = row;
  const status = step.status;
  const retried = step.attempt_list.length > 1 || step.attempts > 1;
  const n = Math.max(step.attempt_list.length, step.attempts);
  const segs = segments(step, status, scale, now || step.finished_at || step.updated_at);
  const dur = stepDuration(step, now);
  // A server's question or request is labelled with what it asks; an MCP call's rounds and
  // task say so; a running task poll shows the task's latest status.
  const name = step.name ?? (step.kind === "elicitation" ? questionLabel(step) : step.kind === "approval" ? samplingLabel(step) : null);
  const label = liveMessage && !step.finished_at ? capText(liveMessage, 160) : name;
  const round = toolRoundOf(step);
  const lost = step.kind === "elicitation" && outcomeOf(step)?.kind === "lost";
  const task = taskRoleOf(step);
  const handle = task?.kind === "poll" ? null : taskHandleOf(step);
  const taskLost = task?.kind === "lost" || (task?.kind === "poll" && lostTask(step));
  return (
    <div
      className={`step-row${selected ? " selected" : ""}`}
      data-testid="step-row"
      data-key={step.key}
      data-status={status}
      role="treeitem"
      aria-selected={selected}
      aria-level={row.depth + 1}
      aria-expanded={row.expandable ? row.expanded : undefined}
      id={`step-${cssId(row.id)}`}
      style={{ transform: `translateY(${top}px)` }}
      onClick={() => onSelect(row.id)}
    >
      <div className="step-name" style={{ paddingLeft: 6 + row.depth * 16 }}>
        {row.expandable ? (
          <button
            type="button"
            className="twisty"
            aria-label={row.childRunId ? (row.expanded ? "Collapse child run" : "Expand child run") : row.expanded ? "Hide attempts" : "Show attempts"}
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
        {label ? (
          <span className={`step-label muted${label !== name ? " live-message" : ""}`} title={name && name !== label ? `${name} · ${label}` : label} data-testid={label !== name ? "step-live-message" : undefined}>
            {label}
          </span>
        ) : (
          <span className="step-label" />
        )}
        {round?.needsInput ? (
          <span className="badge wait-badge" title="The server needed input: its questions follow">
            needs input
          </span>
        ) : null}
        {round && round.round > 1 ? <span className="badge" title="A later round of the call, with the answers to the server's questions">round {round.round}</span> : null}
        {handle ? (
          <span className="badge task-badge" title={`The server runs this call as task ${handle.taskId}; the steps below poll it`} data-testid="runs-as-task">
            runs as task
          </span>
        ) : null}
        {task?.kind === "poll" ? (
          <span className="badge task-badge" title={`Polls task ${task.taskId ?? ""} of ${task.call}`}>
            task{task.segment > 1 ? ` ${task.segment}` : ""}
          </span>
        ) : null}
        {task?.kind === "again" ? (
          <span className="badge" title="The server lost the task of the call: it was made again">
            made again
          </span>
        ) : null}
        {taskLost ? (
          <span className="badge attempts red" title="The server no longer knows the task">
            task lost
          </span>
        ) : null}
        {lost ? (
          <span className="badge attempts red" title="Lost when the process that held its call ended">
            lost
          </span>
        ) : null}
        {lostQuestion ? (
          <span className="badge attempts red" title="A server's question asked in this call was lost when the process that held it ended">
            question lost
          </span>
        ) : null}
        {status === "waiting" && step.kind === "approval" && onApproval ? (
          <span className="row-actions" role="group" aria-label={`Approval of ${step.key}`}>
            {(["approve", "reject"] as const).map((m) => (
              <button
                key={m}
                type="button"
                className={`small ${m === "approve" ? "primary" : "danger"}`}
                tabIndex={-1}
                data-testid={`row-${m}`}
                aria-label={`${m === "approve" ? "Approve" : "Reject"} ${step.key}`}
                onClick={(e) => {
                  e.stopPropagation();
                  onApproval(row, m);
                }}
              >
                {m === "approve" ? "Approve" : "Reject"}
              </button>
            ))}
          </span>
        ) : null}
        {status === "waiting" && (step.kind === "question" || step.kind === "elicitation") ? <span className="badge wait-badge answer-badge">answer?</span> : null}
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

/** One attempt of a retried step: its own segment on the axis, its outcome and error kind. */
function AttemptRow({ row, selected, scale, now, top, onSelect }: { row: Row; selected: boolean; scale: Scale; now: number; top: number; onSelect: (id: string) => void }) {
  const a = row.attempt!;
  const fin = a.finished_at ?? (now || a.started_at);
  const cls = a.outcome === "ok" ? "succeeded" : a.outcome === "started" ? "running live" : a.outcome === "interrupted" ? "needs_attention" : a.outcome === "cancelled" ? "cancelled" : "failed";
  const left = scale.pos(a.started_at);
  const width = scale.pos(fin) - left;
  const detail = a.outcome === "error" ? a.error.kind : a.outcome === "timeout" ? `timeout after ${formatDuration(a.after_ms)}` : a.outcome;
  return (
    <div
      className={`step-row attempt-row${selected ? " selected" : ""}`}
      data-testid="attempt-row"
      data-key={row.step.key}
      data-attempt={a.number}
      role="treeitem"
      aria-selected={selected}
      aria-level={row.depth + 1}
      id={`step-${cssId(row.id)}`}
      style={{ transform: `translateY(${top}px)` }}
      onClick={() => onSelect(row.id)}
    >
      <div className="step-name" style={{ paddingLeft: 6 + row.depth * 16 + 16 }}>
        <span className={`dot ${cls.split(" ")[0]}`} />
        <span className="muted">attempt {a.number}</span>
        <span className="step-label muted">{detail}</span>
        <span className="step-dur mono">{formatDuration(fin - a.started_at)}</span>
      </div>
      <div className="step-bar">
        <span className={`seg exec ${cls}`} style={{ left: `${clamp(left)}%`, width: `max(2px, ${clamp(width)}%)` }} title={`attempt ${a.number} · ${detail}`} />
      </div>
    </div>
  );
}

function clamp(x: number) {
  return Math.max(0, Math.min(100, x));
}

export function cssId(id: string) {
  return id.replace(/[^a-zA-Z0-9_-]/g, "_");
}

export function Timeline({
  rows,
  selectedId,
  scale,
  now,
  onSelect,
  onToggle,
  onKeyDown,
  onApproval,
  live,
  lostCalls,
  liveMessageOf,
}: {
  rows: Row[];
  selectedId: string | null;
  scale: Scale;
  now: number;
  onSelect: (id: string) => void;
  onToggle: (row: Row) => void;
  onKeyDown: (e: KeyboardEvent<HTMLDivElement>) => void;
  /** Approve / Reject on a waiting approval's row: opens the confirm dialog. */
  onApproval?: (row: Row, mode: "approve" | "reject") => void;
  live: boolean;
  /** This run's calls (`tool/...`) whose server's question was lost with its process. */
  lostCalls?: ReadonlySet<string>;
  /** The latest progress message of a row's running step, if it has one. */
  liveMessageOf?: (row: Row) => string | null;
}) {
  const scrollRef = useRef<HTMLDivElement>(null);
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
      <div className="overview-row">
        <div className="muted overview-label">{rows.length.toLocaleString()} rows</div>
        <div className="overview-cell">
          <Overview rows={rows} scale={scale} onPick={onSelect} />
        </div>
      </div>
      <div className="timeline-axis" aria-hidden>
        <div className="step-name muted">Step</div>
        <div className="step-bar axis">
          {ticks
            .filter((f) => !scale.gaps.some((g) => Math.abs(g.left + g.width / 2 - f * 100) < 7))
            .map((f) => (
            <span key={f} className="tick" style={{ left: `${f * 100}%` }}>
              {formatDuration(scale.time(f * 100) - scale.t0)}
            </span>
          ))}
          {scale.gaps.map((g) => (
            <span key={g.from} className="gap-mark" style={{ left: `${g.left}%`, width: `${g.width}%` }} title={`${formatDuration(g.to - g.from)} with no step running, squeezed`}>
              <span className="gap-label">{formatDuration(g.to - g.from)}</span>
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
          {scale.gaps.length ? (
            <div className="gap-columns" aria-hidden>
              {scale.gaps.map((g) => (
                <span key={g.from} className="gap-column" style={{ left: `${g.left}%`, width: `${g.width}%` }} />
              ))}
            </div>
          ) : null}
          {v.getVirtualItems().map((item) => {
            const row = rows[item.index];
            if (!row) return null;
            return (
              <StepRow
                key={row.id}
                row={row}
                selected={row.id === selectedId}
                scale={scale}
                now={row.step.finished_at ? 0 : now}
                top={item.start}
                onSelect={onSelect}
                onToggle={onToggle}
                onApproval={onApproval}
                lostQuestion={row.depth === 0 && !!lostCalls?.has(row.step.key)}
                liveMessage={!row.attempt && !row.step.finished_at ? (liveMessageOf?.(row) ?? null) : null}
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

/** A 16 px strip of every step on the run's axis (canvas, so 10,000 steps cost one paint):
 * steps packed into 4 lanes, successes faded, failures and attention full. Click to jump. */
export function Overview({ rows, scale, onPick }: { rows: Row[]; scale: Scale; onPick: (id: string) => void }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = ref.current;
    if (!c) return;
    const draw = () => {
      const w = c.clientWidth;
      const dpr = window.devicePixelRatio || 1;
      c.width = Math.max(1, Math.round(w * dpr));
      c.height = 16 * dpr;
      const g = c.getContext("2d");
      if (!g) return;
      g.scale(dpr, dpr);
      g.clearRect(0, 0, w, 16);
      const css = getComputedStyle(c);
      const color = (s: string) => css.getPropertyValue(s === "succeeded" ? "--ok" : s === "failed" ? "--fail" : s === "needs_attention" ? "--attention" : s === "waiting" ? "--wait" : s === "retrying" ? "--warn" : "--run").trim();
      let i = 0;
      for (const r of rows) {
        if (r.depth) continue;
        const s = r.step;
        const a = scale.pos(s.attempt_list[0]?.started_at ?? s.created_at);
        const b = scale.pos(s.finished_at ?? scale.t1);
        const x = (Math.max(0, a) / 100) * w;
        const width = Math.max(1, ((Math.min(100, b) - Math.max(0, a)) / 100) * w);
        const bad = s.status === "failed" || s.status === "needs_attention";
        g.globalAlpha = bad ? 1 : s.status === "succeeded" ? 0.35 : 0.8;
        g.fillStyle = color(s.status);
        g.fillRect(x, (i % 4) * 4, width, bad ? 16 - (i % 4) * 4 : 3);
        i++;
      }
    };
    draw();
    const ro = new ResizeObserver(draw);
    ro.observe(c);
    return () => ro.disconnect();
  }, [rows, scale]);
  return (
    <canvas
      ref={ref}
      className="overview"
      height={16}
      aria-label="Overview of every step on the time axis; click to jump to the step running at that time"
      role="img"
      onClick={(e) => {
        const rect = e.currentTarget.getBoundingClientRect();
        const pct = ((e.clientX - rect.left) / rect.width) * 100;
        let best: Row | null = null;
        let bestD = Infinity;
        for (const r of rows) {
          if (r.depth) continue;
          const d = Math.abs(scale.pos(r.step.attempt_list[0]?.started_at ?? r.step.created_at) - pct);
          if (d < bestD) [best, bestD] = [r, d];
        }
        if (best) onPick(best.id);
      }}
    />
  );
}
