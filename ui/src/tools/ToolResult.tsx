// A tool call's answer: isError first and prominent, each content block (text as text, an image
// inline only from base64 data of an image type, never a remote address; audio as a chip,
// resources by URI), structuredContent pretty-printed with whether it matches the tool's output
// schema, the time it took; or the API's error with the field at fault (a schema error from our
// validator names the argument); a server that wants a sign-in offers it right there.
import type { McpCallResponse } from "../bindings/McpCallResponse";
import type { OutputCheck } from "../bindings/OutputCheck";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import { JsonView } from "../components/JsonView";
import { copyText, formatDuration } from "../components/common";
import type { ApiFailure } from "../transport";
import { capText } from "../run/elicitation";
import { SignInAction } from "./SignIn";

export type Outcome = { kind: "result"; result: McpCallResponse; ms: number } | { kind: "error"; error: ApiFailure; ms: number };

/** Longest structuredContent shown pretty-printed (the rest: Copy). */
const MAX_STRUCTURED = 100_000;

type Block = { [key: string]: JsonValue };

function isBlock(v: JsonValue): v is Block {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function sizeOf(base64: string): string {
  const bytes = Math.round((base64.length * 3) / 4);
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KB`;
}

/** A data URL for base64 image data of an image type; null for anything else (the block is
 * only described: nothing is fetched from an address a server gave). */
function imageSource(mime: string, data: string): string | null {
  if (!/^image\/[\w.+-]+$/i.test(mime) || data.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(data.replace(/\s/g, ""))) return null;
  return `data:${mime};base64,${data.replace(/\s/g, "")}`;
}

function ContentBlock({ block, index }: { block: JsonValue; index: number }) {
  if (!isBlock(block)) return <JsonView value={block} label={`block ${index + 1}`} />;
  const type = typeof block.type === "string" ? block.type : "unknown";
  switch (type) {
    case "text":
      return (
        <div className="result-block">
          <div className="block-kind">text</div>
          <pre className="block-text">{typeof block.text === "string" ? block.text : JSON.stringify(block.text)}</pre>
        </div>
      );
    case "image":
    case "audio": {
      const mime = typeof block.mimeType === "string" ? block.mimeType : type;
      const data = typeof block.data === "string" ? block.data : "";
      const src = type === "image" ? imageSource(mime, data) : null;
      return (
        <div className="result-block">
          <div className="block-kind">{type}</div>
          {src ? <img className="result-image" src={src} alt={`image from the tool (${capText(mime, 60)})`} /> : null}
          <span className="badge" title={`${type} content, base64`}>
            {capText(mime, 80)} · {sizeOf(data)}
          </span>
        </div>
      );
    }
    case "resource_link":
    case "resource": {
      const res = type === "resource" && isBlock(block.resource ?? null) ? (block.resource as Block) : block;
      return (
        <div className="result-block">
          <div className="block-kind">{type.replace("_", " ")}</div>
          <div className="row">
            <code>{String(res.uri ?? "")}</code>
            {typeof res.mimeType === "string" ? <span className="badge">{res.mimeType}</span> : null}
          </div>
          <JsonView value={block} defaultDepth={0} />
        </div>
      );
    }
    default:
      return (
        <div className="result-block">
          <div className="block-kind">{type}</div>
          <JsonView value={block} />
        </div>
      );
  }
}

export function ToolResult({ outcome }: { outcome: Outcome }) {
  if (outcome.kind === "error") {
    const e = outcome.error;
    const schema = e.code === "invalid_input" && e.field?.startsWith("arguments");
    return (
      <section className="tool-result" aria-label="Result">
        <div className="row">
          <h3 className="grow">Result</h3>
          <span className="hint">{formatDuration(outcome.ms)}</span>
        </div>
        <div className="banner error" role="alert">
          <strong>
            {schema
              ? "Rejected by the input schema"
              : e.code === "sign_in_required"
                ? "The server asks for a sign-in"
                : e.code === "upstream"
                  ? "The server failed"
                  : "The call was refused"}
            :{" "}
          </strong>
          {e.message}
          {e.code === "sign_in_required" ? <SignInAction /> : null}
          {e.field ? (
            <div>
              field: <code>{e.field}</code>
            </div>
          ) : null}
        </div>
        {schema ? <p className="hint">The tool was not called. This is the message a model would see for these arguments.</p> : null}
      </section>
    );
  }
  const r = outcome.result;
  return (
    <section className="tool-result" aria-label="Result">
      <div className="row">
        <h3 className="grow">Result</h3>
        <span className="hint">
          {r.content.length} block{r.content.length === 1 ? "" : "s"} · {formatDuration(outcome.ms)}
        </span>
      </div>
      {r.is_error ? (
        <div className="banner error" role="alert">
          <strong>isError: true</strong> — the tool answered with an error. A model gets this text and may repair its call.
        </div>
      ) : (
        <div className="banner ok" role="status">
          isError: false
        </div>
      )}
      <div className="result-blocks">
        {r.content.length === 0 ? <p className="muted">No content blocks.</p> : null}
        {r.content.map((b, i) => (
          <ContentBlock key={i} block={b} index={i} />
        ))}
      </div>
      {r.output_check ? <OutputCheckLine check={r.output_check} /> : null}
      {r.structured_content !== undefined ? <StructuredContent value={r.structured_content} /> : null}
    </section>
  );
}

/** structuredContent pretty-printed. */
function StructuredContent({ value }: { value: JsonValue }) {
  const text = JSON.stringify(value, null, 2) ?? "null";
  return (
    <div className="result-block structured" data-testid="structured-content">
      <div className="row">
        <div className="block-kind grow">structuredContent</div>
        <button type="button" className="small" onClick={() => void copyText(JSON.stringify(value))} title="Copy the structured content as JSON">
          Copy
        </button>
      </div>
      <pre className="json-raw structured-text">{text.length > MAX_STRUCTURED ? `${text.slice(0, MAX_STRUCTURED)}… (${(text.length - MAX_STRUCTURED).toLocaleString()} more characters; Copy has all of it)` : text}</pre>
    </div>
  );
}

/** The result checked against the outputSchema the tool declares. */
function OutputCheckLine({ check }: { check: OutputCheck }) {
  return check.valid ? (
    <div className="row">
      <span className="badge output-check ok" data-testid="output-check" data-valid="true" title="Checked against the outputSchema the tool declares">
        ✓ matches the tool's output schema
      </span>
    </div>
  ) : (
    <div className="banner error output-check bad" role="alert" data-testid="output-check" data-valid="false">
      <strong>✗ breaks the output schema:</strong> {capText(check.problem ?? "no detail given", 2000)}
      <div className="hint">An agent's call fails on this answer; here it is shown as the server sent it.</div>
    </div>
  );
}
