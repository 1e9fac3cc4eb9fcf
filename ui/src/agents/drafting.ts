// Drafting a spec with a model: the model that drafts (remembered across visits), the request
// sent, and the form sections a draft can be asked for again one at a time.
import type { AgentSpec } from "../bindings/AgentSpec";
import type { Obj } from "./spec";

export type DraftModel = { provider: string; model: string; base_url: string };
export type DraftRequest = { description: string; model: Obj };

/** The form's sections and the spec keys each holds: a section can be drafted again alone. */
export const SECTIONS: Record<string, (keyof AgentSpec)[]> = {
  basics: ["name", "description", "instructions"],
  model: ["model"],
  tools: ["tools", "tool_overrides"],
  limits: ["limits"],
  triggers: ["triggers"],
};

export type Redraft = {
  run: (section: string) => void;
  pending: string | null;
  error: { section: string; message: string } | null;
};
export const DRAFT_MODEL_KEY = "waymark.draftModel";

export function loadDraftModel(): DraftModel {
  try {
    const v = JSON.parse(localStorage.getItem(DRAFT_MODEL_KEY) ?? "null") as Partial<DraftModel> | null;
    if (v && typeof v.provider === "string") return { provider: v.provider, model: v.model ?? "", base_url: v.base_url ?? "" };
  } catch {
    /* a damaged value: use the default */
  }
  return { provider: "openai", model: "gpt-4o-mini", base_url: "" };
}
