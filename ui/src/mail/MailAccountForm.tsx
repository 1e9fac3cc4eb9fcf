// Adding or changing a mail account: its address, the IMAP and SMTP servers (the usual port
// follows the security chosen until a port is typed), and how it signs in: a password kept in
// the secret store (write-only: never shown, and dropped from the page as the save starts),
// one read from an environment variable, or an XOAUTH2 token command.
import { useId, useState, type FormEvent } from "react";
import type { MailAccount } from "../bindings/MailAccount";
import type { MailAccountSaveRequest } from "../bindings/MailAccountSaveRequest";
import type { MailAccountView } from "../bindings/MailAccountView";
import type { Security } from "../bindings/Security";
import { ErrorBanner } from "../components/common";
import { useAction } from "../lib/useApi";
import { useTransport } from "../transport";
import { defaultPort } from "./email";
import "./mail.css";

type Server = { host: string; port: string; security: Security; user: string };
type AuthMode = "stored" | "env" | "xoauth2";
type Form = {
  name: string;
  address: string;
  display_name: string;
  imap: Server;
  smtp: Server;
  auth: AuthMode;
  password: string;
  password_env: string;
  token_command: string;
};

const SECURITY: { value: Security; label: string }[] = [
  { value: "tls", label: "TLS" },
  { value: "starttls", label: "STARTTLS" },
  { value: "plain", label: "None (this computer only)" },
];

function formOf(view: MailAccountView | null): Form {
  if (!view) {
    return {
      name: "",
      address: "",
      display_name: "",
      imap: { host: "", port: "993", security: "tls", user: "" },
      smtp: { host: "", port: "465", security: "tls", user: "" },
      auth: "stored",
      password: "",
      password_env: "",
      token_command: "",
    };
  }
  const a = view.account;
  const server = (s: MailAccount["imap"] | MailAccount["smtp"]): Server => ({ host: s.host, port: String(s.port), security: s.security, user: s.user });
  return {
    name: a.name,
    address: a.address,
    display_name: a.display_name ?? "",
    imap: server(a.imap),
    smtp: server(a.smtp),
    auth: view.password === "env" ? "env" : view.password === "xoauth2" ? "xoauth2" : "stored",
    password: "",
    password_env: view.password_env ?? "",
    token_command: a.auth.kind === "xoauth2" ? a.auth.token_command : "",
  };
}

const portOk = (p: string) => /^\d+$/.test(p.trim()) && Number(p) >= 1 && Number(p) <= 65535;

export function MailAccountForm({ initial, onSaved, onCancel }: { initial: MailAccountView | null; onSaved: (name: string) => void; onCancel: () => void }) {
  const transport = useTransport();
  const id = useId();
  const [form, setForm] = useState<Form>(() => formOf(initial));
  // While adding, the SMTP user follows the IMAP user until it is typed in.
  const [smtpUserTouched, setSmtpUserTouched] = useState(initial !== null);
  const editing = initial !== null;
  const hadStored = initial?.password === "stored";

  const save = useAction(async (req: MailAccountSaveRequest) => {
    await transport.call("mail_account_save", req);
    onSaved(req.account.name);
  });

  const setServer = (proto: "imap" | "smtp", patch: Partial<Server>) =>
    setForm((f) => {
      const cur = f[proto];
      const next = { ...cur, ...patch };
      // A port still at the old security's usual value follows the new security.
      if (patch.security && patch.security !== cur.security && (cur.port.trim() === "" || cur.port === String(defaultPort(proto, cur.security)))) {
        next.port = String(defaultPort(proto, patch.security));
      }
      const out = { ...f, [proto]: next };
      if (proto === "imap" && patch.user !== undefined && !smtpUserTouched) out.smtp = { ...out.smtp, user: patch.user };
      return out;
    });

  const needsPassword = form.auth === "stored" && !hadStored;
  const ready =
    form.name.trim() !== "" &&
    form.address.trim() !== "" &&
    form.imap.host.trim() !== "" &&
    form.smtp.host.trim() !== "" &&
    portOk(form.imap.port) &&
    portOk(form.smtp.port) &&
    (form.auth !== "stored" || !needsPassword || form.password !== "") &&
    (form.auth !== "env" || form.password_env.trim() !== "") &&
    (form.auth !== "xoauth2" || form.token_command.trim() !== "");

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!ready || save.pending) return;
    const server = (s: Server) => ({ host: s.host.trim(), port: Number(s.port), security: s.security, user: s.user.trim() });
    const account: MailAccount = {
      name: form.name.trim(),
      address: form.address.trim(),
      imap: server(form.imap),
      smtp: server(form.smtp),
      auth: form.auth === "xoauth2" ? { kind: "xoauth2", token_command: form.token_command.trim() } : { kind: "password", secret_ref: "" },
    };
    if (form.display_name.trim()) account.display_name = form.display_name.trim();
    const req: MailAccountSaveRequest = { account };
    if (form.auth === "stored" && form.password !== "") req.password = form.password;
    if (form.auth === "env") req.password_env = form.password_env.trim();
    // The password leaves the page's state as the call starts; a failed save asks for it again.
    setForm((f) => ({ ...f, password: "" }));
    void save.run(req);
  };

  const serverFields = (proto: "imap" | "smtp") => {
    const s = form[proto];
    const label = proto === "imap" ? "IMAP (receiving)" : "SMTP (sending)";
    return (
      <fieldset data-testid={`mail-${proto}`}>
        <legend>{label}</legend>
        <label>
          Host
          <input value={s.host} onChange={(e) => setServer(proto, { host: e.target.value })} placeholder={proto === "imap" ? "imap.example.com" : "smtp.example.com"} spellCheck={false} data-testid={`mail-${proto}-host`} />
        </label>
        <label>
          Port
          <input inputMode="numeric" value={s.port} onChange={(e) => setServer(proto, { port: e.target.value })} aria-invalid={!portOk(s.port)} data-testid={`mail-${proto}-port`} />
        </label>
        <label>
          Security
          <select value={s.security} onChange={(e) => setServer(proto, { security: e.target.value as Security })} data-testid={`mail-${proto}-security`}>
            {SECURITY.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          User
          <input
            value={s.user}
            onChange={(e) => {
              if (proto === "smtp") setSmtpUserTouched(true);
              setServer(proto, { user: e.target.value });
            }}
            placeholder={proto === "imap" ? "usually the address" : "empty: send without signing in"}
            spellCheck={false}
            autoComplete="off"
            data-testid={`mail-${proto}-user`}
          />
        </label>
      </fieldset>
    );
  };

  return (
    <form className="card stack mail-form" onSubmit={submit} autoComplete="off" aria-label={editing ? `Edit mail account ${initial.account.name}` : "Add a mail account"} data-testid="mail-form">
      <h3 style={{ margin: 0 }}>{editing ? `Edit ${initial.account.name}` : "Add a mail account"}</h3>
      <div className="grid2">
        <label>
          Name
          <span className="hint">How agents name it (`account = "…"`): letters, digits, _ . -</span>
          <input value={form.name} disabled={editing} onChange={(e) => setForm((f) => ({ ...f, name: e.target.value }))} placeholder="sales" spellCheck={false} data-testid="mail-name" />
        </label>
        <label>
          Address
          <span className="hint">The From address of what agents send.</span>
          <input type="email" value={form.address} onChange={(e) => setForm((f) => ({ ...f, address: e.target.value }))} placeholder="sales@example.com" spellCheck={false} data-testid="mail-address" />
        </label>
        <label>
          Display name
          <span className="hint">Optional, e.g. "Example sales".</span>
          <input value={form.display_name} onChange={(e) => setForm((f) => ({ ...f, display_name: e.target.value }))} data-testid="mail-display-name" />
        </label>
      </div>
      {serverFields("imap")}
      {serverFields("smtp")}
      {form.imap.security === "plain" || form.smtp.security === "plain" ? (
        <span className="hint">Without encryption the password crosses the network in clear: allowed only to this computer (127.0.0.1, localhost), for a local server or a bridge.</span>
      ) : null}
      <div className="stack" role="radiogroup" aria-labelledby={`${id}-auth`}>
        <strong id={`${id}-auth`}>Sign-in</strong>
        <div className="segmented">
          {(
            [
              ["stored", "Password"],
              ["env", "Environment variable"],
              ["xoauth2", "XOAUTH2 token command"],
            ] as const
          ).map(([value, label]) => (
            <label key={value} className={`seg${form.auth === value ? " on" : ""}`}>
              <input type="radio" name={`${id}-auth`} value={value} checked={form.auth === value} onChange={() => setForm((f) => ({ ...f, auth: value }))} data-testid={`mail-auth-${value}`} />
              {label}
            </label>
          ))}
        </div>
        {form.auth === "stored" ? (
          <label>
            Password
            <span className="hint">
              {hadStored ? "A password is stored. Leave this empty to keep it, or enter a new one." : "Kept in the secret store (the system keychain), never shown again."} Use an app password where the provider has them.
            </span>
            <input
              type="password"
              autoComplete="new-password"
              spellCheck={false}
              value={form.password}
              onChange={(e) => setForm((f) => ({ ...f, password: e.target.value }))}
              placeholder={hadStored ? "•••••••• (stored)" : ""}
              data-testid="mail-password"
            />
          </label>
        ) : null}
        {form.auth === "env" ? (
          <label>
            Variable
            <span className="hint">The name of the environment variable that holds the password, read when connecting (by the process that runs the triggers).</span>
            <input value={form.password_env} onChange={(e) => setForm((f) => ({ ...f, password_env: e.target.value }))} placeholder="SALES_MAIL_PASSWORD" spellCheck={false} data-testid="mail-password-env" />
          </label>
        ) : null}
        {form.auth === "xoauth2" ? (
          <label>
            Token command
            <span className="hint">A command that prints a fresh OAuth 2 access token (Gmail, Outlook), run each time the account signs in.</span>
            <input value={form.token_command} onChange={(e) => setForm((f) => ({ ...f, token_command: e.target.value }))} placeholder="oauth2-token --account sales" spellCheck={false} className="mono" data-testid="mail-token-command" />
          </label>
        ) : null}
      </div>
      <ErrorBanner error={save.error} title="Could not save the account" />
      <div className="row">
        <div className="grow" />
        <button type="button" onClick={onCancel} data-testid="mail-cancel">
          Cancel
        </button>
        <button type="submit" className="primary" disabled={!ready || save.pending} data-testid="mail-save">
          {save.pending ? "Saving…" : editing ? "Save changes" : "Add account"}
        </button>
      </div>
    </form>
  );
}
