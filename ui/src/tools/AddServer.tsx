// Adding an MCP server: a local command (stdio: command, arguments, environment) or an HTTP URL
// (with headers, and optionally the OAuth client it signs in with). Environment and header values
// and the client secret go to the secret store and are never shown again.
import { useState, type FormEvent, type ReactNode } from "react";
import { Plus, X } from "lucide-react";
import type { McpAddRequest } from "../bindings/McpAddRequest";
import type { McpOAuthClient } from "../bindings/McpOAuthClient";
import { ApiFailure, useTransport } from "../transport";
import { ErrorBanner } from "../components/common";

type Pair = { name: string; value: string };

type Errors = Partial<Record<string, string>>;

/** The Sign-in (OAuth) section as typed. */
type OAuthDraft = { clientId: string; clientSecret: string; scopes: string; clientCredentials: boolean };

const NO_OAUTH: OAuthDraft = { clientId: "", clientSecret: "", scopes: "", clientCredentials: false };

/** `oauth` of the request, or undefined when the section was left empty. */
function oauthOf(d: OAuthDraft): McpOAuthClient | undefined {
  const scopes = d.scopes.split(/\s+/).filter(Boolean);
  if (!d.clientId.trim() && !d.clientSecret && !scopes.length && !d.clientCredentials) return undefined;
  return {
    ...(d.clientId.trim() ? { client_id: d.clientId.trim() } : {}),
    ...(d.clientSecret ? { client_secret: d.clientSecret } : {}),
    scopes,
    client_credentials: d.clientCredentials,
  };
}

/** Fields the form shows an API error on (else the error is a banner). */
const FIELDS = new Set(["name", "command", "url", "client_id", "client_secret", "scopes", "client_credentials"]);

function validate(kind: "stdio" | "http", name: string, command: string, url: string, pairs: Pair[], taken: string[], oauth: OAuthDraft): Errors {
  const e: Errors = {};
  if (!name.trim()) e.name = "give the server a name";
  else if (/[/\s]/.test(name.trim())) e.name = "no spaces or slashes in the name";
  else if (taken.includes(name.trim())) e.name = `a server named "${name.trim()}" exists (remove it first, or pick another name)`;
  if (kind === "stdio" && !command.trim()) e.command = "the command that starts the server, e.g. npx or node";
  if (kind === "http") {
    if (!url.trim()) e.url = "the server's URL, e.g. http://127.0.0.1:3001/mcp";
    else if (!/^https?:\/\/\S+$/.test(url.trim())) e.url = "the URL must start with http:// or https://";
    if (oauth.clientCredentials && (!oauth.clientId.trim() || !oauth.clientSecret))
      e.client_credentials = "signing in as a machine needs the client id and the client secret";
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
  const [oauth, setOauth] = useState<OAuthDraft>(NO_OAUTH);
  const [oauthOpen, setOauthOpen] = useState(false);
  const [submitted, setSubmitted] = useState(false);
  const [pending, setPending] = useState(false);
  const [apiError, setApiError] = useState<ApiFailure | null>(null);

  const pairs = kind === "stdio" ? env : headers;
  const setPairs = kind === "stdio" ? setEnv : setHeaders;
  const errors = validate(kind, name, command, url, pairs, taken, oauth);
  const shown: Errors = submitted ? { ...errors } : {};
  // The API names OAuth fields bare or under `oauth.`.
  const apiField = apiError?.field?.replace(/^oauth\./, "") ?? null;
  if (apiError && apiField && FIELDS.has(apiField) && !shown[apiField]) shown[apiField] = apiError.message;
  const oauthErr = Boolean(shown.client_id || shown.client_secret || shown.scopes || shown.client_credentials);
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
      if (first.startsWith("client_")) setOauthOpen(true);
      // After the section opens.
      window.setTimeout(() => document.getElementById(`add-${first}`)?.focus());
      return;
    }
    const map = Object.fromEntries(pairs.filter((p) => p.name.trim()).map((p) => [p.name.trim(), p.value]));
    const req: McpAddRequest =
      kind === "stdio"
        ? { name: name.trim(), command: command.trim(), args: args.filter((a) => a !== ""), env: map, headers: {} }
        : { name: name.trim(), url: url.trim(), args: [], env: {}, headers: map, ...withOauth(oauthOf(oauth)) };
    setPending(true);
    try {
      const resp = await transport.call("mcp_add", req);
      onAdded(resp.server.name);
    } catch (err) {
      const failure = err instanceof ApiFailure ? err : new ApiFailure({ message: String(err) });
      setApiError(failure);
      if (/^(oauth\.)?(client_|scopes)/.test(failure.field ?? "")) setOauthOpen(true);
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
      {kind === "http" ? (
        <details className="add-oauth" open={oauthOpen || oauthErr} onToggle={(e) => setOauthOpen(e.currentTarget.open)}>
          <summary>
            Sign-in (OAuth) <span className="hint">optional{oauthOf(oauth) ? " · set" : ""}</span>
          </summary>
          <div className="stack add-oauth-body">
            <p className="hint" style={{ margin: 0 }}>
              For a server that asks for a sign-in. Leave empty and Waymark registers itself where the authorization server allows it; give a client id when the
              client was registered beforehand.
            </p>
            <FormField id="add-client_id" label="Client id" error={shown.client_id}>
              <input
                id="add-client_id"
                className="mono"
                value={oauth.clientId}
                onChange={(e) => setOauth({ ...oauth, clientId: e.target.value })}
                autoComplete="off"
                spellCheck={false}
                {...inv("client_id")}
              />
            </FormField>
            <FormField id="add-client_secret" label="Client secret" hint="Kept in the secret store and never shown again." error={shown.client_secret}>
              <input
                id="add-client_secret"
                type="password"
                autoComplete="new-password"
                value={oauth.clientSecret}
                onChange={(e) => setOauth({ ...oauth, clientSecret: e.target.value })}
                {...inv("client_secret", true)}
              />
            </FormField>
            <FormField id="add-scopes" label="Scopes" hint="Space-separated; empty asks for what the server advertises." error={shown.scopes}>
              <input
                id="add-scopes"
                className="mono"
                value={oauth.scopes}
                onChange={(e) => setOauth({ ...oauth, scopes: e.target.value })}
                placeholder="read write"
                autoComplete="off"
                spellCheck={false}
                {...inv("scopes", true)}
              />
            </FormField>
            <div className="stack form-field">
              <label className="radio">
                <input
                  id="add-client_credentials"
                  type="checkbox"
                  checked={oauth.clientCredentials}
                  onChange={(e) => setOauth({ ...oauth, clientCredentials: e.target.checked })}
                  {...inv("client_credentials", true)}
                />
                Sign in as a machine (client credentials)
              </label>
              <span className="hint" id="add-client_credentials-hint">
                No browser: the client id and secret get the tokens by themselves.
              </span>
              {err("client_credentials")}
            </div>
          </div>
        </details>
      ) : null}
      {apiError && !(apiField && FIELDS.has(apiField)) ? <ErrorBanner error={apiError} title="Could not add the server" /> : null}
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

function withOauth(oauth: McpOAuthClient | undefined): { oauth?: McpOAuthClient } {
  return oauth ? { oauth } : {};
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
