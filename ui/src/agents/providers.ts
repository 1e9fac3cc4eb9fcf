// The model providers an agent (or the drafting model) can name.
export const PROVIDERS = [
  { value: "openai", label: "OpenAI-compatible (OpenAI, Ollama, vLLM, LM Studio…)" },
  { value: "anthropic", label: "Anthropic" },
  { value: "scripted", label: "Scripted (replays a file of turns)" },
];
