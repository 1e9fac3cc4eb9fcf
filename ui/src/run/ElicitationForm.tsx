// The fields of a server's question: one widget per field (text by its format, numbers, a
// checkbox, a select, checkboxes for several choices), the title as the label, the description
// under it (never as a placeholder), required marked, each field's problem inline.
import { useId } from "react";
import type { Drafts, FieldDraft, FormField } from "./elicitForm";

type Props = {
  fields: readonly FormField[];
  drafts: Drafts;
  onChange: (name: string, value: FieldDraft) => void;
  errors: ReadonlyMap<string, string>;
  disabled: boolean;
};

export function ElicitationForm({ fields, drafts, onChange, errors, disabled }: Props) {
  const prefix = useId();
  if (fields.length === 0) return <p className="muted">The server asks for nothing but your answer.</p>;
  return (
    <div className="elicit-fields">
      {fields.map((f, i) => (
        <FieldView key={f.name} id={`${prefix}-${i}`} field={f} draft={drafts[f.name]} error={errors.get(f.name) ?? null} disabled={disabled} onChange={(v) => onChange(f.name, v)} />
      ))}
      {fields.some((f) => f.required) ? (
        <p className="hint elicit-required-note" aria-hidden>
          <span className="required-mark">*</span> required
        </p>
      ) : null}
    </div>
  );
}

const INPUT_TYPE = { email: "email", uri: "url", date: "date", "date-time": "datetime-local" } as const;

function FieldView({
  id,
  field: f,
  draft,
  error,
  disabled,
  onChange,
}: {
  id: string;
  field: FormField;
  draft: FieldDraft | undefined;
  error: string | null;
  disabled: boolean;
  onChange: (v: FieldDraft) => void;
}) {
  const hintId = `${id}-hint`;
  const errId = `${id}-err`;
  const text = typeof draft === "string" ? draft : "";
  const extra = extraHint(f, text);
  const a11y = {
    id,
    disabled,
    "aria-describedby": [f.description || extra ? hintId : null, error ? errId : null].filter(Boolean).join(" ") || undefined,
    "aria-invalid": error ? true : undefined,
    "aria-required": f.required || undefined,
    "data-field": f.name,
  };
  // The star is for the eye; inputs say "required" through aria-required, a group in words.
  const star = f.required ? (
    <span className="required-mark" title="required" aria-hidden>
      {" "}*
    </span>
  ) : null;
  const label = (
    <>
      {f.label}
      {star}
    </>
  );
  const errorLine = error ? (
    <span className="field-error" id={errId} role="alert">
      {error}
    </span>
  ) : null;
  const hint =
    f.description || extra ? (
      <span className="hint" id={hintId}>
        {f.description}
        {f.description && extra ? " · " : ""}
        {extra}
      </span>
    ) : null;

  switch (f.kind) {
    case "boolean":
      return (
        <div className="elicit-field">
          <label className="inline-check row">
            <input type="checkbox" checked={draft === true} onChange={(e) => onChange(e.target.checked)} {...a11y} />
            {label}
          </label>
          {hint}
          {errorLine}
        </div>
      );
    case "multi": {
      const picked = Array.isArray(draft) ? draft : [];
      return (
        <fieldset className="elicit-field elicit-multi" aria-describedby={a11y["aria-describedby"]} aria-invalid={a11y["aria-invalid"]} data-field={f.name} disabled={disabled}>
          <legend>
            {label}
            {f.required ? <span className="sr-only"> (required)</span> : null}
          </legend>
          {f.choices.map((c) => (
            <label key={c.value} className="inline-check row">
              <input
                type="checkbox"
                checked={picked.includes(c.value)}
                onChange={(e) => {
                  // Sent in the schema's order, whatever the order of the clicks.
                  const on = (v: string) => (v === c.value ? e.target.checked : picked.includes(v));
                  onChange(f.choices.map((x) => x.value).filter(on));
                }}
              />
              {c.label}
            </label>
          ))}
          {hint}
          {errorLine}
        </fieldset>
      );
    }
    case "choice":
      return (
        <div className="elicit-field">
          <label htmlFor={id}>{label}</label>
          <select value={text} onChange={(e) => onChange(e.target.value)} {...a11y}>
            {/* Only a field with no answer yet, or one that may stay unanswered, offers "none". */}
            {!f.required || !f.choices.some((c) => c.value === text) ? <option value="">{f.required ? "Choose…" : "(none)"}</option> : null}
            {f.choices.map((c) => (
              <option key={c.value} value={c.value}>
                {c.label}
              </option>
            ))}
          </select>
          {hint}
          {errorLine}
        </div>
      );
    case "number":
      return (
        <div className="elicit-field">
          <label htmlFor={id}>{label}</label>
          <input type="text" inputMode={f.integer ? "numeric" : "decimal"} value={text} onChange={(e) => onChange(e.target.value)} {...a11y} />
          {hint}
          {errorLine}
        </div>
      );
    case "text": {
      const long = f.format === null && (f.maxLength === null || f.maxLength > 120);
      return (
        <div className="elicit-field">
          <label htmlFor={id}>{label}</label>
          {long ? (
            <textarea className="elicit-text" rows={2} value={text} onChange={(e) => onChange(e.target.value)} {...a11y} />
          ) : (
            <input type={f.format ? INPUT_TYPE[f.format] : "text"} value={text} onChange={(e) => onChange(e.target.value)} {...a11y} />
          )}
          {hint}
          {errorLine}
        </div>
      );
    }
  }
}

/** What a field's hint says besides its description: limits, and a text's length so far
 * (shown, not enforced by truncation: a pasted text cut silently would send something the
 * person did not write). */
function extraHint(f: FormField, text: string): string | null {
  switch (f.kind) {
    case "multi": {
      const limits = [f.minItems !== null ? `at least ${f.minItems}` : null, f.maxItems !== null ? `at most ${f.maxItems}` : null].filter(Boolean).join(", ");
      return limits ? `Pick ${limits}.` : "Pick any.";
    }
    case "number": {
      const range = [f.minimum !== null ? `from ${f.minimum}` : null, f.maximum !== null ? `to ${f.maximum}` : null].filter(Boolean).join(" ");
      return `${f.integer ? "A whole number" : "A number"}${range ? ` ${range}` : ""}.`;
    }
    case "text": {
      const count = [...text].length;
      if (f.maxLength !== null) return `${count} / ${f.maxLength} characters`;
      return f.minLength !== null ? `At least ${f.minLength} characters.` : null;
    }
    case "boolean":
    case "choice":
      return null;
  }
}
