// The card of a server's question that waits on a run (MCP elicitation, step `elicit/...`): who
// asks, the message, then the form (or the link to open), and Accept / Decline / Cancel through
// `runs_elicitation_answer`. The question came from an MCP server: it is text, never markup, and
// cut to a readable length; a link opens outside the app, never in its window.
import { useState } from "react";
import type { ElicitationAnswer } from "../bindings/ElicitationAnswer";
import type { StepView } from "../bindings/StepView";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import { ErrorBanner, formatTime } from "../components/common";
import { useAction } from "../lib/useApi";
import { useTransport } from "../transport";
import { capText, questionOf, type ElicitationQuestion } from "./elicitation";
import { AnswerButtons, QuestionAnswer } from "./QuestionAnswer";

type Props = {
  runId: string;
  step: StepView;
  onDone: () => void;
  /** Selects the step (its key is a link). */
  onSelect?: () => void;
};

export function ElicitationCard({ runId, step, onDone, onSelect }: Props) {
  const q = questionOf(step);
  const title = q ? `${capText(q.server, 80)} asks` : "A server asks";
  return (
    <section className="elicit-card banner info stack" aria-label={`Question from ${q ? capText(q.server, 80) : "a server"}`} data-testid="elicitation-card" data-step={step.key}>
      <div className="row wrap elicit-head">
        <strong className="grow">
          {title}
          {q ? (
            <span className="muted">
              {" "}
              during <code>{capText(q.tool, 80)}</code>
            </span>
          ) : null}
        </strong>
        {onSelect ? (
          <button type="button" className="linklike mono small-key" onClick={onSelect} title="Show this step in the inspector">
            {step.key}
          </button>
        ) : (
          <span className="mono small-key">{step.key}</span>
        )}
      </div>
      {q ? (
        <QuestionBody runId={runId} step={step} q={q} onDone={onDone} />
      ) : step.payloads_omitted ? (
        <p className="muted" role="status">
          Loading the question…
        </p>
      ) : (
        <Unreadable runId={runId} step={step} onDone={onDone} />
      )}
    </section>
  );
}

/** Whether the question outlives a restart, and when it is cancelled unanswered. */
function Lifetime({ q, step }: { q: ElicitationQuestion; step: StepView }) {
  return (
    <p className={`hint elicit-lifetime${q.survivesRestart ? "" : " fragile"}`} data-testid="elicitation-lifetime">
      {q.survivesRestart
        ? "Kept across restarts: you can answer later, even if Waymark stops in between."
        : "Asked inside an open call: if Waymark stops before you answer, this question is lost."}
      {step.wake_at ? ` Unanswered, it is cancelled at ${formatTime(step.wake_at)}.` : ""}
    </p>
  );
}

function QuestionBody({ runId, step, q, onDone }: { runId: string; step: StepView; q: ElicitationQuestion; onDone: () => void }) {
  const transport = useTransport();
  const [sent, setSent] = useState<ElicitationAnswer | null>(null);
  const act = useAction(async (action: ElicitationAnswer, content?: Record<string, JsonValue>) => {
    await transport.call("runs_elicitation_answer", { run_id: runId, step: step.key, action, content });
    setSent(action);
    onDone();
  });
  const answer = (action: ElicitationAnswer, content?: Record<string, JsonValue>) => void act.run(action, content);
  return (
    <>
      {q.message ? (
        <blockquote className="question elicit-message" data-testid="elicitation-message">
          {capText(q.message)}
        </blockquote>
      ) : (
        <p className="muted">The server gave no message.</p>
      )}
      <Lifetime q={q} step={step} />
      {sent ? (
        <p role="status" className="elicit-sent">
          {sent === "accept" ? "Answer sent" : sent === "decline" ? "Declined" : "Cancelled"}; the call goes on…
        </p>
      ) : (
        <QuestionAnswer q={q} pending={act.pending} error={act.error} onAnswer={answer} />
      )}
    </>
  );
}

/** A question whose input could not be read: it can still be declined or cancelled. */
function Unreadable({ runId, step, onDone }: { runId: string; step: StepView; onDone: () => void }) {
  const transport = useTransport();
  const act = useAction(async (action: ElicitationAnswer) => {
    await transport.call("runs_elicitation_answer", { run_id: runId, step: step.key, action });
    onDone();
  });
  return (
    <>
      <p className="muted">What the server asks could not be read from this step; see its input in the inspector.</p>
      <ErrorBanner error={act.error} />
      <AnswerButtons pending={act.pending} acceptLabel="Accept" acceptDisabled onAccept={() => undefined} onAnswer={(a) => void act.run(a)} />
    </>
  );
}

