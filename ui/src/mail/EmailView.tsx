// An email as a person reads it: subject, From / To / Cc / Date, the text, and attachments
// listed by name, type and size (never opened here). The message is data from outside: it is
// shown as text, never as HTML.
import { Paperclip } from "lucide-react";
import type { IncomingEmail } from "../bindings/IncomingEmail";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import { JsonView } from "../components/JsonView";
import { formatAddresses, formatMailDate, formatSize, type EmailRunInput } from "./email";
import "./mail.css";

export function EmailView({ email, warning, testId = "email-view" }: { email: IncomingEmail; warning?: string; testId?: string }) {
  const replyTo = formatAddresses(email.reply_to);
  return (
    <article className="email-view" data-testid={testId} aria-label={`Email: ${email.subject || "no subject"}`}>
      <div className="email-subject" data-testid="email-subject">
        {email.subject || <span className="muted">(no subject)</span>}
      </div>
      <dl className="email-headers">
        <dt>From</dt>
        <dd data-testid="email-from">{formatAddresses(email.from) || "–"}</dd>
        <dt>To</dt>
        <dd data-testid="email-to">{formatAddresses(email.to) || "–"}</dd>
        {email.cc.length ? (
          <>
            <dt>Cc</dt>
            <dd data-testid="email-cc">{formatAddresses(email.cc)}</dd>
          </>
        ) : null}
        {replyTo && replyTo !== formatAddresses(email.from) ? (
          <>
            <dt>Reply-To</dt>
            <dd>{replyTo}</dd>
          </>
        ) : null}
        <dt>Date</dt>
        <dd data-testid="email-date">{formatMailDate(email.date)}</dd>
      </dl>
      {email.text_from_html || email.text_truncated || warning ? (
        <div className="email-notes" data-testid="email-notes">
          {email.text_from_html ? <span className="badge">converted from HTML</span> : null}
          {email.text_truncated ? <span className="badge warn">truncated: the text is longer than shown</span> : null}
          {warning ? <span className="badge warn">{warning}</span> : null}
        </div>
      ) : null}
      <div className="email-body" data-testid="email-body">
        {email.text.trim() ? email.text : <span className="muted">(no text)</span>}
      </div>
      {email.attachments.length ? (
        <ul className="email-attachments" aria-label="Attachments" data-testid="email-attachments">
          {email.attachments.map((a, i) => (
            <li key={i}>
              <Paperclip size={12} aria-hidden /> <span className="mono">{a.name ?? "(unnamed)"}</span> <span className="muted">{a.content_type}</span>{" "}
              <span className="muted">{formatSize(a.size)}</span>
            </li>
          ))}
        </ul>
      ) : null}
      <details className="email-ids">
        <summary>Headers for threading</summary>
        <dl className="email-headers">
          <dt>Message-ID</dt>
          <dd className="mono">{email.message_id ?? "–"}</dd>
          {email.in_reply_to.length ? (
            <>
              <dt>In-Reply-To</dt>
              <dd className="mono">{email.in_reply_to.join(" ")}</dd>
            </>
          ) : null}
          {email.references.length ? (
            <>
              <dt>References</dt>
              <dd className="mono">{email.references.join(" ")}</dd>
            </>
          ) : null}
        </dl>
      </details>
    </article>
  );
}

/** The run's input when an email started it: the message, and the raw input one click away. */
export function IncomingEmailInput({ mail, raw }: { mail: EmailRunInput; raw: JsonValue }) {
  return (
    <section className="stack" aria-label="Incoming email" data-testid="incoming-email">
      <h3 className="email-section-title">
        Started by an email in <span className="mono">{mail.account}/{mail.folder}</span>
      </h3>
      <EmailView email={mail.email} warning={mail.warning} />
      <details className="raw-input">
        <summary>Raw input</summary>
        <JsonView value={raw} label="Input" defaultDepth={1} />
      </details>
    </section>
  );
}
