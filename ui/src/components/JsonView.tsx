// A collapsible JSON tree: the root open, deeper levels closed, long strings cut, big arrays and
// objects shown 100 children at a time, strings holding JSON expandable as JSON, base64 data
// URIs as a chip. Copy the whole value, a value, or its JSON path; Tree / Raw toggle with wrap.
// Expansion is remembered per field (label + path) across steps. Past SIZE_GATE characters only
// the head is shown, with a Download button.
import { useMemo, useState, type ReactNode } from "react";
import { copyText } from "./common";
import "../run/json.css";

const SIZE_GATE = 1_000_000;
const LONG_STRING = 400;
const CHUNK = 100;

/** Open/closed per `label:path`, kept while the app runs (switching steps keeps what was open). */
const remembered = new Map<string, boolean>();

export function JsonView({ value, label, defaultDepth = 1 }: { value: unknown; label?: string; defaultDepth?: number }) {
  const [raw, setRaw] = useState(false);
  const [wrap, setWrap] = useState(true);
  const [copied, setCopied] = useState(false);
  const text = useMemo(() => JSON.stringify(value, null, 2) ?? "null", [value]);
  const big = text.length > SIZE_GATE;
  const copyAll = () => {
    void copyText(text);
    setCopied(true);
    setTimeout(() => setCopied(false), 1200);
  };
  const download = () => {
    const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = `${label ?? "payload"}.json`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  return (
    <div className="json-view" role="group" aria-label={label ?? "JSON"}>
      <div className="row json-toolbar">
        {label ? <strong className="grow">{label}</strong> : <span className="grow" />}
        {!big && raw ? (
          <button className="small" type="button" onClick={() => setWrap(!wrap)} aria-pressed={wrap}>
            Wrap
          </button>
        ) : null}
        {!big ? (
          <button className="small" type="button" onClick={() => setRaw(!raw)} aria-pressed={raw} title={raw ? "Show as a tree" : "Show the raw JSON"}>
            {raw ? "Tree" : "Raw"}
          </button>
        ) : null}
        <button className="small" type="button" onClick={copyAll} title="Copy the whole value">
          {copied ? "Copied" : "Copy"}
        </button>
        {big ? (
          <button className="small" type="button" onClick={download}>
            Download ({Math.round(text.length / 1024).toLocaleString()} KB)
          </button>
        ) : null}
      </div>
      {big ? (
        <pre className="json-raw">{text.slice(0, 20000)}…</pre>
      ) : raw ? (
        <pre className="json-raw" style={wrap ? undefined : { whiteSpace: "pre", wordBreak: "normal" }}>
          {text}
        </pre>
      ) : (
        <div className="json-tree mono" role="tree" aria-label={label ?? "JSON"}>
          <Node value={value} depth={0} defaultDepth={defaultDepth} path="$" scope={label ?? ""} />
        </div>
      )}
    </div>
  );
}

function Node({ name, value, depth, defaultDepth, path, scope }: { name?: string; value: unknown; depth: number; defaultDepth: number; path: string; scope: string }) {
  const memoKey = `${scope}:${path}`;
  const [open, setOpenState] = useState(() => remembered.get(memoKey) ?? depth < defaultDepth);
  const [shown, setShown] = useState(CHUNK);
  const setOpen = (o: boolean) => {
    remembered.set(memoKey, o);
    setOpenState(o);
  };
  const key =
    name !== undefined ? (
      <span className="json-key" title={`${path} (click to copy the path)`} onClick={() => void copyText(path)}>
        {name}:{" "}
      </span>
    ) : null;
  if (value === null || typeof value !== "object") {
    const nested = typeof value === "string" ? jsonInString(value) : undefined;
    if (nested !== undefined) return <StringJson name={key} text={value as string} nested={nested} depth={depth} defaultDepth={defaultDepth} path={path} scope={scope} />;
    return (
      <div className="json-leaf" role="treeitem" aria-selected={false}>
        {key}
        <Scalar value={value} />
      </div>
    );
  }
  const isArray = Array.isArray(value);
  const entries: [string, unknown][] = isArray ? (value as unknown[]).map((v, i) => [String(i), v]) : Object.entries(value as Record<string, unknown>);
  const brackets = isArray ? ["[", "]"] : ["{", "}"];
  if (entries.length === 0)
    return (
      <div className="json-leaf" role="treeitem" aria-selected={false}>
        {key}
        <span className="muted">{brackets.join("")}</span>
      </div>
    );
  return (
    <div role="treeitem" aria-expanded={open} aria-selected={false}>
      <button type="button" className="json-toggle" onClick={() => setOpen(!open)} aria-label={`${open ? "Collapse" : "Expand"} ${name ?? "value"}`}>
        {open ? "▾" : "▸"}
      </button>
      {key}
      {brackets[0]}
      {!open ? (
        <span className="muted json-summary" onClick={() => setOpen(true)}>
          {entries.length} {isArray ? (entries.length === 1 ? "item" : "items") : entries.length === 1 ? "key" : "keys"}
          {brackets[1]}
        </span>
      ) : (
        <>
          <div className="json-children" role="group">
            {entries.slice(0, shown).map(([k, v]) => (
              <Node key={k} name={isArray ? undefined : k} value={v} depth={depth + 1} defaultDepth={defaultDepth} path={`${path}${isArray ? `[${k}]` : /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`}`} scope={scope} />
            ))}
            {entries.length > shown ? (
              <button type="button" className="small" onClick={() => setShown(shown + CHUNK * 10)}>
                show {Math.min(CHUNK * 10, entries.length - shown)} more of {entries.length - shown}
              </button>
            ) : null}
          </div>
          {brackets[1]}
        </>
      )}
    </div>
  );
}

/** A string that holds a JSON object or array (MCP text content often does): shown as text,
 * with a toggle to read it as JSON. */
function StringJson({ name, text, nested, depth, defaultDepth, path, scope }: { name: ReactNode; text: string; nested: unknown; depth: number; defaultDepth: number; path: string; scope: string }) {
  const memoKey = `${scope}:${path}#json`;
  const [asJson, setAsJsonState] = useState(() => remembered.get(memoKey) ?? true);
  const setAsJson = (v: boolean) => {
    remembered.set(memoKey, v);
    setAsJsonState(v);
  };
  return (
    <div role="treeitem" aria-selected={false}>
      {name}
      <button type="button" className="small json-badge" onClick={() => setAsJson(!asJson)} aria-pressed={asJson} title="This string holds JSON">
        {asJson ? "JSON in a string" : "show as JSON"}
      </button>
      {asJson ? (
        <div className="json-children">
          <Node value={nested} depth={depth + 1} defaultDepth={defaultDepth + depth + 1} path={`${path}|json`} scope={scope} />
        </div>
      ) : (
        <Scalar value={text} />
      )}
    </div>
  );
}

function jsonInString(s: string): unknown {
  const t = s.trim();
  if (t.length < 2 || t.length > 200_000 || !((t[0] === "{" && t.endsWith("}")) || (t[0] === "[" && t.endsWith("]")))) return undefined;
  try {
    const v = JSON.parse(t);
    return v && typeof v === "object" ? v : undefined;
  } catch {
    return undefined;
  }
}

function Scalar({ value }: { value: unknown }) {
  const [full, setFull] = useState(false);
  if (typeof value === "string") {
    const dataUri = /^data:([\w/+.-]+);base64,/.exec(value);
    if (dataUri) return <span className="badge" title="base64 data, not shown as text">{dataUri[1]} · {formatBytes((value.length - dataUri[0].length) * 0.75)}</span>;
    if (value.length > 2000 && /^[A-Za-z0-9+/=\r\n]+$/.test(value.slice(0, 2000)))
      return <span className="badge" title="looks like base64 data">base64 · {formatBytes(value.length * 0.75)}</span>;
    if (value.length > LONG_STRING && !full)
      return (
        <span className="json-string">
          "{value.slice(0, LONG_STRING)}…"{" "}
          <button type="button" className="small" onClick={() => setFull(true)}>
            show all ({value.length.toLocaleString()} chars)
          </button>
        </span>
      );
    return <span className="json-string">{JSON.stringify(value)}</span>;
  }
  return <span className={`json-${value === null ? "null" : typeof value}`}>{String(value)}</span>;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
