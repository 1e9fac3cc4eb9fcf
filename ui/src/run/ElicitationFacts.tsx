// The inspector's view of a server's question (`elicit/...`): who asked what (the message, the
// form's fields or the link), and how it ended: the answer (action, fields, who), timed out, or
// lost with its process (the reason, prominently). All of it is shown as text.
import type { StepView } from "../bindings/StepView";
import { href } from "../lib/router";
import { capText, outcomeOf, questionOf, safeLink, toolStepOfQuestion, type ElicitationOutcome } from "./elicitation";
import { parseForm } from "./elicitForm";

export function ElicitationFacts({ runId, step }: { runId: string; step: StepView }) {
  const q = questionOf(step);
  const outcome = outcomeOf(step);
  const toolStep = toolStepOfQuestion(step.key) ?? q?.toolStep ?? null;
  const form = q && q.mode === "form" ? parseForm(q.schema) : null;
  const link = q?.mode === "url" ? safeLink(q.url) : null;
  return (
    <section className="stack elicit-facts" aria-label="Server's question" data-testid="elicitation-facts">
      {outcome?.kind === "lost" ? <LostReason reason={outcome.reason} /> : null}
      {q ? (
        <>
          <dl className="facts">
            <dt>Asked by</dt>
            <dd>
              <span className="mono">{capText(q.server, 120)}</span> during <span className="mono">{capText(q.tool, 120)}</span>
            </dd>
            {toolStep ? (
              <>
                <dt>Call</dt>
                <dd>
                  <a className="mono" href={href(["runs", runId], { step: toolStep })}>
                    {toolStep}
                  </a>
                </dd>
              </>
            ) : null}
            <dt>Asks for</dt>
            <dd>{q.mode === "url" ? "a link to be opened" : "a form to be filled in"}</dd>
            <dt>Restart</dt>
            <dd>{q.survivesRestart ? "kept across restarts (asked between journaled rounds)" : "lost if Waymark stops (asked inside the open call)"}</dd>
          </dl>
          {q.message ? <blockquote className="question elicit-message">{capText(q.message)}</blockquote> : null}
          {q.mode === "url" ? (
            <p className="mono elicit-url-text">
              {link ? <>host {capText(link.host, 200)} · </> : null}
              {capText(q.url ?? "(no address)", 2000)}
            </p>
          ) : form?.ok ? (
            <p className="hint">
              Fields: {form.fields.map((f) => `${capText(f.label, 80)}${f.required ? " *" : ""}`).join(", ") || "none"}
            </p>
          ) : form ? (
            <p className="hint">The form cannot be shown as fields: {form.reason}.</p>
          ) : null}
        </>
      ) : (
        <p className="muted">The question's details could not be read from the step's input.</p>
      )}
      <Outcome step={step} outcome={outcome} />
    </section>
  );
}

function Outcome({ step, outcome }: { step: StepView; outcome: ElicitationOutcome | null }) {
  if (!outcome) {
    return step.status === "waiting" ? <p className="hint">Waiting for your answer: use the question's card above the timeline.</p> : null;
  }
  switch (outcome.kind) {
    case "lost":
      return null;
    case "timed_out":
      return (
        <div className="banner warn" data-testid="elicitation-answer">
          Nobody answered in time: the server was told the question was cancelled.
        </div>
      );
    case "answered":
      return (
        <div className="stack" data-testid="elicitation-answer">
          <h3>Answer</h3>
          <dl className="facts">
            <dt>Action</dt>
            <dd data-testid="elicitation-action">{ACTION_TEXT[outcome.action]}</dd>
            <dt>By</dt>
            <dd>{outcome.by ? capText(outcome.by, 120) : "–"}</dd>
            {step.finished_at ? (
              <>
                <dt>At</dt>
                <dd>{new Date(step.finished_at).toLocaleString()}</dd>
              </>
            ) : null}
          </dl>
          {outcome.content ? <AnswerFields content={outcome.content} /> : null}
        </div>
      );
  }
}

const ACTION_TEXT = { accept: "accepted", decline: "declined", cancel: "cancelled", unknown: "answered" } as const;

/** The fields a person sent, one line each (values as JSON text). */
export function AnswerFields({ content }: { content: Record<string, unknown> }) {
  const entries = Object.entries(content);
  if (entries.length === 0) return <p className="hint">No fields.</p>;
  return (
    <dl className="facts elicit-answer-fields" aria-label="Answered fields">
      {entries.slice(0, 100).map(([k, v]) => (
        <Field key={k} name={k} value={v} />
      ))}
    </dl>
  );
}

function Field({ name, value }: { name: string; value: unknown }) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return (
    <>
      <dt className="mono">{capText(name, 80)}</dt>
      <dd className="elicit-value">{capText(text ?? "", 2000)}</dd>
    </>
  );
}

/** Why a question was lost, as the server-side settles it. */
export function LostReason({ reason, compact }: { reason: string; compact?: boolean }) {
  return (
    <div className="banner warn" role="note" data-testid="elicitation-lost">
      <strong>{compact ? "A server's question in this call was lost. " : "This question was lost. "}</strong>
      {capText(reason, 2000)}
    </div>
  );
}

