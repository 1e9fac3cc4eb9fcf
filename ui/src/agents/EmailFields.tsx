// Email in the agent form: an email trigger's fields (which account and folder, which messages,
// what to do with a handled one), and the `[email]` terms of send_email (the account it sends
// from, who else may receive mail, whether a person approves each email).
import { useEffect, useState } from "react";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import { href } from "../lib/router";
import { useMailAccountNames } from "../mail/useMailAccounts";
import { CheckField, DraftMark, NumberField, SelectField, TextField, type Editor } from "./fields";
import { errorUnder, getIn, isObj, specTools, specTriggers, type Obj } from "./spec";

/** The account choices: the accounts set up, and the spec's own value when it names another. */
function accountOptions(names: string[], current: JsonValue | undefined) {
  const opts = names.map((n) => ({ value: n, label: n }));
  if (typeof current === "string" && current && !names.includes(current)) opts.unshift({ value: current, label: `${current} (no such account yet)` });
  return opts;
}

function NoAccounts({ loaded, names }: { loaded: boolean; names: string[] }) {
  return loaded && names.length === 0 ? (
    <span className="hint">
      No mail account yet: <a href={href(["settings"])}>add one under Mail accounts</a>.
    </span>
  ) : null;
}

export function EmailTriggerFields({ ed, index, accounts }: { ed: Editor; index: number; accounts: { names: string[]; loaded: boolean } }) {
  const { names, loaded } = accounts;
  const base = ["triggers", index];
  const account = getIn(ed.spec, [...base, "account"]);
  return (
    <div className="stack email-trigger" data-testid={`email-trigger-${index}`}>
      <div className="grid4">
        <SelectField ed={ed} path={[...base, "account"]} label="Account" emptyLabel="Choose an account…" options={accountOptions(names, account)} />
        <TextField ed={ed} path={[...base, "folder"]} label="Folder" placeholder="INBOX" hint="Empty: INBOX." />
        <TextField ed={ed} path={[...base, "from"]} label="Only from" placeholder="any sender" hint="Text in the sender's address." />
        <TextField ed={ed} path={[...base, "subject_contains"]} label="Subject contains" placeholder="any subject" />
        <TextField ed={ed} path={[...base, "move_to"]} label="Then move to" placeholder="leave it in place" hint="A folder for handled mail." />
        <NumberField ed={ed} path={[...base, "poll_secs"]} label="Poll every (s)" min={5} placeholder="60" hint="Only without IMAP IDLE." />
      </div>
      <NoAccounts loaded={loaded} names={names} />
      <div className="row wrap">
        <CheckField ed={ed} path={[...base, "unseen_only"]} label="Only unread messages" />
        <CheckField ed={ed} path={[...base, "mark_seen"]} label="Mark handled messages as read" />
      </div>
      <span className="hint">One run per new message (by its Message-ID); the run's input is the message as JSON. Messages already in the folder when the trigger starts are not handled.</span>
    </div>
  );
}

/** Whether the form shows the `[email]` section: the agent sends or reads mail, or has the table. */
export function usesEmail(spec: Obj): boolean {
  return (
    isObj(spec.email) ||
    specTools(spec).some((t) => t?.kind === "builtin" && t.name === "send_email") ||
    specTriggers(spec).some((t) => t?.kind === "email")
  );
}

const addressLines = (text: string) =>
  text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);

export function EmailSection({ ed }: { ed: Editor }) {
  const { names, loaded } = useMailAccountNames();
  const raw = getIn(ed.spec, ["email", "allow_recipients"]);
  const list = Array.isArray(raw) ? raw.filter((x): x is string => typeof x === "string") : [];
  const joined = list.join("\n");
  // The text as typed (an empty line while typing is not an entry); the draft holds the list.
  const [text, setText] = useState(joined);
  useEffect(() => {
    if (addressLines(text).join("\n") !== joined) setText(joined);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [joined]);
  const sends = specTools(ed.spec).some((t) => t?.kind === "builtin" && t.name === "send_email");
  const triggerAccount = specTriggers(ed.spec).find((t) => t?.kind === "email");
  const fallback = triggerAccount?.kind === "email" && typeof triggerAccount.account === "string" && triggerAccount.account ? triggerAccount.account : null;
  const recipientsError = errorUnder(ed.errors, "email.allow_recipients");
  return (
    <section className="card stack" aria-labelledby="sec-email" data-field="email" data-testid="email-section">
      <div className="section-head">
        <h2 id="sec-email">
          Email <DraftMark ed={ed} section="email" />
        </h2>
      </div>
      <span className="hint">
        The terms of <code>send_email</code>. It writes only to the people of the message that started the run, and to the addresses below.
        {!sends ? " Tick send_email under Tools to let the agent send." : ""}
      </span>
      <div className="grid2">
        <SelectField
          ed={ed}
          path={["email", "account"]}
          label="Send from"
          emptyLabel={fallback ? `The email trigger's account (${fallback})` : "The email trigger's account"}
          options={accountOptions(names, getIn(ed.spec, ["email", "account"]))}
        />
        <label data-field="email.allow_recipients">
          <span className="label-line">Also allowed recipients</span>
          <span className="hint">One per line: an address (ann@example.com) or a whole domain (@example.com).</span>
          <textarea
            rows={3}
            value={text}
            spellCheck={false}
            aria-invalid={!!recipientsError}
            onChange={(e) => {
              setText(e.target.value);
              const next = addressLines(e.target.value);
              ed.set(["email", "allow_recipients"], next.length ? next : undefined);
            }}
            data-testid="field-email.allow_recipients"
          />
          {recipientsError ? (
            <span className="field-error" role="alert" data-testid="error-email.allow_recipients">
              {recipientsError}
            </span>
          ) : null}
        </label>
      </div>
      <NoAccounts loaded={loaded} names={names} />
      <CheckField
        ed={ed}
        path={["email", "send_without_approval"]}
        label="Send without approval"
        hint="Off: each email waits for a person to approve (or edit) it. On: the agent's emails go out as it writes them."
      />
      {getIn(ed.spec, ["email", "send_without_approval"]) === true ? (
        <div className="banner warn" role="note">
          Mail from outside reaches the model, and the model writes what is sent. Without a review, a hostile message may steer what goes out to the thread's people and the allowed recipients.
        </div>
      ) : null}
    </section>
  );
}
