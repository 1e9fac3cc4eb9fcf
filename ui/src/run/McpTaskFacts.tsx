// The inspector's lines about a call the server ran as an MCP task: on the call, the task it
// runs as and the steps that poll it; on a poll, the task's latest status message (live while
// it runs) and, when the server no longer knows the task, what that means and what followed
// (the call made again, or a person deciding).
import type { StepView } from "../bindings/StepView";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import { formatDuration } from "../components/common";
import { href } from "../lib/router";
import { capText } from "./elicitation";
import { afterLostTask, firstCallOf, lostTask, pollsOf, taskHandleOf, taskRoleOf, taskStatusMessage } from "./mcpTask";

type Props = { runId: string; step: StepView; steps: readonly StepView[]; live: JsonValue | undefined };

export function McpTaskFacts({ runId, step, steps, live }: Props) {
  const role = taskRoleOf(step);
  const handle = taskHandleOf(step);
  const link = (key: string) => (
    <a className="mono" href={href(["runs", runId], { step: key })}>
      {key}
    </a>
  );
  if (role?.kind === "poll") {
    const message = taskStatusMessage(step, live);
    const running = !step.finished_at;
    return (
      <section className="stack task-facts" aria-label="MCP task" data-testid="task-facts">
        <p>
          Polls task <span className="mono" data-testid="task-id">{capText(role.taskId ?? handle?.taskId ?? "?", 120)}</span> of the call {link(role.call)}
          {role.segment > 1 ? ", after the answers to the questions it asked" : ""}: the server runs the work, Waymark asks how it goes until it ends.
        </p>
        <dl className="facts">
          <dt>{running ? "Status now" : "Last status"}</dt>
          <dd data-testid="task-status-message">
            {message ? capText(message, 500) : <span className="muted">{running ? "no message yet" : "none"}</span>}
            {!running && handle ? <span className="badge">{capText(handle.status, 40)}</span> : null}
          </dd>
        </dl>
        {lostTask(step) ? <LostTask runId={runId} call={role.call} taskId={role.taskId} steps={steps} /> : null}
      </section>
    );
  }
  const again =
    role?.kind === "again" ? (
      <div className="banner info" role="note" data-testid="task-again">
        The call made again: the server no longer knew the task of {link(role.n === 1 ? role.call : `${role.call}/again-${role.n - 1}`)}, and this call is safe to repeat.
      </div>
    ) : null;
  if (role?.kind === "lost") {
    return (
      <div className="banner warn" role="note" data-testid="task-facts">
        <strong>The server no longer knows the task of {link(role.call)}</strong>: it expired or the server forgot it, so whether the call took effect is unknown. The call
        is not safe to repeat on its own (or was repeated too often), so a person decides: mark it done with an output, or fail it.
      </div>
    );
  }
  if (!handle) return again;
  const polls = pollsOf(step.key, steps);
  return (
    <section className="stack task-facts" aria-label="MCP task" data-testid="task-facts">
      {again}
      <p>
        <strong>Runs as task <span className="mono" data-testid="task-id">{capText(handle.taskId, 120)}</span></strong>: the server answered at once with the task and runs the work
        itself; the steps below follow it, so a restart polls the same task instead of calling the tool again.
      </p>
      <dl className="facts">
        <dt>Handed over</dt>
        <dd>
          {capText(handle.status, 40)}
          {handle.statusMessage ? ` · ${capText(handle.statusMessage, 300)}` : ""}
        </dd>
        {handle.pollIntervalMs !== null ? (
          <>
            <dt>Poll every</dt>
            <dd>{formatDuration(handle.pollIntervalMs)}</dd>
          </>
        ) : null}
        {handle.ttlMs !== null ? (
          <>
            <dt>Kept for</dt>
            <dd>{formatDuration(handle.ttlMs)} by the server</dd>
          </>
        ) : null}
      </dl>
      {polls.length ? (
        <ul className="elicit-questions" aria-label="Polls of the task">
          {polls.map((p) => (
            <li key={p.key}>
              {link(p.key)} <span className="muted">({lostTask(p) ? "task lost" : p.status.replace("_", " ")})</span> {capText(taskStatusMessage(p, undefined) ?? "", 200)}
            </li>
          ))}
        </ul>
      ) : (
        <p className="hint">No poll yet.</p>
      )}
    </section>
  );
}

function LostTask({ runId, call, taskId, steps }: { runId: string; call: string; taskId: string | null; steps: readonly StepView[] }) {
  const next = afterLostTask(call, steps);
  return (
    <div className="banner warn" role="note" data-testid="task-lost">
      <strong>The server no longer knows this task</strong>
      {taskId ? <> ({capText(taskId, 120)})</> : null}: it expired (a server keeps a task only for a while) or the server forgot it, so whether its work was done is unknown.{" "}
      {next ? (
        taskRoleOf(next)?.kind === "again" ? (
          <>
            The call is safe to repeat, so it was made again:{" "}
            <a className="mono" href={href(["runs", runId], { step: next.key })}>
              {next.key}
            </a>
            .
          </>
        ) : (
          <>
            The call is not safe to repeat, so a person decides:{" "}
            <a className="mono" href={href(["runs", runId], { step: next.key })}>
              {next.key}
            </a>
            .
          </>
        )
      ) : (
        <>The call {firstCallOf(call)} is settled by whether it is safe to repeat.</>
      )}
    </div>
  );
}
