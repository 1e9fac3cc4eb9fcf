// A collapsible JSON tree: the root open, deeper levels closed, long strings cut, values copyable.
// Large payloads (past SIZE_GATE characters) show their head as text with a Download button.
import { useMemo, useState } from "react";
import { copyText } from "./common";

const SIZE_GATE = 1_000_000;
const LONG_STRING = 400;

export function JsonView({ value, label, defaultDepth = 1 }: { value: unknown; label?: string; defaultDepth?: number }) {
  const [raw, setRaw] = useState(false);
  const text = useMemo(() => JSON.stringify(value, null, 2) ?? "null", [value]);
  const big = text.length > SIZE_GATE;
  return (
    <div className="json-view">
      <div className="row json-toolbar">
        {label ? <strong className="grow">{label}</strong> : <span className="grow" />}
        {!big ? (
          <button className="small" type="button" onClick={() => setRaw(!raw)} aria-pressed={raw}>
            {raw ? "Tree" : "Raw"}
          </button>
        ) : null}
        <button className="small" type="button" onClick={() => void copyText(text)} title="Copy the whole value">
          Copy
        </button>
        {big ? (
          <a className="button small" href={URL.createObjectURL(new Blob([text], { type: "application/json" }))} download="payload.json">
            Download
          </a>
        ) : null}
      </div>
      {big ? (
        <pre className="json-raw">{text.slice(0, 20000)}…</pre>
      ) : raw ? (
        <pre className="json-raw">{text}</pre>
      ) : (
        <div className="json-tree mono" role="tree">
          <Node value={value} depth={0} defaultDepth={defaultDepth} path="$" />
        </div>
      )}
    </div>
  );
}

function Node({ name, value, depth, defaultDepth, path }: { name?: string; value: unknown; depth: number; defaultDepth: number; path: string }) {
  const [open, setOpen] = useState(depth < defaultDepth);
  const key = name !== undefined ? <span className="json-key">{name}: </span> : null;
  if (value === null || typeof value !== "object") {
    return (
      <div className="json-leaf" role="treeitem" title={path}>
        {key}
        <Scalar value={value} />
      </div>
    );
  }
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value as Record<string, unknown>);
  const brackets = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  return (
    <div role="treeitem" aria-expanded={open}>
      <button type="button" className="json-toggle" onClick={() => setOpen(!open)} aria-label={open ? "Collapse" : "Expand"}>
        {open ? "▾" : "▸"}
      </button>
      {key}
      {brackets[0]}
      {!open ? (
        <span className="muted">
          {entries.length} {Array.isArray(value) ? "items" : "keys"}
          {brackets[1]}
        </span>
      ) : (
        <>
          <div className="json-children" role="group">
            {entries.map(([k, v]) => (
              <Node key={k} name={Array.isArray(value) ? undefined : k} value={v} depth={depth + 1} defaultDepth={defaultDepth} path={`${path}${Array.isArray(value) ? `[${k}]` : `.${k}`}`} />
            ))}
          </div>
          {brackets[1]}
        </>
      )}
    </div>
  );
}

function Scalar({ value }: { value: unknown }) {
  const [full, setFull] = useState(false);
  if (typeof value === "string") {
    const dataUri = /^data:([\w/+.-]+);base64,/.exec(value);
    if (dataUri) return <span className="badge">{dataUri[1]} · {Math.round((value.length * 3) / 4 / 1024)} KB</span>;
    if (value.length > LONG_STRING && !full)
      return (
        <span className="json-string">
          "{value.slice(0, LONG_STRING)}…"{" "}
          <button type="button" className="small" onClick={() => setFull(true)}>
            show all ({value.length} chars)
          </button>
        </span>
      );
    return <span className="json-string">{JSON.stringify(value)}</span>;
  }
  return <span className={`json-${value === null ? "null" : typeof value}`}>{String(value)}</span>;
}
