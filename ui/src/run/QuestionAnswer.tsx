// How a person answers a server's question (MCP elicitation), wherever it is asked: on a run's
// card or in the Tools page's try-it call. A form built from the server's schema (or a JSON box
// when it cannot be shown as fields), or a link opened outside the app; Accept, then Decline and
// Cancel, which ask once more. What the server sent is text, never markup.
import { useMemo, useState } from "react";
import { ExternalLink } from "lucide-react";
import type { ElicitationAnswer } from "../bindings/ElicitationAnswer";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import { ErrorBanner } from "../components/common";
import { ApiFailure, useTransport } from "../transport";
import { capText, isObject, safeLink, type ElicitationQuestion } from "./elicitation";
import { buildContent, fallbackStart, initialDrafts, parseForm, type Drafts } from "./elicitForm";
import { ElicitationForm } from "./ElicitationForm";

/** The form or the link of question `q`, with its answer buttons. */
export function QuestionAnswer(props: AnswerProps) {
  return props.q.mode === "url" ? <LinkQuestion {...props} /> : <FormQuestion {...props} />;
}

export type AnswerProps = {
  q: ElicitationQuestion;
  pending: boolean;
  error: ApiFailure | null;
  onAnswer: (action: ElicitationAnswer, content?: Record<string, JsonValue>) => void;
};

function FormQuestion({ q, pending, error, onAnswer }: AnswerProps) {
  const parsed = useMemo(() => parseForm(q.schema), [q.schema]);
  const [drafts, setDrafts] = useState<Drafts>(() => (parsed.ok ? initialDrafts(parsed.fields) : {}));
  const [json, setJson] = useState(() => fallbackStart(q.schema));
  // Field problems show once the person tried to send, then follow each edit.
  const [tried, setTried] = useState(false);
  const checked = useMemo(() => (parsed.ok ? buildContent(parsed.fields, drafts) : null), [parsed, drafts]);
  const jsonParsed = useMemo(() => parseObject(json), [json]);
  const errors = tried && checked ? checked.errors : new Map<string, string>();
  const accept = () => {
    setTried(true);
    if (checked) {
      if (checked.errors.size === 0) onAnswer("accept", checked.content);
    } else if (jsonParsed.ok) onAnswer("accept", jsonParsed.value);
  };
  const blocked = checked ? tried && checked.errors.size > 0 : !jsonParsed.ok;
  return (
    <form className="stack" aria-label="Your answer" onSubmit={(e) => e.preventDefault()} noValidate>
      {parsed.ok ? (
        <ElicitationForm fields={parsed.fields} drafts={drafts} errors={errors} disabled={pending} onChange={(name, v) => setDrafts((d) => ({ ...d, [name]: v }))} />
      ) : (
        <div className="stack" data-testid="elicitation-json">
          <div className="banner warn" role="note">
            This form cannot be shown as fields ({parsed.reason}). Write the answer as a JSON object below; it is checked against the server's schema before it is sent.
          </div>
          <label>
            Answer (JSON object)
            <textarea rows={6} value={json} spellCheck={false} onChange={(e) => setJson(e.target.value)} aria-invalid={!jsonParsed.ok} disabled={pending} />
            {!jsonParsed.ok ? <span className="field-error">{jsonParsed.error}</span> : null}
          </label>
          <details>
            <summary className="hint">The schema the server sent</summary>
            <pre className="elicit-schema">{capText(JSON.stringify(q.schema, null, 2) ?? "null", 20000)}</pre>
          </details>
        </div>
      )}
      {tried && checked && checked.errors.size > 0 ? (
        <p className="field-error" role="alert" data-testid="elicitation-invalid">
          Fix the marked field{checked.errors.size === 1 ? "" : "s"} before sending: nothing was sent.
        </p>
      ) : null}
      <ErrorBanner error={error} title="The answer was refused" />
      <AnswerButtons pending={pending} acceptLabel="Accept" acceptDisabled={blocked} onAccept={accept} onAnswer={onAnswer} />
    </form>
  );
}

function LinkQuestion({ q, pending, error, onAnswer }: AnswerProps) {
  const transport = useTransport();
  const link = safeLink(q.url);
  const [openError, setOpenError] = useState<string | null>(null);
  const [opened, setOpened] = useState(false);
  return (
    <div className="stack">
      {link ? (
        <div className="elicit-link stack">
          <span>
            The server asks you to open a page on <strong className="mono" data-testid="elicitation-host">{capText(link.host, 200)}</strong>:
          </span>
          <a
            className="mono elicit-url"
            href={link.href}
            target="_blank"
            rel="noopener noreferrer"
            data-testid="elicitation-url"
            onClick={(e) => {
              setOpened(true);
              // The desktop webview would open the page inside itself: the system browser instead.
              if (!transport.openExternal) return;
              e.preventDefault();
              setOpenError(null);
              transport.openExternal(link.href).catch((err: unknown) => setOpenError(`The browser could not be opened (${err instanceof Error ? err.message : String(err)}): copy the address instead.`));
            }}
          >
            <ExternalLink size={13} aria-hidden /> {capText(link.href, 2000)}
          </a>
          <span className="hint">Opens {transport.openExternal ? "in your browser" : "in a new tab"}. Check the address before you type anything there.</span>
          {openError ? <span className="field-error">{openError}</span> : null}
        </div>
      ) : (
        <div className="banner warn" role="note">
          The server asks you to open an address Waymark does not open (only http and https are): <span className="mono">{capText(q.url ?? "(none)", 2000)}</span>
        </div>
      )}
      <ErrorBanner error={error} title="The answer was refused" />
      <AnswerButtons
        pending={pending}
        acceptLabel="I've completed it"
        acceptDisabled={!link}
        acceptHint={link && !opened ? "Open the link and finish there first." : undefined}
        onAccept={() => onAnswer("accept")}
        onAnswer={onAnswer}
      />
    </div>
  );
}

/** Accept, then Decline and Cancel, which ask once more (they cannot be taken back). */
export function AnswerButtons({
  pending,
  acceptLabel,
  acceptDisabled,
  acceptHint,
  onAccept,
  onAnswer,
}: {
  pending: boolean;
  acceptLabel: string;
  acceptDisabled: boolean;
  acceptHint?: string;
  onAccept: () => void;
  onAnswer: (action: ElicitationAnswer) => void;
}) {
  const [confirm, setConfirm] = useState<"decline" | "cancel" | null>(null);
  if (confirm) {
    return (
      <div className="row wrap elicit-confirm" role="group" aria-label={confirm === "decline" ? "Decline the question?" : "Cancel the question?"}>
        <span className="grow">
          {confirm === "decline" ? "Decline: the server is told you said no." : "Cancel: the question is dismissed without a yes or a no."}
        </span>
        <button type="button" onClick={() => setConfirm(null)} disabled={pending}>
          Back
        </button>
        <button type="button" className="primary" onClick={() => onAnswer(confirm)} disabled={pending} data-testid={`elicitation-confirm-${confirm}`}>
          {confirm === "decline" ? "Decline" : "Cancel the question"}
        </button>
      </div>
    );
  }
  return (
    <div className="row wrap">
      {acceptHint ? <span className="hint">{acceptHint}</span> : null}
      <div className="grow" />
      <button type="button" className="danger" onClick={() => setConfirm("cancel")} disabled={pending} data-testid="elicitation-cancel">
        Cancel
      </button>
      <button type="button" onClick={() => setConfirm("decline")} disabled={pending} data-testid="elicitation-decline">
        Decline
      </button>
      <button type="button" className="primary" onClick={onAccept} disabled={pending || acceptDisabled} data-testid="elicitation-accept">
        {acceptLabel}
      </button>
    </div>
  );
}


function parseObject(text: string): { ok: true; value: Record<string, JsonValue> } | { ok: false; error: string } {
  try {
    const v = JSON.parse(text) as JsonValue;
    return isObject(v) ? { ok: true, value: v } : { ok: false, error: "The answer must be a JSON object of the form's fields." };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}
