// The spec as a form: Basics, Model, Tools, Limits, Triggers, Email (when the agent reads or
// sends mail), and the folded Advanced settings.
import { useMemo } from "react";
import { specModel, specName } from "./spec";
import { NumberField, SelectField, TextField, type Editor } from "./fields";
import { ToolPicker } from "./ToolPicker";
import type { Redraft } from "./drafting";
import { PROVIDERS } from "./providers";
import { SectionHead } from "./SectionHead";
import { Triggers } from "./Triggers";
import { AdvancedSettings } from "./AdvancedSettings";
import { EmailSection, usesEmail } from "./EmailFields";

export function SpecForm({
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
  const provider = specModel(ed.spec).provider;
  const scripted = provider === "scripted";
  const unplaced = useMemo(() => {
    // Errors at fields the form does not show still appear, by path.
    const shown = /^(name|description|instructions|model|tools|tool_overrides|limits|retry|triggers)(\.|$)/;
    const email = usesEmail(ed.spec);
    return [...ed.errors].filter(([k]) => !shown.test(k) && !(email && /^email(\.|$)/.test(k)));
  }, [ed.errors, ed.spec]);
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

      <Triggers ed={ed} redraft={redraft} saved={agentNames.includes(specName(ed.spec))} />

      {usesEmail(ed.spec) ? <EmailSection ed={ed} /> : null}

      <AdvancedSettings ed={ed} scripted={scripted} toolNames={toolNames} />
    </div>
  );
}
