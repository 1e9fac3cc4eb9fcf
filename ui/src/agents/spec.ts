// Editing an agent spec as the JSON the API takes (docs/agent-spec.md). A spec from the API is
// typed (`AgentSpec`); the form edits it as a JSON draft by paths, so fields the form does not
// show (a scripted model's `script`, say) survive an edit, and the Raw view and the review diff
// are the same object. The form reads the draft through the typed accessors below.
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import type { AgentSpec } from "../bindings/AgentSpec";
import type { ModelSpec } from "../bindings/ModelSpec";
import type { ToolOverride } from "../bindings/ToolOverride";
import type { ToolRef } from "../bindings/ToolRef";
import type { Trigger } from "../bindings/Trigger";

export type Obj = { [key: string]: JsonValue };
export type Path = (string | number)[];

export function isObj(v: JsonValue | undefined): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A spec (from `agents_get` or `agents_draft`, or a blank one) as the form's draft: the same JSON. */
export function asDraft(spec: AgentSpec | Partial<AgentSpec>): Obj {
  return spec;
}

// The draft is what the user typed, so it has the `AgentSpec` shape only once the server takes
// it: a field may be missing (a new agent) or, from the Raw view, anything. The accessors keep
// the structure checks in one place (objects and lists); the server checks the values on save.

export function specName(spec: Obj): string {
  return typeof spec.name === "string" ? spec.name : "";
}

/** The model table; empty when the draft has none. */
export function specModel(spec: Obj): Partial<ModelSpec> {
  return isObj(spec.model) ? (spec.model as Partial<ModelSpec>) : {};
}

/** Entries that are not objects read as `null`, keeping each entry's index (the path the form edits). */
function entries<T>(list: JsonValue | undefined): (T | null)[] {
  return Array.isArray(list) ? list.map((t) => (isObj(t) ? (t as T) : null)) : [];
}

export function specTools(spec: Obj): (ToolRef | null)[] {
  return entries<ToolRef>(spec.tools);
}

/** The triggers; a draft without the list has the server's default, one manual trigger. */
export function specTriggers(spec: Obj): (Trigger | null)[] {
  return spec.triggers === undefined ? [{ kind: "manual" }] : entries<Trigger>(spec.triggers);
}

export function specOverride(spec: Obj, tool: string): ToolOverride | undefined {
  const all = spec.tool_overrides;
  const one = isObj(all) ? all[tool] : undefined;
  return isObj(one) ? (one as ToolOverride) : undefined;
}

export function getIn(root: JsonValue | undefined, path: Path): JsonValue | undefined {
  let cur: JsonValue | undefined = root;
  for (const key of path) {
    if (cur === null || cur === undefined || typeof cur !== "object") return undefined;
    cur = Array.isArray(cur) ? cur[Number(key)] : (cur as Obj)[String(key)];
  }
  return cur;
}

/** A copy of `root` with `path` set to `value`; `undefined` removes the key (and tables left empty). */
export function setIn(root: Obj, path: Path, value: JsonValue | undefined): Obj {
  const rec = (node: JsonValue | undefined, i: number): JsonValue | undefined => {
    if (i === path.length) return value;
    const key = path[i];
    if (typeof key === "number") {
      const arr = Array.isArray(node) ? [...node] : [];
      const next = rec(arr[key], i + 1);
      if (next === undefined) arr.splice(key, 1);
      else arr[key] = next;
      return arr;
    }
    const obj: Obj = isObj(node) ? { ...node } : {};
    const next = rec(obj[key], i + 1);
    if (next === undefined) delete obj[key];
    else obj[key] = next;
    // A table emptied by the edit goes away (an empty `retry` or override means nothing).
    if (i > 0 && Object.keys(obj).length === 0) return undefined;
    return obj;
  };
  return (rec(root, 0) as Obj | undefined) ?? {};
}

/** Keys sorted at every level, so two specs compare by meaning rather than key order. */
export function sortKeys(v: JsonValue): JsonValue {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (isObj(v)) {
    const out: Obj = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys(v[k]);
    return out;
  }
  return v;
}

export function pretty(v: JsonValue): string {
  return JSON.stringify(sortKeys(v), null, 2);
}

export type DiffLine = { kind: "same" | "add" | "del"; text: string };

/** A line diff (longest common subsequence); specs are small, so O(n·m) is fine. */
export function lineDiff(before: string, after: string): DiffLine[] {
  const a = before.split("\n");
  const b = after.split("\n");
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push({ kind: "same", text: a[i] });
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) out.push({ kind: "del", text: a[i++] });
    else out.push({ kind: "add", text: b[j++] });
  }
  while (i < n) out.push({ kind: "del", text: a[i++] });
  while (j < m) out.push({ kind: "add", text: b[j++] });
  return out;
}

/** `tools[0].server` → "tools.0.server": the key a field's error is filed under. */
export function pathKey(path: Path | string): string {
  const text = typeof path === "string" ? path : path.join(".");
  return text.replace(/\[(\d+)\]/g, ".$1").replace(/^spec\./, "").replace(/^text\./, "");
}

const FIELD = /^[a-z_]+(\[\d+\])?(\.[A-Za-z0-9_-]+(\[\d+\])?)*$/;

/**
 * The problems of a failed save, by field. The API names the first field at fault in `field`
 * and lists every broken rule in the message (`invalid agent spec: name must …; limits.max_steps
 * must …`), each starting with its field's path.
 */
export function fieldErrors(message: string, field: string | null): Map<string, string> {
  const out = new Map<string, string>();
  const marker = "invalid agent spec: ";
  const at = message.indexOf(marker);
  if (at >= 0) {
    for (const part of message.slice(at + marker.length).split("; ")) {
      const sp = part.indexOf(" ");
      const f = sp > 0 ? part.slice(0, sp) : "";
      if (FIELD.test(f)) {
        const key = pathKey(f);
        out.set(key, out.has(key) ? `${out.get(key)}; ${part.slice(sp + 1)}` : part.slice(sp + 1));
      }
    }
  }
  if (field) {
    const key = pathKey(field);
    if (key && !out.has(key)) out.set(key, message);
  }
  return out;
}

/** The error for a field or anything under it (`tools` holds `tools.0.server`). */
export function errorUnder(errors: Map<string, string>, prefix: string): string | undefined {
  for (const [k, v] of errors) if (k === prefix || k.startsWith(prefix + ".")) return v;
  return undefined;
}

export function blankSpec(): Obj {
  return asDraft({
    name: "",
    description: "",
    instructions: "",
    model: { provider: "openai", model: "gpt-4o-mini" },
    tools: [],
    limits: { max_steps: 25 },
    triggers: [{ kind: "manual" }],
  });
}

/** TOML or JSON, by its first character. */
export function guessFormat(text: string): "toml" | "json" {
  return text.trimStart().startsWith("{") ? "json" : "toml";
}

export function download(name: string, text: string, type = "application/toml") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * The spec as TOML, for reading (the form's Raw view): scalars first, then tables, then
 * arrays of tables, as `waymark agents export` lays a spec out.
 */
export function toToml(spec: Obj): string {
  const key = (k: string) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k));
  const scalar = (v: JsonValue): string => {
    if (typeof v === "string") {
      if (v.includes("\n") && !v.includes('"""') && !v.includes("\\")) return `"""\n${v}"""`;
      return JSON.stringify(v);
    }
    if (Array.isArray(v)) return `[${v.map(scalar).join(", ")}]`;
    if (isObj(v))
      return `{ ${Object.entries(v)
        .filter(([, x]) => x !== null)
        .map(([k, x]) => `${key(k)} = ${scalar(x)}`)
        .join(", ")} }`;
    return String(v);
  };
  const isTableArray = (v: JsonValue) => Array.isArray(v) && v.length > 0 && v.every(isObj);
  const out: string[] = [];
  const table = (obj: Obj, prefix: string[]) => {
    const entries = Object.entries(obj).filter(([, v]) => v !== null);
    for (const [k, v] of entries) if (!isObj(v) && !isTableArray(v)) out.push(`${key(k)} = ${scalar(v)}`);
    for (const [k, v] of entries)
      if (isObj(v)) {
        const path = [...prefix, key(k)];
        const hasScalars = Object.values(v).some((x) => x !== null && !isObj(x) && !isTableArray(x));
        if (hasScalars || Object.keys(v).length === 0) out.push("", `[${path.join(".")}]`);
        table(v, path);
      }
    for (const [k, v] of entries)
      if (isTableArray(v))
        for (const item of v as Obj[]) {
          const path = [...prefix, key(k)];
          out.push("", `[[${path.join(".")}]]`);
          table(item, path);
        }
  };
  table(spec, []);
  return out.join("\n").trim() + "\n";
}
