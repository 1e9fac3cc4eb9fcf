// The form generated from a tool's inputSchema: one widget per field of the common subset, the
// description and type under each field, explicit "not sent" / null / JSON per field, errors inline.
import { useId, useState } from "react";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import { buildValue, draftFromValue, freshDraft, OMIT, pathKey, type Draft, type Errors, type Field } from "./schema";

type Props = {
  root: Field;
  draft: Draft;
  onChange: (d: Draft) => void;
  errors: Errors;
  serverErrors: Errors;
};

export function SchemaForm({ root, draft, onChange, errors, serverErrors }: Props) {
  const prefix = useId();
  if (root.kind !== "object" || draft.k !== "obj") {
    return <FieldView name="arguments" field={root} draft={draft} onChange={onChange} path={[]} required errors={errors} serverErrors={serverErrors} prefix={prefix} />;
  }
  const props = orderFields(root);
  if (props.length === 0) return <p className="muted">This tool takes no arguments.</p>;
  return (
    <div className="sf-fields">
      {props.map(([name, f]) => (
        <FieldView
          key={name}
          name={name}
          field={f}
          draft={draft.fields[name] ?? OMIT}
          onChange={(d) => onChange({ k: "obj", fields: { ...draft.fields, [name]: d } })}
          path={[name]}
          required={root.required?.has(name) ?? false}
          errors={errors}
          serverErrors={serverErrors}
          prefix={prefix}
        />
      ))}
    </div>
  );
}

/** Required fields first, each group in the schema's order. */
function orderFields(f: Field): [string, Field][] {
  const all = f.properties ?? [];
  return [...all.filter(([n]) => f.required?.has(n)), ...all.filter(([n]) => !f.required?.has(n))];
}

type FieldProps = {
  name: string;
  field: Field;
  draft: Draft;
  onChange: (d: Draft) => void;
  path: (string | number)[];
  required: boolean;
  errors: Errors;
  serverErrors: Errors;
  prefix: string;
  onRemove?: () => void;
};

function toJsonDraft(field: Field, draft: Draft): Draft {
  const v = buildValue(field, draft, [], new Map());
  return { k: "json", text: v === undefined ? "" : JSON.stringify(v, null, 2) };
}

function FieldView({ name, field, draft, onChange, path, required, errors, serverErrors, prefix, onRemove }: FieldProps) {
  const [jsonNote, setJsonNote] = useState<string | null>(null);
  const key = pathKey(path);
  const id = `${prefix}-${key.replace(/[^\w-]/g, "_") || "root"}`;
  const hintId = `${id}-hint`;
  const errId = `${id}-err`;
  const error = errors.get(key) ?? null;
  const serverError = serverErrors.get(key) ?? null;
  const invalid = Boolean(error || serverError);
  const describedBy = `${hintId}${invalid ? " " + errId : ""}`;
  const a11y = { id, "aria-describedby": describedBy, "aria-invalid": invalid || undefined, "aria-required": required || undefined };
  const asJson = draft.k === "json" && field.kind !== "json";
  // An empty JSON box sends nothing, like an omitted field.
  const omitted = draft.k === "omit" || (draft.k === "json" && draft.text.trim() === "");

  const toForm = () => {
    if (draft.k !== "json") return;
    if (draft.text.trim() === "") return onChange(OMIT);
    try {
      const next = draftFromValue(field, JSON.parse(draft.text) as JsonValue);
      if (next.k === "json") setJsonNote("this value does not fit the form's widget; it stays JSON");
      else {
        setJsonNote(null);
        onChange(next);
      }
    } catch {
      setJsonNote("fix the JSON first");
    }
  };

  let widget;
  if (draft.k === "null") {
    widget = (
      <div className="row">
        <code className="badge" id={id} tabIndex={-1}>
          null
        </code>
        <button type="button" className="small" onClick={() => onChange(freshDraft(field))}>
          Enter a value
        </button>
      </div>
    );
  } else if (draft.k === "json" || field.kind === "json") {
    const text = draft.k === "json" ? draft.text : "";
    widget = (
      <textarea
        {...a11y}
        className="sf-json"
        rows={Math.min(10, Math.max(2, text.split("\n").length))}
        value={text}
        spellCheck={false}
        onChange={(e) => onChange({ k: "json", text: e.target.value })}
      />
    );
  } else {
    switch (field.kind) {
      case "string":
      case "number":
      case "integer": {
        const text = draft.k === "text" ? draft.text : "";
        const numeric = field.kind !== "string";
        widget = (
          <input
            {...a11y}
            type="text"
            inputMode={numeric ? (field.kind === "integer" ? "numeric" : "decimal") : undefined}
            className={numeric ? "sf-number" : undefined}
            value={text}
            autoComplete="off"
            spellCheck={!numeric}
            onChange={(e) => onChange(numeric && e.target.value === "" ? OMIT : { k: "text", text: e.target.value })}
          />
        );
        break;
      }
      case "boolean":
        widget = (
          <span className="row">
            <input {...a11y} type="checkbox" checked={draft.k === "bool" && draft.value} onChange={(e) => onChange({ k: "bool", value: e.target.checked })} />
            <span className="muted">{draft.k === "bool" ? String(draft.value) : "not sent"}</span>
          </span>
        );
        break;
      case "enum": {
        const values = field.enumValues ?? [];
        widget = (
          <select
            {...a11y}
            value={draft.k === "enum" ? String(draft.index) : ""}
            onChange={(e) => onChange(e.target.value === "" ? OMIT : { k: "enum", index: Number(e.target.value) })}
          >
            <option value="">— not sent —</option>
            {values.map((v, i) => (
              <option key={i} value={String(i)}>
                {typeof v === "string" ? v : JSON.stringify(v)}
              </option>
            ))}
          </select>
        );
        break;
      }
      case "object":
        widget =
          draft.k === "obj" ? (
            <div className="sf-nested" role="group" aria-labelledby={`${id}-label`}>
              {(field.properties ?? []).length === 0 ? <span className="muted">no properties</span> : null}
              {orderFields(field).map(([k, f]) => (
                <FieldView
                  key={k}
                  name={k}
                  field={f}
                  draft={draft.fields[k] ?? OMIT}
                  onChange={(d) => onChange({ k: "obj", fields: { ...draft.fields, [k]: d } })}
                  path={[...path, k]}
                  required={field.required?.has(k) ?? false}
                  errors={errors}
                  serverErrors={serverErrors}
                  prefix={prefix}
                />
              ))}
            </div>
          ) : (
            <button type="button" className="small sf-fill" aria-describedby={describedBy} onClick={() => onChange(freshDraft(field))}>
              Fill in {name}
            </button>
          );
        break;
      case "array":
        widget =
          draft.k === "arr" ? (
            <div className="sf-nested" role="group" aria-labelledby={`${id}-label`}>
              {draft.items.length === 0 ? <span className="muted">empty list</span> : null}
              {draft.items.map((item, i) => (
                <FieldView
                  key={i}
                  name={`${name}[${i}]`}
                  field={field.items!}
                  draft={item}
                  onChange={(d) => onChange({ k: "arr", items: draft.items.map((x, j) => (j === i ? d : x)) })}
                  onRemove={() => onChange({ k: "arr", items: draft.items.filter((_, j) => j !== i) })}
                  path={[...path, i]}
                  required
                  errors={errors}
                  serverErrors={serverErrors}
                  prefix={prefix}
                />
              ))}
              <div>
                <button type="button" className="small" onClick={() => onChange({ k: "arr", items: [...draft.items, freshDraft(field.items!)] })}>
                  + Add item to {name}
                </button>
              </div>
            </div>
          ) : (
            <button type="button" className="small sf-fill" aria-describedby={describedBy} onClick={() => onChange({ k: "arr", items: [] })}>
              Send a list for {name}
            </button>
          );
        break;
    }
  }

  const compound = (field.kind === "object" || field.kind === "array") && (draft.k === "obj" || draft.k === "arr");
  const hint = (
    <div className="sf-hint" id={hintId}>
      {field.description ? <span className="sf-desc">{field.description}</span> : null}
      <span className="sf-type mono">
        {field.typeLabel}
        {required && !onRemove ? " · required" : ""}
        {field.default !== undefined ? ` · default ${JSON.stringify(field.default)}` : ""}
        {field.jsonReason ? ` · JSON (${field.jsonReason})` : ""}
      </span>
    </div>
  );

  return (
    <div className={`sf-field${invalid ? " invalid" : ""}`} data-field={key}>
      <div className="sf-head">
        <label htmlFor={id} id={`${id}-label`} className="sf-label">
          {name}
        </label>
        {required && !onRemove ? (
          <span className="sf-req" title="required">
            *
          </span>
        ) : null}
        {field.title && field.title !== name ? <span className="muted sf-title">{field.title}</span> : null}
        {omitted && !required ? <span className="badge sf-omitted">not sent</span> : null}
        <span className="grow" />
        {field.nullable && draft.k !== "null" ? (
          <button type="button" className="small" onClick={() => onChange({ k: "null" })} aria-label={`Set ${name} to null`}>
            null
          </button>
        ) : null}
        {field.kind !== "json" && draft.k !== "null" ? (
          asJson ? (
            <button type="button" className="small" onClick={toForm} aria-label={`Edit ${name} with the form`}>
              Form
            </button>
          ) : (
            <button type="button" className="small" onClick={() => onChange(toJsonDraft(field, draft))} aria-label={`Edit ${name} as JSON`}>
              JSON
            </button>
          )
        ) : null}
        {!required && !omitted ? (
          <button type="button" className="small" onClick={() => onChange(OMIT)} aria-label={`Do not send ${name}`}>
            Omit
          </button>
        ) : null}
        {onRemove ? (
          <button type="button" className="small" onClick={onRemove} aria-label={`Remove ${name}`}>
            Remove
          </button>
        ) : null}
      </div>
      {compound ? hint : null}
      {widget}
      {compound ? null : hint}
      {jsonNote ? <div className="hint">{jsonNote}</div> : null}
      {invalid ? (
        <div className="field-error" id={errId} role="status">
          {error ?? ""}
          {error && serverError ? " · " : ""}
          {serverError ? `server: ${serverError}` : ""}
        </div>
      ) : null}
    </div>
  );
}
