// A server's resources (read one: text, pretty JSON, images, binary as size and type; templates
// filled in and read) and prompts (a form per prompt from its arguments, Get shows the messages).
import { useState } from "react";
import type { McpResourceContent } from "../bindings/McpResourceContent";
import type { McpResourceTemplate } from "../bindings/McpResourceTemplate";
import type { McpPrompt } from "../bindings/McpPrompt";
import type { McpGetPromptResponse } from "../bindings/McpGetPromptResponse";
import type { McpReadResourceResponse } from "../bindings/McpReadResourceResponse";
import { useApi } from "../lib/useApi";
import { ApiFailure, useTransport } from "../transport";
import { EmptyState, ErrorBanner } from "../components/common";
import { JsonView } from "../components/JsonView";

/** The variables of an RFC 6570 URI template, in order, without operators or modifiers. */
export function templateVars(template: string): string[] {
  const out: string[] = [];
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    for (const part of m[1].replace(/^[+#./;?&]/, "").split(",")) {
      const name = part.replace(/[*]$|:\d+$/, "").trim();
      if (name && !out.includes(name)) out.push(name);
    }
  }
  return out;
}

/** Fills a URI template: simple expansion (encoded), `+`/`#` reserved (kept), `?`/`&` as a query. */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{([^}]*)\}/g, (_, expr: string) => {
    const op = /^[+#./;?&]/.test(expr) ? expr[0] : "";
    const names = (op ? expr.slice(1) : expr).split(",").map((p) => p.replace(/[*]$|:\d+$/, "").trim());
    const enc = (v: string) => (op === "+" || op === "#" ? encodeURI(v) : encodeURIComponent(v));
    const set = names.filter((n) => (values[n] ?? "") !== "");
    if (op === "?" || op === "&") {
      return set.length ? op + set.map((n) => `${n}=${enc(values[n])}`).join("&") : "";
    }
    const joined = set.map((n) => enc(values[n])).join(",");
    if (!joined) return "";
    return (op === "+" ? "" : op) + joined;
  });
}

function toFailure(e: unknown): ApiFailure {
  return e instanceof ApiFailure ? e : new ApiFailure({ message: String(e) });
}

function base64Bytes(b64: string): number {
  const clean = b64.replace(/\s/g, "");
  const pad = clean.endsWith("==") ? 2 : clean.endsWith("=") ? 1 : 0;
  return Math.max(0, Math.floor((clean.length * 3) / 4) - pad);
}

function isJson(mime: string | undefined) {
  const base = mime?.split(";")[0].trim().toLowerCase();
  return base === "application/json" || !!base?.endsWith("+json");
}

/** One part of a read resource, shown by its kind. */
function ContentView({ content }: { content: McpResourceContent }) {
  const mime = content.mime_type;
  let body;
  if (content.text !== undefined) {
    let pretty: string | null = null;
    if (isJson(mime) || /^\s*[[{]/.test(content.text)) {
      try {
        pretty = JSON.stringify(JSON.parse(content.text), null, 2);
      } catch {
        pretty = null;
      }
    }
    body = <pre className="json-raw resource-text">{pretty ?? content.text}</pre>;
  } else if (content.blob !== undefined) {
    const bytes = base64Bytes(content.blob);
    body =
      mime && mime.startsWith("image/") ? (
        <figure className="resource-image">
          <img src={`data:${mime};base64,${content.blob}`} alt={content.uri} />
          <figcaption className="hint">
            {bytes} bytes, {mime}
          </figcaption>
        </figure>
      ) : (
        <span className="badge mono" data-testid="resource-binary">
          {bytes} bytes, {mime ?? "unknown type"}
        </span>
      );
  } else {
    body = <em className="muted">No contents.</em>;
  }
  return (
    <div className="stack resource-content">
      <div className="row tools-wrap">
        <code className="grow">{content.uri}</code>
        {mime ? <span className="badge mono">{mime}</span> : null}
      </div>
      {body}
    </div>
  );
}

function ReadResult({ uri, result, error, pending }: { uri: string; result: McpReadResourceResponse | null; error: ApiFailure | null; pending: boolean }) {
  return (
    <section className="stack" aria-label="Contents">
      <h3 className="mono" style={{ margin: 0, wordBreak: "break-all" }}>
        {uri}
      </h3>
      {pending ? <p className="muted">Reading…</p> : null}
      <ErrorBanner error={error} title="Could not read the resource" />
      {result && !pending ? (
        result.contents.length ? (
          result.contents.map((c, i) => <ContentView key={i} content={c} />)
        ) : (
          <EmptyState>The server returned no contents.</EmptyState>
        )
      ) : null}
    </section>
  );
}

export function ResourcesView({ server }: { server: string }) {
  const transport = useTransport();
  const list = useApi("mcp_resources", { server }, [server]);
  const [reading, setReading] = useState<{ uri: string; result: McpReadResourceResponse | null; error: ApiFailure | null; pending: boolean } | null>(null);

  const read = async (uri: string) => {
    setReading({ uri, result: null, error: null, pending: true });
    try {
      const result = await transport.call("mcp_read_resource", { server, uri });
      setReading((r) => (r?.uri === uri ? { uri, result, error: null, pending: false } : r));
    } catch (e) {
      setReading((r) => (r?.uri === uri ? { uri, result: null, error: toFailure(e), pending: false } : r));
    }
  };

  const resources = list.data?.resources ?? [];
  const templates = list.data?.templates ?? [];
  return (
    <div className="tools-split">
      <section className="tool-list" aria-label={`Resources of ${server}`}>
        <h3>Resources{list.data ? ` (${resources.length})` : ""}</h3>
        {list.loading && !list.data ? <p className="muted">Listing the resources…</p> : null}
        <ErrorBanner error={list.error} title="Could not list the resources" />
        {list.data && resources.length === 0 && templates.length === 0 ? <EmptyState>This server offers no resources.</EmptyState> : null}
        <ul className="tool-items" role="list">
          {resources.map((r) => (
            <li key={r.uri}>
              <button
                type="button"
                className={`tool-item resource-item${reading?.uri === r.uri ? " selected" : ""}`}
                onClick={() => void read(r.uri)}
                title={`Read ${r.uri}`}
              >
                <span className="row">
                  <span className="mono tool-name grow">{r.uri}</span>
                  {r.mime_type ? <span className="badge mono">{r.mime_type}</span> : null}
                </span>
                <span className="tool-title">
                  {r.title ?? r.name}
                  {r.size != null ? ` · ${r.size} bytes` : ""}
                </span>
                {r.description ? <span className="tool-desc">{r.description}</span> : null}
              </button>
            </li>
          ))}
        </ul>
        {templates.length ? (
          <>
            <h3>Templates ({templates.length})</h3>
            <ul className="tool-items" role="list">
              {templates.map((t) => (
                <li key={t.uri_template}>
                  <TemplateForm template={t} onRead={(uri) => void read(uri)} />
                </li>
              ))}
            </ul>
          </>
        ) : null}
      </section>
      <section className="tool-detail" aria-label="Resource">
        {reading ? <ReadResult {...reading} /> : resources.length || templates.length ? <EmptyState>Pick a resource to read it.</EmptyState> : null}
      </section>
    </div>
  );
}

function TemplateForm({ template, onRead }: { template: McpResourceTemplate; onRead: (uri: string) => void }) {
  const vars = templateVars(template.uri_template);
  const [values, setValues] = useState<Record<string, string>>({});
  const missing = vars.filter((v) => !(values[v] ?? "").trim());
  const uri = fillTemplate(template.uri_template, values);
  return (
    <form
      className="tool-item stack template-form"
      aria-label={`Template ${template.uri_template}`}
      onSubmit={(e) => {
        e.preventDefault();
        if (!missing.length) onRead(uri);
      }}
    >
      <span className="row">
        <span className="mono tool-name grow">{template.uri_template}</span>
        {template.mime_type ? <span className="badge mono">{template.mime_type}</span> : null}
      </span>
      <span className="tool-title">{template.title ?? template.name}</span>
      {template.description ? <span className="tool-desc">{template.description}</span> : null}
      {vars.map((v) => (
        <label key={v}>
          <span className="mono">{v}</span>
          <input value={values[v] ?? ""} onChange={(e) => setValues((s) => ({ ...s, [v]: e.target.value }))} />
        </label>
      ))}
      <code className="hint" data-testid="template-uri">
        {uri}
      </code>
      <div className="row">
        <button type="submit" className="small" disabled={missing.length > 0} title={missing.length ? `Fill in ${missing.join(", ")}` : `Read ${uri}`}>
          Read
        </button>
      </div>
    </form>
  );
}

export function PromptsView({ server }: { server: string }) {
  const list = useApi("mcp_prompts", { server }, [server]);
  const [selected, setSelected] = useState<string | null>(null);
  const prompts = list.data?.prompts ?? [];
  const current = prompts.find((p) => p.name === selected) ?? null;
  return (
    <div className="tools-split">
      <section className="tool-list" aria-label={`Prompts of ${server}`}>
        <h3>Prompts{list.data ? ` (${prompts.length})` : ""}</h3>
        {list.loading && !list.data ? <p className="muted">Listing the prompts…</p> : null}
        <ErrorBanner error={list.error} title="Could not list the prompts" />
        {list.data && prompts.length === 0 ? <EmptyState>This server offers no prompts.</EmptyState> : null}
        <ul className="tool-items" role="list">
          {prompts.map((p) => (
            <li key={p.name}>
              <button type="button" className={`tool-item resource-item${p.name === selected ? " selected" : ""}`} onClick={() => setSelected(p.name)}>
                <span className="mono tool-name">{p.name}</span>
                {p.title ? <span className="tool-title">{p.title}</span> : null}
                {p.description ? <span className="tool-desc">{p.description}</span> : null}
                <span className="row tools-wrap">
                  {p.arguments.map((a) => (
                    <span key={a.name} className="badge mono" title={a.description}>
                      {a.name}
                      {a.required ? " *" : ""}
                    </span>
                  ))}
                </span>
              </button>
            </li>
          ))}
        </ul>
      </section>
      <section className="tool-detail" aria-label="Prompt">
        {current ? <PromptForm key={current.name} server={server} prompt={current} /> : prompts.length ? <EmptyState>Pick a prompt to fill in its arguments.</EmptyState> : null}
      </section>
    </div>
  );
}

function PromptForm({ server, prompt }: { server: string; prompt: McpPrompt }) {
  const transport = useTransport();
  const [values, setValues] = useState<Record<string, string>>({});
  const [result, setResult] = useState<McpGetPromptResponse | null>(null);
  const [error, setError] = useState<ApiFailure | null>(null);
  const [missing, setMissing] = useState<string[]>([]);
  const [pending, setPending] = useState(false);

  const get = async () => {
    const lacking = prompt.arguments.filter((a) => a.required && !(values[a.name] ?? "").trim()).map((a) => a.name);
    setMissing(lacking);
    setResult(null);
    setError(null);
    if (lacking.length) return;
    // Empty optional arguments are left out, so the server's default applies.
    const args: Record<string, string> = {};
    for (const a of prompt.arguments) if ((values[a.name] ?? "") !== "") args[a.name] = values[a.name];
    setPending(true);
    try {
      setResult(await transport.call("mcp_get_prompt", { server, prompt: prompt.name, arguments: args }));
    } catch (e) {
      setError(toFailure(e));
    } finally {
      setPending(false);
    }
  };

  return (
    <div className="stack">
      <div>
        <h2 className="mono" style={{ margin: "0 0 4px" }}>
          {prompt.name}
        </h2>
        {prompt.title ? <div className="tool-title">{prompt.title}</div> : null}
      </div>
      {prompt.description ? <p className="tool-desc-full">{prompt.description}</p> : null}
      <form
        className="stack"
        aria-label="Arguments"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void get();
        }}
      >
        {prompt.arguments.length === 0 ? <p className="muted">This prompt takes no arguments.</p> : null}
        {prompt.arguments.map((a) => (
          <label key={a.name}>
            <span>
              <span className="mono">{a.name}</span>
              {a.required ? (
                <span className="required" title="required">
                  {" "}
                  * required
                </span>
              ) : (
                <span className="hint"> optional</span>
              )}
            </span>
            {a.description || a.title ? <span className="hint">{a.description ?? a.title}</span> : null}
            <input
              value={values[a.name] ?? ""}
              aria-invalid={missing.includes(a.name) || undefined}
              aria-required={a.required}
              onChange={(e) => {
                setValues((s) => ({ ...s, [a.name]: e.target.value }));
                setMissing((m) => m.filter((x) => x !== a.name));
              }}
            />
          </label>
        ))}
        {missing.length ? (
          <div className="banner error" role="alert">
            <strong>Missing required argument{missing.length > 1 ? "s" : ""}: </strong>
            {missing.join(", ")}. Fill {missing.length > 1 ? "them" : "it"} in to get the prompt.
          </div>
        ) : null}
        <div className="row">
          <button type="submit" className="primary small" disabled={pending}>
            {pending ? "Getting…" : `Get ${prompt.name}`}
          </button>
        </div>
      </form>
      <ErrorBanner error={error} title="Could not get the prompt" />
      {result ? (
        <section className="stack" aria-label="Messages">
          <h3 style={{ margin: 0 }}>Messages ({result.messages.length})</h3>
          {result.description ? <p className="hint">{result.description}</p> : null}
          {result.messages.map((m, i) => (
            <div key={i} className="prompt-message">
              <span className="badge">{m.role}</span>
              <MessageContent content={m.content} />
            </div>
          ))}
        </section>
      ) : null}
    </div>
  );
}

function MessageContent({ content }: { content: unknown }) {
  const c = content as { type?: string; text?: string; data?: string; mimeType?: string; resource?: McpResourceContent & { mimeType?: string } } | null;
  if (c && c.type === "text" && typeof c.text === "string") return <pre className="json-raw resource-text">{c.text}</pre>;
  if (c && c.type === "image" && typeof c.data === "string" && c.mimeType) {
    return <img className="resource-image" src={`data:${c.mimeType};base64,${c.data}`} alt="prompt image" />;
  }
  if (c && c.type === "resource" && c.resource) {
    const r = c.resource;
    return <ContentView content={{ uri: r.uri, mime_type: r.mime_type ?? r.mimeType, text: r.text, blob: r.blob }} />;
  }
  return <JsonView value={content} label="content" defaultDepth={2} />;
}
