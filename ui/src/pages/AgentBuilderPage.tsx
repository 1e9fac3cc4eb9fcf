// The agent builder: describe the agent in words → the model drafts a spec → a form (or the raw
// JSON) → save, through a review diff when an agent of that name is already saved.
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { ArrowLeft, Download, Play, Sparkles, Trash2, Plus } from "lucide-react";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import type { AgentsDraftResponse } from "../bindings/AgentsDraftResponse";
import { useApi } from "../lib/useApi";
import { href, navigate } from "../lib/router";
import { ApiFailure, useTransport } from "../transport";
import { ErrorBanner, Modal } from "../components/common";
import { StartRunDialog } from "../components/StartRunDialog";
import { ExportDialog } from "../agents/ExportDialog";
import { blankSpec, toToml, errorUnder, getIn, isObj, lineDiff, pathKey, pretty, setIn, fieldErrors, type Obj, type Path } from "../agents/spec";
import { DraftMark, NumberField, SelectField, TextField, type Editor } from "../agents/fields";
import { ToolPicker, pickedToolNames, useServerTools } from "../agents/ToolPicker";
import { DEMO_INPUTS } from "../agents/demo";
import { formatTime } from "../components/common";
import "../agents/agents.css";

const PROVIDERS = [
  { value: "openai", label: "OpenAI-compatible (OpenAI, Ollama, vLLM, LM Studio…)" },
  { value: "anthropic", label: "Anthropic" },
  { value: "scripted", label: "Scripted (replays a file of turns)" },
];

type DraftModel = { provider: string; model: string; base_url: string };
type DraftRequest = { description: string; model: Obj };

/** The form's sections and the spec keys each holds: a section can be drafted again alone. */
const SECTIONS: Record<string, string[]> = {
  basics: ["name", "description", "instructions"],
  model: ["model"],
  tools: ["tools", "tool_overrides"],
  limits: ["limits"],
  triggers: ["triggers"],
};

export type Redraft = {
  run: (section: string) => void;
  pending: string | null;
  error: { section: string; message: string } | null;
};
const DRAFT_MODEL_KEY = "waymark.draftModel";

function loadDraftModel(): DraftModel {
  try {
    const v = JSON.parse(localStorage.getItem(DRAFT_MODEL_KEY) ?? "null") as Partial<DraftModel> | null;
    if (v && typeof v.provider === "string") return { provider: v.provider, model: v.model ?? "", base_url: v.base_url ?? "" };
  } catch {
    /* a damaged value: use the default */
  }
  return { provider: "openai", model: "gpt-4o-mini", base_url: "" };
}

function asFailure(e: unknown): ApiFailure {
  return e instanceof ApiFailure ? e : new ApiFailure({ message: e instanceof Error ? e.message : String(e) });
}

export function AgentBuilderPage({ name }: { name: string | null }) {
  // A fresh builder per agent: nothing carries over from the one open before.
  return <Builder key={name ?? "\u0000new"} name={name} />;
}

function Builder({ name }: { name: string | null }) {
  const transport = useTransport();
  const saved = useApi("agents_get", name ? { name } : null, [name]);
  const agentsList = useApi("agents_list", {});
  const servers = useApi("mcp_list", {});
  const settings = useApi("settings_get", {});
  const byServer = useServerTools(servers.data?.servers);

  const [spec, setSpec] = useState<Obj>(() => blankSpec());
  const [baseline, setBaseline] = useState<string>(() => pretty(blankSpec()));
  const [savedSpec, setSavedSpec] = useState<Obj | null>(null);
  const [step, setStep] = useState<"describe" | "form">(name ? "form" : "describe");
  const [drafted, setDrafted] = useState<Set<string>>(new Set());
  const [draftInfo, setDraftInfo] = useState<Pick<AgentsDraftResponse, "notes" | "repairs"> | null>(null);
  const [errors, setErrors] = useState<Map<string, string>>(new Map());
  const [saveError, setSaveError] = useState<ApiFailure | null>(null);
  const [saveFieldsFailed, setSaveFieldsFailed] = useState(false);
  const [lastDraft, setLastDraft] = useState<DraftRequest | null>(null);
  const [redrafting, setRedrafting] = useState<string | null>(null);
  const [redraftError, setRedraftError] = useState<Redraft["error"]>(null);
  const [raw, setRaw] = useState<{ text: string; error: string | null } | null>(null);
  const [tomlView, setTomlView] = useState(false);
  const [review, setReview] = useState<{ before: string; after: string; replacing: boolean } | null>(null);
  const [saving, setSaving] = useState(false);
  const [running, setRunning] = useState(false);
  const [exporting, setExporting] = useState(false);
  const loadedFor = useRef<string | null>(null);

  // The saved spec becomes the form's starting point once it arrives.
  useEffect(() => {
    if (!name || !saved.data || loadedFor.current === name) return;
    loadedFor.current = name;
    const s = isObj(saved.data.spec) ? saved.data.spec : {};
    setSpec(s);
    setSavedSpec(s);
    setBaseline(pretty(s));
  }, [name, saved.data]);

  const dirty = pretty(spec) !== baseline;
  // Errors whose field the form does not show (an unknown key, say) are spelled out in the banner.
  const [orphans, setOrphans] = useState<string[]>([]);
  useLayoutEffect(() => {
    const next = [...errors.keys()].filter((k) => !document.querySelector(`[data-field="${CSS.escape(k)}"]`));
    setOrphans((cur) => (cur.join("\n") === next.join("\n") ? cur : next));
  }, [errors, raw, step]);
  const leaving = useRef(false);
  useUnsavedGuard(dirty, leaving);

  const set = useCallback((path: Path, value: JsonValue | undefined) => {
    setSpec((s) => setIn(s, path, value));
    // Tools and their overrides are one section of the form.
    const sections = path[0] === "tool_overrides" ? ["tool_overrides", "tools"] : [String(path[0])];
    setDrafted((d) => {
      if (!sections.some((x) => d.has(x))) return d;
      const n = new Set(d);
      for (const x of sections) n.delete(x);
      return n;
    });
    const key = pathKey(path);
    setErrors((m) => {
      if (![...m.keys()].some((k) => k === key || k.startsWith(key + ".") || key.startsWith(k + "."))) return m;
      const n = new Map(m);
      for (const k of m.keys()) if (k === key || k.startsWith(key + ".") || key.startsWith(k + ".")) n.delete(k);
      return n;
    });
  }, []);
  const ed: Editor = { spec, set, errors, drafted };

  const agentNames = (agentsList.data?.agents ?? []).map((a) => a.name);
  const specName = typeof spec.name === "string" ? spec.name : "";

  const save = async () => {
    setSaving(true);
    setSaveError(null);
    try {
      const { agent } = await transport.call("agents_save", { spec });
      setBaseline(pretty(spec));
      setReview(null);
      setErrors(new Map());
      leaving.current = true;
      navigate(href(["agents"], { saved: agent.name }));
    } catch (e) {
      const f = asFailure(e);
      setReview(null);
      setSaveError(f);
      const errs = fieldErrors(f.message, f.field);
      setErrors(errs);
      setSaveFieldsFailed(errs.size > 0 && raw === null);
      if (raw === null) {
        // Bring the first field at fault into view.
        requestAnimationFrame(() => {
          const first = [...errs.keys()][0];
          const el = first ? document.querySelector<HTMLElement>(`[data-field="${first}"]`) ?? document.querySelector<HTMLElement>(`[data-field="${first.split(".")[0]}"]`) : null;
          el?.scrollIntoView({ block: "center" });
          el?.querySelector<HTMLElement>("input, textarea, select")?.focus();
        });
      }
    } finally {
      setSaving(false);
    }
  };

  const focusField = (key: string) => {
    const el = document.querySelector<HTMLElement>(`[data-field="${key}"]`) ?? document.querySelector<HTMLElement>(`[data-field="${key.split(".")[0]}"]`);
    el?.scrollIntoView({ block: "center" });
    el?.querySelector<HTMLElement>("input, textarea, select")?.focus();
  };

  const redraft = async (section: string) => {
    if (!lastDraft) return;
    setRedrafting(section);
    setRedraftError(null);
    try {
      const d = await transport.call("agents_draft", lastDraft);
      const fresh = isObj(d.spec) ? d.spec : {};
      const keys = SECTIONS[section] ?? [];
      setSpec((cur) => {
        let next = cur;
        for (const k of keys) next = setIn(next, [k], fresh[k]);
        return next;
      });
      setDrafted((cur) => new Set([...cur, ...keys.filter((k) => k in fresh)]));
      setDraftInfo({ notes: d.notes, repairs: d.repairs });
    } catch (e) {
      setRedraftError({ section, message: asFailure(e).message });
    } finally {
      setRedrafting(null);
    }
  };

  const onSave = async () => {
    if (raw?.error) return;
    setSaveError(null);
    setSaveFieldsFailed(false);
    // Saving over an agent that exists (this one, or another of the same name) goes through a review.
    let before: Obj | null = null;
    if (savedSpec && specName === name) before = savedSpec;
    else if (agentNames.includes(specName)) {
      try {
        const other = await transport.call("agents_get", { name: specName });
        before = isObj(other.spec) ? other.spec : null;
      } catch (e) {
        setSaveError(asFailure(e));
        return;
      }
    }
    if (before) setReview({ before: pretty(before), after: pretty(spec), replacing: specName !== name });
    else await save();
  };

  // Ctrl/Cmd+S saves (through the review when there is one).
  const saveRef = useRef<() => void>(() => {});
  saveRef.current = () => {
    if (step === "form" && !saving && !review) void onSave();
  };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s") {
        e.preventDefault();
        saveRef.current();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);


  const onDrafted = (d: AgentsDraftResponse, request: DraftRequest) => {
    setLastDraft(request);
    const s = isObj(d.spec) ? d.spec : blankSpec();
    setSpec(s);
    setDrafted(new Set(Object.keys(s)));
    setDraftInfo({ notes: d.notes, repairs: d.repairs });
    setErrors(new Map());
    setSaveError(null);
    setRaw(null);
    setStep("form");
  };

  if (name && saved.error)
    return (
      <div className="page">
        <h1>{name}</h1>
        <ErrorBanner error={saved.error} title="Could not open the agent" />
        <p>
          <a href={href(["agents"])}>Back to the agents</a>
        </p>
      </div>
    );
  if (name && !saved.data) return <div className="page muted">Loading {name}…</div>;

  const toolsSummary = pickedToolNames(spec, byServer);

  return (
    <div className="page builder">
      <div className="toolbar">
        <a href={href(["agents"])} className="button small" aria-label="Back to the agents">
          <ArrowLeft size={14} aria-hidden />
        </a>
        <h1 className="grow" style={{ margin: 0 }}>
          {name ? <span className="mono">{name}</span> : "New agent"}
          {dirty ? <span className="badge warn unsaved">unsaved changes</span> : null}
        </h1>
        {name && saved.data ? (
          <span className="muted small-text" title={saved.data.hash}>
            {saved.data.versions.length} version{saved.data.versions.length === 1 ? "" : "s"}, saved {formatTime(saved.data.versions.at(-1)?.created_at_ms)}
          </span>
        ) : null}
        {step === "form" ? (
          <button type="button" onClick={() => setStep("describe")} data-testid="open-describe">
            <Sparkles size={14} aria-hidden /> Draft from a description
          </button>
        ) : null}
        {name ? (
          <>
            <button type="button" onClick={() => setExporting(true)} data-testid="builder-export">
              <Download size={14} aria-hidden /> Export
            </button>
            <button type="button" onClick={() => setRunning(true)} disabled={dirty} title={dirty ? "Save first: a run uses the saved spec" : undefined}>
              <Play size={14} aria-hidden /> Run
            </button>
          </>
        ) : null}
      </div>

      {step === "describe" ? (
        <DescribeStep
          onDrafted={onDrafted}
          onSkip={() => setStep("form")}
          hasKey={(p) => settings.data?.providers.find((x) => x.provider === p)?.has_key ?? false}
          settingsBaseUrl={(p) => settings.data?.providers.find((x) => x.provider === p)?.base_url ?? null}
        />
      ) : null}

      {step === "form" ? (
        <>
          {draftInfo ? (
            <div className="banner info draft-notes" role="status" data-testid="draft-notes">
              <strong>Drafted by the model{draftInfo.repairs ? ` (after ${draftInfo.repairs} repair${draftInfo.repairs > 1 ? "s" : ""})` : ""}.</strong> Fields marked <span className="draft-mark">drafted</span> are the
              model's; check them before saving.
              {draftInfo.notes.length ? (
                <ul>
                  {draftInfo.notes.map((n) => (
                    <li key={n}>{n}</li>
                  ))}
                </ul>
              ) : null}
            </div>
          ) : null}

          <div className="row view-toggle" role="group" aria-label="View">
            <button
              type="button"
              aria-pressed={raw === null && !tomlView}
              onClick={() => {
                if (raw?.error) return;
                setRaw(null);
                setTomlView(false);
              }}
              disabled={!!raw?.error}
              title={raw?.error ? "Fix the JSON first" : undefined}
            >
              Form
            </button>
            <button
              type="button"
              aria-pressed={raw !== null}
              onClick={() => {
                setTomlView(false);
                if (raw === null) setRaw({ text: JSON.stringify(spec, null, 2), error: null });
              }}
              data-testid="raw-toggle"
            >
              Raw JSON
            </button>
            <button
              type="button"
              aria-pressed={tomlView}
              disabled={!!raw?.error}
              onClick={() => {
                setRaw(null);
                setTomlView(true);
              }}
              data-testid="toml-toggle"
            >
              TOML
            </button>
            <span className="grow" />
            <span className="muted small-text">{toolsSummary.length ? `${toolsSummary.length} tool${toolsSummary.length > 1 ? "s" : ""}` : "no tools"}</span>
          </div>

          {tomlView ? (
            <label className="raw-editor">
              Spec (TOML, read-only)
              <span className="hint">The spec as a file, as Export writes it. Edit in the form or the Raw JSON view; to load a TOML file, use Import on the Agents page.</span>
              <textarea rows={28} readOnly spellCheck={false} value={toToml(spec)} data-testid="raw-toml" />
            </label>
          ) : raw !== null ? (
            <label className="raw-editor">
              Spec (JSON, as in docs/agent-spec.md)
              <textarea
                rows={28}
                spellCheck={false}
                value={raw.text}
                aria-invalid={!!raw.error || errors.size > 0}
                data-testid="raw-json"
                onChange={(e) => {
                  const text = e.target.value;
                  try {
                    const v = JSON.parse(text) as JsonValue;
                    if (!isObj(v)) throw new Error("the spec must be a JSON object");
                    setSpec(v);
                    setErrors(new Map());
                    setRaw({ text, error: null });
                  } catch (err) {
                    setRaw({ text, error: err instanceof Error ? err.message : String(err) });
                  }
                }}
              />
              {raw.error ? <span className="field-error">Not valid JSON: {raw.error}</span> : null}
            </label>
          ) : (
            <SpecForm
              redraft={lastDraft ? { run: (section) => void redraft(section), pending: redrafting, error: redraftError } : null}
              ed={ed}
              servers={servers.data?.servers ?? []} serversError={servers.error?.message ?? null} byServer={byServer} agentNames={agentNames} toolNames={toolsSummary} />
          )}

          <div className="save-bar">
            {saveFieldsFailed ? (
              errors.size > 0 ? (
                <div className="banner error" role="alert" data-testid="save-error">
                  <strong>Not saved:</strong> {errors.size === 1 ? "one field needs" : `${errors.size} fields need`} fixing:{" "}
                  {[...errors.keys()].map((k) => (
                    <button key={k} type="button" className="small link-button mono" onClick={() => focusField(k)}>
                      {k}
                    </button>
                  ))}
                  {orphans.length ? (
                    <ul className="orphans">
                      {orphans.map((k) => (
                        <li key={k}>
                          <span className="mono">{k}</span>: {errors.get(k)}
                        </li>
                      ))}
                    </ul>
                  ) : null}
                </div>
              ) : null
            ) : (
              <ErrorBanner error={saveError} title="Not saved" />
            )}
            <div className="row">
              <span className="muted">
                {name && specName && specName !== name ? (
                  <>
                    Saving under the name <span className="mono">{specName}</span> makes another agent; <span className="mono">{name}</span> stays as it is.
                  </>
                ) : dirty ? (
                  "You have unsaved changes."
                ) : name ? (
                  "Saved."
                ) : (
                  ""
                )}
              </span>
              <div className="grow" />
              <a className="button" href={href(["agents"])}>
                Cancel
              </a>
              <button type="button" className="primary" onClick={() => void onSave()} disabled={saving || !!raw?.error} data-testid="save-agent">
                {saving ? "Saving…" : name && specName === name ? "Review and save" : "Save agent"} <kbd>Ctrl S</kbd>
              </button>
            </div>
          </div>
        </>
      ) : null}

      {review ? <ReviewDialog review={review} name={specName} saving={saving} onClose={() => setReview(null)} onConfirm={() => void save()} /> : null}
      {exporting && name ? <ExportDialog name={name} onClose={() => setExporting(false)} /> : null}
      {running && name ? <StartRunDialog agents={agentNames} initialAgent={name} initialInput={DEMO_INPUTS[name] ?? ""} onClose={() => setRunning(false)} /> : null}
    </div>
  );
}

const LEAVE_QUESTION = "This agent has unsaved changes. Leave without saving them?";

/**
 * Warns before leaving with unsaved changes: closing the tab, following a link in the app, or
 * the browser's Back. `leaving` is set by a navigation the page makes itself (after a save).
 */
function useUnsavedGuard(dirty: boolean, leaving: { current: boolean }) {
  useEffect(() => {
    if (!dirty) return;
    let here = window.location.hash;
    const onBeforeUnload = (e: BeforeUnloadEvent) => {
      e.preventDefault();
    };
    const onClick = (e: MouseEvent) => {
      const a = (e.target as Element | null)?.closest?.("a[href^='#']");
      if (!a || a.getAttribute("download") !== null) return;
      if (a.getAttribute("href") === window.location.hash) return;
      if (window.confirm(LEAVE_QUESTION)) leaving.current = true;
      else {
        e.preventDefault();
        e.stopPropagation();
      }
    };
    // Back/Forward: the address has already changed; staying puts the builder's back. On
    // `popstate`, which comes before the `hashchange` the router re-renders the app on.
    const onHistory = () => {
      if (leaving.current || window.location.hash === here) return;
      if (window.confirm(LEAVE_QUESTION)) leaving.current = true;
      else navigate(here, true);
    };
    window.addEventListener("beforeunload", onBeforeUnload);
    window.addEventListener("popstate", onHistory);
    document.addEventListener("click", onClick, true);
    return () => {
      here = "";
      window.removeEventListener("beforeunload", onBeforeUnload);
      window.removeEventListener("popstate", onHistory);
      document.removeEventListener("click", onClick, true);
    };
  }, [dirty, leaving]);
}

function DescribeStep({
  onDrafted,
  onSkip,
  hasKey,
  settingsBaseUrl,
}: {
  onDrafted: (d: AgentsDraftResponse, request: DraftRequest) => void;
  onSkip: () => void;
  hasKey: (provider: string) => boolean;
  settingsBaseUrl: (provider: string) => string | null;
}) {
  const transport = useTransport();
  const [description, setDescription] = useState("");
  const [model, setModel] = useState<DraftModel>(loadDraftModel);
  // With no earlier choice, start from a provider whose key is stored in Settings.
  const keyedOpenAi = hasKey("openai");
  const keyedAnthropic = hasKey("anthropic");
  useEffect(() => {
    if (localStorage.getItem(DRAFT_MODEL_KEY) === null && keyedAnthropic && !keyedOpenAi)
      setModel({ provider: "anthropic", model: "claude-sonnet-4-5", base_url: "" });
  }, [keyedOpenAi, keyedAnthropic]);
  const [error, setError] = useState<ApiFailure | null>(null);
  const [pending, setPending] = useState(false);

  const draft = async () => {
    setPending(true);
    setError(null);
    localStorage.setItem(DRAFT_MODEL_KEY, JSON.stringify(model));
    const m: Obj = { provider: model.provider, model: model.model.trim() };
    if (model.base_url.trim()) m.base_url = model.base_url.trim();
    // A keyless server set in Settings (a local Ollama, say) is named, so no key is asked for.
    else if (keyed && settingsUrl && !hasKey(model.provider)) m.base_url = settingsUrl;
    try {
      const request = { description, model: m };
      onDrafted(await transport.call("agents_draft", request), request);
    } catch (e) {
      setError(asFailure(e));
    } finally {
      setPending(false);
    }
  };
  const keyed = model.provider === "openai" || model.provider === "anthropic";
  const settingsUrl = keyed ? settingsBaseUrl(model.provider) : null;
  const fieldIs = (f: string) => !!error?.field && (error.field === f || error.field.startsWith(f + "."));
  return (
    <form
      className="card describe stack"
      onSubmit={(e) => {
        e.preventDefault();
        void draft();
      }}
    >
      <h2 style={{ margin: 0 }}>1. Describe the agent</h2>
      <label>
        What should the agent do?
        <span className="hint">In plain words: its job, what it may look up or change, when a person should approve. The model drafts a spec using the tools of your connected MCP servers; nothing is saved until you save. Ctrl+Enter drafts.</span>
        <textarea
          rows={5}
          className="prose"
          value={description}
          onChange={(e) => setDescription(e.target.value)}
          placeholder="Answers customers' questions about their orders, and emails them once a person approves the email."
          aria-invalid={fieldIs("description")}
          data-testid="describe-text"
          onKeyDown={(e) => {
            if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && description.trim()) {
              e.preventDefault();
              void draft();
            }
          }}
        />
        {fieldIs("description") ? <span className="field-error">{error?.message}</span> : null}
      </label>
      <fieldset className="draft-model">
        <legend>Model that drafts</legend>
        <div className="row wrap">
          <label className="inline">
            Provider
            <select value={model.provider} onChange={(e) => setModel({ ...model, provider: e.target.value })} data-testid="draft-provider" aria-invalid={fieldIs("model")}>
              {PROVIDERS.filter((p) => p.value !== "scripted").map((p) => (
                <option key={p.value} value={p.value}>
                  {p.label}
                </option>
              ))}
            </select>
          </label>
          <label className="inline">
            Model
            <input value={model.model} onChange={(e) => setModel({ ...model, model: e.target.value })} placeholder="gpt-4o-mini" data-testid="draft-model" aria-invalid={fieldIs("model")} />
          </label>
          <label className="inline grow">
            Base URL (optional)
            <input
              value={model.base_url}
              onChange={(e) => setModel({ ...model, base_url: e.target.value })}
              placeholder={settingsUrl ?? (model.provider === "anthropic" ? "https://api.anthropic.com/v1" : "https://api.openai.com/v1")}
              data-testid="draft-base-url"
              aria-invalid={fieldIs("model")}
            />
          </label>
        </div>
        <span className="hint">
          {keyed && !model.base_url.trim() && settingsUrl && !hasKey(model.provider)
            ? `Drafts through ${settingsUrl}, the base URL set in Settings.`
            : keyed && !model.base_url.trim()
            ? hasKey(model.provider)
              ? `A ${model.provider} key is stored in Settings.`
              : `No ${model.provider} key is stored: add one in Settings, or point the base URL at a local server (Ollama, LM Studio).`
            : "A server at a base URL of your own gets no key unless the agent names one."}
        </span>
      </fieldset>
      {error ? (
        <div className="banner error" role="alert" data-testid="draft-error">
          <strong>The model could not draft the agent: </strong>
          {error.message}
          {error.code === "upstream" ? <div className="hint">Check the model, its base URL and its key in Settings, then try again, or skip to the form and fill it in yourself.</div> : null}
          {error.field === "model" ? (
            <div>
              <a href={href(["settings"])}>Store a key in Settings</a>, or give the base URL of a server that needs none.
            </div>
          ) : null}
        </div>
      ) : null}
      <div className="row">
        <button type="button" onClick={onSkip} data-testid="skip-to-form">
          Skip, fill in the form
        </button>
        <div className="grow" />
        <button className="primary" type="submit" disabled={pending || !description.trim() || (keyed && !model.model.trim())} data-testid="draft-submit">
          <Sparkles size={14} aria-hidden /> {pending ? "Drafting…" : "Draft"}
        </button>
      </div>
      {pending ? (
        <div className="muted" role="status">
          Asking the model for a draft; it may take a few tries while it fixes problems in its answer…
        </div>
      ) : null}
    </form>
  );
}

function SectionHead({ id, title, section, ed, redraft }: { id: string; title: string; section: string; ed: Editor; redraft: Redraft | null }) {
  const err = redraft?.error?.section === section ? redraft.error.message : null;
  return (
    <>
      <div className="section-head">
        <h2 id={id}>
          {title} {section !== "basics" ? <DraftMark ed={ed} section={SECTIONS[section][0]} /> : null}
        </h2>
        {redraft ? (
          <button type="button" className="small" onClick={() => redraft.run(section)} disabled={redraft.pending !== null} data-testid={`redraft-${section}`} title="Ask the model again for this section only">
            <Sparkles size={12} aria-hidden /> {redraft.pending === section ? "Drafting…" : "Redraft"}
          </button>
        ) : null}
      </div>
      {err ? (
        <div className="field-error" role="alert">
          The model could not redraft this section: {err}
        </div>
      ) : null}
    </>
  );
}

function SpecForm({
  redraft,
  ed,
  servers,
  serversError,
  byServer,
  agentNames,
  toolNames,
}: {
  ed: Editor;
  servers: Parameters<typeof ToolPicker>[0]["servers"];
  serversError: string | null;
  byServer: Parameters<typeof ToolPicker>[0]["byServer"];
  agentNames: string[];
  toolNames: string[];
  redraft: Redraft | null;
}) {
  const provider = getIn(ed.spec, ["model", "provider"]);
  const scripted = provider === "scripted";
  const unplaced = useMemo(() => {
    // Errors at fields the form does not show still appear, by path.
    const shown = /^(name|description|instructions|model|tools|tool_overrides|limits|retry|triggers)(\.|$)/;
    return [...ed.errors].filter(([k]) => !shown.test(k));
  }, [ed.errors]);
  return (
    <div className="spec-form stack">
      {unplaced.map(([k, v]) => (
        <div className="field-error" key={k} role="alert">
          {k}: {v}
        </div>
      ))}
      <section className="card stack" aria-labelledby="sec-basics">
        <SectionHead id="sec-basics" title="Basics" section="basics" ed={ed} redraft={redraft} />
        <TextField ed={ed} path={["name"]} label="Name" hint="Its id: lowercase letters, digits, - and _ (it names the agent in URLs, the CLI, and as a sub-agent)." testId="field-name" />
        <TextField ed={ed} path={["description"]} label="Description" hint="What it does, for people and for a parent agent's model." />
        <TextField ed={ed} path={["instructions"]} label="Instructions" hint="The system prompt." multiline rows={8} />
      </section>

      <section className="card stack" aria-labelledby="sec-model">
        <SectionHead id="sec-model" title="Model" section="model" ed={ed} redraft={redraft} />
        <div className="grid2">
          <SelectField
            ed={ed}
            path={["model", "provider"]}
            label="Provider"
            options={PROVIDERS}
            onPick={(v) => {
              // Fields that only one kind of provider takes go when the provider changes.
              ed.set(["model", "provider"], v);
              if (v === "scripted") {
                ed.set(["model", "base_url"], undefined);
                ed.set(["model", "api_key_env"], undefined);
              } else ed.set(["model", "script"], undefined);
            }}
          />
          {!scripted ? <TextField ed={ed} path={["model", "model"]} label="Model" placeholder="gpt-4o-mini" /> : <TextField ed={ed} path={["model", "script"]} label="Script" hint="The file of turns to replay." />}
        </div>
        {!scripted ? (
          <TextField
            ed={ed}
            path={["model", "base_url"]}
            label="Base URL (optional)"
            hint="The API root including its version segment, e.g. http://127.0.0.1:11434/v1 for Ollama. Empty: the Settings' URL or the provider's own."
            placeholder={provider === "anthropic" ? "https://api.anthropic.com/v1" : "https://api.openai.com/v1"}
          />
        ) : null}
      </section>

      <section className="card stack" aria-labelledby="sec-tools">
        <SectionHead id="sec-tools" title="Tools" section="tools" ed={ed} redraft={redraft} />
        <ToolPicker ed={ed} servers={servers} serversError={serversError} byServer={byServer} agentNames={agentNames} />
      </section>

      <section className="card stack" aria-labelledby="sec-limits">
        <SectionHead id="sec-limits" title="Limits" section="limits" ed={ed} redraft={redraft} />
        <span className="hint">Reaching a limit ends the run with a reason that names it.</span>
        <div className="grid4">
          <NumberField ed={ed} path={["limits", "max_steps"]} label="Max steps" hint="Model calls per run (default 25)." min={1} placeholder="25" />
          <NumberField ed={ed} path={["limits", "max_tokens"]} label="Max tokens" hint="Input + output, whole run." min={1} placeholder="no limit" />
          <NumberField ed={ed} path={["limits", "max_cost_usd"]} label="Max cost (USD)" step="any" min={0} placeholder="no limit" />
          <NumberField ed={ed} path={["limits", "deadline_secs"]} label="Wall time (s)" hint="From start to end." min={1} placeholder="no limit" />
          <NumberField ed={ed} path={["limits", "max_concurrent_runs"]} label="Runs at once" min={1} placeholder="no limit" />
        </div>
      </section>

      <Triggers ed={ed} redraft={redraft} />

      <details className="card advanced" open={[...ed.errors.keys()].some((k) => /^(retry|tool_overrides|model\.(api_key_env|temperature|max_tokens|timeout_secs|on_context_overflow))/.test(k))}>
        <summary>
          <h2>Advanced: retries and timeouts</h2>
        </summary>
        <h3>Model calls</h3>
        <div className="grid4">
          {!scripted ? <TextField ed={ed} path={["model", "api_key_env"]} label="API key variable" hint="The name of an environment variable, never the key." placeholder="OPENAI_API_KEY" /> : null}
          <NumberField ed={ed} path={["model", "temperature"]} label="Temperature" step="any" min={0} placeholder="provider's" />
          <NumberField ed={ed} path={["model", "max_tokens"]} label="Max tokens per call" min={1} placeholder="provider's" />
          <NumberField ed={ed} path={["model", "timeout_secs"]} label="Timeout per call (s)" min={1} placeholder="default" />
          <SelectField
            ed={ed}
            path={["model", "on_context_overflow"]}
            label="When the context overflows"
            emptyLabel="Fail the run"
            options={[{ value: "drop_oldest_tool_results", label: "Drop the oldest tool results" }]}
          />
        </div>
        <h3>Retry of model calls</h3>
        <RetryFields ed={ed} base={["retry"]} />
        <h3>Per tool</h3>
        {toolNames.length === 0 ? <div className="muted">Pick tools above to set their timeouts and retries.</div> : null}
        {toolNames.map((t) => (
          <fieldset key={t} className="tool-advanced" data-field={`tool_overrides.${t}`}>
            <legend className="mono">{t}</legend>
            <div className="grid4">
              <NumberField ed={ed} path={["tool_overrides", t, "timeout_secs"]} label="Timeout (s)" min={1} placeholder="default" />
            </div>
            <RetryFields ed={ed} base={["tool_overrides", t, "retry"]} />
          </fieldset>
        ))}
      </details>
    </div>
  );
}

function RetryFields({ ed, base }: { ed: Editor; base: Path }) {
  return (
    <div className="grid5">
      <NumberField ed={ed} path={[...base, "max_attempts"]} label="Attempts" hint="Including the first." min={1} placeholder="5" />
      <NumberField ed={ed} path={[...base, "initial_interval_ms"]} label="First delay (ms)" min={0} placeholder="1000" />
      <NumberField ed={ed} path={[...base, "backoff_coefficient"]} label="Backoff ×" step="any" min={1} placeholder="2" />
      <NumberField ed={ed} path={[...base, "max_interval_ms"]} label="Longest delay (ms)" min={0} placeholder="60000" />
      <NumberField ed={ed} path={[...base, "jitter"]} label="Jitter (0–1)" step="any" min={0} placeholder="0.1" />
    </div>
  );
}

function Triggers({ ed, redraft }: { ed: Editor; redraft: Redraft | null }) {
  const triggers = Array.isArray(ed.spec.triggers) ? ed.spec.triggers : ed.spec.triggers === undefined ? [{ kind: "manual" }] : [];
  const setAll = (next: JsonValue[]) => ed.set(["triggers"], next);
  const err = errorUnder(ed.errors, "triggers");
  return (
    <section className="card stack" aria-labelledby="sec-triggers" data-field="triggers">
      <SectionHead id="sec-triggers" title="Triggers" section="triggers" ed={ed} redraft={redraft} />
      <span className="hint">What starts a run. With none, the agent runs only as another agent's sub-agent.</span>
      {err && !ed.errors.has("triggers") ? null : err ? <span className="field-error">{err}</span> : null}
      {triggers.map((t, i) => {
        const kind = isObj(t) && typeof t.kind === "string" ? t.kind : "manual";
        return (
          <div key={i} className="row wrap trigger" data-field={`triggers.${i}`}>
            <label className="inline">
              Kind
              <select
                value={kind}
                onChange={(e) => {
                  const k = e.target.value;
                  const next = [...triggers];
                  next[i] = k === "webhook" ? { kind: k, secret_ref: "" } : k === "cron" ? { kind: k, schedule: "0 9 * * 1-5" } : { kind: k };
                  setAll(next);
                }}
                data-testid={`trigger-kind-${i}`}
              >
                <option value="manual">Manual (app, CLI, API)</option>
                <option value="webhook">Webhook (POST /hooks/agent)</option>
                <option value="cron">Schedule (cron)</option>
              </select>
            </label>
            {kind === "webhook" ? (
              <>
                <TextField ed={ed} path={["triggers", i, "secret_ref"]} label="Secret name" hint="Store its value in Settings → Webhook secrets." className="inline" />
                <SelectField ed={ed} path={["triggers", i, "auth"]} label="Auth" emptyLabel="HMAC-SHA256 signature" options={[{ value: "bearer", label: "Bearer token" }]} />
              </>
            ) : null}
            {kind === "cron" ? (
              <>
                <TextField ed={ed} path={["triggers", i, "schedule"]} label="Schedule" hint="5 fields (min hour day month weekday) or 6 with seconds." className="inline" />
                <TextField ed={ed} path={["triggers", i, "timezone"]} label="Time zone" placeholder="UTC" className="inline" />
              </>
            ) : null}
            <button type="button" className="small" aria-label={`Remove trigger ${i + 1}`} onClick={() => setAll(triggers.filter((_, j) => j !== i))}>
              <Trash2 size={12} aria-hidden />
            </button>
            {errorUnder(ed.errors, `triggers.${i}`) && !ed.errors.has(`triggers.${i}.secret_ref`) && !ed.errors.has(`triggers.${i}.schedule`) && !ed.errors.has(`triggers.${i}.timezone`) ? (
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

function ReviewDialog({
  review,
  name,
  saving,
  onClose,
  onConfirm,
}: {
  review: { before: string; after: string; replacing: boolean };
  name: string;
  saving: boolean;
  onClose: () => void;
  onConfirm: () => void;
}) {
  const lines = useMemo(() => lineDiff(review.before, review.after), [review]);
  const changed = lines.filter((l) => l.kind !== "same").length;
  // Unchanged stretches fold to a line, keeping three lines of context around each change.
  const shown = useMemo(() => {
    const near = lines.map((_, i) => lines.slice(Math.max(0, i - 3), i + 4).some((l) => l.kind !== "same"));
    const out: ({ kind: "fold"; count: number } | (typeof lines)[number])[] = [];
    for (let i = 0; i < lines.length; i++) {
      if (near[i]) out.push(lines[i]);
      else {
        const last = out.at(-1);
        if (last && last.kind === "fold") last.count++;
        else out.push({ kind: "fold", count: 1 });
      }
    }
    return out;
  }, [lines]);
  return (
    <Modal title={`Save ${name}?`} onClose={onClose}>
      {review.replacing ? (
        <div className="banner warn">
          An agent named <span className="mono">{name}</span> is already saved: saving makes this its new version. Runs under way keep the spec they started with.
        </div>
      ) : (
        <p className="muted">Changes against the saved version. Runs under way keep the spec they started with.</p>
      )}
      {changed === 0 ? (
        <p>No changes to save.</p>
      ) : (
        <pre className="diff" data-testid="review-diff" aria-label="Changes">
          {shown.map((l, i) =>
            l.kind === "fold" ? (
              <div key={i} className="diff-fold">
                ⋯ {l.count} unchanged line{l.count === 1 ? "" : "s"}
              </div>
            ) : (
              <div key={i} className={`diff-${l.kind}`}>
                {l.kind === "add" ? "+ " : l.kind === "del" ? "- " : "  "}
                {l.text}
              </div>
            ),
          )}
        </pre>
      )}
      <div className="row">
        <span className="muted">
          {lines.filter((l) => l.kind === "add").length} added, {lines.filter((l) => l.kind === "del").length} removed lines
        </span>
        <div className="grow" />
        <button type="button" onClick={onClose}>
          Keep editing
        </button>
        <button type="button" className="primary" onClick={onConfirm} disabled={saving || changed === 0} data-testid="confirm-save">
          {saving ? "Saving…" : "Save"}
        </button>
      </div>
    </Modal>
  );
}
