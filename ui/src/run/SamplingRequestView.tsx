// What a server's sampling request would send the agent's model: each message (role, text, the
// tool calls an assistant message carries), the token cap, the tools offered. The text came
// from an MCP server: shown as text, never markup, each message and the list cut.
import { capText } from "./elicitation";
import type { SamplingRequest } from "./sampling";

/** Messages shown before "N more". */
const MAX_MESSAGES = 40;
/** Characters shown of one message (compact: fewer). */
const MAX_MESSAGE = 4000;
const MAX_COMPACT = 600;

export function SamplingRequestView({ request: r, compact }: { request: SamplingRequest; compact?: boolean }) {
  const shown = r.messages.slice(0, MAX_MESSAGES);
  const cap = compact ? MAX_COMPACT : MAX_MESSAGE;
  return (
    <div className="stack sampling-request" data-testid="sampling-request">
      <ol className="sampling-messages" aria-label="Messages the model would be sent">
        {shown.map((m, i) => (
          <li key={i} className={`sampling-message role-${m.role.replace(/[^a-z]/g, "")}`} data-testid="sampling-message" data-role={m.role}>
            <span className="sampling-role mono">{capText(m.role, 20)}</span>
            <div className="sampling-text">{m.text ? capText(m.text, cap) : <span className="muted">(no text)</span>}</div>
            {m.toolCalls.length ? <div className="hint">calls {capText(m.toolCalls.join(", "), 300)}</div> : null}
          </li>
        ))}
      </ol>
      {r.messages.length > shown.length ? <p className="hint">…and {r.messages.length - shown.length} more messages (the step's input has all of them).</p> : null}
      {r.messages.length === 0 ? <p className="muted">The request has no messages.</p> : null}
      <dl className="facts sampling-limits">
        <dt>Max tokens</dt>
        <dd data-testid="sampling-max-tokens">{r.maxTokens === null ? "the model's default" : r.maxTokens.toLocaleString()}</dd>
        <dt>Tools offered</dt>
        <dd data-testid="sampling-tools">{r.tools.length ? capText(r.tools.join(", "), 1000) : "none"}</dd>
      </dl>
    </div>
  );
}
