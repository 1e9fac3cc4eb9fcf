// The model providers an agent (or the drafting model) can name: one entry per generated
// ProviderKind, so a provider added on the Rust side fails the type check until it is listed.
import type { ProviderKind } from "../bindings/ProviderKind";

const LABELS: Record<ProviderKind, string> = {
  openai: "OpenAI-compatible (OpenAI, Ollama, vLLM, LM Studio…)",
  anthropic: "Anthropic",
  scripted: "Scripted (replays a file of turns)",
};

export const PROVIDERS: { value: ProviderKind; label: string }[] = (Object.keys(LABELS) as ProviderKind[]).map((value) => ({ value, label: LABELS[value] }));
