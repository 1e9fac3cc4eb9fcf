// A watched mail folder's live state (and a trigger's): a badge in the state's colour, and when
// it last looked, last found mail, last failed, and how many runs it started.
import type { FolderStatus } from "../bindings/FolderStatus";
import "./mail.css";

const LABELS: Record<string, { label: string; title: string }> = {
  idle: { label: "connected, idle", title: "Signed in and waiting: the server says at once when mail arrives (IMAP IDLE)" },
  polling: { label: "polling", title: "Signed in; the server cannot say when mail arrives, so the folder is looked at every few seconds" },
  connecting: { label: "connecting", title: "Signing in (again, after an error, with a growing pause)" },
  error: { label: "error", title: "The last attempt failed: see the error" },
  active: { label: "active", title: "Listening" },
  not_running: { label: "not running here", title: "This process runs no triggers (the desktop app and `waymark serve` do)" },
};

export function StateBadge({ state, testId }: { state: string; testId?: string }) {
  const l = LABELS[state] ?? { label: state.replace(/_/g, " "), title: state };
  return (
    <span className={`watch-state ${state}`} data-state={state} title={l.title} data-testid={testId}>
      {l.label}
    </span>
  );
}

/** "just now", "42 s ago", "5 min ago", or the date. */
export function ago(ms: number | null | undefined, now = Date.now()): string {
  if (!ms) return "never";
  const d = Math.max(0, now - ms);
  if (d < 5_000) return "just now";
  if (d < 60_000) return `${Math.round(d / 1000)} s ago`;
  if (d < 3_600_000) return `${Math.round(d / 60_000)} min ago`;
  return new Date(ms).toLocaleString();
}

/** When the folder was last looked at, last had mail, and the runs it started. */
export function FolderTimes({ f }: { f: FolderStatus }) {
  return (
    <span className="muted">
      checked <span title={f.last_checked_ms ? new Date(f.last_checked_ms).toLocaleString() : undefined}>{ago(f.last_checked_ms)}</span> · last message{" "}
      <span title={f.last_message_ms ? new Date(f.last_message_ms).toLocaleString() : undefined}>{ago(f.last_message_ms)}</span> · {f.runs_started}{" "}
      {f.runs_started === 1 ? "run" : "runs"} started
    </span>
  );
}

export function FolderError({ f }: { f: FolderStatus }) {
  if (!f.last_error) return null;
  return (
    <div className="watch-error" data-testid="folder-error">
      {f.state === "error" || f.state === "connecting" ? "" : "Earlier: "}
      {f.last_error}
      {f.last_error_ms ? <span className="muted"> ({ago(f.last_error_ms)})</span> : null}
    </div>
  );
}
