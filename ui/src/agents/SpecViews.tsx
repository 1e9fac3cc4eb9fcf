// The spec's three views besides each other: the form, the raw JSON (editable) and the TOML
// (read-only, as Export writes it). The form itself is SpecForm.
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import { isObj, toToml, type Obj } from "./spec";

/** The raw JSON view's text while it is open, and why it does not parse if it does not. */
export type RawJson = { text: string; error: string | null };

export function ViewToggle({
  spec,
  raw,
  setRaw,
  tomlView,
  setTomlView,
  toolNames,
}: {
  spec: Obj;
  raw: RawJson | null;
  setRaw: (raw: RawJson | null) => void;
  tomlView: boolean;
  setTomlView: (on: boolean) => void;
  toolNames: string[];
}) {
  return (
    <div className="row view-toggle" role="group" aria-label="View">
      <button
        type="button"
        aria-pressed={raw === null && !tomlView}
        onClick={() => {
          if (raw?.error) return;
          setRaw(null);
          setTomlView(false);
        }}
        disabled={!!raw?.error}
        title={raw?.error ? "Fix the JSON first" : undefined}
      >
        Form
      </button>
      <button
        type="button"
        aria-pressed={raw !== null}
        onClick={() => {
          setTomlView(false);
          if (raw === null) setRaw({ text: JSON.stringify(spec, null, 2), error: null });
        }}
        data-testid="raw-toggle"
      >
        Raw JSON
      </button>
      <button
        type="button"
        aria-pressed={tomlView}
        disabled={!!raw?.error}
        onClick={() => {
          setRaw(null);
          setTomlView(true);
        }}
        data-testid="toml-toggle"
      >
        TOML
      </button>
      <span className="grow" />
      <span className="muted small-text">{toolNames.length ? `${toolNames.length} tool${toolNames.length > 1 ? "s" : ""}` : "no tools"}</span>
    </div>
  );
}

export function TomlView({ spec }: { spec: Obj }) {
  return (
    <label className="raw-editor">
      Spec (TOML, read-only)
      <span className="hint">The spec as a file, as Export writes it. Edit in the form or the Raw JSON view; to load a TOML file, use Import on the Agents page.</span>
      <textarea rows={28} readOnly spellCheck={false} value={toToml(spec)} data-testid="raw-toml" />
    </label>
  );
}

/** The raw JSON editor: text that parses to an object becomes the spec (`onSpec`) as it is typed. */
export function RawJsonEditor({
  raw,
  setRaw,
  onSpec,
  hasErrors,
}: {
  raw: RawJson;
  setRaw: (raw: RawJson) => void;
  onSpec: (spec: Obj) => void;
  hasErrors: boolean;
}) {
  return (
    <label className="raw-editor">
      Spec (JSON, as in docs/agent-spec.md)
      <textarea
        rows={28}
        spellCheck={false}
        value={raw.text}
        aria-invalid={!!raw.error || hasErrors}
        data-testid="raw-json"
        onChange={(e) => {
          const text = e.target.value;
          try {
            const v = JSON.parse(text) as JsonValue;
            if (!isObj(v)) throw new Error("the spec must be a JSON object");
            onSpec(v);
            setRaw({ text, error: null });
          } catch (err) {
            setRaw({ text, error: err instanceof Error ? err.message : String(err) });
          }
        }}
      />
      {raw.error ? <span className="field-error">Not valid JSON: {raw.error}</span> : null}
    </label>
  );
}
