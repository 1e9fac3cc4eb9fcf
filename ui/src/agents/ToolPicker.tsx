// Tools picked from the connected MCP servers, grouped by server: each tool with its annotation
// badges and safety class, and an approval toggle (on by default for destructive tools).
// Built-in tools and sub-agents follow.
import { useEffect, useState } from "react";
import { Plus, Trash2 } from "lucide-react";
import type { McpServerInfo } from "../bindings/McpServerInfo";
import type { McpToolInfo } from "../bindings/McpToolInfo";
import type { ToolAnnotations } from "../bindings/ToolAnnotations";
import type { ToolRef } from "../bindings/ToolRef";
import { ApiFailure, useTransport } from "../transport";
import { errorUnder, specOverride, specTools, type Obj } from "./spec";
import type { Editor } from "./fields";
import { href } from "../lib/router";

type ServerTools = { tools: McpToolInfo[] | null; error: string | null };

const BUILTINS: { name: string; what: string }[] = [
  { name: "ask_human", what: "pauses the run until a person answers a question" },
  { name: "remember", what: "stores a note in the agent's memory" },
  { name: "recall", what: "searches the agent's memory" },
  { name: "forget", what: "deletes a note from the agent's memory" },
  { name: "send_email", what: "sends an email from the agent's mail account, on the thread that started the run; a person approves each one (see Email below)" },
];

const ANNOTATIONS: { key: keyof ToolAnnotations; label: string; cls: string }[] = [
  { key: "read_only", label: "read-only", cls: "ok" },
  { key: "destructive", label: "destructive", cls: "fail" },
  { key: "idempotent", label: "idempotent", cls: "" },
  { key: "open_world", label: "open-world", cls: "" },
];


export function useServerTools(servers: McpServerInfo[] | undefined) {
  const transport = useTransport();
  const [byServer, setByServer] = useState<Record<string, ServerTools>>({});
  const names = (servers ?? []).map((s) => s.name).join("\n");
  useEffect(() => {
    let live = true;
    for (const name of names ? names.split("\n") : []) {
      setByServer((m) => ({ ...m, [name]: { tools: null, error: null } }));
      transport
        .call("mcp_tools", { server: name })
        .then((r) => live && setByServer((m) => ({ ...m, [name]: { tools: r.tools, error: null } })))
        .catch((e) => live && setByServer((m) => ({ ...m, [name]: { tools: null, error: e instanceof ApiFailure ? e.message : String(e) } })));
    }
    return () => {
      live = false;
    };
  }, [transport, names]);
  return byServer;
}

export function ToolPicker({
  ed,
  servers,
  serversError,
  byServer,
  agentNames,
}: {
  ed: Editor;
  servers: McpServerInfo[];
  serversError: string | null;
  byServer: Record<string, ServerTools>;
  agentNames: string[];
}) {
  const spec = ed.spec;
  const all = specTools(spec);
  const mcpOf = (t: ToolRef | null) => (t?.kind === "mcp" ? t : null);
  const mcpIndex = (server: string) => all.findIndex((t) => mcpOf(t)?.server === server);
  const listed = new Set(servers.map((s) => s.name));
  // Servers the spec names that are not connected stay visible, so nothing is dropped silently.
  const missing = all
    .map((t) => mcpOf(t)?.server)
    .filter((server): server is string => typeof server === "string" && !listed.has(server));

  const selection = (server: string): "*" | string[] => {
    const sel = mcpOf(all[mcpIndex(server)] ?? null)?.tools;
    if (sel === "*") return "*";
    return Array.isArray(sel) ? sel.filter((x): x is string => typeof x === "string") : [];
  };

  const setSelection = (server: string, next: "*" | string[], removed: string[], added: McpToolInfo[]) => {
    let i = mcpIndex(server);
    if (next !== "*" && next.length === 0) {
      if (i >= 0) ed.set(["tools", i], undefined);
    } else {
      if (i < 0) {
        i = all.length;
        ed.set(["tools", i], { kind: "mcp", server, tools: next });
      } else ed.set(["tools", i, "tools"], next);
    }
    // An override for a tool the agent no longer has is an error; approvals go with the tool.
    for (const name of removed) ed.set(["tool_overrides", name], undefined);
    for (const t of added) if (t.annotations.destructive === true) ed.set(["tool_overrides", t.name, "needs_approval"], true);
  };

  const toolsError = errorUnder(ed.errors, "tools");
  const overridesError = errorUnder(ed.errors, "tool_overrides");

  return (
    <div className="stack" data-field="tools">
      {serversError ? <div className="banner error">Could not list the MCP servers: {serversError}</div> : null}
      {toolsError ? (
        <span className="field-error" role="alert" data-testid="error-tools">
          {toolsError}
        </span>
      ) : null}
      {overridesError ? (
        <span className="field-error" role="alert" data-testid="error-tool_overrides">
          {overridesError}
        </span>
      ) : null}
      {servers.length === 0 && !serversError ? (
        <div className="muted">
          No MCP servers are connected. <a href={href(["tools"])}>Add a server</a> on the Tools page, then pick its tools here.
        </div>
      ) : null}
      {servers.map((server) => {
        const st = byServer[server.name];
        const sel = selection(server.name);
        const allSel = sel === "*";
        const tools = st?.tools ?? [];
        return (
          <fieldset key={server.name} className="tool-group" data-testid={`server-${server.name}`}>
            <legend>
              <span className="mono">{server.name}</span>{" "}
              <span className="muted server-describe" title={server.describe}>
                {server.describe}
              </span>
            </legend>
            {st?.error ? <div className="field-error">This server's tools could not be listed: {st.error}</div> : null}
            {!st || (st.tools === null && !st.error) ? <div className="muted">Loading tools…</div> : null}
            {tools.length > 0 ? (
              <label className="check">
                <input
                  type="checkbox"
                  checked={allSel}
                  onChange={(e) => setSelection(server.name, e.target.checked ? "*" : [], [], [])}
                  data-testid={`tool-all-${server.name}`}
                />
                All of its tools, including ones it adds later
              </label>
            ) : null}
            {tools.map((t) => {
              const on = allSel || (sel as string[]).includes(t.name);
              const override = specOverride(spec, t.name);
              const approval = override?.needs_approval === true;
              const safetyOverride = override?.safety;
              const safety = typeof safetyOverride === "string" ? safetyOverride : t.safety;
              return (
                <div key={t.name} className={`tool-row${on ? " on" : ""}`} data-testid={`tool-${server.name}-${t.name}`}>
                  <label className="check tool-name">
                    <input
                      type="checkbox"
                      checked={on}
                      disabled={allSel}
                      onChange={(e) => {
                        const cur = sel === "*" ? [] : sel;
                        if (e.target.checked) setSelection(server.name, [...cur, t.name], [], [t]);
                        else setSelection(server.name, cur.filter((n) => n !== t.name), [t.name], []);
                      }}
                      data-testid={`pick-${server.name}-${t.name}`}
                      aria-describedby={`desc-${server.name}-${t.name}`}
                    />
                    <span className="mono">{t.name}</span>
                  </label>
                  <div className="tool-desc muted" id={`desc-${server.name}-${t.name}`}>
                    {t.title && t.title !== t.name && !t.description.startsWith(t.title) ? <strong>{t.title}: </strong> : null}
                    {t.description || "No description."}
                  </div>
                  <div className="badges">
                    {ANNOTATIONS.filter((a) => t.annotations[a.key] === true).map((a) => (
                      <span key={a.key} className={`badge ${a.cls}`} title={`The server marks this tool ${a.label}`}>
                        {a.label}
                      </span>
                    ))}
                    <span className={`badge safety ${safety}`} title={safety === "at_most_once" ? "An interrupted call is not repeated: the run waits for a person" : "An interrupted call is simply retried"}>
                      {safety === "at_most_once" ? "at most once" : "retry-safe"}
                      {typeof safetyOverride === "string" ? " (set)" : ""}
                    </span>
                  </div>
                  <div className="tool-controls">
                    <label className="check">
                      <input
                        type="checkbox"
                        checked={approval}
                        disabled={!on}
                        onChange={(e) => ed.set(["tool_overrides", t.name, "needs_approval"], e.target.checked ? true : undefined)}
                        data-testid={`approval-${t.name}`}
                        aria-label={`${t.name} needs a person's approval before each call`}
                      />
                      Needs approval
                    </label>
                    <select
                      aria-label={`Safety class of ${t.name}`}
                      value={typeof safetyOverride === "string" ? safetyOverride : ""}
                      disabled={!on}
                      onChange={(e) => ed.set(["tool_overrides", t.name, "safety"], e.target.value || undefined)}
                    >
                      <option value="">Safety from annotations ({t.safety === "at_most_once" ? "at most once" : "retry-safe"})</option>
                      <option value="retry_safe">Retry-safe</option>
                      <option value="at_most_once">At most once</option>
                    </select>
                  </div>
                </div>
              );
            })}
          </fieldset>
        );
      })}
      {missing.map((server) => {
        const i = mcpIndex(server);
        return (
          <fieldset key={server} className="tool-group missing">
            <legend>
              <span className="mono">{server}</span> <span className="badge fail">not connected</span>
            </legend>
            <div className="muted">
              The spec uses {JSON.stringify(mcpOf(all[i])?.tools)} from this server, which is not connected. <a href={href(["tools"])}>Add it</a> or
              <button type="button" className="small" onClick={() => ed.set(["tools", i], undefined)}>
                remove it from the agent
              </button>
            </div>
          </fieldset>
        );
      })}

      <fieldset className="tool-group">
        <legend>Built-in tools</legend>
        {BUILTINS.map((b) => {
          const i = all.findIndex((t) => t?.kind === "builtin" && t.name === b.name);
          return (
            <label key={b.name} className="check">
              <input
                type="checkbox"
                checked={i >= 0}
                onChange={(e) => {
                  if (e.target.checked) ed.set(["tools", all.length], { kind: "builtin", name: b.name });
                  else {
                    ed.set(["tools", i], undefined);
                    ed.set(["tool_overrides", b.name], undefined);
                  }
                }}
                data-testid={`builtin-${b.name}`}
              />
              <span className="mono">{b.name}</span> <span className="muted">{b.what}</span>
            </label>
          );
        })}
      </fieldset>

      <fieldset className="tool-group">
        <legend>
          Sub-agents
        </legend>
        <span className="hint">Another agent, seen by the model as a tool; a call starts a child run whose answer is the tool's result.</span>
        {all.map((t, i) =>
          t?.kind === "agent" ? (
            <div className="row sub-agent" key={i} data-field={`tools.${i}`}>
              <label className="inline">
                Agent
                <input
                  list="waymark-agent-names"
                  value={typeof t.name === "string" ? t.name : ""}
                  onChange={(e) => ed.set(["tools", i, "name"], e.target.value)}
                  aria-invalid={ed.errors.has(`tools.${i}.name`)}
                  data-testid={`subagent-name-${i}`}
                />
              </label>
              <label className="inline grow">
                What the parent is told it does
                <input
                  value={typeof t.description === "string" ? t.description : ""}
                  placeholder="its own description"
                  onChange={(e) => ed.set(["tools", i, "description"], e.target.value || undefined)}
                />
              </label>
              <button type="button" className="small" onClick={() => ed.set(["tools", i], undefined)} aria-label="Remove this sub-agent">
                <Trash2 size={12} aria-hidden />
              </button>
              {errorUnder(ed.errors, `tools.${i}`) ? <span className="field-error">{errorUnder(ed.errors, `tools.${i}`)}</span> : null}
            </div>
          ) : null,
        )}
        <datalist id="waymark-agent-names">
          {agentNames
            .filter((n) => n !== spec.name)
            .map((n) => (
              <option key={n} value={n} />
            ))}
        </datalist>
        <div>
          <button type="button" className="small" onClick={() => ed.set(["tools", all.length], { kind: "agent", name: "" })}>
            <Plus size={12} aria-hidden /> Add a sub-agent
          </button>
        </div>
      </fieldset>
    </div>
  );
}

/** The names the model will see among the picked tools (for per-tool advanced settings). */
export function pickedToolNames(spec: Obj, byServer: Record<string, ServerTools>): string[] {
  const names: string[] = [];
  for (const t of specTools(spec)) {
    if (t?.kind === "mcp" && typeof t.server === "string") {
      if (t.tools === "*") names.push(...(byServer[t.server]?.tools ?? []).map((x) => x.name));
      else if (Array.isArray(t.tools)) names.push(...t.tools.filter((x): x is string => typeof x === "string"));
    } else if ((t?.kind === "builtin" || t?.kind === "agent") && typeof t.name === "string" && t.name) names.push(t.name);
  }
  return names;
}
