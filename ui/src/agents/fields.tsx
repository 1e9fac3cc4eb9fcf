// Form fields bound to a path in the spec: each shows its label, a "drafted" mark while the
// model's value is untouched, and the server's error for that path.
import { useId, type ReactNode } from "react";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import { getIn, pathKey, type Obj, type Path } from "./spec";

export type Editor = {
  spec: Obj;
  set: (path: Path, value: JsonValue | undefined) => void;
  errors: Map<string, string>;
  /** Sections (top-level keys) the model filled and nobody has edited since. */
  drafted: Set<string>;
};

export function DraftMark({ ed, section }: { ed: Editor; section: string }) {
  return ed.drafted.has(section) ? (
    <span className="draft-mark" title="Filled in by the model; check it. The mark goes when you edit the field." data-testid={`drafted-${section}`}>
      drafted
    </span>
  ) : null;
}

export function Field({
  ed,
  path,
  label,
  hint,
  children,
  errorId,
  className,
}: {
  ed: Editor;
  path: Path;
  label: ReactNode;
  hint?: ReactNode;
  children: ReactNode;
  errorId: string;
  className?: string;
}) {
  const key = pathKey(path);
  const error = ed.errors.get(key);
  return (
    <label className={className} data-field={key}>
      <span className="label-line">
        {label} {path.length === 1 ? <DraftMark ed={ed} section={String(path[0])} /> : null}
      </span>
      {hint ? <span className="hint">{hint}</span> : null}
      {children}
      {error ? (
        <span className="field-error" id={errorId} role="alert" data-testid={`error-${key}`}>
          {error}
        </span>
      ) : null}
    </label>
  );
}

export function TextField({
  ed,
  path,
  label,
  hint,
  multiline,
  placeholder,
  rows = 6,
  className,
  testId,
}: {
  ed: Editor;
  path: Path;
  label: ReactNode;
  hint?: ReactNode;
  multiline?: boolean;
  placeholder?: string;
  rows?: number;
  className?: string;
  testId?: string;
}) {
  const errorId = useId();
  const key = pathKey(path);
  const raw = getIn(ed.spec, path);
  const value = typeof raw === "string" ? raw : raw === undefined || raw === null ? "" : String(raw);
  const invalid = ed.errors.has(key);
  const common = {
    value,
    placeholder,
    "aria-invalid": invalid,
    "aria-describedby": invalid ? errorId : undefined,
    "data-testid": testId ?? `field-${key}`,
    spellCheck: false,
  };
  // An emptied optional field is left out of the spec; required ones keep "" so the server names them.
  const required = path.length === 1 || (path[0] === "model" && path[1] === "model");
  const onChange = (v: string) => ed.set(path, v === "" && !required ? undefined : v);
  return (
    <Field ed={ed} path={path} label={label} hint={hint} errorId={errorId} className={className}>
      {multiline ? (
        <textarea {...common} rows={rows} onChange={(e) => onChange(e.target.value)} className="prose" />
      ) : (
        <input {...common} onChange={(e) => onChange(e.target.value)} />
      )}
    </Field>
  );
}

export function NumberField({
  ed,
  path,
  label,
  hint,
  step,
  min,
  placeholder,
}: {
  ed: Editor;
  path: Path;
  label: ReactNode;
  hint?: ReactNode;
  step?: number | "any";
  min?: number;
  placeholder?: string;
}) {
  const errorId = useId();
  const key = pathKey(path);
  const raw = getIn(ed.spec, path);
  const invalid = ed.errors.has(key);
  return (
    <Field ed={ed} path={path} label={label} hint={hint} errorId={errorId} className="num">
      <input
        type="number"
        step={step ?? 1}
        min={min}
        placeholder={placeholder}
        value={typeof raw === "number" ? raw : typeof raw === "string" ? raw : ""}
        aria-invalid={invalid}
        aria-describedby={invalid ? errorId : undefined}
        data-testid={`field-${key}`}
        onChange={(e) => {
          const v = e.target.value;
          ed.set(path, v === "" ? undefined : Number.isFinite(Number(v)) ? Number(v) : v);
        }}
      />
    </Field>
  );
}

export function SelectField({
  ed,
  path,
  label,
  hint,
  options,
  emptyLabel,
  onPick,
}: {
  ed: Editor;
  path: Path;
  label: ReactNode;
  hint?: ReactNode;
  options: { value: string; label: string }[];
  /** When given, an option that leaves the field out. */
  emptyLabel?: string;
  /** Replaces the plain set, for a choice that changes other fields too. */
  onPick?: (value: string) => void;
}) {
  const errorId = useId();
  const key = pathKey(path);
  const raw = getIn(ed.spec, path);
  const invalid = ed.errors.has(key);
  return (
    <Field ed={ed} path={path} label={label} hint={hint} errorId={errorId}>
      <select
        value={typeof raw === "string" ? raw : ""}
        aria-invalid={invalid}
        aria-describedby={invalid ? errorId : undefined}
        data-testid={`field-${key}`}
        onChange={(e) => (onPick ? onPick(e.target.value) : ed.set(path, e.target.value === "" ? undefined : e.target.value))}
      >
        {emptyLabel !== undefined ? <option value="">{emptyLabel}</option> : null}
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </Field>
  );
}

/** A yes/no field the spec leaves out when false (serde's `skip_serializing_if = "is_false"`),
 * so unticking restores the spec as it was. */
export function CheckField({ ed, path, label, hint, testId }: { ed: Editor; path: Path; label: ReactNode; hint?: ReactNode; testId?: string }) {
  const key = pathKey(path);
  const error = ed.errors.get(key);
  return (
    <label className="check" data-field={key}>
      <input type="checkbox" checked={getIn(ed.spec, path) === true} onChange={(e) => ed.set(path, e.target.checked ? true : undefined)} data-testid={testId ?? `field-${key}`} />
      <span>
        {label}
        {hint ? <span className="hint"> {hint}</span> : null}
        {error ? (
          <span className="field-error" role="alert" data-testid={`error-${key}`}>
            {" "}
            {error}
          </span>
        ) : null}
      </span>
    </label>
  );
}
