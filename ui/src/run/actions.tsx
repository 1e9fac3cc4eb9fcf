// What a person does to a run: cancel, approve/reject, answer, resolve, retry a step, fork.
// Each confirms first (no single-key shortcut); errors show under the action that failed.
import { memo, useState } from "react";
import type { StepView } from "../bindings/StepView";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import { ErrorBanner, Modal } from "../components/common";
import { JsonView } from "../components/JsonView";
import { useAction } from "../lib/useApi";
import { href, navigate } from "../lib/router";
import { useTransport } from "../transport";
import type { RunsSettleSendResponse } from "../bindings/RunsSettleSendResponse";
import { CallDraftPreview } from "../mail/EmailApproval";
import { SettleSend } from "../mail/SentEmail";
import { draftOf, sentEmailOf } from "../mail/email";
import { LostReason } from "./ElicitationFacts";
import { taskRoleOf } from "./mcpTask";
import type { SamplingRequest } from "./sampling";
import { SamplingRequestView } from "./SamplingRequestView";

export function CancelRun({ runId, onDone }: { runId: string; onDone: () => void }) {
  const transport = useTransport();
  const [open, setOpen] = useState(false);
  const act = useAction(async () => {
    await transport.call("runs_cancel", { run_id: runId });
    setOpen(false);
    onDone();
  });
  return (
    <>
      <button type="button" className="danger" onClick={() => setOpen(true)} data-testid="cancel-run">
        Cancel run
      </button>
      {open ? (
        <Modal title="Cancel this run?" onClose={() => setOpen(false)}>
          <p>The run stops at its next step boundary; a step in flight is asked to stop. Its child runs are cancelled too. This cannot be undone.</p>
          <ErrorBanner error={act.error} />
          <div className="row">
            <div className="grow" />
            <button type="button" onClick={() => setOpen(false)}>
              Keep running
            </button>
            <button type="button" className="primary" disabled={act.pending} onClick={() => void act.run()} data-testid="confirm-cancel">
              Cancel run
            </button>
          </div>
        </Modal>
      ) : null}
    </>
  );
}

/** Approve / Reject for an approval wait (`approval/N.i`). */
export function ApprovalActions({ runId, step, toolInput, onDone }: { runId: string; step: StepView; toolInput: JsonValue | null; onDone: () => void }) {
  const [mode, setMode] = useState<ApprovalMode | null>(null);
  return (
    <div className="approval-box banner info" role="group" aria-label="Approval">
      <div className="row">
        <strong className="grow">This call waits for a person's approval.</strong>
        <button type="button" className="primary" onClick={() => setMode("approve")} data-testid="approve-step">
          Approve
        </button>
        <button type="button" className="danger" onClick={() => setMode("reject")} data-testid="reject-step">
          Reject
        </button>
      </div>
      {mode ? <ApprovalDialog runId={runId} stepKey={step.key} mode={mode} toolInput={toolInput} onClose={() => setMode(null)} onDone={onDone} /> : null}
    </div>
  );
}

export type ApprovalMode = "approve" | "reject";

/** The confirm dialog of Approve / Reject (the inspector's buttons and the timeline row's open it). */
export function ApprovalDialog({
  runId,
  stepKey,
  mode,
  toolInput,
  tool,
  sampling,
  runInput,
  onClose,
  onDone,
}: {
  runId: string;
  stepKey: string;
  mode: ApprovalMode;
  toolInput: JsonValue | null;
  /** The tool called: a send_email draft shows as the email. */
  tool?: string;
  /** A server's request for a completion, when that is what waits (not a tool call). */
  sampling?: SamplingRequest | null;
  /** The run's input (an email's thread and account), when the page has it. */
  runInput?: JsonValue | null;
  onClose: () => void;
  onDone: () => void;
}) {
  const draft = tool === "send_email" ? draftOf(toolInput) : null;
  const transport = useTransport();
  const [reason, setReason] = useState("");
  const act = useAction(async (approve: boolean) => {
    if (approve) await transport.call("runs_approve", { run_id: runId, step: stepKey });
    else await transport.call("runs_reject", { run_id: runId, step: stepKey, reason: reason || undefined });
    onClose();
    onDone();
  });
  const what = sampling ? "request" : "call";
  return (
    <Modal title={mode === "approve" ? `Approve this ${what}?` : `Reject this ${what}?`} onClose={onClose}>
      <div className="stack">
        <p>
          {sampling
            ? mode === "approve"
              ? `${sampling.model} is sent these messages for ${sampling.server}; its answer goes to the server.`
              : `The model is not asked; ${sampling.server} is told a person refused the request, with your reason.`
            : mode === "approve"
              ? "The tool is called with these arguments as soon as you approve."
              : "The tool is not called; the model is told a person rejected the call, with your reason."}
        </p>
        {sampling ? (
          <SamplingRequestView request={sampling} compact />
        ) : draft ? (
          <>
            <CallDraftPreview draft={draft} runInput={runInput ?? null} />
            <p className="hint">To change the email before it goes out, select the step and use Edit on its card.</p>
          </>
        ) : toolInput !== null ? (
          <JsonView value={toolInput} label="Arguments" defaultDepth={2} />
        ) : null}
        {mode === "reject" ? (
          <label>
            Reason
            <span className="hint">{sampling ? "Optional; the server is told." : "Optional; the model sees it."}</span>
            <input value={reason} onChange={(e) => setReason(e.target.value)} data-testid="reject-reason" />
          </label>
        ) : null}
        <ErrorBanner error={act.error} />
        <div className="row">
          <div className="grow" />
          <button type="button" onClick={onClose}>
            Back
          </button>
          {mode === "approve" ? (
            <button type="button" className="primary" disabled={act.pending} onClick={() => void act.run(true)} data-testid="confirm-approve">
              Approve
            </button>
          ) : (
            <button type="button" className="primary" disabled={act.pending} onClick={() => void act.run(false)} data-testid="confirm-reject">
              Reject
            </button>
          )}
        </div>
      </div>
    </Modal>
  );
}

/** The reply box of an `ask_human` wait. */
export function AnswerBox({ runId, step, question, onDone }: { runId: string; step: StepView; question: string | null; onDone: () => void }) {
  const transport = useTransport();
  const [text, setText] = useState("");
  const act = useAction(async () => {
    await transport.call("runs_answer", { run_id: runId, step: step.key, text });
    setText("");
    onDone();
  });
  return (
    <form
      className="banner info stack"
      aria-label="Answer the agent's question"
      onSubmit={(e) => {
        e.preventDefault();
        if (text.trim()) void act.run();
      }}
    >
      <strong>The agent asks{question ? ":" : " a question."}</strong>
      {question ? <blockquote className="question" data-testid="question">{question}</blockquote> : null}
      <label>
        Your answer
        <textarea rows={3} value={text} onChange={(e) => setText(e.target.value)} data-testid="answer-text" />
      </label>
      <ErrorBanner error={act.error} />
      <div className="row">
        <div className="grow" />
        <button type="submit" className="primary" disabled={!text.trim() || act.pending} data-testid="answer-submit">
          Send answer
        </button>
      </div>
    </form>
  );
}

/** The banner of a step that needs attention: retry anyway / mark done with an output / fail. */
export function ResolveBanner({
  runId,
  step,
  onDone,
  onSelect,
  onSettled,
  lostQuestion,
}: {
  runId: string;
  step: StepView;
  onDone: () => void;
  onSelect?: () => void;
  /** Why a server's question asked inside this call was lost (it is why the call stopped here). */
  lostQuestion?: string | null;
  /** A send_email step was looked up in Sent (the banner may go once it is settled). */
  onSettled?: (step: string, r: RunsSettleSendResponse) => void;
}) {
  const transport = useTransport();
  const [mode, setMode] = useState<"retry" | "done" | "fail" | null>(null);
  const [output, setOutput] = useState('{\n  "content": "",\n  "is_error": false\n}');
  const [message, setMessage] = useState("");
  const parsed = parseJson(output);
  const act = useAction(async (m: "retry" | "done" | "fail") => {
    const resolution =
      m === "retry"
        ? ({ resolution: "retry" } as const)
        : m === "done"
          ? ({ resolution: "done", output: (parsed.ok ? parsed.value : null) as JsonValue } as const)
          : ({ resolution: "fail", message: message || "marked failed by a person" } as const);
    await transport.call("runs_resolve", { run_id: runId, step: step.key, resolution });
    setMode(null);
    onDone();
  });
  const tool = step.name ?? step.key;
  const lostTask = taskRoleOf(step)?.kind === "lost";
  return (
    <div className="banner warn stack resolve-banner" role="region" aria-label={`Step ${step.key} needs attention`} data-testid="resolve-banner">
      <div className="row">
        <strong className="grow">
          {onSelect ? (
            <button type="button" className="linklike" onClick={onSelect}>
              {step.key}
            </button>
          ) : (
            step.key
          )}{" "}
          {lostTask ? (
            <>
              needs attention: the server no longer knows the task of the call to <code>{tool}</code>, so it may or may not have taken effect; it is not safe to repeat on
              its own, so a person decides.
            </>
          ) : (
            <>
              needs attention: the call to <code>{tool}</code> was cut off mid-way, so it may or may not have taken effect.
            </>
          )}
        </strong>
      </div>
      {lostQuestion ? <LostReason reason={lostQuestion} compact /> : null}
      {sentEmailOf(step.input) ? (
        <SettleSend
          runId={runId}
          step={step}
          onSettled={(r) => {
            onSettled?.(step.key, r);
            onDone();
          }}
        />
      ) : null}
      <div className="row wrap">
        <button type="button" onClick={() => setMode("retry")} data-testid="resolve-retry">
          {lostTask ? "Make the call again" : "Retry anyway"}
        </button>
        <button type="button" onClick={() => setMode("done")} data-testid="resolve-done">
          Mark done with an output
        </button>
        <button type="button" className="danger" onClick={() => setMode("fail")} data-testid="resolve-fail">
          Fail the step
        </button>
      </div>
      {mode ? (
        <Modal title={mode === "retry" ? "Retry anyway?" : mode === "done" ? "Mark the step done" : "Fail the step"} onClose={() => setMode(null)}>
          <div className="stack">
            <JsonView value={step.input} label="Recorded input" defaultDepth={2} />
            {mode === "retry" ? (
              <div className="banner warn" role="alert">
                The call runs again. If the first call did take effect, its side effect happens twice (for example a second email).
              </div>
            ) : null}
            {mode === "done" ? (
              <label>
                The step's output (JSON)
                <span className="hint">The run continues as if the call had returned this.</span>
                <textarea rows={8} value={output} onChange={(e) => setOutput(e.target.value)} aria-invalid={!parsed.ok} data-testid="resolve-output" spellCheck={false} />
                {!parsed.ok ? <span className="field-error">{parsed.error}</span> : null}
              </label>
            ) : null}
            {mode === "fail" ? (
              <label>
                Message
                <span className="hint">Recorded as the step's error.</span>
                <input value={message} onChange={(e) => setMessage(e.target.value)} data-testid="resolve-message" />
              </label>
            ) : null}
            <ErrorBanner error={act.error} />
            <div className="row">
              <div className="grow" />
              <button type="button" onClick={() => setMode(null)}>
                Back
              </button>
              <button type="button" className="primary" disabled={act.pending || (mode === "done" && !parsed.ok)} onClick={() => void act.run(mode)} data-testid="confirm-resolve">
                {mode === "retry" ? "Retry anyway" : mode === "done" ? "Mark done" : "Fail the step"}
              </button>
            </div>
          </div>
        </Modal>
      ) : null}
    </div>
  );
}

export function RetryStep({ runId, step }: { runId: string; step: StepView }) {
  const transport = useTransport();
  const act = useAction(async () => {
    const { run_id } = await transport.call("runs_retry_step", { run_id: runId, step: step.key });
    navigate(href(["runs", run_id]));
  });
  return (
    <span className="stack">
      <button type="button" onClick={() => void act.run()} disabled={act.pending} data-testid="retry-step" title="Start a new run that copies the steps before this one and runs it again">
        Retry step in a new run
      </button>
      <ErrorBanner error={act.error} />
    </span>
  );
}

export function ForkButton({ runId, step }: { runId: string; step: StepView }) {
  const transport = useTransport();
  const [open, setOpen] = useState(false);
  const [text, setText] = useState("");
  const [rerun, setRerun] = useState(false);
  const parsed = parseJson(text);
  const act = useAction(async () => {
    const { run_id } = await transport.call("runs_fork", { run_id: runId, step: step.key, output: rerun || !parsed.ok ? undefined : (parsed.value as JsonValue) });
    setOpen(false);
    navigate(href(["runs", run_id]));
  });
  return (
    <>
      <button
        type="button"
        onClick={() => {
          setText(JSON.stringify(step.output ?? null, null, 2));
          setOpen(true);
        }}
        data-testid="fork-step"
      >
        Fork from here…
      </button>
      {open ? (
        <Modal title={`Fork from ${step.key}`} onClose={() => setOpen(false)}>
          <div className="stack fork-modal">
            <p>
              A new run starts with every step before <code>{step.key}</code> copied from this one,{" "}
              {rerun ? (
                <>
                  runs <code>{step.key}</code> again
                </>
              ) : (
                <>
                  takes the output on the right as <code>{step.key}</code>'s result
                </>
              )}
              , and runs everything after it anew; this run stays as it is.
            </p>
            <label className="row inline-check">
              <input type="checkbox" checked={rerun} onChange={(e) => setRerun(e.target.checked)} /> Run the step again instead of editing its output
            </label>
            <div className="fork-grid">
              <div>
                <JsonView value={step.output} label="Recorded output" defaultDepth={3} />
              </div>
              <label>
                New output (JSON)
                <textarea
                  rows={14}
                  value={text}
                  disabled={rerun}
                  onChange={(e) => setText(e.target.value)}
                  aria-invalid={!rerun && !parsed.ok}
                  spellCheck={false}
                  data-testid="fork-output"
                />
                {!rerun && !parsed.ok ? <span className="field-error">{parsed.error}</span> : null}
              </label>
            </div>
            {!rerun && parsed.ok ? (
              <details className="fork-diff">
                <summary>Differences from the recorded output</summary>
                <LineDiff before={JSON.stringify(step.output ?? null, null, 2)} after={JSON.stringify(parsed.value, null, 2)} />
              </details>
            ) : null}
            <ErrorBanner error={act.error} />
            <div className="row">
              <div className="grow" />
              <button type="button" onClick={() => setOpen(false)}>
                Back
              </button>
              <button type="button" className="primary" disabled={act.pending || (!rerun && !parsed.ok)} onClick={() => void act.run()} data-testid="confirm-fork">
                Start the fork
              </button>
            </div>
          </div>
        </Modal>
      ) : null}
    </>
  );
}

export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, error: `Not valid JSON: ${(e as Error).message}` };
  }
}

/** A line diff of two texts (LCS), for small payloads; memoized, as the live clock re-renders its parent every second. */
export const LineDiff = memo(function LineDiff({ before, after, testId = "fork-diff", same }: { before: string; after: string; testId?: string; same?: string }) {
  const a = before.split("\n");
  const b = after.split("\n");
  if (a.length * b.length > 4_000_000) return <p className="muted">Too large to compare here.</p>;
  if (before === after) return <p className="muted">{same ?? "No change: the fork would take the recorded output as it is."}</p>;
  // LCS table from the end.
  const n = a.length;
  const m = b.length;
  const t: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) t[i][j] = a[i] === b[j] ? t[i + 1][j + 1] + 1 : Math.max(t[i + 1][j], t[i][j + 1]);
  const out: { kind: " " | "-" | "+"; text: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) out.push({ kind: " ", text: a[i++] }), j++;
    // Removals before additions, as diffs read.
    else if (i < n && (j === m || t[i + 1][j] >= t[i][j + 1])) out.push({ kind: "-", text: a[i++] });
    else out.push({ kind: "+", text: b[j++] });
  }
  return (
    <pre className="line-diff" data-testid={testId}>
      {out.map((l, k) => (
        <div key={k} className={l.kind === "+" ? "added" : l.kind === "-" ? "removed" : undefined}>
          {l.kind} {l.text}
        </div>
      ))}
    </pre>
  );
});
