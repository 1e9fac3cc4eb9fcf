// Tools: MCP servers with live status, adding and importing servers, each server's tools, and a
// try-it form generated from a tool's inputSchema.
import { useCallback, useEffect, useState } from "react";
import { FileInput, Plus } from "lucide-react";
import { href, navigate } from "../lib/router";
import { useApi } from "../lib/useApi";
import { EmptyState, ErrorBanner, Modal } from "../components/common";
import { ServerList } from "../tools/ServerList";
import { ServerView } from "../tools/ServerView";
import { AddServerForm } from "../tools/AddServer";
import { ImportConfig } from "../tools/ImportConfig";
import "../tools/tools.css";

/** How often the server list is refreshed while the page is visible. */
const POLL_MS = 2500;

export function ToolsPage({ server, tool }: { server: string | null; tool: string | null }) {
  const list = useApi("mcp_list", {});
  const [dialog, setDialog] = useState<"add" | "import" | null>(null);
  const [imported, setImported] = useState<string[] | null>(null);
  const { reload } = list;

  useEffect(() => {
    let timer: number | undefined;
    const tick = () => {
      window.clearTimeout(timer);
      if (document.visibilityState === "visible") {
        void reload().finally(() => {
          timer = window.setTimeout(tick, POLL_MS);
        });
      }
    };
    timer = window.setTimeout(tick, POLL_MS);
    const onVisible = () => document.visibilityState === "visible" && tick();
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      window.clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [reload]);

  const refresh = useCallback(() => void reload(), [reload]);
  const servers = list.data?.servers ?? [];
  const current = servers.find((s) => s.name === server) ?? null;
  const names = servers.map((s) => s.name);
  const close = useCallback(() => setDialog(null), []);

  return (
    <div className="page wide tools-page">
      <div className="tools-layout">
        <aside className="servers-pane" aria-label="Servers">
          <div className="row pane-head">
            <h1 className="grow" style={{ margin: 0 }}>
              Tools
            </h1>
          </div>
          <div className="row tools-wrap">
            <button type="button" className="primary small" onClick={() => setDialog("add")}>
              <Plus size={14} aria-hidden /> Add server
            </button>
            <button type="button" className="small" onClick={() => setDialog("import")}>
              <FileInput size={14} aria-hidden /> Import a config
            </button>
          </div>
          <ErrorBanner error={list.error} title="Could not list the servers" />
          {imported ? (
            <div className="banner info" role="status">
              Imported {imported.length ? imported.join(", ") : "no servers"}.{" "}
              <button type="button" className="small" onClick={() => setImported(null)} aria-label="Dismiss">
                OK
              </button>
            </div>
          ) : null}
          {list.data && servers.length === 0 ? <p className="muted">No servers yet.</p> : null}
          <ServerList servers={servers} selected={server} />
        </aside>
        <section className="server-pane" aria-label="Server">
          {current ? (
            <ServerView key={current.name} server={current} tool={tool} onChanged={refresh} />
          ) : server && list.data && servers.length > 0 ? (
            <EmptyState action={<a href={href(["tools"])}>All servers</a>}>There is no server named “{server}”.</EmptyState>
          ) : servers.length > 0 ? (
            <EmptyState>Pick a server to see its tools.</EmptyState>
          ) : null}
          {list.data && servers.length === 0 ? (
            <EmptyState
              action={
                <div className="row">
                  <button type="button" className="primary" onClick={() => setDialog("add")}>
                    Add a server
                  </button>
                  <button type="button" onClick={() => setDialog("import")}>
                    Import a config
                  </button>
                </div>
              }
            >
              No MCP servers yet. Add one to give agents tools.
            </EmptyState>
          ) : null}
        </section>
      </div>

      {dialog === "add" ? (
        <Modal title="Add an MCP server" onClose={close}>
          <AddServerForm
            taken={names}
            onCancel={close}
            onAdded={(name) => {
              setDialog(null);
              void reload();
              navigate(href(["tools", name]));
            }}
          />
        </Modal>
      ) : null}
      {dialog === "import" ? (
        <Modal title="Import MCP servers from a config" onClose={close}>
          <ImportConfig
            existing={names}
            onCancel={close}
            onImported={(imported) => {
              setDialog(null);
              setImported(imported);
              void reload();
              if (imported.length === 1) navigate(href(["tools", imported[0]]));
            }}
          />
        </Modal>
      ) : null}
    </div>
  );
}
