// Import an agent from a TOML or JSON spec: pasted or picked from a file. Saved at once (the
// server validates it); errors name the line and field.
import { useState } from "react";
import { Modal, ErrorBanner } from "../components/common";
import { ApiFailure, useTransport } from "../transport";
import type { AgentSummary } from "../bindings/AgentSummary";
import type { SpecFileFormat } from "../bindings/SpecFileFormat";
import { guessFormat } from "./spec";

export function ImportDialog({ onClose, onImported }: { onClose: () => void; onImported: (agent: AgentSummary) => void }) {
  const transport = useTransport();
  const [text, setText] = useState("");
  const [format, setFormat] = useState<SpecFileFormat | "auto">("auto");
  const [error, setError] = useState<ApiFailure | null>(null);
  const [pending, setPending] = useState(false);

  const onFile = async (file: File | undefined) => {
    if (!file) return;
    setText(await file.text());
    if (/\.json$/i.test(file.name)) setFormat("json");
    else if (/\.toml$/i.test(file.name)) setFormat("toml");
  };
  const submit = async () => {
    setPending(true);
    setError(null);
    try {
      const { agent } = await transport.call("agents_import", { text, format: format === "auto" ? guessFormat(text) : format });
      onImported(agent);
    } catch (e) {
      setError(e instanceof ApiFailure ? e : new ApiFailure({ message: String(e) }));
    } finally {
      setPending(false);
    }
  };
  return (
    <Modal title="Import an agent" onClose={onClose}>
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <label>
          Spec
          <span className="hint">Paste a TOML or JSON agent spec (docs/agent-spec.md), or choose a file below. An agent of the same name is replaced by a new version.</span>
          <textarea rows={14} value={text} onChange={(e) => setText(e.target.value)} data-testid="import-text" aria-invalid={!!error} spellCheck={false} />
        </label>
        <div className="row">
          <label className="inline">
            File
            <input type="file" accept=".toml,.json,application/json,application/toml,text/plain" onChange={(e) => void onFile(e.target.files?.[0])} data-testid="import-file" />
          </label>
          <label className="inline">
            Format
            <select value={format} onChange={(e) => setFormat(e.target.value as SpecFileFormat | "auto")}>
              <option value="auto">Detect</option>
              <option value="toml">TOML</option>
              <option value="json">JSON</option>
            </select>
          </label>
        </div>
        <ErrorBanner error={error} title="Not imported" />
        <div className="row">
          <div className="grow" />
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button className="primary" type="submit" disabled={!text.trim() || pending} data-testid="import-submit">
            {pending ? "Importing…" : "Import"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
