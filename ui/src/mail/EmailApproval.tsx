// The approval of a send_email call, as the email it would send: From (the account), To, Cc,
// Subject and the text, "In reply to" the message that started the run (folded below as the
// thread). Edit turns the fields into inputs in place; Approve sends the reviewer's arguments
// only when they changed (the server checks them against the tool's schema and records the
// edit), else approves the model's call as it is. Both confirm first, in place.
import { useMemo, useState } from "react";
import { Pencil, Send, Undo2 } from "lucide-react";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import type { StepView } from "../bindings/StepView";
import { ErrorBanner } from "../components/common";
import { useAction, useApi } from "../lib/useApi";
import { useTransport } from "../transport";
import { EmailView } from "./EmailView";
import { draftOf, emailOfRunInput, sendingAccountOfRunInput, type EmailDraft } from "./email";
import "./mail.css";

type Fields = { to: string; cc: string; subject: string; body: string };

const fieldsOf = (d: EmailDraft): Fields => ({ to: d.to.join(", "), cc: (d.cc ?? []).join(", "), subject: d.subject, body: d.body });

/** "a@x, b@y; c@z" → ["a@x", "b@y", "c@z"]. */
export function addressList(text: string): string[] {
  return text
    .split(/[,;\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The account's From line ("Waymark sales <sales@waymark.test>"), or its name while unknown. */
function useFromLine(account: string | null): string {
  const accounts = useApi("mail_accounts_list", {});
  const view = accounts.data?.accounts.find((a) => a.account.name === account);
  if (!account) return "the agent's mail account";
  if (!view) return account;
  const { address, display_name } = view.account;
  return display_name ? `${display_name} <${address}>` : address;
}

/** A draft read-only, as an email (the confirm dialog of a timeline row shows it too). */
export function DraftPreview({ draft, from, testId = "email-draft" }: { draft: EmailDraft; from: string; testId?: string }) {
  return (
    <div className="email-view draft" data-testid={testId}>
      <dl className="email-headers">
        <dt>From</dt>
        <dd data-testid="draft-from">{from}</dd>
        <dt>To</dt>
        <dd data-testid="draft-to">{draft.to.join(", ") || <span className="field-error">no recipient</span>}</dd>
        {draft.cc?.length ? (
          <>
            <dt>Cc</dt>
            <dd data-testid="draft-cc">{draft.cc.join(", ")}</dd>
          </>
        ) : null}
        <dt>Subject</dt>
        <dd className="email-subject-line" data-testid="draft-subject">
          {draft.subject || <span className="muted">(no subject)</span>}
        </dd>
      </dl>
      <div className="email-body" data-testid="draft-body">
        {draft.body || <span className="muted">(no text)</span>}
      </div>
    </div>
  );
}

/** A send_email call's draft with the From line of the run's account (the timeline row's confirm dialog). */
export function CallDraftPreview({ draft, runInput }: { draft: EmailDraft; runInput: JsonValue | null }) {
  const from = useFromLine(runInput === null ? null : sendingAccountOfRunInput(runInput));
  return <DraftPreview draft={draft} from={from} />;
}

export function EmailApproval({ runId, step, runInput, onDone }: { runId: string; step: StepView; runInput: JsonValue | null; onDone: () => void }) {
  const transport = useTransport();
  const args = step.call?.arguments ?? null;
  const original = useMemo(() => draftOf(args) ?? { to: [], subject: "", body: "" }, [args]);
  const thread = useMemo(() => (runInput === null ? null : emailOfRunInput(runInput)), [runInput]);
  const from = useFromLine(runInput === null ? null : sendingAccountOfRunInput(runInput));
  const [editing, setEditing] = useState(false);
  const [fields, setFields] = useState<Fields>(() => fieldsOf(original));
  const [confirm, setConfirm] = useState<"approve" | "reject" | null>(null);
  const [reason, setReason] = useState("");

  const edited: EmailDraft = { to: addressList(fields.to), subject: fields.subject, body: fields.body };
  const cc = addressList(fields.cc);
  if (original.cc !== undefined || cc.length) edited.cc = cc;
  const changed = editing
    ? ["to", "cc", "subject", "body"].filter((k) => {
        if (k === "to") return !sameList(edited.to, original.to);
        if (k === "cc") return !sameList(edited.cc ?? [], original.cc ?? []);
        return k === "subject" ? edited.subject !== original.subject : edited.body !== original.body;
      })
    : [];
  const shown = changed.length ? edited : original;

  const act = useAction(async (approve: boolean) => {
    if (!approve) await transport.call("runs_reject", { run_id: runId, step: step.key, reason: reason || undefined });
    else if (changed.length) {
      // The model's other arguments (none today) are kept; the four fields are the reviewer's.
      const base: { [key: string]: JsonValue } = args && typeof args === "object" && !Array.isArray(args) ? { ...args } : {};
      const next: { [key: string]: JsonValue } = { ...base, to: edited.to, subject: edited.subject, body: edited.body };
      if (edited.cc !== undefined) next.cc = edited.cc;
      else delete next.cc;
      await transport.call("runs_approve", { run_id: runId, step: step.key, arguments: next });
    } else await transport.call("runs_approve", { run_id: runId, step: step.key });
    setConfirm(null);
    onDone();
  });
  const set = (k: keyof Fields) => (e: { target: { value: string } }) => {
    setFields((f) => ({ ...f, [k]: e.target.value }));
    // A changed draft needs its own confirmation.
    setConfirm(null);
    act.clearError();
  };

  return (
    <section className="approval-box email-approval banner info stack" aria-label="Approve this email" data-testid="email-approval">
      <div className="row wrap">
        <strong className="grow">This email waits for your approval before it is sent.</strong>
        {changed.length ? (
          <span className="badge warn" data-testid="draft-edited">
            edited: {changed.join(", ")}
          </span>
        ) : null}
        {!editing ? (
          <button type="button" className="small" onClick={() => setEditing(true)} data-testid="edit-email">
            <Pencil size={12} aria-hidden /> Edit
          </button>
        ) : (
          <button
            type="button"
            className="small"
            onClick={() => {
              setFields(fieldsOf(original));
              setEditing(false);
              act.clearError();
            }}
            data-testid="discard-edit"
          >
            <Undo2 size={12} aria-hidden /> Discard changes
          </button>
        )}
      </div>
      {editing ? (
        <div className="email-view draft editing stack" data-testid="email-draft-form">
          <div className="email-headers">
            <span className="muted">From</span>
            <span data-testid="draft-from">{from}</span>
          </div>
          <label>
            To
            <span className="hint">Addresses separated by commas. The server allows the people of the thread and the spec's allowed recipients.</span>
            <input value={fields.to} onChange={set("to")} spellCheck={false} data-testid="draft-to-input" />
          </label>
          <label>
            Cc
            <input value={fields.cc} onChange={set("cc")} spellCheck={false} data-testid="draft-cc-input" />
          </label>
          <label>
            Subject
            <input value={fields.subject} onChange={set("subject")} data-testid="draft-subject-input" />
          </label>
          <label>
            Text
            <textarea className="email-textarea" rows={Math.min(18, Math.max(6, fields.body.split("\n").length + 1))} value={fields.body} onChange={set("body")} data-testid="draft-body-input" />
          </label>
        </div>
      ) : (
        <DraftPreview draft={original} from={from} />
      )}
      {thread ? (
        <div className="muted" data-testid="in-reply-to">
          In reply to: <strong>{thread.email.subject || "(no subject)"}</strong>
          {thread.email.from.length ? ` from ${thread.email.from[0].name || thread.email.from[0].email}` : ""}
        </div>
      ) : null}
      <ErrorBanner error={act.error} title={confirm === "reject" ? "Could not reject" : "Could not approve"} />
      {confirm === null ? (
        <div className="row">
          <div className="grow" />
          <button type="button" className="danger" onClick={() => setConfirm("reject")} data-testid="reject-step">
            Reject
          </button>
          <button type="button" className="primary" onClick={() => setConfirm("approve")} data-testid="approve-step">
            <Send size={13} aria-hidden /> {changed.length ? "Approve with edits" : "Approve"}
          </button>
        </div>
      ) : confirm === "approve" ? (
        <div className="confirm-box stack" role="group" aria-label="Confirm sending">
          <span>
            Send this email to <strong>{shown.to.join(", ") || "nobody"}</strong> now?{" "}
            {changed.length ? `Your changes (${changed.join(", ")}) are recorded and the model is told.` : "It goes out as the model wrote it."}
          </span>
          <div className="row">
            <div className="grow" />
            <button type="button" onClick={() => setConfirm(null)}>
              Back
            </button>
            <button type="button" className="primary" disabled={act.pending} onClick={() => void act.run(true)} data-testid="confirm-approve">
              {act.pending ? "Sending…" : "Send email"}
            </button>
          </div>
        </div>
      ) : (
        <div className="confirm-box stack" role="group" aria-label="Confirm rejecting">
          <label>
            Reason
            <span className="hint">Optional; the model sees it. Nothing is sent.</span>
            <input value={reason} onChange={(e) => setReason(e.target.value)} data-testid="reject-reason" />
          </label>
          <div className="row">
            <div className="grow" />
            <button type="button" onClick={() => setConfirm(null)}>
              Back
            </button>
            <button type="button" className="primary" disabled={act.pending} onClick={() => void act.run(false)} data-testid="confirm-reject">
              Reject
            </button>
          </div>
        </div>
      )}
      {thread ? (
        <details className="thread-context" data-testid="thread-context">
          <summary>The message it answers</summary>
          <EmailView email={thread.email} warning={thread.warning} testId="thread-email" />
        </details>
      ) : null}
    </section>
  );
}
