// Adding an MCP server: a local command (stdio: command, arguments, environment) or an HTTP URL
// (with headers). Environment and header values go to the secret store and are never shown again.
import { useState, type FormEvent, type ReactNode } from "react";
import { Plus, X } from "lucide-react";
import type { McpAddRequest } from "../bindings/McpAddRequest";
import { ApiFailure, useTransport } from "../transport";
import { ErrorBanner } from "../components/common";

type Pair = { name: string; value: string };

type Errors = Partial<Record<string, string>>;

function validate(kind: "stdio" | "http", name: string, command: string, url: string, pairs: Pair[], taken: string[]): Errors {
  const e: Errors = {};
  if (!name.trim()) e.name = "give the server a name";
  else if (/[/\s]/.test(name.trim())) e.name = "no spaces or slashes in the name";
  else if (taken.includes(name.trim())) e.name = `a server named "${name.trim()}" exists (remove it first, or pick another name)`;
  if (kind === "stdio" && !command.trim()) e.command = "the command that starts the server, e.g. npx or node";
  if (kind === "http") {
    if (!url.trim()) e.url = "the server's URL, e.g. http://127.0.0.1:3001/mcp";
    else if (!/^https?:\/\/\S+$/.test(url.trim())) e.url = "the URL must start with http:// or https://";
  }
  const seen = new Set<string>();
  pairs.forEach((p, i) => {
    const n = p.name.trim();
    if (!n && !p.value) return;
    if (!n) e[`pair.${i}`] = "a value needs a name";
    else if (seen.has(n)) e[`pair.${i}`] = `"${n}" appears twice`;
    else if (kind === "stdio" && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(n)) e[`pair.${i}`] = "letters, digits and _ only, not starting with a digit";
    seen.add(n);
  });
  return e;
}

export function AddServerForm({ taken, onAdded, onCancel }: { taken: string[]; onAdded: (name: string) => void; onCancel: () => void }) {
  const transport = useTransport();
  const [kind, setKind] = useState<"stdio" | "http">("stdio");
  const [name, setName] = useState("");
  const [command, setCommand] = useState("");
  const [args, setArgs] = useState<string[]>([""]);
  const [url, setUrl] = useState("");
  const [env, setEnv] = useState<Pair[]>([]);
  const [headers, setHeaders] = useState<Pair[]>([]);
  const [submitted, setSubmitted] = useState(false);
  const [pending, setPending] = useState(false);
  const [apiError, setApiError] = useState<ApiFailure | null>(null);

  const pairs = kind === "stdio" ? env : headers;
  const setPairs = kind === "stdio" ? setEnv : setHeaders;
  const errors = validate(kind, name, command, url, pairs, taken);
  const shown: Errors = submitted ? { ...errors } : {};
  if (apiError?.field && !shown[apiError.field]) shown[apiError.field] = apiError.message;
  const err = (k: string) =>
    shown[k] ? (
      <span className="field-error" id={`add-${k}-err`}>
        {shown[k]}
      </span>
    ) : null;
  const inv = (k: string, hint = false) => ({
    "aria-invalid": Boolean(shown[k]) || undefined,
    "aria-describedby": [hint ? `add-${k}-hint` : "", shown[k] ? `add-${k}-err` : ""].filter(Boolean).join(" ") || undefined,
  });

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSubmitted(true);
    setApiError(null);
    if (Object.keys(errors).length) {
      const first = Object.keys(errors)[0];
      document.getElementById(`add-${first}`)?.focus();
      return;
    }
    const map = Object.fromEntries(pairs.filter((p) => p.name.trim()).map((p) => [p.name.trim(), p.value]));
    const req: McpAddRequest =
      kind === "stdio"
        ? { name: name.trim(), command: command.trim(), args: args.filter((a) => a !== ""), env: map, headers: {} }
        : { name: name.trim(), url: url.trim(), args: [], env: {}, headers: map };
    setPending(true);
    try {
      const resp = await transport.call("mcp_add", req);
      onAdded(resp.server.name);
    } catch (err) {
      setApiError(err instanceof ApiFailure ? err : new ApiFailure({ message: String(err) }));
    } finally {
      setPending(false);
    }
  };

  const pairLabel = kind === "stdio" ? "Environment variable" : "Header";
  return (
    <form className="stack add-server" onSubmit={submit} noValidate aria-label="Add an MCP server">
      <FormField id="add-name" label="Name" hint="How agents and runs refer to this server." error={shown.name}>
        <input id="add-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="everything" autoComplete="off" {...inv("name", true)} />
      </FormField>
      <fieldset className="seg-field">
        <legend>Transport</legend>
        <label className="radio">
          <input type="radio" name="transport" checked={kind === "stdio"} onChange={() => setKind("stdio")} /> Local command (stdio)
        </label>
        <label className="radio">
          <input type="radio" name="transport" checked={kind === "http"} onChange={() => setKind("http")} /> HTTP URL (Streamable HTTP)
        </label>
      </fieldset>
      {kind === "stdio" ? (
        <>
          <FormField id="add-command" label="Command" hint="The program to start; it speaks MCP on stdin/stdout." error={shown.command}>
            <input id="add-command" className="mono" value={command} onChange={(e) => setCommand(e.target.value)} placeholder="npx" autoComplete="off" spellCheck={false} {...inv("command", true)} />
          </FormField>
          <div className="stack" role="group" aria-labelledby="add-args-label">
            <span id="add-args-label" className="label-like">
              Arguments <span className="hint">one per row, passed as they are (no shell)</span>
            </span>
            {args.map((a, i) => (
              <div className="row" key={i}>
                <input
                  className="mono grow"
                  aria-label={`Argument ${i + 1}`}
                  value={a}
                  spellCheck={false}
                  onChange={(e) => setArgs(args.map((x, j) => (j === i ? e.target.value : x)))}
                />
                <button type="button" className="small" aria-label={`Remove argument ${i + 1}`} onClick={() => setArgs(args.length === 1 ? [""] : args.filter((_, j) => j !== i))}>
                  <X size={14} aria-hidden />
                </button>
              </div>
            ))}
            <div>
              <button type="button" className="small" onClick={() => setArgs([...args, ""])}>
                <Plus size={14} aria-hidden /> Add argument
              </button>
            </div>
          </div>
          <div className="add-cmdline">
            <span className="hint">Will run: </span>
            <code>{[command.trim() || "…", ...args.filter((a) => a !== "").map((a) => (/[\s'"]/.test(a) ? `'${a}'` : a))].join(" ")}</code>
          </div>
        </>
      ) : (
        <FormField id="add-url" label="URL" hint="A Streamable HTTP endpoint, e.g. http://127.0.0.1:3001/mcp" error={shown.url}>
          <input id="add-url" className="mono" value={url} onChange={(e) => setUrl(e.target.value)} placeholder="http://127.0.0.1:3001/mcp" autoComplete="off" spellCheck={false} {...inv("url", true)} />
        </FormField>
      )}
      <div className="stack" role="group" aria-labelledby="add-pairs-label">
        <span id="add-pairs-label" className="label-like">
          {kind === "stdio" ? "Environment" : "Headers"}{" "}
          <span className="hint">values are kept in the secret store and never shown again</span>
        </span>
        {pairs.map((p, i) => (
          <div key={i} className="stack">
            <div className="row">
              <input
                id={i === 0 ? "add-pair" : undefined}
                className="mono"
                aria-label={`${pairLabel} ${i + 1} name`}
                placeholder={kind === "stdio" ? "API_KEY" : "Authorization"}
                value={p.name}
                spellCheck={false}
                {...inv(`pair.${i}`)}
                onChange={(e) => setPairs(pairs.map((x, j) => (j === i ? { ...x, name: e.target.value } : x)))}
              />
              <input
                className="grow"
                type="password"
                autoComplete="new-password"
                aria-label={`${pairLabel} ${i + 1} value (secret)`}
                value={p.value}
                onChange={(e) => setPairs(pairs.map((x, j) => (j === i ? { ...x, value: e.target.value } : x)))}
              />
              <button type="button" className="small" aria-label={`Remove ${pairLabel.toLowerCase()} ${i + 1}`} onClick={() => setPairs(pairs.filter((_, j) => j !== i))}>
                <X size={14} aria-hidden />
              </button>
            </div>
            {err(`pair.${i}`)}
          </div>
        ))}
        <div>
          <button type="button" className="small" onClick={() => setPairs([...pairs, { name: "", value: "" }])}>
            <Plus size={14} aria-hidden /> Add {pairLabel.toLowerCase()}
          </button>
        </div>
      </div>
      {apiError && !apiError.field ? <ErrorBanner error={apiError} title="Could not add the server" /> : null}
      <div className="row">
        <button type="submit" className="primary" disabled={pending}>
          {pending ? "Adding…" : "Add server"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        {submitted && Object.keys(errors).length ? <span className="field-error">Fix the marked fields.</span> : null}
      </div>
    </form>
  );
}

function FormField({ id, label, hint, error, children }: { id: string; label: string; hint?: string; error?: string; children: ReactNode }) {
  return (
    <div className="stack form-field">
      <label htmlFor={id}>{label}</label>
      {children}
      {hint ? (
        <span className="hint" id={`${id}-hint`}>
          {hint}
        </span>
      ) : null}
      {error ? (
        <span className="field-error" id={`${id}-err`}>
          {error}
        </span>
      ) : null}
    </div>
  );
}
