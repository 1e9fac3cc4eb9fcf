// Step 1 of the builder: the agent described in words, and the model that drafts its spec.
import { useEffect, useState } from "react";
import { Sparkles } from "lucide-react";
import type { AgentsDraftResponse } from "../bindings/AgentsDraftResponse";
import { href } from "../lib/router";
import { ApiFailure, useTransport } from "../transport";
import type { Obj } from "./spec";
import { DRAFT_MODEL_KEY, loadDraftModel, type DraftModel, type DraftRequest } from "./drafting";
import { PROVIDERS } from "./providers";
import { asFailure } from "./failure";

export function DescribeStep({
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
