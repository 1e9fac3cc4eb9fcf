// The card of a server's request for a completion that waits on a run (MCP sampling, step
// `sample/.../approval`): who asks which model during which call, the messages it would send,
// the token cap and the tools offered; Approve or Reject with an optional reason, each asked once
// more, through `runs_approve` / `runs_reject` on the approval step.
import { useState } from "react";
import type { StepView } from "../bindings/StepView";
import { ErrorBanner, formatTime } from "../components/common";
import { useAction } from "../lib/useApi";
import { useTransport } from "../transport";
import { capText } from "./elicitation";
import { samplingRequestOf } from "./sampling";
import { SamplingRequestView } from "./SamplingRequestView";

type Props = {
  runId: string;
  step: StepView;
  onDone: () => void;
  /** Selects the step (its key is a link). */
  onSelect?: () => void;
};

export function SamplingCard({ runId, step, onDone, onSelect }: Props) {
  const r = samplingRequestOf(step);
  const transport = useTransport();
  const [confirm, setConfirm] = useState<"approve" | "reject" | null>(null);
  const [reason, setReason] = useState("");
  const [sent, setSent] = useState<"approved" | "rejected" | null>(null);
  const act = useAction(async (approve: boolean) => {
    if (approve) await transport.call("runs_approve", { run_id: runId, step: step.key });
    else await transport.call("runs_reject", { run_id: runId, step: step.key, reason: reason.trim() || undefined });
    setSent(approve ? "approved" : "rejected");
    onDone();
  });
  const server = r ? capText(r.server, 80) : "A server";
  return (
    <section className="elicit-card sampling-card banner info stack" aria-label={`Request for a completion from ${server}`} data-testid="sampling-card" data-step={step.key}>
      <div className="row wrap elicit-head">
        <strong className="grow" data-testid="sampling-title">
          {r ? (
            <>
              {server} asks the agent's model (<span className="mono">{capText(r.model, 80)}</span>) for a completion during <code>{capText(r.tool, 80)}</code>
            </>
          ) : (
            "A server asks the agent's model for a completion"
          )}
        </strong>
        {onSelect ? (
          <button type="button" className="linklike mono small-key" onClick={onSelect} title="Show this step in the inspector">
            {step.key}
          </button>
        ) : (
          <span className="mono small-key">{step.key}</span>
        )}
      </div>
      {r ? (
        <SamplingRequestView request={r} />
      ) : step.payloads_omitted ? (
        <p className="muted" role="status">
          Loading the request…
        </p>
      ) : (
        <p className="muted">What the server asks could not be read from this step; see its input in the inspector.</p>
      )}
      <p className="hint">
        Approved, the model answers and its tokens count toward this run; the answer goes to the server, not to the agent.
        {step.wake_at ? ` Undecided, it is refused at ${formatTime(step.wake_at)}.` : ""}
      </p>
      <ErrorBanner error={act.error} title="The decision was refused" />
      {sent ? (
        <p role="status" className="elicit-sent">
          {sent === "approved" ? "Approved; the model is asked…" : "Rejected; the server is told…"}
        </p>
      ) : confirm === "approve" ? (
        <div className="row wrap elicit-confirm" role="group" aria-label="Approve the request?">
          <span className="grow">Approve: {r ? capText(r.model, 80) : "the model"} is sent these messages.</span>
          <button type="button" onClick={() => setConfirm(null)} disabled={act.pending}>
            Back
          </button>
          <button type="button" className="primary" onClick={() => void act.run(true)} disabled={act.pending} data-testid="sampling-confirm-approve">
            Approve
          </button>
        </div>
      ) : confirm === "reject" ? (
        <div className="stack elicit-confirm" role="group" aria-label="Reject the request?">
          <label>
            Reason <span className="hint">(optional; the server is told a person refused, with this reason)</span>
            <input value={reason} onChange={(e) => setReason(e.target.value)} maxLength={2000} data-testid="sampling-reason" disabled={act.pending} />
          </label>
          <div className="row">
            <div className="grow" />
            <button type="button" onClick={() => setConfirm(null)} disabled={act.pending}>
              Back
            </button>
            <button type="button" className="primary" onClick={() => void act.run(false)} disabled={act.pending} data-testid="sampling-confirm-reject">
              Reject
            </button>
          </div>
        </div>
      ) : (
        <div className="row wrap">
          <div className="grow" />
          <button type="button" className="danger" onClick={() => setConfirm("reject")} data-testid="sampling-reject">
            Reject
          </button>
          <button type="button" className="primary" onClick={() => setConfirm("approve")} data-testid="sampling-approve">
            Approve
          </button>
        </div>
      )}
    </section>
  );
}
