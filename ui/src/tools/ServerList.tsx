// The servers with their live status; a failed one shows its error right in the list.
import type { KeyboardEvent } from "react";
import type { McpServerInfo } from "../bindings/McpServerInfo";
import { href } from "../lib/router";
import { Status } from "../components/common";

function secs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}

export function ServerStatusLine({ server }: { server: McpServerInfo }) {
  const s = server.status;
  switch (s.state) {
    case "connected":
      return (
        <span className="row tools-wrap server-status">
          <Status status="ok" label="connected" />
          <span className="hint">
            {s.tool_count} tool{s.tool_count === 1 ? "" : "s"} · protocol {s.protocol_version}
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
            <code className="tools-cmd tools-cmd-short" title={s.describe}>
              {s.describe}
            </code>
            {s.status.state === "failed" ? (
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
