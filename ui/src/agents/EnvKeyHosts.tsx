// Where API keys read from environment variables may be sent: the allowed (variable, host)
// pairs in Settings → Providers, and, in the builder, where the agent being edited would send
// its key. A spec can name any variable (`model.api_key_env`) with any `base_url`, so the API
// refuses a pair the user has not allowed; this shows it before saving.
import { useState } from "react";
import type { EnvKeyHostSetting } from "../bindings/EnvKeyHostSetting";
import type { SettingsResponse } from "../bindings/SettingsResponse";
import { useApi } from "../lib/useApi";
import { ApiFailure, useTransport } from "../transport";
import { ErrorBanner } from "../components/common";
import type { ModelSpec } from "../bindings/ModelSpec";

const OWN: Record<string, { variable: string; url: string }> = {
  openai: { variable: "OPENAI_API_KEY", url: "https://api.openai.com/v1" },
  anthropic: { variable: "ANTHROPIC_API_KEY", url: "https://api.anthropic.com/v1" },
};

export type KeyTarget = { variable: string; host: string; port: string; baseUrl: string };

/** Where `model`'s key from the environment goes (the rules of the runtime's
 * `env_key_target`), or null when none does: no variable, or the provider's own variable
 * sent to the base URL set for it in the settings. */
export function keyTarget(model: Partial<ModelSpec> | undefined, settings: SettingsResponse): KeyTarget | null {
  const m = model;
  if (!m) return null;
  const provider = typeof m.provider === "string" ? m.provider : "";
  const own = OWN[provider];
  if (!own) return null;
  const named = typeof m.api_key_env === "string" && m.api_key_env.trim() ? m.api_key_env.trim() : undefined;
  const specUrl = typeof m.base_url === "string" && m.base_url.trim() ? m.base_url.trim() : undefined;
  const variable = named ?? (specUrl ? undefined : own.variable);
  if (!variable) return null;
  const configured = specUrl ? undefined : settings.providers.find((p) => p.provider === provider)?.base_url;
  if (!named && configured) return null;
  const baseUrl = configured ?? specUrl ?? own.url;
  try {
    const u = new URL(baseUrl);
    const port = u.port || (u.protocol === "https:" ? "443" : "80");
    return { variable, host: u.hostname.toLowerCase(), port, baseUrl };
  } catch {
    return null;
  }
}

export function isAllowed(t: KeyTarget, pairs: EnvKeyHostSetting[]): boolean {
  return pairs.some((p) => p.variable === t.variable && (p.host === t.host || p.host === `${t.host}:${t.port}`));
}

/** In the builder and its review: where this agent's key from the environment would go, and
 * whether that is allowed (with a button to allow it). Silent for the usual case: a provider's
 * own variable to its own, allowed, server. */
export function KeyDestination({ model }: { model: Partial<ModelSpec> | undefined }) {
  const transport = useTransport();
  const settings = useApi("settings_get", {});
  const [error, setError] = useState<ApiFailure | null>(null);
  if (!settings.data) return null;
  const t = keyTarget(model, settings.data);
  if (!t) return null;
  const allowed = isAllowed(t, settings.data.env_key_hosts);
  const named = typeof model?.api_key_env === "string";
  if (allowed && !named) return null;
  const allow = async () => {
    setError(null);
    try {
      await transport.call("settings_allow_env_key", { variable: t.variable, host: t.host });
      await settings.reload();
    } catch (e) {
      setError(e instanceof ApiFailure ? e : new ApiFailure({ message: String(e) }));
    }
  };
  return (
    <div className={`banner ${allowed ? "info" : "warn"}`} data-testid="key-destination">
      This agent sends the key in the environment variable <code>{t.variable}</code> to <code>{t.host}</code> ({t.baseUrl}).{" "}
      {allowed ? (
        "That destination is allowed in Settings → Providers."
      ) : (
        <>
          That destination is not allowed: saving or running it is refused until you allow it.{" "}
          <button type="button" className="small" onClick={() => void allow()} data-testid="allow-key-destination">
            Allow {t.variable} → {t.host}
          </button>
        </>
      )}
      <ErrorBanner error={error} />
    </div>
  );
}

/** Settings → Providers: the allowed pairs, removable, and a form to add one. */
export function EnvKeyHosts({ pairs, onChanged }: { pairs: EnvKeyHostSetting[]; onChanged: () => void }) {
  const transport = useTransport();
  const [variable, setVariable] = useState("");
  const [host, setHost] = useState("");
  const [error, setError] = useState<ApiFailure | null>(null);
  const run = async (f: () => Promise<unknown>) => {
    setError(null);
    try {
      await f();
      onChanged();
      return true;
    } catch (e) {
      setError(e instanceof ApiFailure ? e : new ApiFailure({ message: String(e) }));
      return false;
    }
  };
  const add = async () => {
    if (await run(() => transport.call("settings_allow_env_key", { variable: variable.trim(), host: host.trim() }))) {
      setVariable("");
      setHost("");
    }
  };
  return (
    <div className="card stack" data-testid="env-key-hosts">
      <h3 style={{ margin: 0 }}>Allowed key destinations</h3>
      <p className="hint">
        A spec may take its key from an environment variable (<code>api_key_env</code>). That key is sent only to a host allowed for it here; a spec sending it elsewhere is refused when saved or run. Keys stored above go only
        to their provider's base URL.
      </p>
      <table className="compact">
        <thead>
          <tr>
            <th>Variable</th>
            <th>Host</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {pairs.map((p) => (
            <tr key={`${p.variable} ${p.host}`}>
              <td>
                <code>{p.variable}</code>
              </td>
              <td>
                <code>{p.host}</code> {p.builtin ? <span className="badge">built-in</span> : null}
              </td>
              <td>
                <button type="button" className="small" onClick={() => void run(() => transport.call("settings_disallow_env_key", { variable: p.variable, host: p.host }))} aria-label={`Remove ${p.variable} → ${p.host}`}>
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        className="row wrap"
        onSubmit={(e) => {
          e.preventDefault();
          void add();
        }}
      >
        <label className="grow">
          Variable
          <input value={variable} onChange={(e) => setVariable(e.target.value)} placeholder="OPENROUTER_API_KEY" spellCheck={false} aria-invalid={error?.field === "variable"} data-testid="env-key-variable" />
        </label>
        <label className="grow">
          Host
          <input value={host} onChange={(e) => setHost(e.target.value)} placeholder="openrouter.ai or 127.0.0.1:8080" spellCheck={false} aria-invalid={error?.field === "host"} data-testid="env-key-host" />
        </label>
        <button type="submit" className="align-end" disabled={!variable.trim() || !host.trim()}>
          Allow
        </button>
      </form>
      <ErrorBanner error={error} />
    </div>
  );
}
