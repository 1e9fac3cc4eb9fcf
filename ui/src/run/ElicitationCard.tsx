// The card of a server's question that waits on a run (MCP elicitation, step `elicit/...`): who
// asks, the message, then the form (or the link to open), and Accept / Decline / Cancel through
// `runs_elicitation_answer`. The question came from an MCP server: it is text, never markup, and
// cut to a readable length; a link opens outside the app, never in its window.
import { useMemo, useState } from "react";
import { ExternalLink } from "lucide-react";
import type { ElicitationAnswer } from "../bindings/ElicitationAnswer";
import type { StepView } from "../bindings/StepView";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import { ErrorBanner, formatTime } from "../components/common";
import { useAction } from "../lib/useApi";
import { ApiFailure, useTransport } from "../transport";
import { capText, isObject, questionOf, safeLink, type ElicitationQuestion } from "./elicitation";
import { buildContent, fallbackStart, initialDrafts, parseForm, type Drafts } from "./elicitForm";
import { ElicitationForm } from "./ElicitationForm";

type Props = {
  runId: string;
  step: StepView;
  onDone: () => void;
  /** Selects the step (its key is a link). */
  onSelect?: () => void;
};

export function ElicitationCard({ runId, step, onDone, onSelect }: Props) {
  const q = questionOf(step);
  const title = q ? `${capText(q.server, 80)} asks` : "A server asks";
  return (
    <section className="elicit-card banner info stack" aria-label={`Question from ${q ? capText(q.server, 80) : "a server"}`} data-testid="elicitation-card" data-step={step.key}>
      <div className="row wrap elicit-head">
        <strong className="grow">
          {title}
          {q ? (
            <span className="muted">
              {" "}
              during <code>{capText(q.tool, 80)}</code>
            </span>
          ) : null}
        </strong>
        {onSelect ? (
          <button type="button" className="linklike mono small-key" onClick={onSelect} title="Show this step in the inspector">
            {step.key}
          </button>
        ) : (
          <span className="mono small-key">{step.key}</span>
        )}
      </div>
      {q ? (
        <QuestionBody runId={runId} step={step} q={q} onDone={onDone} />
      ) : step.payloads_omitted ? (
        <p className="muted" role="status">
          Loading the question…
        </p>
      ) : (
        <Unreadable runId={runId} step={step} onDone={onDone} />
      )}
    </section>
  );
}

/** Whether the question outlives a restart, and when it is cancelled unanswered. */
function Lifetime({ q, step }: { q: ElicitationQuestion; step: StepView }) {
  return (
    <p className={`hint elicit-lifetime${q.survivesRestart ? "" : " fragile"}`} data-testid="elicitation-lifetime">
      {q.survivesRestart
        ? "Kept across restarts: you can answer later, even if Waymark stops in between."
        : "Asked inside an open call: if Waymark stops before you answer, this question is lost."}
      {step.wake_at ? ` Unanswered, it is cancelled at ${formatTime(step.wake_at)}.` : ""}
    </p>
  );
}

function QuestionBody({ runId, step, q, onDone }: { runId: string; step: StepView; q: ElicitationQuestion; onDone: () => void }) {
  const transport = useTransport();
  const [sent, setSent] = useState<ElicitationAnswer | null>(null);
  const act = useAction(async (action: ElicitationAnswer, content?: Record<string, JsonValue>) => {
    await transport.call("runs_elicitation_answer", { run_id: runId, step: step.key, action, content });
    setSent(action);
    onDone();
  });
  const answer = (action: ElicitationAnswer, content?: Record<string, JsonValue>) => void act.run(action, content);
  return (
    <>
      {q.message ? (
        <blockquote className="question elicit-message" data-testid="elicitation-message">
          {capText(q.message)}
        </blockquote>
      ) : (
        <p className="muted">The server gave no message.</p>
      )}
      <Lifetime q={q} step={step} />
      {sent ? (
        <p role="status" className="elicit-sent">
          {sent === "accept" ? "Answer sent" : sent === "decline" ? "Declined" : "Cancelled"}; the call goes on…
        </p>
      ) : q.mode === "url" ? (
        <LinkQuestion q={q} pending={act.pending} error={act.error} onAnswer={answer} />
      ) : (
        <FormQuestion q={q} pending={act.pending} error={act.error} onAnswer={answer} />
      )}
    </>
  );
}

type AnswerProps = {
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
      <Buttons pending={pending} acceptLabel="Accept" acceptDisabled={blocked} onAccept={accept} onAnswer={onAnswer} />
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
      <Buttons
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
function Buttons({
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

/** A question whose input could not be read: it can still be declined or cancelled. */
function Unreadable({ runId, step, onDone }: { runId: string; step: StepView; onDone: () => void }) {
  const transport = useTransport();
  const act = useAction(async (action: ElicitationAnswer) => {
    await transport.call("runs_elicitation_answer", { run_id: runId, step: step.key, action });
    onDone();
  });
  return (
    <>
      <p className="muted">What the server asks could not be read from this step; see its input in the inspector.</p>
      <ErrorBanner error={act.error} />
      <Buttons pending={act.pending} acceptLabel="Accept" acceptDisabled onAccept={() => undefined} onAnswer={(a) => void act.run(a)} />
    </>
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
