// The inspector's view of a server's sampling request: on its approval step, what was asked
// and how it was decided; on the model step that answered it, for which server and call, and
// the approval it followed.
import type { StepView } from "../bindings/StepView";
import { href } from "../lib/router";
import { capText } from "./elicitation";
import { samplingDecisionOf, samplingModelStepOf, samplingRequestOf, type SamplingDecision } from "./sampling";
import { SamplingRequestView } from "./SamplingRequestView";

export function SamplingFacts({ runId, step, steps }: { runId: string; step: StepView; steps: readonly StepView[] }) {
  const r = samplingRequestOf(step);
  const answered = samplingModelStepOf(step);
  if (answered) {
    const approval = steps.find((s) => s.key === answered.approval);
    return (
      <section className="stack sampling-facts" aria-label="Sampling" data-testid="sampling-facts">
        <p data-testid="sampling-for">
          Sampling for <span className="mono">{capText(`${answered.server}/${answered.tool}`, 200)}</span>: the server asked the agent's model for this completion during its call;
          the answer went to the server, not to the agent. Its tokens and cost count toward this run.
        </p>
        <dl className="facts">
          {answered.toolStep ? <StepLink runId={runId} label="Call" stepKey={answered.toolStep} /> : null}
          {approval ? <StepLink runId={runId} label="Approved in" stepKey={approval.key} /> : null}
        </dl>
      </section>
    );
  }
  if (!r && !step.key.startsWith("sample/")) return null;
  const decision = samplingDecisionOf(step);
  return (
    <section className="stack sampling-facts" aria-label="Sampling request" data-testid="sampling-facts">
      {r ? (
        <>
          <dl className="facts">
            <dt>Asked by</dt>
            <dd>
              <span className="mono">{capText(r.server, 120)}</span> during <span className="mono">{capText(r.tool, 120)}</span>
            </dd>
            {r.toolStep ? <StepLink runId={runId} label="Call" stepKey={r.toolStep} /> : null}
            <dt>Model</dt>
            <dd className="mono">{capText(r.model, 120)}</dd>
          </dl>
          <SamplingRequestView request={r} compact />
        </>
      ) : (
        <p className="muted">The request's details could not be read from the step's input.</p>
      )}
      {step.status === "waiting" ? <p className="hint">Waiting for a person: approve or reject it on its card above the timeline.</p> : <Decision decision={decision} />}
      {decision?.kind === "approved" && steps.some((s) => s.key === step.key.replace(/\/approval$/, "")) ? (
        <dl className="facts">
          <StepLink runId={runId} label="Answered in" stepKey={step.key.replace(/\/approval$/, "")} />
        </dl>
      ) : null}
    </section>
  );
}

function Decision({ decision }: { decision: SamplingDecision | null }) {
  if (!decision) return null;
  switch (decision.kind) {
    case "lost":
      return (
        <div className="banner warn" role="note">
          <strong>This request was lost. </strong>
          {capText(decision.reason, 2000)}
        </div>
      );
    case "timed_out":
      return <div className="banner warn">Nobody decided in time: the server was told the request was refused.</div>;
    case "approved":
      return (
        <p data-testid="sampling-decision">
          <strong>Approved</strong>
          {decision.by ? <span className="muted"> by {capText(decision.by, 120)}</span> : null}: the model was asked.
        </p>
      );
    case "rejected":
      return (
        <p data-testid="sampling-decision">
          <strong>Rejected</strong>
          {decision.by ? <span className="muted"> by {capText(decision.by, 120)}</span> : null}: the server was told a person refused the request
          {decision.reason ? <>: “{capText(decision.reason, 2000)}”</> : "."}
        </p>
      );
  }
}

function StepLink({ runId, label, stepKey }: { runId: string; label: string; stepKey: string }) {
  return (
    <>
      <dt>{label}</dt>
      <dd>
        <a className="mono" href={href(["runs", runId], { step: stepKey })}>
          {stepKey}
        </a>
      </dd>
    </>
  );
}
