// The servers with their live status; a failed one shows its error right in the list.
import type { KeyboardEvent } from "react";
import type { McpServerInfo } from "../bindings/McpServerInfo";
import { href } from "../lib/router";
import { Status } from "../components/common";
import { SignInHint, signInExplainsFailure } from "./SignIn";

function secs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}

/** "protocol 2026-07-28 · waymark-demo-tools 0.1.0": the revision agreed on and who answered. */
export function ServerIdentity({ protocol, name, version }: { protocol?: string; name?: string; version?: string }) {
  if (!protocol && !name) return null;
  const who = [name, version].filter(Boolean).join(" ");
  return (
    <span className="hint server-identity" data-testid="server-identity" title="The protocol revision agreed on, and the server's name and version as it gave them">
      {protocol ? `protocol ${protocol}` : ""}
      {protocol && who ? " · " : ""}
      {who ? <span className="mono">{who}</span> : null}
    </span>
  );
}

/** Connected (tools, protocol), failed (retry), or not yet. `detailed`: the protocol is left to
 * the identity line below it. */
export function ServerStatusLine({ server, detailed = false }: { server: McpServerInfo; detailed?: boolean }) {
  const s = server.status;
  switch (s.state) {
    case "connected":
      return (
        <span className="row tools-wrap server-status">
          <Status status="ok" label="connected" />
          <span className="hint">
            {s.tool_count} tool{s.tool_count === 1 ? "" : "s"}
            {detailed ? "" : ` · protocol ${s.protocol_version}`}
          </span>
        </span>
      );
    case "failed":
      return (
        <span className="row tools-wrap server-status">
          <Status status="failed" label="failed" />
          <span className="hint">retries when used{s.retry_in_ms > 0 ? ` (in ${secs(s.retry_in_ms)})` : ""}</span>
        </span>
      );
    default:
      return (
        <span className="row tools-wrap server-status">
          <Status status="idle" label="not connected yet" />
          <span className="hint">connects when its tools are used</span>
        </span>
      );
  }
}

export function ServerList({ servers, selected }: { servers: McpServerInfo[]; selected: string | null }) {
  return (
    <ul className="server-items" role="list" aria-label="MCP servers" onKeyDown={arrowNav}>
      {servers.map((s) => (
        <li key={s.name}>
          <a className={`server-item${s.name === selected ? " selected" : ""}`} href={href(["tools", s.name])} aria-current={s.name === selected ? "true" : undefined} data-server={s.name}>
            <span className="row">
              <strong className="grow server-name">{s.name}</strong>
              <span className="badge">{s.transport}</span>
            </span>
            <ServerStatusLine server={s} />
            <SignInHint server={s} />
            <code className="tools-cmd tools-cmd-short" title={s.describe}>
              {s.describe}
            </code>
            {s.status.state === "failed" && !signInExplainsFailure(s) ? (
              <span className="field-error server-error" role="status">
                {s.status.error}
              </span>
            ) : null}
          </a>
        </li>
      ))}
    </ul>
  );
}

/** ↑/↓ (and j/k) move focus between the links of a list; Enter opens as usual. */
export function arrowNav(e: KeyboardEvent<HTMLElement>) {
  const down = e.key === "ArrowDown" || e.key === "j";
  const up = e.key === "ArrowUp" || e.key === "k";
  if (!down && !up) return;
  const links = [...e.currentTarget.querySelectorAll<HTMLAnchorElement>(":scope > li > a")];
  const at = links.indexOf(document.activeElement as HTMLAnchorElement);
  if (at < 0) return;
  e.preventDefault();
  const next = links[Math.max(0, Math.min(links.length - 1, at + (down ? 1 : -1)))];
  next.focus();
}
