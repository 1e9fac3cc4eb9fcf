// A send_email step as the email it sent (or tried to): From, To, Cc, Subject, its Message-ID
// and threading headers, and a reviewer's edit (who, which fields from → to). A send cut off
// mid-way may or may not have gone out: "Look it up in Sent" settles it by the Message-ID.
import { useState } from "react";
import { Search } from "lucide-react";
import type { RunsSettleSendResponse } from "../bindings/RunsSettleSendResponse";
import type { StepView } from "../bindings/StepView";
import { ErrorBanner } from "../components/common";
import { useAction } from "../lib/useApi";
import { useTransport } from "../transport";
import { DraftPreview } from "./EmailApproval";
import { changeText, sentEmailOf } from "./email";
import "./mail.css";

export function SentEmailFacts({ step }: { step: StepView }) {
  const sent = sentEmailOf(step.input);
  if (!sent) return null;
  const done = step.status === "succeeded";
  return (
    <section className="stack sent-email" aria-label="The email" data-testid="sent-email">
      <h3 className="email-section-title">{done ? "The email sent" : "The email"}</h3>
      {sent.draft ? <DraftPreview draft={sent.draft} from={sent.from ?? sent.account ?? "–"} testId="sent-draft" /> : null}
      <dl className="facts email-threading">
        <dt>Account</dt>
        <dd>{sent.account ?? "–"}</dd>
        <dt>Message-ID</dt>
        <dd className="mono" data-testid="sent-message-id">
          {sent.messageId ?? "–"}
        </dd>
        <dt>In-Reply-To</dt>
        <dd className="mono" data-testid="sent-in-reply-to">
          {sent.inReplyTo ?? "– (a new thread)"}
        </dd>
        {sent.references.length ? (
          <>
            <dt>References</dt>
            <dd className="mono">{sent.references.join(" ")}</dd>
          </>
        ) : null}
      </dl>
      {sent.edit ? (
        <div className="banner info stack email-edit" data-testid="sent-edit">
          <strong>
            Edited by the reviewer before sending{sent.edit.by ? ` (via ${sent.edit.by})` : ""}; the model was told.
          </strong>
          <table className="list change-table">
            <thead>
              <tr>
                <th>Field</th>
                <th>The model wrote</th>
                <th>Sent</th>
              </tr>
            </thead>
            <tbody>
              {sent.edit.changes.map(([field, c]) => (
                <tr key={field} data-testid={`sent-change-${field}`}>
                  <td className="mono">{field}</td>
                  <td className="change-from">{changeText(c.from)}</td>
                  <td className="change-to">{changeText(c.to)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

const OUTCOMES: Record<string, string> = {
  sent: "Found in Sent: the email went out. The step is marked done and the run goes on.",
  not_sent: "Not in Sent: the email had not gone out, so it is sent again now.",
  in_doubt:
    "A copy is in Sent but still marked pending: the server may or may not have taken the message. Ask the recipient or check the mail server's log, then use Mark done or Retry anyway.",
};

export function settleMessage(r: RunsSettleSendResponse): string {
  return OUTCOMES[r.outcome] ?? `The lookup answered ${r.outcome}.`;
}

/** The settle part of a needs-attention banner for a send_email step. */
export function SettleSend({ runId, step, onSettled }: { runId: string; step: StepView; onSettled: (r: RunsSettleSendResponse) => void }) {
  const transport = useTransport();
  const sent = sentEmailOf(step.input);
  const [result, setResult] = useState<RunsSettleSendResponse | null>(null);
  const act = useAction(async () => {
    const r = await transport.call("runs_settle_send", { run_id: runId, step: step.key });
    setResult(r);
    onSettled(r);
  });
  return (
    <div className="stack settle-send" data-testid="settle-send">
      <div>
        <strong>This email may or may not have been sent.</strong> The send was cut off mid-way. Its Message-ID is{" "}
        <code data-testid="settle-message-id">{sent?.messageId ?? "unknown"}</code>
        {sent?.draft ? (
          <>
            {" "}
            (“{sent.draft.subject}” to {sent.draft.to.join(", ")})
          </>
        ) : null}
        . Before an email is handed to the mail server, a copy marked pending goes to Sent, so Sent tells whether it went out.
      </div>
      <div className="row wrap">
        <button type="button" className="primary" disabled={act.pending} onClick={() => void act.run()} data-testid="settle-send-button">
          <Search size={13} aria-hidden /> {act.pending ? "Looking…" : "Look it up in Sent"}
        </button>
      </div>
      {result ? (
        <div className={`banner ${result.outcome === "in_doubt" ? "warn" : "info"}`} role="status" data-testid="settle-outcome" data-outcome={result.outcome}>
          {settleMessage(result)}
        </div>
      ) : null}
      <ErrorBanner error={act.error} title="Could not look it up" />
    </div>
  );
}
