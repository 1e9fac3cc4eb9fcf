// A saved agent's webhook, as a sender needs it: the URL to post to (and whether only this
// computer reaches it), a secret generated here and shown once, and how the last delivery went.
import { useState } from "react";
import { Copy, KeyRound } from "lucide-react";
import { useApi, useAction } from "../lib/useApi";
import { useTransport } from "../transport";
import { copyText, formatTime } from "../components/common";

export function WebhookPanel({ agent, secretRef }: { agent: string; secretRef: string }) {
  const transport = useTransport();
  const info = useApi("agents_webhook", { name: agent }, [agent]);
  const [secret, setSecret] = useState<string | null>(null);
  const generate = useAction(async () => {
    const made = await transport.call("settings_generate_webhook_secret", { name: secretRef });
    setSecret(made.secret);
  });
  const data = info.data;
  const last = data?.last_delivery ?? null;
  return (
    <div className="stack webhook-panel" data-testid={`webhook-panel-${agent}`}>
      {info.error ? <span className="field-error">{info.error.message}</span> : null}
      {data?.url ? (
        <div className="row wrap">
          <code data-testid="webhook-url">{data.url}</code>
          <button type="button" className="small" aria-label="Copy the webhook URL" onClick={() => void copyText(data.url ?? "")}>
            <Copy size={12} aria-hidden /> Copy
          </button>
          {data.local_only ? (
            <span className="badge" title="The receiver listens on loopback: forward it with a tunnel or a proxy for senders elsewhere">
              this computer only
            </span>
          ) : null}
        </div>
      ) : data ? (
        <span className="hint">No webhook receiver is listening yet (the desktop app starts one once a saved agent has a webhook trigger; `waymark serve` always has one).</span>
      ) : null}
      <div className="row wrap">
        <button type="button" className="small" onClick={() => void generate.run()} disabled={!secretRef || generate.pending} data-testid="webhook-generate-secret">
          <KeyRound size={12} aria-hidden /> {secret ? "Generate another secret" : "Generate a secret"}
        </button>
        {!secretRef ? <span className="hint">Name the secret first.</span> : null}
        {generate.error ? <span className="field-error">{generate.error.message}</span> : null}
      </div>
      {secret ? (
        <div className="row wrap" role="status">
          <code data-testid="webhook-generated-secret">{secret}</code>
          <button type="button" className="small" aria-label="Copy the secret" onClick={() => void copyText(secret)}>
            <Copy size={12} aria-hidden /> Copy
          </button>
          <span className="hint">Give it to the sender now: it is stored in the keychain and not shown again.</span>
        </div>
      ) : null}
      <span className="muted" data-testid="webhook-last-delivery">
        {last ? (
          <>
            Last delivery {formatTime(last.at)}: {last.status}
            {last.run_id ? (
              <>
                {" "}
                → <a href={`#/runs/${last.run_id}`}>run {last.run_id.slice(0, 13)}…</a>
              </>
            ) : null}
          </>
        ) : (
          "No delivery since the app started."
        )}
        {" "}
        <button type="button" className="small" onClick={() => void info.reload()}>
          Refresh
        </button>
      </span>
    </div>
  );
}
