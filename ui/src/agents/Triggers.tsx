// The form's Triggers section: what starts a run (manual, a webhook, a schedule, new email).
import { Plus, Trash2 } from "lucide-react";
import type { Trigger } from "../bindings/Trigger";
import type { WebhookAuth } from "../bindings/WebhookAuth";
import { errorUnder, specName, specTriggers } from "./spec";
import { SelectField, TextField, type Editor } from "./fields";
import type { Redraft } from "./drafting";
import { SectionHead } from "./SectionHead";
import { WebhookPanel } from "./WebhookPanel";
import { EmailTriggerFields } from "./EmailFields";
import { useMailAccountNames } from "../mail/useMailAccounts";

/** Webhook schemes; a new trigger uses Standard Webhooks (signed id and timestamp: a captured
 * request cannot start a second run). */
const WEBHOOK_AUTH: { value: WebhookAuth; label: string }[] = [
  { value: "standard_webhooks", label: "Standard Webhooks" },
  { value: "github", label: "GitHub (X-Hub-Signature-256)" },
  { value: "bearer", label: "Bearer token" },
];

/** Trigger fields that show their own error (others show under the trigger's row). */
const SHOWN_AT_FIELD = /^(secret_ref|schedule|timezone|account|folder|from|subject_contains|move_to|poll_secs|unseen_only|mark_seen)$/;

export function Triggers({ ed, redraft, saved }: { ed: Editor; redraft: Redraft | null; saved: boolean }) {
  const name = specName(ed.spec);
  const triggers = specTriggers(ed.spec);
  const setAll = (next: (Trigger | null)[]) => ed.set(["triggers"], next);
  const err = errorUnder(ed.errors, "triggers");
  const accounts = useMailAccountNames();
  return (
    <section className="card stack" aria-labelledby="sec-triggers" data-field="triggers">
      <SectionHead id="sec-triggers" title="Triggers" section="triggers" ed={ed} redraft={redraft} />
      <span className="hint">What starts a run. With none, the agent runs only as another agent's sub-agent.</span>
      {err && !ed.errors.has("triggers") ? null : err ? <span className="field-error">{err}</span> : null}
      {triggers.map((t, i) => {
        // An entry that is not a trigger (typed in the Raw view) shows as manual until replaced.
        const kind = typeof t?.kind === "string" ? t.kind : "manual";
        return (
          <div key={i} className="row wrap trigger" data-field={`triggers.${i}`}>
            <label className="inline">
              Kind
              <select
                value={kind}
                onChange={(e) => {
                  const k = e.target.value;
                  const next = [...triggers];
                  next[i] =
                    k === "webhook"
                      ? { kind: k, auth: "standard_webhooks", secret_ref: "" }
                      : k === "cron"
                        ? { kind: k, schedule: "0 9 * * 1-5" }
                        : k === "email"
                          ? { kind: k, account: accounts.names[0] ?? "", folder: "INBOX" }
                          : { kind: "manual" };
                  setAll(next);
                }}
                data-testid={`trigger-kind-${i}`}
              >
                <option value="manual">Manual (app, CLI, API)</option>
                <option value="webhook">Webhook (POST /hooks/agent)</option>
                <option value="cron">Schedule (cron)</option>
                <option value="email">Email (new messages in a mail folder)</option>
              </select>
            </label>
            {kind === "webhook" ? (
              <>
                <TextField ed={ed} path={["triggers", i, "secret_ref"]} label="Secret name" hint="Generate its value below once the agent is saved, or store one in Settings." className="inline" />
                <SelectField ed={ed} path={["triggers", i, "auth"]} label="Auth" emptyLabel="HMAC-SHA256 signature (X-Waymark-Signature)" options={WEBHOOK_AUTH} />
                {saved && name ? <WebhookPanel agent={name} secretRef={t?.kind === "webhook" && typeof t.secret_ref === "string" ? t.secret_ref : ""} /> : null}
              </>
            ) : null}
            {kind === "email" ? <EmailTriggerFields ed={ed} index={i} accounts={accounts} /> : null}
            {kind === "cron" ? (
              <>
                <TextField ed={ed} path={["triggers", i, "schedule"]} label="Schedule" hint="5 fields (min hour day month weekday) or 6 with seconds." className="inline" />
                <TextField ed={ed} path={["triggers", i, "timezone"]} label="Time zone" placeholder="UTC" className="inline" />
              </>
            ) : null}
            <button type="button" className="small" aria-label={`Remove trigger ${i + 1}`} onClick={() => setAll(triggers.filter((_, j) => j !== i))}>
              <Trash2 size={12} aria-hidden />
            </button>
            {errorUnder(ed.errors, `triggers.${i}`) && ![...ed.errors.keys()].some((k) => SHOWN_AT_FIELD.test(k.slice(`triggers.${i}.`.length)) && k.startsWith(`triggers.${i}.`)) ? (
              <span className="field-error">{errorUnder(ed.errors, `triggers.${i}`)}</span>
            ) : null}
          </div>
        );
      })}
      <div>
        <button type="button" className="small" onClick={() => setAll([...triggers, { kind: "cron", schedule: "0 9 * * 1-5" }])}>
          <Plus size={12} aria-hidden /> Add a trigger
        </button>
      </div>
    </section>
  );
}
