// A call by hand while it runs: how long it has taken, the server's latest progress (a bar when
// it gives a total, its latest message), Cancel (the server is told), and a question the server
// asks during the call, answered in place with the same form as a run's question card. Then how
// it ended when that is not a result: cancelled, or no longer followed.
import { useState } from "react";
import type { ElicitationAnswer } from "../bindings/ElicitationAnswer";
import type { HandCallQuestion } from "../bindings/HandCallQuestion";
import type { ToolProgress } from "../bindings/ToolProgress";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import { ErrorBanner, formatDuration } from "../components/common";
import { useAction } from "../lib/useApi";
import { useNow } from "../run/clock";
import { capText, questionOfParams } from "../run/elicitation";
import { QuestionAnswer } from "../run/QuestionAnswer";
import { isLive, type HandCall } from "./useHandCall";

type Props = {
  server: string;
  tool: string;
  call: HandCall;
  onCancel: () => void;
  onAnswer: (questionId: string, action: ElicitationAnswer, content?: Record<string, JsonValue>) => Promise<void>;
};

export function CallProgress({ server, tool, call, onCancel, onAnswer }: Props) {
  const live = isLive(call);
  // Re-renders each second while the call runs; status news re-renders it in between.
  useNow(live);
  const status = call.status;
  const state = status?.state ?? "running";
  const elapsed = (call.endedAt ?? Date.now()) - call.startedAt;
  const latest = latestProgress(status?.progress ?? []);
  if (call.refused) return null;
  return (
    <section className="call-progress stack" aria-label="Call in progress" data-testid="call-progress" data-state={call.lost ? "lost" : state}>
      <div className="row wrap">
        <strong className="grow" role="status" aria-live="polite" data-testid="call-state">
          {call.lost
            ? "No longer followed"
            : state === "asking"
              ? "The server asks you something"
              : state === "cancelled"
                ? "cancelled — the server was told"
                : state === "running"
                  ? call.cancelling
                    ? "Cancelling…"
                    : call.callId
                      ? "Running…"
                      : "Sending…"
                  : state}
        </strong>
        <span className="mono hint" data-testid="call-elapsed" title="Time since the call was sent">
          {formatDuration(elapsed)}
        </span>
        {live ? (
          <button type="button" className="danger" onClick={onCancel} disabled={!call.callId || call.cancelling} data-testid="call-cancel" title="Stop the call: the server is sent a cancellation">
            Cancel
          </button>
        ) : null}
      </div>
      {latest && (live || state === "cancelled") ? <ProgressLine latest={latest} count={status?.progress.length ?? 0} /> : null}
      {state === "cancelled" ? (
        <p className="hint" data-testid="call-cancelled">
          Waymark stopped waiting and sent the server a cancellation; what the tool did before it took the cancellation stays done.
        </p>
      ) : null}
      {call.lost ? <ErrorBanner error={call.lost} title="Following the call stopped; how it ended is unknown" /> : null}
      <ErrorBanner error={call.cancelError} title="The call could not be cancelled" />
      {status?.question && live ? <HandQuestion key={status.question.id} server={server} tool={tool} question={status.question} onAnswer={onAnswer} /> : null}
    </section>
  );
}

/** The newest notification, with the newest message any notification gave. */
function latestProgress(list: readonly ToolProgress[]): (ToolProgress & { text: string | null }) | null {
  const last = list[list.length - 1];
  if (!last) return null;
  let text: string | null = null;
  for (let i = list.length - 1; i >= 0 && text === null; i--) text = list[i].message ?? null;
  return { ...last, text };
}

function ProgressLine({ latest, count }: { latest: ToolProgress & { text: string | null }; count: number }) {
  const total = typeof latest.total === "number" && latest.total > 0 ? latest.total : null;
  return (
    <div className="stack call-progress-line">
      {total !== null ? (
        <div className="row">
          <progress className="grow" max={total} value={Math.min(latest.progress, total)} aria-label="Progress" />
          <span className="mono hint">
            {latest.progress.toLocaleString()} / {total.toLocaleString()}
          </span>
        </div>
      ) : (
        <span className="hint">
          progress {latest.progress.toLocaleString()} ({count} notification{count === 1 ? "" : "s"})
        </span>
      )}
      {latest.text ? (
        <span className="call-progress-message" data-testid="call-progress-message">
          {capText(latest.text, 500)}
        </span>
      ) : null}
    </div>
  );
}

/** The server's question, answered in place; the call waits for it. */
function HandQuestion({
  server,
  tool,
  question,
  onAnswer,
}: {
  server: string;
  tool: string;
  question: HandCallQuestion;
  onAnswer: Props["onAnswer"];
}) {
  const q = questionOfParams(question.params, server, tool);
  const [sent, setSent] = useState<ElicitationAnswer | null>(null);
  const act = useAction(async (action: ElicitationAnswer, content?: Record<string, JsonValue>) => {
    await onAnswer(question.id, action, content);
    setSent(action);
  });
  return (
    <div className="elicit-card banner info stack" role="group" aria-label={`Question from ${capText(server, 80)}`} data-testid="call-question">
      <strong>
        {capText(server, 80)} asks<span className="muted"> during <code>{capText(tool, 80)}</code></span>
      </strong>
      {q.message ? (
        <blockquote className="question elicit-message" data-testid="elicitation-message">
          {capText(q.message)}
        </blockquote>
      ) : (
        <p className="muted">The server gave no message.</p>
      )}
      <p className="hint">The call waits for your answer; it is lost if the call ends or Waymark stops first.</p>
      {sent ? (
        <p role="status" className="elicit-sent">
          {sent === "accept" ? "Answer sent" : sent === "decline" ? "Declined" : "Cancelled"}; the call goes on…
        </p>
      ) : (
        <QuestionAnswer q={q} pending={act.pending} error={act.error} onAnswer={(a, c) => void act.run(a, c)} />
      )}
    </div>
  );
}
