// Attach MCP resources or prompts to a run's input: pick a server, then a resource URI (listed,
// or typed for a template) or a prompt with its arguments. They are read when the run starts.
import { useState } from "react";
import type { RunAttachment } from "../bindings/RunAttachment";
import { useApi } from "../lib/useApi";
import { ErrorBanner } from "../components/common";
import "./tools.css";

export function attachmentLabel(a: RunAttachment): string {
  if (a.uri) return `${a.server}: ${a.uri}`;
  const args = Object.entries(a.arguments)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
  return `${a.server}: prompt ${a.prompt}${args ? ` (${args})` : ""}`;
}

/** The chosen attachments, each removable, and a picker to add one more. */
export function AttachList({ value, onChange }: { value: RunAttachment[]; onChange: (v: RunAttachment[]) => void }) {
  const [picking, setPicking] = useState(false);
  return (
    <fieldset className="stack attach-list" aria-label="Attachments">
      <legend>Attach (optional)</legend>
      <span className="hint">MCP resources or prompts, read when the run starts and appended to the input.</span>
      {value.length ? (
        <ul className="row tools-wrap" style={{ listStyle: "none", margin: 0, padding: 0 }}>
          {value.map((a, i) => (
            <li key={i} className="badge mono">
              {attachmentLabel(a)}{" "}
              <button type="button" className="small" aria-label={`Remove ${attachmentLabel(a)}`} onClick={() => onChange(value.filter((_, j) => j !== i))}>
                ×
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      {picking ? (
        <AttachPicker
          onAdd={(a) => {
            onChange([...value, a]);
            setPicking(false);
          }}
          onCancel={() => setPicking(false)}
        />
      ) : (
        <div className="row">
          <button type="button" className="small" onClick={() => setPicking(true)}>
            Attach a resource or prompt
          </button>
        </div>
      )}
    </fieldset>
  );
}

function AttachPicker({ onAdd, onCancel }: { onAdd: (a: RunAttachment) => void; onCancel: () => void }) {
  const servers = useApi("mcp_list", {});
  const names = servers.data?.servers.map((s) => s.name) ?? [];
  const [server, setServer] = useState("");
  const [kind, setKind] = useState<"resource" | "prompt">("resource");
  const chosen = server || names[0] || "";
  return (
    <div className="stack attach-picker" data-testid="attach-picker">
      <ErrorBanner error={servers.error} title="Could not list the servers" />
      <div className="row tools-wrap">
        <label>
          Server
          <select value={chosen} onChange={(e) => setServer(e.target.value)}>
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <label>
          Kind
          <select value={kind} onChange={(e) => setKind(e.target.value as "resource" | "prompt")}>
            <option value="resource">Resource</option>
            <option value="prompt">Prompt</option>
          </select>
        </label>
      </div>
      {chosen ? (
        kind === "resource" ? (
          <ResourcePick key={chosen} server={chosen} onAdd={onAdd} onCancel={onCancel} />
        ) : (
          <PromptPick key={chosen} server={chosen} onAdd={onAdd} onCancel={onCancel} />
        )
      ) : servers.data ? (
        <p className="muted">No MCP servers yet.</p>
      ) : null}
    </div>
  );
}

function ResourcePick({ server, onAdd, onCancel }: { server: string; onAdd: (a: RunAttachment) => void; onCancel: () => void }) {
  const list = useApi("mcp_resources", { server }, [server]);
  const [uri, setUri] = useState("");
  const listId = `attach-uris-${server}`;
  return (
    <div className="stack">
      <ErrorBanner error={list.error} title="Could not list the resources" />
      <label>
        Resource URI
        <input list={listId} value={uri} onChange={(e) => setUri(e.target.value)} placeholder={list.data?.resources[0]?.uri ?? "scheme://…"} />
        <datalist id={listId}>
          {list.data?.resources.map((r) => (
            <option key={r.uri} value={r.uri}>
              {r.title ?? r.name}
            </option>
          ))}
        </datalist>
        {list.data?.templates.length ? (
          <span className="hint">Templates: {list.data.templates.map((t) => t.uri_template).join(", ")} (fill in the variables)</span>
        ) : null}
      </label>
      <div className="row">
        <button type="button" className="small primary" disabled={!uri.trim() || /\{[^}]*\}/.test(uri)} onClick={() => onAdd({ server, uri: uri.trim(), arguments: {} })}>
          Add resource
        </button>
        <button type="button" className="small" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}

function PromptPick({ server, onAdd, onCancel }: { server: string; onAdd: (a: RunAttachment) => void; onCancel: () => void }) {
  const list = useApi("mcp_prompts", { server }, [server]);
  const prompts = list.data?.prompts ?? [];
  const [name, setName] = useState("");
  const prompt = prompts.find((p) => p.name === (name || prompts[0]?.name)) ?? null;
  const [values, setValues] = useState<Record<string, string>>({});
  const missing = prompt?.arguments.filter((a) => a.required && !(values[a.name] ?? "").trim()).map((a) => a.name) ?? [];
  const add = () => {
    if (!prompt) return;
    const args: Record<string, string> = {};
    for (const a of prompt.arguments) if ((values[a.name] ?? "") !== "") args[a.name] = values[a.name];
    onAdd({ server, prompt: prompt.name, arguments: args });
  };
  return (
    <div className="stack">
      <ErrorBanner error={list.error} title="Could not list the prompts" />
      {list.data && prompts.length === 0 ? <p className="muted">{server} offers no prompts.</p> : null}
      {prompts.length ? (
        <label>
          Prompt
          <select
            value={prompt?.name ?? ""}
            onChange={(e) => {
              setName(e.target.value);
              setValues({});
            }}
          >
            {prompts.map((p) => (
              <option key={p.name} value={p.name}>
                {p.title ? `${p.name} — ${p.title}` : p.name}
              </option>
            ))}
          </select>
        </label>
      ) : null}
      {prompt?.arguments.map((a) => (
        <label key={a.name}>
          <span>
            <span className="mono">{a.name}</span>
            {a.required ? <span className="required"> * required</span> : <span className="hint"> optional</span>}
          </span>
          {a.description ? <span className="hint">{a.description}</span> : null}
          <input value={values[a.name] ?? ""} onChange={(e) => setValues((s) => ({ ...s, [a.name]: e.target.value }))} />
        </label>
      ))}
      <div className="row">
        <button type="button" className="small primary" disabled={!prompt || missing.length > 0} title={missing.length ? `Fill in ${missing.join(", ")}` : undefined} onClick={add}>
          Add prompt
        </button>
        <button type="button" className="small" onClick={onCancel}>
          Cancel
        </button>
        {missing.length ? <span className="hint">Required: {missing.join(", ")}</span> : null}
      </div>
    </div>
  );
}
