// What the run page reads about email: an email trigger's run input, a send_email draft (the
// tool's arguments), and a send step's recorded input. The message itself is typed by the
// bindings (IncomingEmail); the envelopes around it are plain JSON the agent crate writes, so
// they are checked here, field by field, before the page trusts them.
import type { Address } from "../bindings/Address";
import type { IncomingEmail } from "../bindings/IncomingEmail";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import type { Security } from "../bindings/Security";

type Obj = { [key: string]: JsonValue };

function isObj(v: JsonValue | undefined): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function strings(v: JsonValue | undefined): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/** An email-triggered run's input (the agent crate's EmailRunInput, as pretty JSON text). */
export type EmailRunInput = {
  trigger: "email";
  account: string;
  folder: string;
  email: IncomingEmail;
  /** Set when the message could not be read whole. */
  warning?: string;
};

/** An agent run's input is `{spec, input: "<text>"}`: the email, when that text is one. */
export function emailOfRunInput(input: JsonValue): EmailRunInput | null {
  if (!isObj(input) || typeof input.input !== "string") return null;
  return emailOfText(input.input);
}

export function emailOfText(text: string): EmailRunInput | null {
  if (!text.trimStart().startsWith("{")) return null;
  let v: JsonValue;
  try {
    v = JSON.parse(text) as JsonValue;
  } catch {
    return null;
  }
  if (!isObj(v) || v.trigger !== "email" || !isObj(v.email)) return null;
  const e = v.email;
  const addresses = (x: JsonValue | undefined): Address[] =>
    Array.isArray(x) ? x.filter(isObj).map((a) => ({ name: typeof a.name === "string" ? a.name : null, email: typeof a.email === "string" ? a.email : "" })) : [];
  const email: IncomingEmail = {
    from: addresses(e.from),
    to: addresses(e.to),
    cc: addresses(e.cc),
    reply_to: addresses(e.reply_to),
    subject: typeof e.subject === "string" ? e.subject : "",
    date: typeof e.date === "string" ? e.date : null,
    message_id: typeof e.message_id === "string" ? e.message_id : null,
    in_reply_to: strings(e.in_reply_to),
    references: strings(e.references),
    text: typeof e.text === "string" ? e.text : "",
    text_from_html: e.text_from_html === true,
    text_truncated: e.text_truncated === true,
    attachments: Array.isArray(e.attachments)
      ? e.attachments.filter(isObj).map((a) => ({
          name: typeof a.name === "string" ? a.name : null,
          content_type: typeof a.content_type === "string" ? a.content_type : "application/octet-stream",
          size: typeof a.size === "number" ? a.size : 0,
        }))
      : [],
  };
  return {
    trigger: "email",
    account: typeof v.account === "string" ? v.account : "",
    folder: typeof v.folder === "string" ? v.folder : "",
    email,
    warning: typeof v.warning === "string" ? v.warning : undefined,
  };
}

/** The account an agent run sends from: `[email] account`, else its email trigger's. */
export function sendingAccountOfRunInput(input: JsonValue): string | null {
  if (!isObj(input) || !isObj(input.spec)) return null;
  const spec = input.spec;
  if (isObj(spec.email) && typeof spec.email.account === "string" && spec.email.account) return spec.email.account;
  const triggers = Array.isArray(spec.triggers) ? spec.triggers : [];
  for (const t of triggers) if (isObj(t) && t.kind === "email" && typeof t.account === "string") return t.account;
  return null;
}

/** The send_email tool's arguments (its input schema: to, cc, subject, body). */
export type EmailDraft = { to: string[]; cc?: string[]; subject: string; body: string };

/** A draft from the model's arguments; null when they are not a send_email call's shape. */
export function draftOf(args: JsonValue | null | undefined): EmailDraft | null {
  if (!isObj(args)) return null;
  const draft: EmailDraft = {
    to: strings(args.to),
    subject: typeof args.subject === "string" ? args.subject : "",
    body: typeof args.body === "string" ? args.body : "",
  };
  if (args.cc !== undefined) draft.cc = strings(args.cc);
  return draft;
}

/** What a reviewer changed in one field of a call. */
export type FieldChange = { from: JsonValue; to: JsonValue };

/** A send step's recorded input (`tool/N.i` of send_email). */
export type SentEmail = {
  draft: EmailDraft | null;
  account: string | null;
  from: string | null;
  messageId: string | null;
  inReplyTo: string | null;
  references: string[];
  edit: { by: string | null; changes: [string, FieldChange][] } | null;
};

export function sentEmailOf(input: JsonValue): SentEmail | null {
  if (!isObj(input) || input.tool !== "send_email") return null;
  const edit = isObj(input.edit) ? input.edit : null;
  const changes = edit && isObj(edit.changes) ? edit.changes : null;
  return {
    draft: draftOf(input.arguments),
    account: typeof input.account === "string" ? input.account : null,
    from: typeof input.from === "string" ? input.from : null,
    messageId: typeof input.message_id === "string" ? input.message_id : null,
    inReplyTo: typeof input.in_reply_to === "string" ? input.in_reply_to : null,
    references: strings(input.references),
    edit: edit
      ? {
          by: typeof edit.by === "string" ? edit.by : null,
          changes: changes ? Object.entries(changes).filter((e): e is [string, Obj] => isObj(e[1])).map(([k, c]) => [k, { from: c.from ?? null, to: c.to ?? null }]) : [],
        }
      : null,
  };
}

/** "Ann Buyer <ann@acme.test>", or the bare address. */
export function formatAddress(a: Address): string {
  return a.name ? `${a.name} <${a.email}>` : a.email;
}

export function formatAddresses(list: Address[]): string {
  return list.map(formatAddress).join(", ");
}

/** "12 KB", "1.4 MB". */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** An RFC 3339 date as the user's local time, or the text as it is. */
export function formatMailDate(date: string | null): string {
  if (!date) return "–";
  const t = Date.parse(date);
  return Number.isFinite(t) ? new Date(t).toLocaleString() : date;
}

/** A changed field's value as one line (lists joined, strings as they are). */
export function changeText(v: JsonValue): string {
  if (v === null) return "(nothing)";
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v.join(", ");
  return JSON.stringify(v);
}

/** Default ports: IMAP 993 over TLS, else 143; SMTP 465 over TLS, 587 with STARTTLS, 25 plain. */
export function defaultPort(proto: "imap" | "smtp", security: Security): number {
  if (proto === "imap") return security === "tls" ? 993 : 143;
  return security === "tls" ? 465 : security === "starttls" ? 587 : 25;
}
