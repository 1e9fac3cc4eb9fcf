// A tool call's answer: isError first and prominent, each content block (text as text, images and
// audio as chips, resources by URI), structuredContent, the time it took; or the API's error with
// the field at fault (a schema error from our validator names the argument); a server that
// wants a sign-in offers it right there.
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import { JsonView } from "../components/JsonView";
import { formatDuration } from "../components/common";
import type { Outcome } from "./TryIt";
import { SignInAction } from "./SignIn";

type Block = { [key: string]: JsonValue };

function isBlock(v: JsonValue): v is Block {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function sizeOf(base64: string): string {
  const bytes = Math.round((base64.length * 3) / 4);
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KB`;
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
      return (
        <div className="result-block">
          <div className="block-kind">{type}</div>
          <span className="badge" title={`${type} content, base64`}>
            {mime} · {sizeOf(data)}
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
      {r.structured_content !== undefined ? <JsonView value={r.structured_content} label="structuredContent" defaultDepth={2} /> : null}
    </section>
  );
}
