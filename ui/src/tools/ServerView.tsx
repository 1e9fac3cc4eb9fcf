// One server: its command line or URL, status and last error, who answered (protocol revision,
// name and version), its sign-in (HTTP servers), its tools (description as text,
// annotation badges, safety class), and the selected tool's schema and try-it form.
import { useEffect, useState } from "react";
import { RefreshCw, Trash2 } from "lucide-react";
import type { McpServerInfo } from "../bindings/McpServerInfo";
import type { McpToolInfo } from "../bindings/McpToolInfo";
import { href, navigate } from "../lib/router";
import { useApi } from "../lib/useApi";
import { useTransport } from "../transport";
import { EmptyState, ErrorBanner, Modal } from "../components/common";
import { JsonView } from "../components/JsonView";
import { AnnotationBadges, SafetyBadge } from "./Annotations";
import { TryIt } from "./TryIt";
import { PromptsView, ResourcesView } from "./ResourcesPrompts";
import { ServerIdentity, ServerStatusLine, arrowNav } from "./ServerList";
import { SignInAction, SignInPanel, SignInProvider, signInExplainsFailure, useSignInFlow } from "./SignIn";

export function ServerView({ server, tool, onChanged }: { server: McpServerInfo; tool: string | null; onChanged: () => void }) {
  const transport = useTransport();
  const tools = useApi("mcp_tools", { server: server.name }, [server.name]);
  const [confirmRemove, setConfirmRemove] = useState(false);
  const [removeError, setRemoveError] = useState<Error | null>(null);
  const [removing, setRemoving] = useState(false);
  // A finished sign-in (or sign-out): the list shows the new state, the tools are listed again.
  const signIn = useSignInFlow(server.name, (changed) => {
    onChanged();
    if (changed) void tools.reload();
  });

  // Listing tools connects the server: refresh the list's status once it answers.
  useEffect(() => {
    if (!tools.loading) onChanged();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [tools.loading]);

  // A server that failed and has since connected (another use retried it): list its tools again.
  const state = server.status.state;
  useEffect(() => {
    if (state === "connected" && tools.error && !tools.loading) void tools.reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [state]);

  // A sign-in finished elsewhere (another window, the CLI): list the tools it unlocked.
  const signInState = server.sign_in.state;
  useEffect(() => {
    if (signInState === "signed_in" && tools.error?.code === "sign_in_required" && !tools.loading) void tools.reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [signInState]);

  const status = server.status;
  const identity =
    status.state === "connected"
      ? { protocol: status.protocol_version, name: status.server_name, version: status.server_version }
      : tools.data
        ? { protocol: tools.data.protocol_version, name: tools.data.server_name, version: tools.data.server_version }
        : null;

  const [filter, setFilter] = useState("");
  const [tab, setTab] = useState<"tools" | "resources" | "prompts">("tools");
  const all = tools.data?.tools ?? [];
  const needle = filter.trim().toLowerCase();
  const shown = needle ? all.filter((t) => `${t.name} ${t.title ?? ""} ${t.description}`.toLowerCase().includes(needle)) : all;

  const selected: McpToolInfo | null = tools.data?.tools.find((t) => t.name === tool) ?? null;

  const remove = async () => {
    setRemoving(true);
    try {
      await transport.call("mcp_remove", { server: server.name });
      setConfirmRemove(false);
      onChanged();
      navigate(href(["tools"]));
    } catch (e) {
      setRemoveError(e as Error);
    } finally {
      setRemoving(false);
    }
  };

  return (
    <SignInProvider flow={signIn}>
    <div className="server-view">
      <header className="server-head">
        <div className="row">
          <h2 className="grow" style={{ margin: 0 }}>
            {server.name}
          </h2>
          <button type="button" className="small" onClick={() => void tools.reload()} disabled={tools.loading} title="List the tools again (reconnects a failed server)">
            <RefreshCw size={14} aria-hidden /> Refresh tools
          </button>
          <button type="button" className="small danger" onClick={() => setConfirmRemove(true)}>
            <Trash2 size={14} aria-hidden /> Remove
          </button>
        </div>
        <ServerStatusLine server={server} detailed />
        {identity ? <ServerIdentity {...identity} /> : null}
        <SignInPanel server={server} flow={signIn} />
        <code className="tools-cmd" title={server.transport === "stdio" ? "The command line this server runs" : "The URL this server is reached at"}>
          {server.describe}
        </code>
        {server.secret_names.length ? (
          <div className="row tools-wrap">
            <span className="hint">{server.transport === "stdio" ? "Environment (stored secrets):" : "Headers (stored secrets):"}</span>
            {server.secret_names.map((n) => (
              <span key={n} className="badge mono">
                {n}
              </span>
            ))}
          </div>
        ) : null}
        {server.oauth_client_id ? (
          <div className="row tools-wrap">
            <span className="hint">OAuth client:</span>
            <span className="badge mono" data-testid="oauth-client-id">
              {server.oauth_client_id}
            </span>
          </div>
        ) : null}
        {server.status.state === "failed" && !signInExplainsFailure(server) ? (
          <div className="banner error" role="alert">
            <strong>Connection failed: </strong>
            {server.status.error}
            {server.status.stderr_tail ? (
              <details>
                <summary>stderr</summary>
                <pre className="json-raw">{server.status.stderr_tail}</pre>
              </details>
            ) : null}
          </div>
        ) : null}
      </header>

      <div className="server-tabs" role="tablist" aria-label={`What ${server.name} offers`}>
        {(["tools", "resources", "prompts"] as const).map((t) => (
          <button key={t} type="button" role="tab" className="server-tab" aria-selected={tab === t} onClick={() => setTab(t)}>
            {t === "tools" ? `Tools${tools.data ? ` (${tools.data.tools.length})` : ""}` : t === "resources" ? "Resources" : "Prompts"}
          </button>
        ))}
      </div>

      {tab === "resources" ? <ResourcesView server={server.name} /> : null}
      {tab === "prompts" ? <PromptsView server={server.name} /> : null}
      {tab === "tools" ? (
      <div className="tools-split">
        <section className="tool-list" aria-label={`Tools of ${server.name}`}>
          <h3>Tools{tools.data ? ` (${tools.data.tools.length})` : ""}</h3>
          {tools.loading && !tools.data ? <p className="muted">Connecting to {server.name} and listing its tools…</p> : null}
          {tools.error?.code === "sign_in_required" ? (
            <div className="banner warn" role="alert">
              <strong>{server.name} asks for a sign-in before it lists its tools: </strong>
              {tools.error.message}
              <SignInAction />
            </div>
          ) : (
            <ErrorBanner error={tools.error} title="Could not list the tools" />
          )}
          {tools.data && tools.data.tools.length === 0 ? <EmptyState>This server offers no tools.</EmptyState> : null}
          {all.length > 6 ? (
            <input
              type="search"
              className="tool-filter"
              aria-label="Filter tools"
              placeholder="Filter by name or description"
              value={filter}
              onChange={(e) => setFilter(e.target.value)}
            />
          ) : null}
          {needle && shown.length === 0 ? (
            <p className="muted">
              No tool matches. <button type="button" className="small" onClick={() => setFilter("")}>Clear filter</button>
            </p>
          ) : null}
          <ul className="tool-items" role="list" onKeyDown={arrowNav}>
            {shown.map((t) => (
              <li key={t.name}>
                <a
                  className={`tool-item${t.name === tool ? " selected" : ""}`}
                  href={href(["tools", server.name, t.name])}
                  aria-current={t.name === tool ? "true" : undefined}
                >
                  <span className="row">
                    <span className="mono tool-name grow">{t.name}</span>
                    <SafetyBadge safety={t.safety} />
                  </span>
                  {t.title ? <span className="tool-title">{t.title}</span> : null}
                  <span className="tool-desc">{t.description || <em className="muted">No description.</em>}</span>
                  <AnnotationBadges tool={t} compact />
                </a>
              </li>
            ))}
          </ul>
        </section>

        <section className="tool-detail" aria-label="Tool">
          {selected ? (
            <ToolDetail server={server.name} tool={selected} />
          ) : tool && tools.data ? (
            <EmptyState>
              {server.name} has no tool named “{tool}”. <a href={href(["tools", server.name])}>Show its tools</a>
            </EmptyState>
          ) : tools.data && tools.data.tools.length ? (
            <EmptyState>Pick a tool to see its schema and try it.</EmptyState>
          ) : null}
        </section>
      </div>
      ) : null}

      {confirmRemove ? (
        <Modal title={`Remove ${server.name}?`} onClose={() => setConfirmRemove(false)}>
          <p>
            Agents that use its tools will fail to start their calls until a server of this name is added again. Its stored secrets ({server.secret_names.length ? server.secret_names.join(", ") : "none"}) are
            no longer used.
          </p>
          <ErrorBanner error={removeError} title="Could not remove" />
          <div className="row">
            <button type="button" className="primary danger-fill" onClick={() => void remove()} disabled={removing}>
              {removing ? "Removing…" : "Remove server"}
            </button>
            <button type="button" onClick={() => setConfirmRemove(false)}>
              Cancel
            </button>
          </div>
        </Modal>
      ) : null}
    </div>
    </SignInProvider>
  );
}

function ToolDetail({ server, tool }: { server: string; tool: McpToolInfo }) {
  return (
    <div className="stack">
      <div>
        <h2 className="mono" style={{ margin: "0 0 4px" }}>
          {tool.name}
        </h2>
        {tool.title ? <div className="tool-title">{tool.title}</div> : null}
      </div>
      <p className="tool-desc-full">{tool.description || <em className="muted">The server gives no description.</em>}</p>
      <div className="row tools-wrap">
        <SafetyBadge safety={tool.safety} />
        <AnnotationBadges tool={tool} />
      </div>
      <details className="tool-schema">
        <summary>inputSchema</summary>
        <JsonView value={tool.input_schema} label="inputSchema" defaultDepth={3} />
      </details>
      <TryIt key={`${server}/${tool.name}`} server={server} tool={tool} />
    </div>
  );
}
