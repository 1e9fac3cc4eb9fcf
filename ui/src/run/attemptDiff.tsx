// Two attempts of a retried step side by side as a line diff of what each ended with: the
// error (kind, message, retryable, details) or the output (LF `components/DiffViewer.tsx`).
// Timestamps are left out: they always differ and say nothing about why the attempts did.
import { useMemo, useState } from "react";
import type { AttemptView } from "../bindings/AttemptView";
import type { StepView } from "../bindings/StepView";
import { LineDiff } from "./actions";

/** What an attempt ended with, as the JSON the diff compares. */
export function attemptResult(step: StepView, a: AttemptView): unknown {
  const last = step.attempt_list[step.attempt_list.length - 1];
  switch (a.outcome) {
    case "error":
      return { outcome: "error", error: a.error };
    case "timeout":
      return { outcome: "timeout", after_ms: a.after_ms };
    case "ok":
      // Only the last successful attempt's output is kept; an earlier one was replaced.
      return a.number === last?.number ? { outcome: "ok", output: step.output } : { outcome: "ok", output: "(replaced by a later attempt)" };
    default:
      return { outcome: a.outcome };
  }
}

export function AttemptDiff({ step, current }: { step: StepView; current: number | null }) {
  const list = step.attempt_list;
  const numbers = list.map((a) => a.number);
  const defaultB = current !== null && current !== numbers[0] && numbers.includes(current) ? current : numbers[numbers.length - 1];
  const [b, setB] = useState(defaultB);
  const [a, setA] = useState(numbers[Math.max(0, numbers.indexOf(defaultB) - 1)]);
  const A = list.find((x) => x.number === a);
  const B = list.find((x) => x.number === b);
  const before = useMemo(() => (A ? JSON.stringify(attemptResult(step, A), null, 2) : ""), [step, A]);
  const after = useMemo(() => (B ? JSON.stringify(attemptResult(step, B), null, 2) : ""), [step, B]);
  const pick = (value: number, set: (n: number) => void, testId: string, label: string) => (
    <label className="row inline-check">
      {label}
      <select value={value} onChange={(e) => set(Number(e.target.value))} data-testid={testId}>
        {list.map((x) => (
          <option key={x.number} value={x.number}>
            Attempt {x.number} ({x.outcome})
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <section className="stack attempt-diff" aria-label="Compare two attempts">
      <div className="row wrap">
        {pick(a, setA, "attempt-diff-a", "From")}
        {pick(b, setB, "attempt-diff-b", "to")}
      </div>
      {A && B ? (
        <LineDiff
          before={before}
          after={after}
          testId="attempt-diff"
          same="The two attempts ended the same way."
        />
      ) : null}
    </section>
  );
}
