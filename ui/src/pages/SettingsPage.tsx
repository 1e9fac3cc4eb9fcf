// Settings: providers (base URL, write-only key, where keys from the environment may go), mail accounts, webhook secrets, the database (this computer / team), where the data lives, theme, About (with the terminal command and start at login).
import { useEffect, useState } from "react";
import type { KeyedProvider } from "../bindings/KeyedProvider";
import type { ProviderSetting } from "../bindings/ProviderSetting";
import { useApi } from "../lib/useApi";
import { ApiFailure, useTransport } from "../transport";
import { ErrorBanner, copyText } from "../components/common";
import "../agents/agents.css";
import { chooseTheme, storedTheme, type Theme } from "../lib/theme";
import { EnvKeyHosts } from "../agents/EnvKeyHosts";
import { MailAccounts } from "../mail/MailAccounts";
import { DatabaseChoice } from "./DatabaseChoice";
import { AboutSection } from "./AboutSection";

const LABELS: Record<KeyedProvider, { name: string; url: string; local: string }> = {
  openai: { name: "OpenAI (and OpenAI-compatible)", url: "https://api.openai.com/v1", local: "For a local server, e.g. http://127.0.0.1:11434/v1 (Ollama)." },
  anthropic: { name: "Anthropic", url: "https://api.anthropic.com/v1", local: "Set it to reach Anthropic through a proxy or gateway." },
};

export function SettingsPage() {
  const settings = useApi("settings_get", {});
  const data = settings.data;
  return (
    <div className="page settings-page">
      <h1>Settings</h1>
      <ErrorBanner error={settings.error} title="Could not read the settings" />
      <section aria-labelledby="set-providers">
        <h2 id="set-providers">Model providers</h2>
        <p className="hint">
          Keys are write-only: once stored they are never shown again, here or through the API. Agents name a provider in their model; a spec's own base URL wins over the one set here.
        </p>
        <div className="stack">
          {data?.providers.map((p) => <ProviderCard key={p.provider} setting={p} onChanged={() => void settings.reload()} />)}
          {data ? <EnvKeyHosts pairs={data.env_key_hosts} onChanged={() => void settings.reload()} /> : null}
        </div>
      </section>
      <MailAccounts />
      <WebhookSecrets />
      {data ? <HooksPort port={data.hooks_port} onChanged={() => void settings.reload()} /> : null}
      {data ? <ClientMetadataUrl url={data.client_metadata_url ?? ""} onChanged={() => void settings.reload()} /> : null}
      {data?.database ? <DatabaseChoice key={data.database.location} setting={data.database} onChanged={() => void settings.reload()} /> : null}
      <section aria-labelledby="set-data">
        <h2 id="set-data">Where the data lives</h2>
        {data ? (
          <dl className="facts card">
            <dt>Data directory</dt>
            <dd>
              <code data-testid="data-dir">{data.data_dir}</code>{" "}
              <button type="button" className="small" onClick={() => void copyText(data.data_dir)}>
                Copy
              </button>
            </dd>
            <dt>Secret store</dt>
            <dd data-testid="secret-store">
              {data.secret_store === "keyring" ? "The system keychain (keyring)" : data.secret_store === "file" ? "An owner-only file in the data directory" : data.secret_store}
            </dd>
          </dl>
        ) : null}
        <p className="hint">The database, run traces and the demo's files are in the data directory; back it up with <code>waymark db backup</code>.</p>
      </section>
      <ThemeSetting />
      <AboutSection />
    </div>
  );
}

function useFailure() {
  const [error, setError] = useState<ApiFailure | null>(null);
  const wrap = async (f: () => Promise<unknown>): Promise<boolean> => {
    setError(null);
    try {
      await f();
      return true;
    } catch (e) {
      setError(e instanceof ApiFailure ? e : new ApiFailure({ message: String(e) }));
      return false;
    }
  };
  return { error, wrap };
}

function ProviderCard({ setting, onChanged }: { setting: ProviderSetting; onChanged: () => void }) {
  const transport = useTransport();
  const p = setting.provider;
  const [url, setUrl] = useState(setting.base_url ?? "");
  const [key, setKey] = useState("");
  const [notice, setNotice] = useState<string | null>(null);
  const urlOp = useFailure();
  const keyOp = useFailure();
  useEffect(() => setUrl(setting.base_url ?? ""), [setting.base_url]);

  const saveUrl = async (value: string | undefined) => {
    if (await urlOp.wrap(() => transport.call("settings_set_provider", value ? { provider: p, base_url: value } : { provider: p }))) {
      setNotice(value ? "Base URL saved." : "Base URL cleared: the provider's own is used.");
      onChanged();
    }
  };
  const storeKey = async () => {
    const value = key;
    // The input is emptied at once: the key is not kept in the page any longer than the call.
    setKey("");
    if (await keyOp.wrap(() => transport.call("settings_set_key", { provider: p, key: value }))) {
      setNotice("Key stored.");
      onChanged();
    }
  };
  const deleteKey = async () => {
    if (await keyOp.wrap(() => transport.call("settings_delete_key", { provider: p }))) {
      setNotice("Key deleted.");
      onChanged();
    }
  };
  const urlId = `url-${p}`;
  const keyId = `key-${p}`;
  return (
    <div className="card stack provider" data-testid={`provider-${p}`}>
      <div className="row">
        <h3 className="grow" style={{ margin: 0 }}>
          {LABELS[p].name}
        </h3>
        <span className={`badge ${setting.has_key ? "ok" : ""}`} data-testid={`key-status-${p}`}>
          {setting.has_key ? "key stored" : "no key"}
        </span>
      </div>
      <form
        className="row wrap"
        onSubmit={(e) => {
          e.preventDefault();
          void saveUrl(url.trim() || undefined);
        }}
      >
        <label className="grow" htmlFor={urlId}>
          Base URL
          <span className="hint">Empty: {LABELS[p].url}. {LABELS[p].local}</span>
          <input id={urlId} value={url} onChange={(e) => setUrl(e.target.value)} placeholder={LABELS[p].url} aria-invalid={urlOp.error?.field === "base_url"} data-testid={`base-url-${p}`} />
        </label>
        <button type="submit" className="align-end" data-testid={`save-url-${p}`}>
          Save URL
        </button>
        <button type="button" className="align-end" disabled={!setting.base_url} onClick={() => void saveUrl(undefined)}>
          Clear
        </button>
      </form>
      <ErrorBanner error={urlOp.error} />
      <form
        className="row wrap"
        onSubmit={(e) => {
          e.preventDefault();
          void storeKey();
        }}
        autoComplete="off"
      >
        <label className="grow" htmlFor={keyId}>
          API key
          <span className="hint">{setting.has_key ? "A key is stored. Enter a new one to replace it." : "Stored in the secret store, never shown back."}</span>
          <input
            id={keyId}
            type="password"
            autoComplete="new-password"
            spellCheck={false}
            value={key}
            onChange={(e) => setKey(e.target.value)}
            placeholder={setting.has_key ? "•••••••• (stored)" : "sk-…"}
            aria-invalid={keyOp.error?.field === "key"}
            data-testid={`key-input-${p}`}
          />
        </label>
        <button type="submit" className="primary align-end" disabled={!key.trim()} data-testid={`store-key-${p}`}>
          {setting.has_key ? "Replace key" : "Store key"}
        </button>
        <button type="button" className="danger align-end" disabled={!setting.has_key} onClick={() => void deleteKey()} data-testid={`delete-key-${p}`}>
          Delete key
        </button>
      </form>
      <ErrorBanner error={keyOp.error} />
      {notice ? (
        <div className="muted" role="status" data-testid={`notice-${p}`}>
          {notice}
        </div>
      ) : null}
    </div>
  );
}

function WebhookSecrets() {
  const transport = useTransport();
  const [name, setName] = useState("");
  const [secret, setSecret] = useState("");
  const [stored, setStored] = useState<string | null>(null);
  const op = useFailure();
  const submit = async () => {
    const value = secret;
    setSecret("");
    if (await op.wrap(() => transport.call("settings_set_webhook_secret", { name: name.trim(), secret: value }))) {
      setStored(name.trim());
      setName("");
    }
  };
  return (
    <section aria-labelledby="set-webhooks">
      <h2 id="set-webhooks">Webhook secrets</h2>
      <p className="hint">
        A webhook trigger names its secret (<code>secret_ref</code>); store the value under that name. Senders sign each body with it (HMAC-SHA256) or send it as a bearer token. Write-only, at least 16 characters.
      </p>
      <form
        className="card row wrap"
        autoComplete="off"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <label>
          Secret name
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="SUPPORT_WEBHOOK_SECRET" aria-invalid={op.error?.field === "name"} data-testid="webhook-name" />
        </label>
        <label className="grow">
          Secret
          <input type="password" autoComplete="new-password" value={secret} onChange={(e) => setSecret(e.target.value)} aria-invalid={op.error?.field === "secret"} data-testid="webhook-secret" />
        </label>
        <button type="submit" className="primary align-end" disabled={!name.trim() || !secret} data-testid="store-webhook-secret">
          Store secret
        </button>
      </form>
      <ErrorBanner error={op.error} />
      {stored ? (
        <div className="muted" role="status">
          Stored the secret <code>{stored}</code>.
        </div>
      ) : null}
    </section>
  );
}

/** The desktop app's webhook receiver: loopback, on this port, while an agent has a webhook. */
function HooksPort({ port, onChanged }: { port: number; onChanged: () => void }) {
  const transport = useTransport();
  const [value, setValue] = useState(String(port));
  const op = useFailure();
  const parsed = Number(value);
  const valid = value.trim() !== "" && Number.isInteger(parsed) && parsed >= 0 && parsed <= 65535;
  return (
    <section aria-labelledby="set-hooks">
      <h2 id="set-hooks">Webhook receiver</h2>
      <p className="hint">
        The desktop app receives webhooks on <code>127.0.0.1</code> at this port while a saved agent has a webhook trigger (0: any free port). Only this computer reaches it: forward it with a tunnel or a reverse proxy for senders elsewhere. Each agent's Triggers section shows its URL.
      </p>
      <form
        className="card row wrap"
        onSubmit={(e) => {
          e.preventDefault();
          void op.wrap(() => transport.call("settings_set_hooks_port", { port: parsed })).then((ok) => ok && onChanged());
        }}
      >
        <label>
          Port
          <input inputMode="numeric" value={value} onChange={(e) => setValue(e.target.value)} aria-invalid={!valid} data-testid="hooks-port" />
        </label>
        <button type="submit" className="primary align-end" disabled={!valid || parsed === port} data-testid="save-hooks-port">
          Save port
        </button>
      </form>
      <ErrorBanner error={op.error} />
    </section>
  );
}

/** MCP sign-ins: the Client ID Metadata Document Waymark registers with, off unless set. */
function ClientMetadataUrl({ url, onChanged }: { url: string; onChanged: () => void }) {
  const transport = useTransport();
  const [value, setValue] = useState(url);
  const op = useFailure();
  const trimmed = value.trim();
  const valid = trimmed === "" || /^https:\/\/[^/\s]+\/\S+$/.test(trimmed);
  return (
    <section aria-labelledby="set-cimd">
      <h2 id="set-cimd">MCP sign-in: client metadata document</h2>
      <p className="hint">
        When an MCP server's authorization server accepts a Client ID Metadata Document, Waymark registers with the document at this HTTPS URL instead of registering itself anew. Publish the document first; leave empty (the default) to use dynamic registration or a server's own client id.
      </p>
      <form
        className="card row wrap"
        onSubmit={(e) => {
          e.preventDefault();
          void op
            .wrap(() => transport.call("settings_set_client_metadata_url", trimmed === "" ? {} : { url: trimmed }))
            .then((ok) => ok && onChanged());
        }}
      >
        <label className="grow">
          Document URL
          <input
            type="url"
            placeholder="https://example.com/waymark-client.json"
            value={value}
            onChange={(e) => setValue(e.target.value)}
            aria-invalid={!valid}
            data-testid="client-metadata-url"
          />
        </label>
        <button type="submit" className="primary align-end" disabled={!valid || trimmed === url} data-testid="save-client-metadata-url">
          {trimmed === "" && url ? "Stop using it" : "Save URL"}
        </button>
      </form>
      <ErrorBanner error={op.error} />
    </section>
  );
}

function ThemeSetting() {
  const [theme, setTheme] = useState<Theme>(storedTheme);
  const choose = (t: Theme) => {
    setTheme(t);
    chooseTheme(t);
  };
  return (
    <section aria-labelledby="set-theme">
      <h2 id="set-theme">Theme</h2>
      <div className="segmented" role="radiogroup" aria-labelledby="set-theme">
        {(["light", "dark", "system"] as const).map((t) => (
          <label key={t} className={`seg${theme === t ? " on" : ""}`}>
            <input type="radio" name="theme" value={t} checked={theme === t} onChange={() => choose(t)} data-testid={`theme-${t}`} />
            {t === "system" ? "System" : t === "light" ? "Light" : "Dark"}
          </label>
        ))}
      </div>
      <p className="hint">System follows your operating system's light or dark setting.</p>
    </section>
  );
}
