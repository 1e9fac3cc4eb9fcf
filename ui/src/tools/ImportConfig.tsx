// Importing a Claude Desktop / Cursor (`mcpServers`) or VS Code (`servers`) config: the API's dry
// run (`save: false`) lists each server's exact command line or URL (secrets masked) and each
// `${env:NAME}` it would send, by name and destination; the user
// ticks the ones to import; only those are saved (the config is narrowed to them here).
import { useState, type ChangeEvent } from "react";
import type { McpEnvUse } from "../bindings/McpEnvUse";
import type { McpImportResponse } from "../bindings/McpImportResponse";
import { ApiFailure, useTransport } from "../transport";
import { ErrorBanner } from "../components/common";

/** JSON with comments and trailing commas (VS Code's mcp.json) → plain JSON text. */
export function stripJsonc(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 2;
    } else {
      out += c;
      i++;
    }
  }
  return out.replace(/,(\s*[}\]])/g, "$1");
}

/** The config narrowed to the chosen servers (other top-level keys, e.g. VS Code `inputs`, kept). */
export function narrowConfig(text: string, chosen: string[]): string {
  const config = JSON.parse(stripJsonc(text)) as Record<string, unknown>;
  for (const key of ["mcpServers", "servers"]) {
    const group = config[key];
    if (group && typeof group === "object" && !Array.isArray(group)) {
      config[key] = Object.fromEntries(Object.entries(group as Record<string, unknown>).filter(([name]) => chosen.includes(name)));
    }
  }
  return JSON.stringify(config, null, 2);
}

/** What an environment variable's field means for where its value goes. */
function fieldLabel(field: string): string {
  if (field.startsWith("headers.")) return `header ${field.slice(8)}`;
  if (field.startsWith("env.")) return `environment variable ${field.slice(4)}`;
  if (field.startsWith("args[")) return `argument ${field.slice(4)}`;
  return field;
}

/** Each `${env:NAME}` of one server, by name and where its value would be sent: the value is
 * read from Waymark's environment each time the server connects, never stored. */
function EnvUses({ uses }: { uses: McpEnvUse[] }) {
  if (uses.length === 0) return null;
  return (
    <div className="banner warn env-uses" data-testid="import-env-uses">
      <div>Sends values from Waymark's environment (read when it connects, never stored):</div>
      <ul>
        {uses.map((u, i) => (
          <li key={i}>
            <code>{u.variable}</code> as {fieldLabel(u.field)} to <code>{u.destination}</code>
            {u.is_set ? null : <span className="field-error"> (not set now: connecting fails until it is)</span>}
          </li>
        ))}
      </ul>
    </div>
  );
}

type Preview = { text: string; fileName?: string; response: McpImportResponse; entries: { name: string; line: string }[] };

function splitDescribe(line: string): { name: string; line: string } {
  const at = line.indexOf(": ");
  return at < 0 ? { name: line, line } : { name: line.slice(0, at), line: line.slice(at + 2) };
}

export function ImportConfig({ existing, onImported, onCancel }: { existing: string[]; onImported: (names: string[]) => void; onCancel: () => void }) {
  const transport = useTransport();
  const [text, setText] = useState("");
  const [fileName, setFileName] = useState<string | undefined>(undefined);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<ApiFailure | Error | null>(null);

  const onFile = async (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    if (!file) return;
    setText(await file.text());
    setFileName(file.name);
    setPreview(null);
  };

  const doPreview = async () => {
    setError(null);
    setPending(true);
    try {
      const response = await transport.call("mcp_import", { text, file_name: fileName, save: false });
      const entries = response.servers.map(splitDescribe);
      setPreview({ text, fileName, response, entries });
      setChosen(new Set(entries.map((e) => e.name)));
    } catch (e) {
      setError(e instanceof ApiFailure ? e : new Error(String(e)));
    } finally {
      setPending(false);
    }
  };

  const doImport = async () => {
    if (!preview) return;
    setError(null);
    const names = preview.entries.map((e) => e.name).filter((n) => chosen.has(n));
    let narrowed = preview.text;
    if (names.length !== preview.entries.length) {
      try {
        narrowed = narrowConfig(preview.text, names);
      } catch (e) {
        setError(new Error(`This config cannot be narrowed to some of its servers here (${(e as Error).message}); tick all of them or edit the text.`));
        return;
      }
    }
    setPending(true);
    try {
      const response = await transport.call("mcp_import", { text: narrowed, file_name: preview.fileName, save: true });
      onImported(response.servers.map((l) => splitDescribe(l).name));
    } catch (e) {
      setError(e instanceof ApiFailure ? e : new Error(String(e)));
    } finally {
      setPending(false);
    }
  };

  const count = preview ? preview.entries.filter((e) => chosen.has(e.name)).length : 0;
  return (
    <div className="stack import-config">
      {!preview ? (
        <>
          <label>
            Config
            <textarea
              rows={10}
              value={text}
              spellCheck={false}
              onChange={(e) => {
                setText(e.target.value);
                setFileName(undefined);
              }}
              placeholder={'{\n  "mcpServers": {\n    "memory": { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"] }\n  }\n}'}
            />
            <span className="hint">
              Paste a Claude Desktop or Cursor config (<code>mcpServers</code>) or a VS Code <code>.vscode/mcp.json</code> (<code>servers</code>). Nothing is saved until you confirm.
            </span>
          </label>
          <label>
            Or choose a file
            <input type="file" accept=".json,application/json" onChange={(e) => void onFile(e)} />
            {fileName ? <span className="hint">Loaded {fileName}</span> : null}
          </label>
          <ErrorBanner error={error} title="Cannot read this config" />
          <div className="row">
            <button type="button" className="primary" disabled={pending || !text.trim()} onClick={() => void doPreview()}>
              {pending ? "Reading…" : "Review servers"}
            </button>
            <button type="button" onClick={onCancel}>
              Cancel
            </button>
          </div>
        </>
      ) : (
        <>
          <p>
            {preview.entries.length === 0
              ? "This config lists no servers."
              : "Each server below runs this command (or connects to this URL) when used. Tick the ones you trust; only they are saved."}
          </p>
          <fieldset className="import-consent">
            <legend>Servers in {preview.fileName ?? "the config"}</legend>
            {preview.entries.map((e) => (
              <label key={e.name} className="consent-row">
                <input
                  type="checkbox"
                  checked={chosen.has(e.name)}
                  onChange={(ev) => {
                    const next = new Set(chosen);
                    if (ev.target.checked) next.add(e.name);
                    else next.delete(e.name);
                    setChosen(next);
                  }}
                  aria-label={`Import ${e.name}`}
                />
                <span className="stack consent-body">
                  <strong>{e.name}</strong>
                  <code className="tools-cmd" data-testid="import-command">
                    {e.line}
                  </code>
                  <EnvUses uses={preview.response.env_uses.filter((u) => u.server === e.name)} />
                  {existing.includes(e.name) ? <span className="field-error">Replaces the server of this name you already have.</span> : null}
                </span>
              </label>
            ))}
          </fieldset>
          {preview.response.notes.length ? (
            <div className="banner info">
              {preview.response.notes.map((n, i) => (
                <div key={i}>{n}</div>
              ))}
            </div>
          ) : null}
          {preview.response.unresolved_inputs.length ? (
            <div className="banner warn">
              These inputs have no value and are left empty: {preview.response.unresolved_inputs.join(", ")}. Set them on the server afterwards.
            </div>
          ) : null}
          <ErrorBanner error={error} title="Import failed" />
          <div className="row">
            <button type="button" className="primary" disabled={pending || count === 0} onClick={() => void doImport()}>
              {pending ? "Importing…" : `Import ${count} server${count === 1 ? "" : "s"}`}
            </button>
            <button type="button" onClick={() => setPreview(null)}>
              Back
            </button>
            <button type="button" onClick={onCancel}>
              Cancel
            </button>
          </div>
        </>
      )}
    </div>
  );
}
