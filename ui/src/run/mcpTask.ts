// A call the server ran as an MCP task, as the run page reads it off the steps: the call
// `tool/N.I` journals the task's handle in its output (`task`); steps `tool/N.I/task`, then
// `task-2`... after each round of input, poll it. A task the server no longer knows fails its
// poll with `mcp_task_lost`; then the call is made again (`tool/N.I/again-K`, with its own
// polls) when it is safe to repeat, or `tool/N.I/task-lost` waits for a person.
import type { StepView } from "../bindings/StepView";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import { isObject } from "./elicitation";

export const TASK_LOST = "mcp_task_lost";

export type TaskHandle = {
  taskId: string;
  /** working, input_required, completed, failed or cancelled, when last seen. */
  status: string;
  statusMessage: string | null;
  pollIntervalMs: number | null;
  ttlMs: number | null;
};

/** What a step is to a task-run call. */
export type TaskRole =
  /** Polls the task of `call` (`tool/N.I` or `tool/N.I/again-K`); segment 2+ follows answers. */
  | { kind: "poll"; call: string; segment: number; taskId: string | null }
  /** The call made again after its task was lost. */
  | { kind: "again"; call: string; n: number }
  /** The task was lost and the call is not repeated: a person decides. */
  | { kind: "lost"; call: string };

function str(v: JsonValue | undefined): string | null {
  return typeof v === "string" ? v : null;
}

function num(v: JsonValue | undefined): number | null {
  return typeof v === "number" ? v : null;
}

function handleFrom(v: JsonValue | undefined): TaskHandle | null {
  if (!isObject(v)) return null;
  const taskId = str(v.task_id);
  if (!taskId) return null;
  return { taskId, status: str(v.status) ?? "unknown", statusMessage: str(v.status_message), pollIntervalMs: num(v.poll_interval_ms), ttlMs: num(v.ttl_ms) };
}

/** The task handle a tool step's output holds (the call ran as a task, or a poll's last view). */
export function taskHandleOf(step: StepView): TaskHandle | null {
  if (step.kind !== "tool_call" || !isObject(step.output)) return null;
  return handleFrom(step.output.task);
}

export function taskRoleOf(step: StepView): TaskRole | null {
  if (step.kind !== "tool_call") return null;
  const poll = /^(tool\/[^/]+(?:\/again-\d+)?)\/task(?:-(\d+))?$/.exec(step.key);
  if (poll) {
    const input = isObject(step.input) ? step.input : {};
    return { kind: "poll", call: poll[1], segment: poll[2] ? Number(poll[2]) : 1, taskId: str(input.task_id) };
  }
  const again = /^(tool\/[^/]+)\/again-(\d+)$/.exec(step.key);
  if (again) return { kind: "again", call: again[1], n: Number(again[2]) };
  const lost = /^(tool\/[^/]+(?:\/again-\d+)?)\/task-lost$/.exec(step.key);
  if (lost) return { kind: "lost", call: lost[1] };
  return null;
}

/** Whether the server lost the task this poll followed. */
export function lostTask(step: StepView): boolean {
  return step.error?.kind === TASK_LOST || step.attempt_list.some((a) => a.outcome === "error" && a.error.kind === TASK_LOST);
}

/** The latest status message of a poll: the live progress, else the last one journaled. */
export function taskStatusMessage(step: StepView, live: JsonValue | undefined): string | null {
  const p = live ?? step.progress;
  if (isObject(p) && typeof p.message === "string") return p.message;
  return taskHandleOf(step)?.statusMessage ?? null;
}

/** The first call (`tool/N.I`) a task step belongs to. */
export function firstCallOf(key: string): string {
  const m = /^(tool\/[^/]+)/.exec(key);
  return m ? m[1] : key;
}

/** The steps after the poll of `call` that failed: the call made again, or the wait for a person. */
export function afterLostTask(call: string, steps: readonly StepView[]): StepView | null {
  const first = firstCallOf(call);
  const again = /\/again-(\d+)$/.exec(call);
  const next = `${first}/again-${again ? Number(again[1]) + 1 : 1}`;
  return steps.find((s) => s.key === next || s.key === `${call}/task-lost`) ?? null;
}

/** The poll steps of `call`, in their order. */
export function pollsOf(call: string, steps: readonly StepView[]): StepView[] {
  return steps.filter((s) => {
    const r = taskRoleOf(s);
    return r?.kind === "poll" && r.call === call;
  });
}
