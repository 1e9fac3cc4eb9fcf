// Agents: the saved agents, with Run, Edit, Export and Delete; New agent and Import.
import { useState } from "react";
import { Download, Pencil, Play, Plus, Trash2, Upload } from "lucide-react";
import { useApi } from "../lib/useApi";
import { href, navigate, useRoute } from "../lib/router";
import { ApiFailure, useTransport } from "../transport";
import { EmptyState, ErrorBanner, Modal, formatTime } from "../components/common";
import { StartRunDialog } from "../components/StartRunDialog";
import { ImportDialog } from "../agents/ImportDialog";
import { ExportDialog } from "../agents/ExportDialog";
import { demoInputFor, useDemo } from "../agents/demo";
import "../agents/agents.css";


export function AgentsPage() {
  const list = useApi("agents_list", {});
  const demo = useDemo();
  const [running, setRunning] = useState<string | null>(null);
  const [importing, setImporting] = useState(false);
  const [deleting, setDeleting] = useState<string | null>(null);
  const [exporting, setExporting] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const agents = list.data?.agents ?? [];
  const justSaved = useRoute().query.get("saved");

  return (
    <div className="page agents-page">
      <div className="toolbar">
        <h1 className="grow" style={{ margin: 0 }}>
          Agents
        </h1>
        <button type="button" onClick={() => setImporting(true)} data-testid="import-agent">
          <Upload size={14} aria-hidden /> Import
        </button>
        <a className="button primary" href={href(["agents", "new"])} data-testid="new-agent">
          <Plus size={14} aria-hidden /> New agent
        </a>
      </div>
      <ErrorBanner error={list.error} title="Could not list the agents" />
      {justSaved && !notice && agents.some((a) => a.name === justSaved) ? (
        <div className="banner info" role="status" data-testid="saved-notice">
          Saved <span className="mono">{justSaved}</span>. Run it with its Run button, or open it to edit.
        </div>
      ) : null}
      {notice ? (
        <div className="banner info" role="status">
          {notice}
        </div>
      ) : null}
      {list.data && agents.length === 0 ? (
        <EmptyState action={<a className="button primary" href={href(["agents", "new"])}>Describe your first agent</a>}>
          No agents yet. Describe what one should do and Waymark drafts it for you, or import a spec file.
        </EmptyState>
      ) : null}
      {agents.length > 0 ? (
        <table className="list" data-testid="agents-list">
          <thead>
            <tr>
              <th>Name</th>
              <th>Description</th>
              <th>Updated</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {agents.map((a) => (
              <tr key={a.name} data-testid={`agent-row-${a.name}`} className={a.name === justSaved ? "just-saved" : undefined}>
                <td>
                  <a href={href(["agents", a.name])} className="mono">
                    {a.name}
                  </a>
                </td>
                <td className="agent-desc">{a.description || <span className="muted">No description</span>}</td>
                <td className="nowrap muted" title={a.hash}>
                  {formatTime(a.updated_at_ms)}
                </td>
                <td className="nowrap actions">
                  <button type="button" className="small primary" onClick={() => setRunning(a.name)} data-testid={`run-agent-${a.name}`} aria-label={`Run ${a.name}`}>
                    <Play size={12} aria-hidden /> Run
                  </button>
                  <button type="button" className="small" onClick={() => navigate(href(["agents", a.name]))} aria-label={`Edit ${a.name}`} data-testid={`edit-agent-${a.name}`}>
                    <Pencil size={12} aria-hidden /> Edit
                  </button>
                  <button type="button" className="small" onClick={() => setExporting(a.name)} aria-label={`Export ${a.name}`} data-testid={`export-agent-${a.name}`}>
                    <Download size={12} aria-hidden /> Export
                  </button>
                  <button type="button" className="small danger" onClick={() => setDeleting(a.name)} aria-label={`Delete ${a.name}`} data-testid={`delete-agent-${a.name}`}>
                    <Trash2 size={12} aria-hidden /> Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {running ? (
        <StartRunDialog agents={agents.map((a) => a.name)} initialAgent={running} initialInput={demoInputFor(demo, running)} onClose={() => setRunning(null)} />
      ) : null}
      {importing ? (
        <ImportDialog
          onClose={() => setImporting(false)}
          onImported={(agent) => {
            setImporting(false);
            setNotice(`Imported ${agent.name}.`);
            void list.reload();
          }}
        />
      ) : null}
      {exporting ? <ExportDialog name={exporting} onClose={() => setExporting(null)} /> : null}
      {deleting ? (
        <DeleteDialog
          name={deleting}
          onClose={() => setDeleting(null)}
          onDeleted={() => {
            setDeleting(null);
            setNotice(`Deleted ${deleting}. Its past runs are kept.`);
            void list.reload();
          }}
        />
      ) : null}
    </div>
  );
}

function DeleteDialog({ name, onClose, onDeleted }: { name: string; onClose: () => void; onDeleted: () => void }) {
  const transport = useTransport();
  const [error, setError] = useState<ApiFailure | null>(null);
  const [pending, setPending] = useState(false);
  const remove = async () => {
    setPending(true);
    try {
      await transport.call("agents_delete", { name });
      onDeleted();
    } catch (e) {
      setError(e instanceof ApiFailure ? e : new ApiFailure({ message: String(e) }));
    } finally {
      setPending(false);
    }
  };
  return (
    <Modal title={`Delete ${name}?`} onClose={onClose}>
      <p>
        The agent <strong className="mono">{name}</strong> and its saved versions are deleted; runs it already made stay in the run list. Export it first to keep a copy.
      </p>
      <ErrorBanner error={error} />
      <div className="row">
        <div className="grow" />
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="primary danger-fill" onClick={() => void remove()} disabled={pending} data-testid="confirm-delete">
          {pending ? "Deleting…" : "Delete"}
        </button>
      </div>
    </Modal>
  );
}
