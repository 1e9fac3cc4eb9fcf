// Export a saved agent as a spec file: the text shown (TOML or JSON), to copy or download.
// Showing it also works in the desktop app, whose webview may not save downloads.
import { useEffect, useState } from "react";
import { Copy, Download } from "lucide-react";
import { Modal, ErrorBanner, copyText } from "../components/common";
import { ApiFailure, useTransport } from "../transport";
import type { SpecFileFormat } from "../bindings/SpecFileFormat";
import { download } from "./spec";

export function ExportDialog({ name, onClose }: { name: string; onClose: () => void }) {
  const transport = useTransport();
  const [format, setFormat] = useState<SpecFileFormat>("toml");
  const [text, setText] = useState<string | null>(null);
  const [error, setError] = useState<ApiFailure | null>(null);
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    let live = true;
    setText(null);
    transport
      .call("agents_export", { name, format })
      .then((r) => live && setText(r.text))
      .catch((e) => live && setError(e instanceof ApiFailure ? e : new ApiFailure({ message: String(e) })));
    return () => {
      live = false;
    };
  }, [transport, name, format]);
  return (
    <Modal title={`Export ${name}`} onClose={onClose}>
      <div className="stack">
        <div className="row" role="group" aria-label="Format">
          <span className="muted">Format</span>
          {(["toml", "json"] as const).map((f) => (
            <button key={f} type="button" className="small" aria-pressed={format === f} onClick={() => setFormat(f)} data-testid={`export-format-${f}`}>
              {f.toUpperCase()}
            </button>
          ))}
          <span className="grow" />
          <span className="hint">No secrets are in a spec: keys and webhook secrets are named, never included.</span>
        </div>
        <ErrorBanner error={error} />
        <textarea readOnly rows={18} spellCheck={false} value={text ?? "Loading…"} aria-label={`${name}.${format}`} data-testid="export-text" />
        <div className="row">
          {copied ? (
            <span className="muted" role="status">
              Copied.
            </span>
          ) : null}
          <div className="grow" />
          <button type="button" onClick={onClose}>
            Close
          </button>
          <button
            type="button"
            disabled={text === null}
            onClick={() => {
              if (text === null) return;
              void copyText(text).then(() => setCopied(true));
            }}
          >
            <Copy size={14} aria-hidden /> Copy
          </button>
          <button
            type="button"
            className="primary"
            disabled={text === null}
            onClick={() => text !== null && download(`${name}.${format}`, text, format === "json" ? "application/json" : "application/toml")}
            data-testid="export-download"
          >
            <Download size={14} aria-hidden /> Download {name}.{format}
          </button>
        </div>
      </div>
    </Modal>
  );
}
