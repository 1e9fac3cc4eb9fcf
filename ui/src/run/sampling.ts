// A server's request for a completion during a tool call (MCP sampling), as the run page reads
// it off the steps: the wait `sample/N.I/.../approval` keeps the request in `input.about`
// (kind "sampling") and the decision in its output; the model step `sample/N.I/...` answers it.
// The messages came from an MCP server: read defensively, shown as text, capped.
import type { StepView } from "../bindings/StepView";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import { capText, isObject } from "./elicitation";

/** One message of the request, as the model would be sent it. */
export type SamplingMessage = {
  role: string;
  text: string;
  /** Tool calls an assistant message carries (by name). */
  toolCalls: string[];
};

export type SamplingRequest = {
  server: string;
  tool: string;
  /** The call it belongs to (`tool/N.I`). */
  toolStep: string;
  model: string;
  maxTokens: number | null;
  messages: SamplingMessage[];
  tools: string[];
};

export type SamplingDecision =
  | { kind: "approved"; by: string | null }
  | { kind: "rejected"; reason: string | null; by: string | null }
  | { kind: "timed_out" }
  /** Asked inside an open call whose process ended: nobody can answer it any more. */
  | { kind: "lost"; reason: string };

function str(v: JsonValue | undefined): string | null {
  return typeof v === "string" ? v : null;
}

function textOf(v: JsonValue | undefined): string {
  if (typeof v === "string") return v;
  if (v === undefined || v === null) return "";
  return JSON.stringify(v);
}

/** The approval wait of a sampling request (`sample/.../approval`). */
export function isSamplingApproval(step: StepView): boolean {
  return step.kind === "approval" && /^sample\/.+\/approval$/.test(step.key);
}

/** The request a sampling approval shows; null for other steps or an unreadable input. */
export function samplingRequestOf(step: StepView): SamplingRequest | null {
  if (!isSamplingApproval(step) || !isObject(step.input)) return null;
  const about = step.input.about;
  if (!isObject(about) || about.kind !== "sampling") return null;
  const messages = Array.isArray(about.messages)
    ? about.messages.map((m): SamplingMessage => {
        if (!isObject(m)) return { role: "?", text: textOf(m), toolCalls: [] };
        const calls = Array.isArray(m.tool_calls) ? m.tool_calls.map((c) => (isObject(c) ? (str(c.name) ?? "?") : "?")) : [];
        return { role: str(m.role) ?? "?", text: textOf(m.content), toolCalls: calls };
      })
    : [];
  return {
    server: str(about.server) ?? "a server",
    tool: str(about.tool) ?? "a tool",
    toolStep: str(about.tool_step) ?? toolStepOfSample(step.key) ?? "",
    model: str(about.model) ?? "the agent's model",
    maxTokens: typeof about.max_tokens === "number" ? about.max_tokens : null,
    messages,
    tools: Array.isArray(about.tools) ? about.tools.map((t) => textOf(t)) : [],
  };
}

/** How a finished sampling approval was decided; null while it waits. */
export function samplingDecisionOf(step: StepView): SamplingDecision | null {
  if (!isSamplingApproval(step) || step.status === "waiting" || !isObject(step.output)) return null;
  const out = step.output;
  if (out.lost === true) return { kind: "lost", reason: str(out.reason) ?? "The request was lost when the process that held its call ended." };
  if (out.timed_out === true) return { kind: "timed_out" };
  const p = isObject(out.payload) ? out.payload : out;
  if (p.approved === true) return { kind: "approved", by: str(p.by) };
  if (p.approved === false) return { kind: "rejected", reason: str(p.reason), by: str(p.by) };
  return null;
}

/** The call (`tool/N.I`) a `sample/N.I/...` step belongs to. */
export function toolStepOfSample(key: string): string | null {
  const m = /^sample\/([^/]+)\//.exec(key);
  return m ? `tool/${m[1]}` : null;
}

/** A model step answering a server's sampling request: for whom. */
export function samplingModelStepOf(step: StepView): { server: string; tool: string; toolStep: string | null; approval: string } | null {
  if (step.kind !== "model_call" || !step.key.startsWith("sample/")) return null;
  const input = isObject(step.input) ? step.input : {};
  return {
    server: str(input.server) ?? "a server",
    tool: str(input.tool) ?? "a tool",
    toolStep: toolStepOfSample(step.key),
    approval: `${step.key}/approval`,
  };
}

/** The timeline's short label of a sampling approval. */
export function samplingLabel(step: StepView): string | null {
  const r = samplingRequestOf(step);
  return r ? capText(`${r.server} asks ${r.model} for a completion during ${r.tool}`, 160) : null;
}

/** A person must decide this step (it shows a card on the run page). */
export function isOpenSamplingApproval(step: StepView): boolean {
  return isSamplingApproval(step) && step.status === "waiting";
}
