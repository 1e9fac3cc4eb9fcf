// A server's question during a tool call (MCP elicitation), as the run page reads it off the
// steps: the wait `elicit/N.I/...` keeps the question in `input.about` and the answer in its
// output; the call's rounds are `tool/N.I` and `tool/N.I/round-R`. Everything here came from an
// MCP server or a person: it is read defensively (any shape) and shown as text, capped.
import type { ElicitationAnswer } from "../bindings/ElicitationAnswer";
import type { StepView } from "../bindings/StepView";
import type { JsonValue } from "../bindings/serde_json/JsonValue";

type JsonObject = { [key in string]: JsonValue };

/** What a server asks, as recorded when the question was put to the run. */
export type ElicitationQuestion = {
  server: string;
  tool: string;
  /** The call it belongs to (`tool/N.I`). */
  toolStep: string;
  mode: "form" | "url";
  message: string;
  /** The form's JSON Schema, as sent (any shape: the form module checks it). */
  schema: JsonValue;
  url: string | null;
  elicitationId: string | null;
  /** Asked between two journaled rounds (2026-07-28): a restart keeps it. */
  survivesRestart: boolean;
};

/** How a question ended, from its step's output. */
export type ElicitationOutcome =
  | { kind: "answered"; action: ElicitationAnswer | "unknown"; content: JsonObject | null; by: string | null }
  | { kind: "timed_out" }
  | { kind: "lost"; reason: string };

/** Longest text shown of one server string (a message, a title, a URL). */
export const MAX_TEXT = 4000;

/** `s` cut to `max` characters, saying how much was left out. */
export function capText(s: string, max = MAX_TEXT): string {
  return s.length <= max ? s : `${s.slice(0, max)}… (${(s.length - max).toLocaleString()} more characters)`;
}

export function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(v: JsonValue | undefined): string | null {
  return typeof v === "string" ? v : null;
}

/** The question of an elicitation step; null for other steps or an unreadable input. */
export function questionOf(step: StepView): ElicitationQuestion | null {
  if (step.kind !== "elicitation" || !isObject(step.input)) return null;
  const about = step.input.about;
  if (!isObject(about)) return null;
  return {
    server: str(about.server) ?? "a server",
    tool: str(about.tool) ?? "a tool",
    toolStep: str(about.tool_step) ?? "",
    mode: about.mode === "url" ? "url" : "form",
    message: str(about.message) ?? "",
    schema: about.requested_schema ?? null,
    url: str(about.url),
    elicitationId: str(about.elicitation_id),
    survivesRestart: about.survives_restart === true,
  };
}

/** A question as the server sent it (`elicitation/create` params), asked during a call that
 * is not journaled (a call by hand): it dies with the call. */
export function questionOfParams(params: Record<string, unknown>, server: string, tool: string): ElicitationQuestion {
  const p = params as JsonObject;
  return {
    server,
    tool,
    toolStep: "",
    mode: p.mode === "url" ? "url" : "form",
    message: str(p.message) ?? "",
    schema: p.requestedSchema ?? null,
    url: str(p.url),
    elicitationId: str(p.elicitationId),
    survivesRestart: false,
  };
}

const ACTIONS: readonly ElicitationAnswer[] = ["accept", "decline", "cancel"];

/** How a finished elicitation step ended; null while it waits (or for other steps). */
export function outcomeOf(step: StepView): ElicitationOutcome | null {
  const out = step.output;
  if (step.kind !== "elicitation" || !isObject(out)) return null;
  if (out.lost === true) return { kind: "lost", reason: str(out.reason) ?? "The question was lost when the process that held its call ended." };
  if (out.timed_out === true) return { kind: "timed_out" };
  const payload = isObject(out.payload) ? out.payload : out;
  const action = ACTIONS.find((a) => a === payload.action) ?? "unknown";
  return { kind: "answered", action, content: isObject(payload.content) ? payload.content : null, by: str(payload.by) };
}

/** Where an elicitation key sits in its call: `elicit/N.I/rR.K` (between rounds R and R+1) or
 * `elicit/N.I/aR.A.K` (inside attempt A of round R, older protocol). */
export function elicitKeyParts(key: string): { call: string; between: boolean; round: number } | null {
  const m = /^elicit\/([^/]+)\/([ar])(\d+)\./.exec(key);
  return m ? { call: m[1], between: m[2] === "r", round: Number(m[3]) } : null;
}

/** The key of round `round` of call `tool/N.I`. */
export function roundKey(call: string, round: number): string {
  return round <= 1 ? `tool/${call}` : `tool/${call}/round-${round}`;
}

/** The tool step a question belongs to: the round it was asked in (older protocol) or the round
 * whose `input_required` asked it (2026-07-28). */
export function toolStepOfQuestion(key: string): string | null {
  const p = elicitKeyParts(key);
  return p ? roundKey(p.call, p.round) : null;
}

/** What a tool step's round says: which round it is, whether the server wanted input, the
 * answers it was given. Null for steps that are not an MCP call's round. */
export type ToolRound = {
  round: number;
  /** The output says the server needed input (`input_required`): questions follow. */
  needsInput: boolean;
  /** How many requests the server made in that `input_required`. */
  requests: number;
  /** How many of them ask the agent's model for a completion (sampling), not a person. */
  samplings: number;
  /** A later round's answers, by request id. */
  responses: { id: string; action: string; content: JsonObject | null }[];
};

export function toolRoundOf(step: StepView): ToolRound | null {
  if (step.kind !== "tool_call" || !step.key.startsWith("tool/")) return null;
  const m = /\/round-(\d+)$/.exec(step.key);
  const input = isObject(step.input) ? step.input : {};
  const round = m ? Number(m[1]) : typeof input.round === "number" ? input.round : 1;
  const required = isObject(step.output) ? step.output.input_required : undefined;
  const asked = isObject(required) && isObject(required.requests) ? Object.values(required.requests) : [];
  const requests = asked.length;
  const samplings = asked.filter((r) => isObject(r) && r.method === "sampling/createMessage").length;
  const responses = isObject(input.input_responses)
    ? Object.entries(input.input_responses).map(([id, r]) => ({
        id,
        action: isObject(r) ? (str(r.action) ?? "answered") : "answered",
        content: isObject(r) && isObject(r.content) ? r.content : null,
      }))
    : [];
  if (round === 1 && !isObject(required) && responses.length === 0) return null;
  return { round, needsInput: isObject(required), requests, samplings, responses };
}

/** The elicitation steps that belong to tool step `toolKey` (asked in it or after it). */
export function questionsOfToolStep(toolKey: string, steps: readonly StepView[]): StepView[] {
  return steps.filter((s) => s.kind === "elicitation" && toolStepOfQuestion(s.key) === toolKey);
}

/** The reason of a question lost with its process that belongs to `toolKey`, if any. */
export function lostReasonFor(toolKey: string, steps: readonly StepView[]): string | null {
  for (const s of questionsOfToolStep(toolKey, steps)) {
    const o = outcomeOf(s);
    if (o?.kind === "lost") return o.reason;
  }
  return null;
}

/** The calls (`tool/...`) with a question lost with its process. */
export function lostQuestionCalls(steps: readonly StepView[]): Set<string> {
  const out = new Set<string>();
  for (const s of steps) {
    if (s.kind !== "elicitation" || outcomeOf(s)?.kind !== "lost") continue;
    const call = toolStepOfQuestion(s.key);
    if (call) out.add(call);
  }
  return out;
}

/** A link a server asks the person to open: only http(s), with its host shown on its own
 * (punycode, as the URL parser gives it, so a look-alike name shows as what it is). */
export function safeLink(url: string | null): { href: string; host: string } | null {
  if (!url) return null;
  try {
    const u = new URL(url);
    if (u.protocol !== "https:" && u.protocol !== "http:") return null;
    return { href: u.href, host: u.host };
  } catch {
    return null;
  }
}

/** The timeline's short label of an elicitation step: who asks what. */
export function questionLabel(step: StepView): string | null {
  const q = questionOf(step);
  if (!q) return null;
  const what = q.mode === "url" ? "asks you to open a link" : q.message.replace(/\s+/g, " ").trim();
  return capText(`${q.server}: ${what}`, 160);
}

/** A person must answer this step (it shows a card on the run page). */
export function isOpenQuestion(step: StepView): boolean {
  return step.kind === "elicitation" && step.status === "waiting";
}
