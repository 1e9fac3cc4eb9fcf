// A step's role as an icon (colour is for status only). One entry per generated StepKind, so a
// new kind fails the type check until it has an icon.
import type { ReactElement } from "react";
import { Bell, Box, ClipboardList, MessageCircleQuestion, ShieldCheck, Sparkles, Timer, Workflow, Wrench } from "lucide-react";
import type { StepKind } from "../bindings/StepKind";
import type { StepView } from "../bindings/StepView";

const props = { size: 14, "aria-hidden": true } as const;

const KINDS: Record<StepKind, { icon: ReactElement; label: string }> = {
  model_call: { icon: <Sparkles {...props} />, label: "model call" },
  tool_call: { icon: <Wrench {...props} />, label: "tool call" },
  approval: { icon: <ShieldCheck {...props} />, label: "approval" },
  question: { icon: <MessageCircleQuestion {...props} />, label: "question to a person" },
  elicitation: { icon: <ClipboardList {...props} />, label: "server's question to a person" },
  timer: { icon: <Timer {...props} />, label: "timer" },
  event_wait: { icon: <Bell {...props} />, label: "event wait" },
  child_run: { icon: <Workflow {...props} />, label: "child run" },
  task: { icon: <Box {...props} />, label: "task" },
};

export function kindLabel(kind: StepKind): string {
  return KINDS[kind].label;
}

export function KindIcon({ step }: { step: StepView }) {
  const { icon, label } = KINDS[step.kind];
  return (
    <span className="kind-icon" title={label}>
      {icon}
      <span className="sr-only">{label}</span>
    </span>
  );
}
