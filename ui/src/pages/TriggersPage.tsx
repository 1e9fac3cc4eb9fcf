// Triggers: every trigger of every saved agent in one list, live: what it is, its state (a
// watched mail folder's connection, a webhook's or a schedule's), and its latest activity (the
// last message or delivery, the last error), re-read every few seconds while the page shows.
import { Clock, Hand, Mail, Webhook } from "lucide-react";
import type { TriggerView } from "../bindings/TriggerView";
import { EmptyState, ErrorBanner } from "../components/common";
import { href } from "../lib/router";
import { useApi } from "../lib/useApi";
import { usePoll } from "../lib/usePoll";
import { FolderError, FolderTimes, StateBadge, ago } from "../mail/WatchStatus";
import "../agents/agents.css";
import "../mail/mail.css";

const KINDS: Record<string, { label: string; icon: typeof Mail }> = {
  email: { label: "Email", icon: Mail },
  webhook: { label: "Webhook", icon: Webhook },
  cron: { label: "Schedule", icon: Clock },
  manual: { label: "Manual", icon: Hand },
};

export function TriggersPage() {
  const list = useApi("triggers_list", {});
  usePoll(list.reload, 3000);
  const triggers = list.data?.triggers ?? [];
  const notRunning = triggers.length > 0 && triggers.every((t) => t.state === "not_running" || t.kind === "manual");
  return (
    <div className="page triggers-page">
      <div className="toolbar">
        <h1 className="grow" style={{ margin: 0 }}>
          Triggers
        </h1>
        <a className="button" href={href(["settings"])} title="Mail accounts are in Settings">
          <Mail size={14} aria-hidden /> Mail accounts
        </a>
      </div>
      <p className="hint">What starts runs: each saved agent's triggers, with their live state. Edit an agent to change its triggers.</p>
      <ErrorBanner error={list.error} title="Could not list the triggers" />
      {notRunning && triggers.some((t) => t.state === "not_running") ? (
        <div className="banner info">This process runs no triggers: the desktop app and <code>waymark serve</code> do.</div>
      ) : null}
      {list.data && triggers.length === 0 ? (
        <EmptyState action={<a className="button primary" href={href(["agents", "new"])}>New agent</a>}>No agent has a trigger yet.</EmptyState>
      ) : null}
      {triggers.length ? (
        <table className="list" data-testid="triggers-list">
          <thead>
            <tr>
              <th>Agent</th>
              <th>Kind</th>
              <th>What</th>
              <th>State</th>
              <th>Activity</th>
            </tr>
          </thead>
          <tbody>
            {triggers.map((t, i) => (
              <TriggerRow key={`${t.agent}-${i}`} t={t} />
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}

function TriggerRow({ t }: { t: TriggerView }) {
  const kind = KINDS[t.kind] ?? { label: t.kind, icon: Hand };
  const Icon = kind.icon;
  return (
    <tr data-testid={`trigger-${t.agent}-${t.kind}`} data-state={t.state}>
      <td>
        <a href={href(["agents", t.agent])} className="mono">
          {t.agent}
        </a>
      </td>
      <td className="nowrap">
        <span className="row">
          <Icon size={14} aria-hidden /> {kind.label}
        </span>
      </td>
      <td className="mono">{t.summary}</td>
      <td>{t.kind === "manual" ? <span className="muted">–</span> : <StateBadge state={t.state} testId="trigger-state" />}</td>
      <td>
        <Activity t={t} />
      </td>
    </tr>
  );
}

function Activity({ t }: { t: TriggerView }) {
  if (t.email) {
    return (
      <div className="stack" style={{ gap: 2 }}>
        <FolderTimes f={t.email} />
        <FolderError f={t.email} />
      </div>
    );
  }
  if (t.kind === "webhook") {
    const d = t.last_delivery;
    if (!d) return <span className="muted">No delivery since the server started.</span>;
    return (
      <span className="muted" data-testid="trigger-last-delivery">
        Last delivery {ago(d.at)}: <span className={d.status >= 400 ? "watch-error" : undefined}>HTTP {d.status}</span>
        {d.run_id ? (
          <>
            {" "}
            → <a href={href(["runs", d.run_id])}>run {d.run_id.slice(0, 13)}…</a>
          </>
        ) : null}
      </span>
    );
  }
  if (t.kind === "manual") return <span className="muted">From the app, the CLI or the API.</span>;
  return <span className="muted">Runs appear in Runs as they start.</span>;
}
