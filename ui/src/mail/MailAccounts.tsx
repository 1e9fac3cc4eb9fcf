// Settings → Mail accounts: each account with its servers, where its password is, and the
// folders email triggers watch on it, live (re-read every few seconds while the page shows);
// Test connection, Edit, Remove (confirmed); Add.
import { useState } from "react";
import { Pencil, Plug, Plus, Trash2 } from "lucide-react";
import type { ConnectionCheck } from "../bindings/ConnectionCheck";
import type { MailAccountTestResponse } from "../bindings/MailAccountTestResponse";
import type { MailAccountView } from "../bindings/MailAccountView";
import type { SmtpSettings } from "../bindings/SmtpSettings";
import type { ImapSettings } from "../bindings/ImapSettings";
import { EmptyState, ErrorBanner, Modal } from "../components/common";
import { useAction, useApi } from "../lib/useApi";
import { usePoll } from "../lib/usePoll";
import { useTransport } from "../transport";
import { href } from "../lib/router";
import { MailAccountForm } from "./MailAccountForm";
import { FolderError, FolderTimes, StateBadge } from "./WatchStatus";
import "./mail.css";

const POLL_MS = 3000;

export function MailAccounts() {
  const list = useApi("mail_accounts_list", {});
  const [editing, setEditing] = useState<string | null>(null); // an account's name, or "" for a new one
  const [notice, setNotice] = useState<string | null>(null);
  usePoll(list.reload, POLL_MS, editing === null);
  const accounts = list.data?.accounts ?? [];
  const done = (text: string) => {
    setEditing(null);
    setNotice(text);
    void list.reload();
  };
  return (
    <section aria-labelledby="set-mail" data-testid="mail-accounts">
      <h2 id="set-mail">Mail accounts</h2>
      <p className="hint">
        An email trigger starts a run for each new message in a folder of an account; <code>send_email</code> sends from one, on the thread of the message that started the run. Passwords are write-only.
      </p>
      <ErrorBanner error={list.error} title="Could not list the mail accounts" />
      {notice ? (
        <div className="muted" role="status" data-testid="mail-notice">
          {notice}
        </div>
      ) : null}
      <div className="stack">
        {list.data && accounts.length === 0 && editing !== "" ? (
          <EmptyState
            action={
              <button type="button" className="primary" onClick={() => setEditing("")} data-testid="add-mail-account">
                <Plus size={14} aria-hidden /> Add a mail account
              </button>
            }
          >
            No mail account yet. Add one to let agents read a mailbox and answer by email.
          </EmptyState>
        ) : null}
        {accounts.map((v) =>
          editing === v.account.name ? (
            <MailAccountForm key={v.account.name} initial={v} onCancel={() => setEditing(null)} onSaved={(n) => done(`Saved ${n}.`)} />
          ) : (
            <AccountCard key={v.account.name} view={v} onEdit={() => setEditing(v.account.name)} onRemoved={() => done(`Removed ${v.account.name}.`)} />
          ),
        )}
        {editing === "" ? <MailAccountForm initial={null} onCancel={() => setEditing(null)} onSaved={(n) => done(`Added ${n}.`)} /> : null}
        {accounts.length > 0 && editing !== "" ? (
          <div>
            <button type="button" onClick={() => setEditing("")} data-testid="add-mail-account">
              <Plus size={14} aria-hidden /> Add a mail account
            </button>
          </div>
        ) : null}
      </div>
    </section>
  );
}

function serverLine(s: ImapSettings | SmtpSettings): string {
  const sec = s.security === "tls" ? "TLS" : s.security === "starttls" ? "STARTTLS" : "no encryption";
  return `${s.host}:${s.port} (${sec})${s.user ? `, user ${s.user}` : ", no sign-in"}`;
}

function passwordLine(v: MailAccountView): string {
  if (v.password === "env") return `password from $${v.password_env ?? "?"}`;
  if (v.password === "xoauth2") return "XOAUTH2 token command";
  return "password stored";
}

function AccountCard({ view, onEdit, onRemoved }: { view: MailAccountView; onEdit: () => void; onRemoved: () => void }) {
  const transport = useTransport();
  const a = view.account;
  const [result, setResult] = useState<MailAccountTestResponse | null>(null);
  const [removing, setRemoving] = useState(false);
  const test = useAction(async () => {
    setResult(null);
    setResult(await transport.call("mail_account_test", { name: a.name }));
  });
  const remove = useAction(async () => {
    await transport.call("mail_account_delete", { name: a.name });
    setRemoving(false);
    onRemoved();
  });
  const users = [...new Set(view.folders.flatMap((f) => f.agents))];
  return (
    <div className="card stack mail-account" data-testid={`mail-account-${a.name}`}>
      <div className="account-head">
        <h3 className="grow" style={{ margin: 0 }}>
          <span className="mono">{a.name}</span> <span className="muted">{a.display_name ? `${a.display_name} <${a.address}>` : a.address}</span>
        </h3>
        <span className="badge" data-testid="mail-password-kind">
          {passwordLine(view)}
        </span>
      </div>
      <div className="servers muted">
        <div>IMAP {serverLine(a.imap)}</div>
        <div>SMTP {serverLine(a.smtp)}</div>
      </div>
      {view.folders.length ? (
        <table className="list" aria-label={`Folders watched on ${a.name}`}>
          <thead>
            <tr>
              <th>Folder</th>
              <th>State</th>
              <th>Agents</th>
              <th>Activity</th>
            </tr>
          </thead>
          <tbody>
            {view.folders.map((f) => (
              <tr key={f.folder} data-testid={`mail-folder-${a.name}-${f.folder}`} data-state={f.state}>
                <td className="mono">{f.folder}</td>
                <td>
                  <StateBadge state={f.state} testId="folder-state" />
                </td>
                <td>
                  {f.agents.map((n) => (
                    <a key={n} href={href(["agents", n])} className="mono">
                      {n}{" "}
                    </a>
                  ))}
                </td>
                <td>
                  <FolderTimes f={f} />
                  <FolderError f={f} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <div className="muted" data-testid="mail-no-folders">
          No email trigger watches this account here (add one to an agent, or run the desktop app or <code>waymark serve</code>).
        </div>
      )}
      <div className="row wrap">
        <button type="button" onClick={() => void test.run()} disabled={test.pending} data-testid="mail-test">
          <Plug size={13} aria-hidden /> {test.pending ? "Testing…" : "Test connection"}
        </button>
        <button type="button" onClick={onEdit} data-testid="mail-edit">
          <Pencil size={13} aria-hidden /> Edit
        </button>
        <button type="button" className="danger" onClick={() => setRemoving(true)} data-testid="mail-remove">
          <Trash2 size={13} aria-hidden /> Remove
        </button>
      </div>
      <ErrorBanner error={test.error} title="Could not test" />
      {result ? (
        <div className="conn-check" role="status" data-testid="mail-test-result">
          <span>IMAP</span>
          <CheckLine check={result.imap} kind="imap" />
          <span>SMTP</span>
          <CheckLine check={result.smtp} kind="smtp" />
        </div>
      ) : null}
      {removing ? (
        <Modal title={`Remove ${a.name}?`} onClose={() => setRemoving(false)}>
          <div className="stack">
            <p>
              The account's settings and its stored password are deleted. Mail on the server is not touched.
              {users.length ? ` Email triggers of ${users.join(", ")} stop until an account named ${a.name} is added again.` : ""} Agents that send from it can no longer send.
            </p>
            <ErrorBanner error={remove.error} />
            <div className="row">
              <div className="grow" />
              <button type="button" onClick={() => setRemoving(false)}>
                Cancel
              </button>
              <button type="button" className="primary danger-fill" disabled={remove.pending} onClick={() => void remove.run()} data-testid="mail-confirm-remove">
                Remove
              </button>
            </div>
          </div>
        </Modal>
      ) : null}
    </div>
  );
}

function CheckLine({ check, kind }: { check: ConnectionCheck; kind: "imap" | "smtp" }) {
  if (!check.ok) {
    return (
      <span className="bad" data-testid={`mail-test-${kind}`} data-ok="false">
        failed: {check.error ?? "no reason given"}
      </span>
    );
  }
  const folders = check.folders ?? [];
  return (
    <span data-testid={`mail-test-${kind}`} data-ok="true">
      <span className="ok">ok</span>
      {kind === "imap" ? (
        <span className="muted">
          {" "}
          · {check.idle ? "IDLE: new mail is seen at once" : "no IDLE: folders are polled"} · {folders.length} {folders.length === 1 ? "folder" : "folders"}
          {folders.length ? ` (${folders.slice(0, 8).join(", ")}${folders.length > 8 ? ", …" : ""})` : ""}
        </span>
      ) : (
        <span className="muted"> · ready to send</span>
      )}
    </span>
  );
}
