// Try a tool: the form generated from its inputSchema (or the whole arguments as JSON), a live
// preview of the exact arguments, client-side checks inline, "Send anyway" so our validator
// answers, "unchecked" so the server's does, recent inputs recalled; then the call as it happens
// (progress, a question answered in place, Cancel) and its result.
import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";
import type { McpToolInfo } from "../bindings/McpToolInfo";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import { ApiFailure } from "../transport";
import { analyze, checkValue, draftFromValue, evaluate, initialDraft, serverFieldKey, type Draft, type Errors } from "./schema";
import { SchemaForm } from "./SchemaForm";
import { ToolResult, type Outcome } from "./ToolResult";
import { CallProgress } from "./CallProgress";
import { isLive, useHandCall, type HandCall } from "./useHandCall";
import { copyText } from "../components/common";

/** A word for a POSIX shell: bare when safe, else single-quoted. */
function shellWord(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

const RECENT_MAX = 10;

function recentKey(server: string, tool: string) {
  return `waymark.tools.recent.${server}/${tool}`;
}

function loadRecent(server: string, tool: string): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(recentKey(server, tool)) ?? "[]");
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  } catch {
    return [];
  }
}

function saveRecent(server: string, tool: string, args: string): string[] {
  const list = [args, ...loadRecent(server, tool).filter((x) => x !== args)].slice(0, RECENT_MAX);
  try {
    localStorage.setItem(recentKey(server, tool), JSON.stringify(list));
  } catch {
    /* storage full or refused: recall is a convenience */
  }
  return list;
}

/** Before the first edit, "required" is not shouted at empty fields (it still blocks Call). */
function withoutRequired(errors: Errors): Errors {
  return new Map([...errors].filter(([, m]) => m !== "required"));
}

/** What the result panel shows of a call: its result or error once it has one. */
function outcomeOf(call: HandCall | null): Outcome | null {
  if (!call || call.endedAt === null) return null;
  const ms = call.endedAt - call.startedAt;
  if (call.refused) return { kind: "error", error: call.refused, ms };
  const st = call.status;
  if (st?.state === "succeeded" && st.result) return { kind: "result", result: st.result, ms };
  if (st?.state === "failed") return { kind: "error", error: new ApiFailure(st.error ?? { message: "the call failed without saying why" }), ms };
  return null;
}

/** Mount with `key={server + tool}`: a new tool starts from its own defaults. */
export function TryIt({ server, tool }: { server: string; tool: McpToolInfo }) {
  const root = useMemo(() => analyze(tool.input_schema), [tool.input_schema]);
  const [draft, setDraft] = useState<Draft>(() => initialDraft(root, true));
  const [mode, setMode] = useState<"form" | "json">(root.kind === "object" ? "form" : "json");
  const [jsonText, setJsonText] = useState("");
  const [jsonError, setJsonError] = useState<string | null>(null);
  const [recent, setRecent] = useState<string[]>(() => loadRecent(server, tool.name));
  const [recentAt, setRecentAt] = useState(-1);
  const [unchecked, setUnchecked] = useState(false);
  const hand = useHandCall(server, tool.name);
  const call = hand.call;
  const pending = isLive(call);
  const outcome = useMemo(() => outcomeOf(call), [call]);
  const resultRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (outcome) resultRef.current?.scrollIntoView?.({ block: "nearest" });
  }, [outcome]);

  const [touched, setTouched] = useState(false);
  const editDraft = useCallback((d: Draft) => {
    setTouched(true);
    setDraft(d);
  }, []);
  const formEval = useMemo(() => evaluate(root, draft), [root, draft]);
  const jsonEval = useMemo((): { args: JsonValue | undefined; errors: Errors; parse: string | null } => {
    if (mode !== "json") return { args: undefined, errors: new Map(), parse: null };
    if (jsonText.trim() === "") return { args: {}, errors: new Map(), parse: null };
    try {
      const args = JSON.parse(jsonText) as JsonValue;
      const errors: Errors = new Map();
      checkValue(root.raw, args, [], errors);
      return { args, errors, parse: null };
    } catch (err) {
      return { args: jsonText, errors: new Map(), parse: (err as Error).message };
    }
  }, [mode, jsonText, root]);

  const args = mode === "form" ? formEval.args : jsonEval.args;
  const errors = mode === "form" ? formEval.errors : jsonEval.errors;
  const problems = errors.size + (mode === "json" && jsonEval.parse ? 1 : 0);
  const argsText = args === undefined ? "{}" : JSON.stringify(args, null, 2);

  const serverErrors = useMemo(() => {
    const m: Errors = new Map();
    // Shown on the field only while the arguments are still the ones the server judged.
    if (outcome?.kind === "error" && JSON.stringify(call?.sent ?? {}) === JSON.stringify(args ?? {})) {
      const k = serverFieldKey(outcome.error.field);
      if (k !== null) m.set(k, outcome.error.message);
    }
    return m;
  }, [outcome, call?.sent, args]);

  const switchMode = (to: "form" | "json") => {
    if (to === mode) return;
    if (to === "json") {
      setJsonText(JSON.stringify(formEval.args ?? {}, null, 2));
      setJsonError(null);
      setMode("json");
      return;
    }
    try {
      const v = JSON.parse(jsonText.trim() === "" ? "{}" : jsonText) as JsonValue;
      const d = draftFromValue(root, v);
      if (d.k !== "obj") {
        setJsonError("these arguments do not fit the form (not an object with the schema's properties); keep editing them as JSON");
        return;
      }
      setDraft(d);
      setJsonError(null);
      setMode("form");
    } catch (e) {
      setJsonError(`fix the JSON before switching to the form: ${(e as Error).message}`);
    }
  };

  const recall = useCallback(
    (index: number) => {
      const text = recent[index];
      if (text === undefined) return;
      setRecentAt(index);
      const v = JSON.parse(text) as JsonValue;
      const d = draftFromValue(root, v);
      if (mode === "form" && d.k === "obj") setDraft(d);
      else {
        setMode("json");
        setJsonText(JSON.stringify(v, null, 2));
      }
    },
    [recent, root, mode],
  );

  const send = async () => {
    setTouched(true);
    const sent = args === undefined ? {} : args;
    await hand.start(sent, unchecked);
    setRecent(saveRecent(server, tool.name, JSON.stringify(sent)));
    setRecentAt(-1);
  };

  const onKeyDown = (e: KeyboardEvent) => {
    // Alt+↑ / Alt+↓ walk through recent inputs; Ctrl/Cmd+Enter sends.
    if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown") && recent.length) {
      e.preventDefault();
      const next = e.key === "ArrowUp" ? Math.min(recent.length - 1, recentAt + 1) : Math.max(0, recentAt - 1);
      recall(next);
    } else if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !pending) {
      e.preventDefault();
      void send();
    }
  };

  return (
    <section className="tryit" aria-label="Try it">
      <div className="row tryit-head">
        <h3 className="grow">Try it</h3>
        <div className="tools-seg" role="group" aria-label="Edit arguments as">
          <button type="button" className="small" aria-pressed={mode === "form"} onClick={() => switchMode("form")} disabled={root.kind !== "object"}>
            Form
          </button>
          <button type="button" className="small" aria-pressed={mode === "json"} onClick={() => switchMode("json")}>
            JSON
          </button>
        </div>
        {recent.length ? (
          <label className="row tryit-recent">
            <span className="hint">Recent</span>
            <select
              aria-label="Recent inputs"
              value={recentAt >= 0 ? String(recentAt) : ""}
              onChange={(e) => e.target.value !== "" && recall(Number(e.target.value))}
              title="Alt+↑ / Alt+↓ in the form walk through them"
            >
              <option value="">— recall an input —</option>
              {recent.map((r, i) => (
                <option key={i} value={String(i)}>
                  {r.length > 60 ? r.slice(0, 60) + "…" : r}
                </option>
              ))}
            </select>
          </label>
        ) : null}
      </div>
      <form
        className="tryit-form"
        onKeyDown={onKeyDown}
        onSubmit={(e) => {
          e.preventDefault();
          if (problems === 0 && !pending) void send();
        }}
        noValidate
      >
        {mode === "form" ? (
          <SchemaForm root={root} draft={draft} onChange={editDraft} errors={touched ? errors : withoutRequired(errors)} serverErrors={serverErrors} />
        ) : (
          <label>
            Arguments (JSON)
            <textarea
              className="sf-json"
              rows={Math.min(18, Math.max(5, jsonText.split("\n").length + 1))}
              value={jsonText}
              spellCheck={false}
              aria-invalid={Boolean(jsonEval.parse) || undefined}
              onChange={(e) => setJsonText(e.target.value)}
            />
            {jsonEval.parse ? <span className="field-error">not valid JSON: {jsonEval.parse} (it would be sent as a string)</span> : null}
            {[...errors].map(([k, m]) => (
              <span key={k} className="field-error">
                {k || "arguments"}: {m}
              </span>
            ))}
            {[...serverErrors].map(([k, m]) => (
              <span key={"s" + k} className="field-error">
                server: {m}
              </span>
            ))}
          </label>
        )}
        {jsonError ? <div className="field-error">{jsonError}</div> : null}
        {mode === "form" && errors.get("") ? <div className="field-error">arguments: {errors.get("")}</div> : null}
        {mode === "form" && serverErrors.get("") ? <div className="field-error">server: {serverErrors.get("")}</div> : null}

        <div className="tryit-preview">
          <div className="row">
            <strong className="grow">Arguments that will be sent</strong>
            <span className={problems ? "field-error" : "hint"} role="status" aria-live="polite">
              {problems ? `${problems} problem${problems > 1 ? "s" : ""} found by the basic checks` : "passes the basic checks"}
            </span>
            <button type="button" className="small" onClick={() => void copyText(JSON.stringify(args ?? {}))} title="Copy the arguments as JSON">
              Copy
            </button>
            <button
              type="button"
              className="small"
              onClick={() => void copyText(`waymark mcp call ${unchecked ? "--unchecked " : ""}${shellWord(server)} ${shellWord(tool.name)} ${shellWord(JSON.stringify(args ?? {}))}`)}
              title="Copy the same call as a waymark CLI command"
            >
              Copy as command
            </button>
          </div>
          <pre className="json-raw" aria-label="Arguments preview" data-testid="args-preview">
            {argsText}
          </pre>
        </div>

        <label className="row inline-check tryit-unchecked">
          <input type="checkbox" checked={unchecked} onChange={(e) => setUnchecked(e.target.checked)} data-testid="tryit-unchecked" />
          <span>
            Unchecked <span className="hint">— send the arguments without checking them against the input schema first, to see what the server itself does with them.</span>
          </span>
        </label>

        <div className="row tryit-actions">
          <button type="submit" className="primary" disabled={pending || problems > 0}>
            {pending ? "Calling…" : `Call ${tool.name}`}
          </button>
          {problems > 0 ? (
            <button type="button" onClick={() => void send()} disabled={pending} title="Send these arguments as they are: the server's schema validator decides">
              Send anyway
            </button>
          ) : null}
          <button
            type="button"
            onClick={() => {
              setDraft(initialDraft(root, true));
              setTouched(false);
              setJsonText("");
              hand.clear();
            }}
          >
            Reset
          </button>
          <span className="hint">Ctrl+Enter calls · Alt+↑/↓ recalls recent inputs</span>
        </div>
      </form>

      <div ref={resultRef} className="stack">
        {call && !outcome ? <CallProgress server={server} tool={tool.name} call={call} onCancel={() => void hand.cancel()} onAnswer={hand.answer} /> : null}
        {outcome ? <ToolResult outcome={outcome} /> : null}
      </div>
    </section>
  );
}
