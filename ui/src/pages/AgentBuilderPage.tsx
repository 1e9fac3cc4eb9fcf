// The agent builder: describe the agent in words → the model drafts a spec → a form (or the raw
// JSON) → save, through a review diff when an agent of that name is already saved. The steps,
// sections, dialogs and the save flow are in ../agents; this page holds the builder's state.
import { useCallback, useEffect, useRef, useState } from "react";
import { ArrowLeft, Download, Play, Sparkles } from "lucide-react";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import type { AgentsDraftResponse } from "../bindings/AgentsDraftResponse";
import { useApi } from "../lib/useApi";
import { href, navigate } from "../lib/router";
import { useTransport } from "../transport";
import { ErrorBanner, formatTime } from "../components/common";
import { StartRunDialog } from "../components/StartRunDialog";
import { ExportDialog } from "../agents/ExportDialog";
import { asDraft, blankSpec, pathKey, pretty, setIn, specModel, specName as nameOf, type Obj, type Path } from "../agents/spec";
import type { Editor } from "../agents/fields";
import { pickedToolNames, useServerTools } from "../agents/ToolPicker";
import { demoInputFor, useDemo } from "../agents/demo";
import { SECTIONS, type DraftRequest, type Redraft } from "../agents/drafting";
import { asFailure } from "../agents/failure";
import { useUnsavedGuard } from "../agents/useUnsavedGuard";
import { useSaveShortcut } from "../agents/useSaveShortcut";
import { useOrphanErrors } from "../agents/useOrphanErrors";
import { DescribeStep } from "../agents/DescribeStep";
import { DraftNotes, type DraftInfo } from "../agents/DraftNotes";
import { KeyDestination } from "../agents/EnvKeyHosts";
import { RawJsonEditor, TomlView, ViewToggle, type RawJson } from "../agents/SpecViews";
import { SpecForm } from "../agents/SpecForm";
import { SaveBar } from "../agents/SaveBar";
import { ReviewDialog } from "../agents/ReviewDialog";
import { useSaveFlow } from "../agents/useSaveFlow";
import "../agents/agents.css";

export function AgentBuilderPage({ name }: { name: string | null }) {
  // A fresh builder per agent: nothing carries over from the one open before.
  return <Builder key={name ?? "\u0000new"} name={name} />;
}

function Builder({ name }: { name: string | null }) {
  const transport = useTransport();
  const saved = useApi("agents_get", name ? { name } : null, [name]);
  const agentsList = useApi("agents_list", {});
  const demo = useDemo();
  const servers = useApi("mcp_list", {});
  const settings = useApi("settings_get", {});
  const byServer = useServerTools(servers.data?.servers);

  const [spec, setSpec] = useState<Obj>(() => blankSpec());
  const [baseline, setBaseline] = useState<string>(() => pretty(blankSpec()));
  const [savedSpec, setSavedSpec] = useState<Obj | null>(null);
  const [step, setStep] = useState<"describe" | "form">(name ? "form" : "describe");
  const [drafted, setDrafted] = useState<Set<string>>(new Set());
  const [draftInfo, setDraftInfo] = useState<DraftInfo | null>(null);
  const [errors, setErrors] = useState<Map<string, string>>(new Map());
  const [lastDraft, setLastDraft] = useState<DraftRequest | null>(null);
  const [redrafting, setRedrafting] = useState<string | null>(null);
  const [redraftError, setRedraftError] = useState<Redraft["error"]>(null);
  const [raw, setRaw] = useState<RawJson | null>(null);
  const [tomlView, setTomlView] = useState(false);
  const [running, setRunning] = useState(false);
  const [exporting, setExporting] = useState(false);
  const loadedFor = useRef<string | null>(null);

  // The saved spec becomes the form's starting point once it arrives.
  useEffect(() => {
    if (!name || !saved.data || loadedFor.current === name) return;
    loadedFor.current = name;
    const s = asDraft(saved.data.spec);
    setSpec(s);
    setSavedSpec(s);
    setBaseline(pretty(s));
  }, [name, saved.data]);

  const dirty = pretty(spec) !== baseline;
  // Errors whose field the form does not show (an unknown key, say) are spelled out in the banner.
  const orphans = useOrphanErrors(errors, raw, step);
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
  const specName = nameOf(spec);

  const { saving, saveError, saveFieldsFailed, review, closeReview, clearSaveError, save, onSave } = useSaveFlow({
    name,
    spec,
    specName,
    savedSpec,
    agentNames,
    raw,
    setErrors,
    onSaved: (s, agentName) => {
      setBaseline(pretty(s));
      leaving.current = true;
      navigate(href(["agents"], { saved: agentName }));
    },
  });

  const redraft = async (section: string) => {
    if (!lastDraft) return;
    setRedrafting(section);
    setRedraftError(null);
    try {
      const d = await transport.call("agents_draft", lastDraft);
      const fresh = asDraft(d.spec);
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

  // Ctrl/Cmd+S saves (through the review when there is one).
  useSaveShortcut(() => {
    if (step === "form" && !saving && !review) void onSave();
  });

  const onDrafted = (d: AgentsDraftResponse, request: DraftRequest) => {
    setLastDraft(request);
    const s = asDraft(d.spec);
    setSpec(s);
    setDrafted(new Set(Object.keys(s)));
    setDraftInfo({ notes: d.notes, repairs: d.repairs });
    setErrors(new Map());
    clearSaveError();
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
          {draftInfo ? <DraftNotes info={draftInfo} /> : null}
          <KeyDestination model={specModel(spec)} />

          <ViewToggle spec={spec} raw={raw} setRaw={setRaw} tomlView={tomlView} setTomlView={setTomlView} toolNames={toolsSummary} />

          {tomlView ? (
            <TomlView spec={spec} />
          ) : raw !== null ? (
            <RawJsonEditor
              raw={raw}
              setRaw={setRaw}
              hasErrors={errors.size > 0}
              onSpec={(v) => {
                setSpec(v);
                setErrors(new Map());
              }}
            />
          ) : (
            <SpecForm
              redraft={lastDraft ? { run: (section) => void redraft(section), pending: redrafting, error: redraftError } : null}
              ed={ed}
              servers={servers.data?.servers ?? []} serversError={servers.error?.message ?? null} byServer={byServer} agentNames={agentNames} toolNames={toolsSummary} />
          )}

          <SaveBar
            name={name}
            specName={specName}
            dirty={dirty}
            saving={saving}
            blocked={!!raw?.error}
            saveError={saveError}
            saveFieldsFailed={saveFieldsFailed}
            errors={errors}
            orphans={orphans}
            onSave={() => void onSave()}
          />
        </>
      ) : null}

      {review ? <ReviewDialog review={review} name={specName} model={specModel(spec)} saving={saving} onClose={closeReview} onConfirm={() => void save()} /> : null}
      {exporting && name ? <ExportDialog name={name} onClose={() => setExporting(false)} /> : null}
      {running && name ? <StartRunDialog agents={agentNames} initialAgent={name} initialInput={demoInputFor(demo, name)} onClose={() => setRunning(false)} /> : null}
    </div>
  );
}
