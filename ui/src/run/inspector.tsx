// The step inspector: tabs per attempt (error first: kind, message, retryable; or the output),
// the input, tokens/cost/progress, a model step's answer streaming in, and the step's actions.
// With no selection it shows the run: input, output, error, totals.
import { useEffect, useMemo, useState } from "react";
import type { AttemptView } from "../bindings/AttemptView";
import type { RunView } from "../bindings/RunView";
import type { StepError } from "../bindings/StepError";
import type { StepView } from "../bindings/StepView";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import { JsonView } from "../components/JsonView";
import { Status, formatDuration, formatTime } from "../components/common";
import { ApprovalActions, AnswerBox, ForkButton, ResolveBanner, RetryStep } from "./actions";
import { stepDuration } from "./timeline";
import { KindIcon, kindLabel } from "./kind";
import { AttemptDiff } from "./attemptDiff";
import { totals, usageOf } from "./facts";
import type { Row } from "./store";
import { emailOfRunInput, sentEmailOf } from "../mail/email";
import { IncomingEmailInput } from "../mail/EmailView";
import { EmailApproval } from "../mail/EmailApproval";
import { SentEmailFacts } from "../mail/SentEmail";
import { ElicitationFacts } from "./ElicitationFacts";
import { ToolRoundFacts } from "./ToolRoundFacts";
import { lostReasonFor } from "./elicitation";
import { McpTaskFacts } from "./McpTaskFacts";
import { SamplingFacts } from "./SamplingFacts";
import { isSamplingApproval, samplingModelStepOf } from "./sampling";

export function formatCost(cost: number | null): string {
  if (cost === null) return "–";
  if (cost === 0) return "$0";
  return cost < 0.01 ? `$${cost.toFixed(4)}` : `$${cost.toFixed(2)}`;
}

export function Inspector({
  row,
  run,
  steps,
  progress,
  now,
  attemptParam,
  onAttempt,
  onDone,
  onNeedPayloads,
  status,
}: {
  status: string;
  row: Row | null;
  run: RunView;
  /** The steps of the selected row's run (this run's, or a child's). */
  steps: readonly StepView[];
  progress: JsonValue | undefined;
  now: number;
  attemptParam: number | null;
  onAttempt: (n: number | null) => void;
  onDone: () => void;
  /** Asks for the payloads an event left out of a step's view (they are large). */
  onNeedPayloads: (row: Row) => void;
}) {
  if (!row) return <RunOverview run={run} steps={steps} now={now} status={status} />;
  return (
    <StepInspector
      key={row.id}
      row={row}
      step={row.step}
      progress={progress}
      now={now}
      attemptParam={attemptParam}
      onAttempt={onAttempt}
      onDone={onDone}
      onNeedPayloads={onNeedPayloads}
      runInput={row.runId === run.id ? run.input : null}
      steps={steps}
    />
  );
}

function RunOverview({ run, steps, now, status }: { run: RunView; steps: readonly StepView[]; now: number; status: string }) {
  const t = totals(steps);
  const end = run.finished_at ?? (now || run.updated_at);
  // The email (a pretty-JSON text, possibly large) is parsed once per input, not per clock tick.
  const mail = useMemo(() => emailOfRunInput(run.input), [run.input]);
  return (
    <div className="inspector-body stack" aria-label="Run details">
      <h2 className="inspector-title">Run</h2>
      <dl className="facts">
        <dt>Status</dt>
        <dd>
          <Status status={status} />
        </dd>
        <dt>Started</dt>
        <dd>{formatTime(run.created_at)}</dd>
        <dt>Time</dt>
        <dd>{formatDuration(end - run.created_at)}</dd>
        <dt>Steps</dt>
        <dd>{steps.length.toLocaleString()}</dd>
        {t.hasUsage ? (
          <>
            <dt>Tokens</dt>
            <dd>{t.tokens.toLocaleString()}</dd>
            <dt>Cost</dt>
            <dd>{formatCost(t.cost)}</dd>
          </>
        ) : null}
      </dl>
      <p className="hint">Select a step on the left (or use ↑/↓) to see its attempts, input and output.</p>
      {run.error ? <ErrorBox error={run.error} /> : null}
      {mail ? <IncomingEmailInput mail={mail} raw={run.input} /> : <JsonView value={run.input} label="Input" defaultDepth={1} />}
      {run.output !== null ? <JsonView value={run.output} label="Output" defaultDepth={2} /> : null}
    </div>
  );
}

function ErrorBox({ error }: { error: Pick<StepError, "kind" | "message" | "retryable"> & { in_doubt?: boolean } }) {
  return (
    <div className="banner error error-box" role="alert" data-testid="attempt-error">
      <div className="row">
        <strong>{error.kind}</strong>
        <span className="badge">{error.retryable ? "retryable" : "not retryable"}</span>
        {error.in_doubt ? <span className="badge">in doubt</span> : null}
      </div>
      <div className="error-message">{error.message}</div>
    </div>
  );
}

function StepInspector({
  row,
  step,
  progress,
  now,
  attemptParam,
  onAttempt,
  onDone,
  onNeedPayloads,
  runInput,
  steps,
}: {
  row: Row;
  step: StepView;
  /** The steps of the step's run: a call's questions, a question's call. */
  steps: readonly StepView[];
  /** The input of the step's run, when the page has it (the top run's): an email's thread. */
  runInput: JsonValue | null;
  progress: JsonValue | undefined;
  now: number;
  attemptParam: number | null;
  onAttempt: (n: number | null) => void;
  onDone: () => void;
  onNeedPayloads: (row: Row) => void;
}) {
  const attempts = step.attempt_list;
  const last = attempts[attempts.length - 1];
  const current = attempts.find((a) => a.number === attemptParam) ?? last ?? null;
  const [tab, setTab] = useState<"attempt" | "input">("attempt");
  useEffect(() => setTab("attempt"), [step.key]);
  const omitted = step.payloads_omitted;
  useEffect(() => {
    if (omitted) onNeedPayloads(row);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [omitted, row.id]);
  const [diff, setDiff] = useState(false);
  const usage = usageOf(step);
  const max = step.max_attempts;
  const wait = step.kind;
  // An approval's or a question's tool call comes with the step's view.
  const call = step.call;
  const live = progress ?? step.progress;
  const partial = (live as { partial?: string } | null)?.partial;
  const answerText = step.kind === "model_call" ? ((step.output as { response?: { text?: string } } | null)?.response?.text ?? partial ?? null) : null;
  const status = step.status;
  const question = call ? firstString(call.arguments) : null;
  return (
    <div className="inspector-body stack" aria-label={`Step ${step.key}`}>
      <div className="row inspector-head">
        <KindIcon step={step} />
        <h2 className="inspector-title mono grow">{step.key}</h2>
        <Status status={status} />
      </div>
      <dl className="facts">
        {step.name ? (
          <>
            <dt>Name</dt>
            <dd>{step.name}</dd>
          </>
        ) : null}
        <dt>Kind</dt>
        <dd>
          {kindLabel(step.kind)}
          {step.safety === "at_most_once" ? <span className="badge">at most once</span> : null}
        </dd>
        <dt>Duration</dt>
        <dd>{formatDuration(stepDuration(step, now))}</dd>
        <dt>Attempts</dt>
        <dd>
          {Math.max(step.attempts, attempts.length)}
          {max ? ` of ${max}` : ""}
          {step.interrupted_attempts ? ` (${step.interrupted_attempts} interrupted)` : ""}
          {status === "retrying" && step.wake_at ? <span className="muted"> · next retry {countdown(step.wake_at, now)}</span> : null}
        </dd>
        {step.wake_at && (status === "waiting" || wait === "timer") && !step.finished_at ? (
          <>
            <dt>{wait === "timer" ? "Fires" : "Times out"}</dt>
            <dd>
              {formatTime(step.wake_at)} ({countdown(step.wake_at, now)})
            </dd>
          </>
        ) : null}
        {usage ? (
          <>
            <dt>Tokens</dt>
            <dd>
              {usage.input.toLocaleString()} in · {usage.output.toLocaleString()} out
            </dd>
            <dt>Cost</dt>
            <dd>{formatCost(usage.cost)}</dd>
          </>
        ) : null}
        {row.childRunId ? (
          <>
            <dt>Child run</dt>
            <dd>
              <a href={`#/runs/${row.childRunId}`}>{row.childRunId}</a>
            </dd>
          </>
        ) : null}
      </dl>

      {status === "waiting" && wait === "approval" && call?.tool === "send_email" ? <EmailApproval runId={row.runId} step={step} runInput={runInput} onDone={onDone} /> : null}
      {isSamplingApproval(step) || samplingModelStepOf(step) ? <SamplingFacts runId={row.runId} step={step} steps={steps} /> : null}
      {status === "waiting" && wait === "approval" && call?.tool !== "send_email" && !isSamplingApproval(step) ? <ApprovalActions runId={row.runId} step={step} toolInput={call?.arguments ?? null} onDone={onDone} /> : null}
      {status === "waiting" && wait === "question" ? <AnswerBox runId={row.runId} step={step} question={question} onDone={onDone} /> : null}
      {step.kind === "elicitation" ? <ElicitationFacts runId={row.runId} step={step} /> : null}
      {step.kind === "tool_call" ? <ToolRoundFacts runId={row.runId} step={step} steps={steps} /> : null}
      {step.kind === "tool_call" ? <McpTaskFacts runId={row.runId} step={step} steps={steps} live={progress} /> : null}
      {status === "needs_attention" && row.depth === 0 ? <p className="hint">Settle this step with the banner above the timeline.</p> : null}
      {status === "needs_attention" && row.depth > 0 ? <ResolveBanner runId={row.runId} step={step} onDone={onDone} lostQuestion={lostReasonFor(step.key, steps)} /> : null}
      <div className="row wrap">
        {status === "failed" ? <RetryStep runId={row.runId} step={step} /> : null}
        {step.finished_at ? <ForkButton runId={row.runId} step={step} /> : null}
      </div>

      {sentEmailOf(step.input) ? <SentEmailFacts step={step} /> : null}

      {answerText !== null ? (
        <section aria-label="Model answer" className="answer">
          <h3>Answer{!step.finished_at ? <span className="badge live-badge">streaming</span> : null}</h3>
          <div className="answer-text" data-testid="model-answer">
            {answerText || <span className="muted">…</span>}
          </div>
        </section>
      ) : null}
      {live && !partial && !step.finished_at ? <JsonView value={live} label="Progress" /> : null}

      <div className="row tabs-row">
        <div className="tabs grow" role="tablist" aria-label="Attempts and input">
          {attempts.map((a) => (
            <button
              key={a.number}
              type="button"
              role="tab"
              aria-selected={tab === "attempt" && current?.number === a.number}
              className={`tab ${a.outcome}`}
              onClick={() => {
                setTab("attempt");
                onAttempt(a.number === last?.number ? null : a.number);
              }}
              data-testid={`attempt-tab-${a.number}`}
            >
              <span className={`dot ${outcomeStatus(a)}`} /> Attempt {a.number}
            </button>
          ))}
          {attempts.length === 0 ? (
            <button type="button" role="tab" aria-selected={tab === "attempt"} className="tab" onClick={() => setTab("attempt")}>
              Result
            </button>
          ) : null}
          <button type="button" role="tab" aria-selected={tab === "input"} className="tab" onClick={() => setTab("input")} data-testid="input-tab">
            Input
          </button>
        </div>
        {attempts.length >= 2 ? (
          <button
            type="button"
            className={`small diff-toggle${diff ? " on" : ""}`}
            aria-pressed={diff}
            onClick={() => setDiff((d) => !d)}
            data-testid="attempt-diff-toggle"
            title="Line diff of what two attempts ended with (error or output)"
          >
            Compare attempts
          </button>
        ) : null}
      </div>
      {diff && attempts.length >= 2 ? <AttemptDiff step={step} current={current?.number ?? null} /> : null}
      <div role="tabpanel" className="tabpanel" data-testid="attempt-panel">
        {omitted ? (
          <p className="muted" role="status">
            Loading the step's payloads…
          </p>
        ) : tab === "input" ? (
          <JsonView value={step.input} label="Input" defaultDepth={2} />
        ) : (
          <AttemptPanel step={step} attempt={current} isLast={!current || current.number === last?.number} now={now} />
        )}
      </div>
      {tab !== "input" && call ? <JsonView value={call.arguments} label={`Tool call: ${call.tool}`} defaultDepth={2} /> : null}
      <details className="meta">
        <summary>Step facts</summary>
        <JsonView value={step.meta} label="Meta" />
      </details>
    </div>
  );
}

function AttemptPanel({ step, attempt, isLast, now }: { step: StepView; attempt: AttemptView | null; isLast: boolean; now: number }) {
  if (!attempt) {
    return (
      <div className="stack">
        {step.error ? <ErrorBox error={step.error} /> : null}
        {step.output !== null ? <JsonView value={step.output} label="Output" defaultDepth={2} /> : <p className="muted">{step.finished_at ? "No output." : "No output yet."}</p>}
      </div>
    );
  }
  const took = (attempt.finished_at ?? now) - attempt.started_at;
  return (
    <div className="stack">
      <div className="muted small-line">
        Attempt {attempt.number}: {attempt.outcome} · started {new Date(attempt.started_at).toLocaleTimeString()} · {formatDuration(took)}
      </div>
      {attempt.outcome === "error" ? <ErrorBox error={attempt.error} /> : null}
      {attempt.outcome === "timeout" ? <ErrorBox error={{ kind: "timeout", message: `The attempt timed out after ${formatDuration(attempt.after_ms)}.`, retryable: true }} /> : null}
      {attempt.outcome === "interrupted" ? (
        <div className="banner warn">The attempt was cut off (its worker died or lost its lease); it does not count against the retry limit.</div>
      ) : null}
      {attempt.outcome === "cancelled" ? <div className="banner info">The attempt was cancelled.</div> : null}
      {attempt.outcome === "started" ? <div className="banner info">Running…</div> : null}
      {isLast && step.error && attempt.outcome !== "error" ? <ErrorBox error={step.error} /> : null}
      {isLast && step.output !== null ? <JsonView value={step.output} label="Output" defaultDepth={2} /> : null}
      {attempt.outcome === "ok" && !isLast ? <p className="muted">A later attempt replaced this one's output.</p> : null}
    </div>
  );
}

function outcomeStatus(a: AttemptView): string {
  switch (a.outcome) {
    case "ok":
      return "succeeded";
    case "started":
      return "running";
    case "interrupted":
      return "needs_attention";
    case "cancelled":
      return "cancelled";
    default:
      return "failed";
  }
}

function countdown(at: number, now: number): string {
  const d = at - (now || Date.now());
  return d <= 0 ? "due now" : `in ${formatDuration(d)}`;
}

function firstString(v: JsonValue): string | null {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && !Array.isArray(v)) {
    for (const x of Object.values(v)) if (typeof x === "string") return x;
  }
  return null;
}

export { ResolveBanner };
