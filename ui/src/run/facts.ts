// What the run page reads off a step view: all typed fields of the API (its role, usage, limits),
// no key prefixes or payload digging.
import type { RunStatus } from "../bindings/RunStatus";
import type { StepView } from "../bindings/StepView";

const TERMINAL: readonly RunStatus[] = ["succeeded", "failed", "cancelled"];

export function isTerminal(status: RunStatus): boolean {
  return TERMINAL.includes(status);
}

type Usage = { input: number; output: number; cost: number | null };

export function usageOf(step: StepView): Usage | null {
  const u = step.usage;
  return u ? { input: u.input_tokens, output: u.output_tokens, cost: u.cost_usd ?? null } : null;
}

export function totals(steps: readonly StepView[]): { tokens: number; cost: number | null; hasUsage: boolean } {
  let tokens = 0;
  let cost: number | null = null;
  let hasUsage = false;
  for (const s of steps) {
    const u = usageOf(s);
    if (!u) continue;
    hasUsage = true;
    tokens += u.input + u.output;
    if (u.cost !== null) cost = (cost ?? 0) + u.cost;
  }
  return { tokens, cost, hasUsage };
}

/** Steps that wait rather than work: their bars are patterned, their rows may carry actions. */
export function isWait(step: StepView): boolean {
  switch (step.kind) {
    case "approval":
    case "question":
    case "elicitation":
    case "timer":
    case "event_wait":
      return true;
    case "model_call":
    case "tool_call":
    case "child_run":
    case "task":
      return false;
  }
}
