// The inspector's lines about an MCP call that needed a person: round 1 ended with the server
// asking for input (its questions, linked), a later round carries the answers given, and a
// question lost with its process says why the call was settled as it was.
import type { StepView } from "../bindings/StepView";
import { href } from "../lib/router";
import { capText, lostReasonFor, outcomeOf, questionLabel, questionsOfToolStep, toolRoundOf } from "./elicitation";
import { AnswerFields, LostReason } from "./ElicitationFacts";

const ACTION_TEXT: Record<string, string> = { accept: "accepted", decline: "declined", cancel: "cancelled" };

export function ToolRoundFacts({ runId, step, steps }: { runId: string; step: StepView; steps: readonly StepView[] }) {
  const round = toolRoundOf(step);
  const lost = lostReasonFor(step.key, steps);
  if (!round && !lost) return null;
  const questions = questionsOfToolStep(step.key, steps);
  return (
    <section className="stack elicit-facts" aria-label="Input the server asked for" data-testid="tool-round-facts">
      {lost ? <LostReason reason={lost} compact /> : null}
      {round && round.round > 1 ? (
        <p className="hint">
          Round {round.round} of the call: it was called again with the answers to the server's questions{round.responses.length ? ":" : "."}
        </p>
      ) : null}
      {round && round.responses.length ? (
        <ul className="elicit-responses" aria-label="Answers given">
          {round.responses.map((r) => (
            <li key={r.id}>
              <span className="mono">{capText(r.id, 80)}</span>: {ACTION_TEXT[r.action] ?? capText(r.action, 40)}
              {r.content ? <AnswerFields content={r.content} /> : null}
            </li>
          ))}
        </ul>
      ) : null}
      {round?.needsInput ? (
        <p className="hint" data-testid="tool-needs-input">
          The server needed input: {askedText(round.requests, round.samplings)}; the call goes on in round {round.round + 1} once {round.requests === 1 ? "it is" : "they are"} answered.
        </p>
      ) : null}
      {questions.length ? (
        <ul className="elicit-questions" aria-label="Questions of this call">
          {questions.map((q) => {
            const o = outcomeOf(q);
            const state = q.status === "waiting" ? "waiting for you" : o?.kind === "lost" ? "lost" : o?.kind === "timed_out" ? "timed out" : o?.kind === "answered" ? (ACTION_TEXT[o.action] ?? "answered") : q.status;
            return (
              <li key={q.key}>
                <a className="mono" href={href(["runs", runId], { step: q.key })}>
                  {q.key}
                </a>{" "}
                <span className="muted">({state})</span> {questionLabel(q)}
              </li>
            );
          })}
        </ul>
      ) : null}
    </section>
  );
}

/** "it asked a question", "it asked for a completion", "it made 3 requests (1 for a completion)". */
function askedText(requests: number, samplings: number): string {
  if (requests === 1) return samplings ? "it asked the agent's model for a completion (sampling)" : "it asked a question";
  if (samplings === 0) return `it asked ${requests} questions`;
  if (samplings === requests) return `it asked the agent's model for ${requests} completions (sampling)`;
  return `it made ${requests} requests (${samplings} for a completion)`;
}
