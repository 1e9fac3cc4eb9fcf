// The save flow: a new name saves straight away; saving over an agent that is already saved (this
// one, or another of the same name) goes through a review of the changes first. A failed save's
// field errors go to the form, and the first field at fault is brought into view.
import { useState } from "react";
import { ApiFailure, useTransport } from "../transport";
import { asDraft, fieldErrors, pretty, type Obj } from "./spec";
import { asFailure } from "./failure";
import { focusField } from "./focusField";
import type { Review } from "./ReviewDialog";
import type { RawJson } from "./SpecViews";

export function useSaveFlow({
  name,
  spec,
  specName,
  savedSpec,
  agentNames,
  raw,
  setErrors,
  onSaved,
}: {
  /** The saved agent open in the builder; null for a new one. */
  name: string | null;
  spec: Obj;
  specName: string;
  /** The spec of `name` as saved. */
  savedSpec: Obj | null;
  agentNames: string[];
  /** The raw JSON view, when it is open. */
  raw: RawJson | null;
  setErrors: (errors: Map<string, string>) => void;
  /** Called once saved, with the spec saved and the agent's name. */
  onSaved: (spec: Obj, agentName: string) => void;
}) {
  const transport = useTransport();
  const [saveError, setSaveError] = useState<ApiFailure | null>(null);
  const [saveFieldsFailed, setSaveFieldsFailed] = useState(false);
  const [review, setReview] = useState<Review | null>(null);
  const [saving, setSaving] = useState(false);

  const save = async () => {
    setSaving(true);
    setSaveError(null);
    try {
      const { agent } = await transport.call("agents_save", { spec });
      setReview(null);
      setErrors(new Map());
      onSaved(spec, agent.name);
    } catch (e) {
      const f = asFailure(e);
      setReview(null);
      setSaveError(f);
      const errs = fieldErrors(f.message, f.field);
      setErrors(errs);
      setSaveFieldsFailed(errs.size > 0 && raw === null);
      if (raw === null) {
        // Bring the first field at fault into view.
        requestAnimationFrame(() => {
          const first = [...errs.keys()][0];
          if (first) focusField(first);
        });
      }
    } finally {
      setSaving(false);
    }
  };

  const onSave = async () => {
    if (raw?.error) return;
    setSaveError(null);
    setSaveFieldsFailed(false);
    // Saving over an agent that exists (this one, or another of the same name) goes through a review.
    let before: Obj | null = null;
    if (savedSpec && specName === name) before = savedSpec;
    else if (agentNames.includes(specName)) {
      try {
        const other = await transport.call("agents_get", { name: specName });
        before = asDraft(other.spec);
      } catch (e) {
        setSaveError(asFailure(e));
        return;
      }
    }
    if (before) setReview({ before: pretty(before), after: pretty(spec), replacing: specName !== name });
    else await save();
  };

  return {
    saving,
    saveError,
    /** The last save failed at fields of the form (not in the raw JSON view). */
    saveFieldsFailed,
    /** The review open before saving, if any. */
    review,
    closeReview: () => setReview(null),
    clearSaveError: () => setSaveError(null),
    /** Saves now (the review's Save). */
    save,
    /** Saves, through the review when an agent of that name is already saved. */
    onSave,
  };
}
