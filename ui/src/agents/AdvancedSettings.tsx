// The form's folded Advanced section: model-call settings, retries, and per-tool timeouts.
import { NumberField, SelectField, TextField, type Editor } from "./fields";
import type { Path } from "./spec";

export function AdvancedSettings({ ed, scripted, toolNames }: { ed: Editor; scripted: boolean; toolNames: string[] }) {
  return (
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
