// The try-it form's model: a tool's inputSchema reduced to the common subset (string, number,
// integer, boolean, enum, object, array, nullable), the form's drafts (what the user typed, so a
// numeric draft like "1." survives), the exact arguments built from them, and basic client-side
// checks. The server's Rust validator stays the judge ("Send anyway" reaches it).
import type { JsonValue } from "../bindings/serde_json/JsonValue";

type Obj = { [key: string]: JsonValue };

/** Past this depth (the arguments object is 0) a part of the form is edited as JSON. */
export const MAX_DEPTH = 3;

export type Kind = "string" | "number" | "integer" | "boolean" | "enum" | "object" | "array" | "json";

export type Field = {
  kind: Kind;
  /** The schema as the server gave it (for the checks and the JSON fallback). */
  raw: JsonValue;
  nullable: boolean;
  description?: string;
  title?: string;
  default?: JsonValue;
  enumValues?: JsonValue[];
  properties?: [string, Field][];
  required?: Set<string>;
  items?: Field;
  /** "integer ≥ 0 | null", "array of string", shown under the field. */
  typeLabel: string;
  /** Why this part is edited as JSON, if it is. */
  jsonReason?: string;
};

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function constraints(s: Obj): string {
  const parts: string[] = [];
  if (typeof s.minimum === "number") parts.push(`≥ ${s.minimum}`);
  if (typeof s.exclusiveMinimum === "number") parts.push(`> ${s.exclusiveMinimum}`);
  if (typeof s.maximum === "number") parts.push(`≤ ${s.maximum}`);
  if (typeof s.exclusiveMaximum === "number") parts.push(`< ${s.exclusiveMaximum}`);
  if (typeof s.minLength === "number") parts.push(`min length ${s.minLength}`);
  if (typeof s.maxLength === "number") parts.push(`max length ${s.maxLength}`);
  if (typeof s.pattern === "string") parts.push(`pattern ${s.pattern}`);
  if (typeof s.format === "string") parts.push(`format ${s.format}`);
  if (typeof s.minItems === "number") parts.push(`min ${s.minItems} items`);
  if (typeof s.maxItems === "number") parts.push(`max ${s.maxItems} items`);
  return parts.length ? " " + parts.join(", ") : "";
}

/** Reduces a schema to a form field; anything outside the common subset becomes JSON. */
export function analyze(schema: JsonValue, depth = 0): Field {
  const base: Field = { kind: "json", raw: schema, nullable: false, typeLabel: "any JSON" };
  if (!isObj(schema)) return { ...base, jsonReason: schema === true || schema === undefined ? undefined : "not a schema object" };
  const s = schema;
  const meta = {
    description: typeof s.description === "string" ? s.description : undefined,
    title: typeof s.title === "string" ? s.title : undefined,
    default: "default" in s ? s.default : undefined,
  };
  // Nullable unions: anyOf/oneOf [X, {type: null}] is X, nullable.
  const union = Array.isArray(s.anyOf) ? s.anyOf : Array.isArray(s.oneOf) ? s.oneOf : null;
  if (union) {
    const nonNull = union.filter((m) => !(isObj(m) && m.type === "null"));
    if (nonNull.length === 1) {
      const { anyOf: _a, oneOf: _o, ...rest } = s;
      void _a;
      void _o;
      const inner = analyze({ ...(nonNull[0] as Obj), ...rest } as Obj, depth);
      const nullable = nonNull.length < union.length || inner.nullable;
      return { ...inner, raw: schema, nullable, typeLabel: nullable && !inner.nullable ? `${inner.typeLabel} | null` : inner.typeLabel };
    }
    return { ...base, ...meta, jsonReason: "a choice between shapes" };
  }
  if (s.$ref !== undefined || s.allOf !== undefined) return { ...base, ...meta, jsonReason: "uses $ref/allOf" };
  let types: string[] = typeof s.type === "string" ? [s.type] : Array.isArray(s.type) ? s.type.filter((t): t is string => typeof t === "string") : [];
  let nullable = types.includes("null");
  types = types.filter((t) => t !== "null");
  const enumValues = Array.isArray(s.enum) ? s.enum : "const" in s ? [s.const] : null;
  if (enumValues) {
    const values = enumValues.filter((v) => v !== null);
    nullable = nullable || values.length < enumValues.length;
    const t = types[0] ?? "value";
    return { ...base, ...meta, kind: "enum", nullable, enumValues: values, typeLabel: `${t} · one of ${values.length}${nullable ? " | null" : ""}` };
  }
  if (types.length === 0 && isObj(s.properties)) types = ["object"];
  if (types.length === 0 && s.items !== undefined) types = ["array"];
  const nul = nullable ? " | null" : "";
  if (types.length !== 1) return { ...base, ...meta, nullable, typeLabel: types.length ? types.join(" | ") + nul : "any JSON", jsonReason: types.length ? "several types" : undefined };
  const t = types[0];
  const c = constraints(s);
  switch (t) {
    case "string":
    case "number":
    case "integer":
    case "boolean":
      return { ...base, ...meta, kind: t, nullable, typeLabel: `${t}${c}${nul}` };
    case "object": {
      if (depth > MAX_DEPTH) return { ...base, ...meta, nullable, typeLabel: `object${nul}`, jsonReason: "nested deeper than the form shows" };
      const props = isObj(s.properties) ? Object.entries(s.properties) : [];
      if (props.length === 0 && depth > 0) return { ...base, ...meta, nullable, typeLabel: `object${nul}`, jsonReason: "free-form object" };
      const required = new Set(Array.isArray(s.required) ? s.required.filter((r): r is string => typeof r === "string") : []);
      return {
        ...base,
        ...meta,
        kind: "object",
        nullable,
        required,
        properties: props.map(([k, v]) => [k, analyze(v, depth + 1)]),
        typeLabel: `object${nul}`,
      };
    }
    case "array": {
      if (depth > MAX_DEPTH) return { ...base, ...meta, nullable, typeLabel: `array${nul}`, jsonReason: "nested deeper than the form shows" };
      const items = analyze(s.items ?? true, depth + 1);
      return { ...base, ...meta, kind: "array", nullable, items, typeLabel: `array of ${items.typeLabel}${c}${nul}` };
    }
    default:
      return { ...base, ...meta, nullable, typeLabel: t + nul, jsonReason: `type ${t}` };
  }
}

// ---------------------------------------------------------------- drafts

export type Draft =
  | { k: "omit" }
  | { k: "null" }
  | { k: "text"; text: string }
  | { k: "bool"; value: boolean }
  | { k: "enum"; index: number }
  | { k: "obj"; fields: Record<string, Draft> }
  | { k: "arr"; items: Draft[] }
  | { k: "json"; text: string };

export const OMIT: Draft = { k: "omit" };

/** The draft a field starts with: its default if it has one, else not sent (root: empty object). */
export function initialDraft(f: Field, root = false): Draft {
  if (f.default !== undefined) return draftFromValue(f, f.default);
  if (root) return f.kind === "object" ? { k: "obj", fields: defaultsOf(f) } : { k: "json", text: "{}" };
  return OMIT;
}

/** An object's fields that have a default, filled with it (the rest are not sent). */
function defaultsOf(f: Field): Record<string, Draft> {
  const fields: Record<string, Draft> = {};
  for (const [k, sub] of f.properties ?? []) if (sub.default !== undefined) fields[k] = draftFromValue(sub, sub.default);
  return fields;
}

/** A fresh value for a new array item or a field being filled in. */
export function freshDraft(f: Field): Draft {
  if (f.default !== undefined) return draftFromValue(f, f.default);
  switch (f.kind) {
    case "boolean":
      return { k: "bool", value: false };
    case "enum":
      return { k: "enum", index: 0 };
    case "object":
      return { k: "obj", fields: defaultsOf(f) };
    case "array":
      return { k: "arr", items: [] };
    case "json":
      return { k: "json", text: "" };
    default:
      return { k: "text", text: "" };
  }
}

export function jsonEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function asJsonText(v: unknown): string {
  return v === undefined ? "" : JSON.stringify(v, null, 2);
}

/** The draft showing `value` exactly; a value the widget cannot hold falls back to JSON. */
export function draftFromValue(f: Field, value: JsonValue | undefined): Draft {
  if (value === undefined) return OMIT;
  if (value === null && f.kind !== "json") return { k: "null" };
  switch (f.kind) {
    case "string":
      return typeof value === "string" ? { k: "text", text: value } : { k: "json", text: asJsonText(value) };
    case "number":
    case "integer":
      if (typeof value === "number") return { k: "text", text: String(value) };
      // A string that is not a number is sent as typed by a text draft: it stays in the widget.
      if (typeof value === "string" && value.trim() !== "" && !NUMBER.test(value.trim())) return { k: "text", text: value };
      return { k: "json", text: asJsonText(value) };
    case "boolean":
      return typeof value === "boolean" ? { k: "bool", value } : { k: "json", text: asJsonText(value) };
    case "enum": {
      const index = (f.enumValues ?? []).findIndex((e) => jsonEqual(e, value));
      return index >= 0 ? { k: "enum", index } : { k: "json", text: asJsonText(value) };
    }
    case "object": {
      if (!isObj(value)) return { k: "json", text: asJsonText(value) };
      const known = new Map(f.properties ?? []);
      if (Object.keys(value).some((k) => !known.has(k))) return { k: "json", text: asJsonText(value) };
      const fields: Record<string, Draft> = {};
      for (const [k, v] of Object.entries(value)) fields[k] = draftFromValue(known.get(k)!, v);
      return { k: "obj", fields };
    }
    case "array":
      if (!Array.isArray(value)) return { k: "json", text: asJsonText(value) };
      return { k: "arr", items: value.map((v) => draftFromValue(f.items!, v)) };
    default:
      return { k: "json", text: asJsonText(value) };
  }
}

export type Errors = Map<string, string>;

export function pathKey(path: (string | number)[]): string {
  return path.join(".");
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * The value a draft sends (undefined = the key is left out). A draft that cannot be turned into
 * the schema's type is sent as typed (a number field holding "abc" sends "abc"), with a parse
 * error, so "Send anyway" lets the server's validator answer.
 */
export function buildValue(f: Field, d: Draft, path: (string | number)[], errors: Errors): JsonValue | undefined {
  const key = pathKey(path);
  switch (d.k) {
    case "omit":
      return undefined;
    case "null":
      return null;
    case "bool":
      return d.value;
    case "enum":
      return (f.enumValues ?? [])[d.index] ?? null;
    case "text": {
      if (f.kind === "number" || f.kind === "integer") {
        const t = d.text.trim();
        if (t === "") return undefined;
        if (!NUMBER.test(t)) {
          errors.set(key, `"${d.text}" is not a number`);
          return d.text;
        }
        return Number(t);
      }
      return d.text;
    }
    case "json": {
      if (d.text.trim() === "") return undefined;
      try {
        return JSON.parse(d.text) as JsonValue;
      } catch (e) {
        errors.set(key, `not valid JSON: ${(e as Error).message}`);
        return d.text;
      }
    }
    case "obj": {
      const out: Obj = {};
      for (const [k, sub] of f.properties ?? []) {
        const dd = d.fields[k];
        if (!dd) continue;
        const v = buildValue(sub, dd, [...path, k], errors);
        if (v !== undefined) out[k] = v;
      }
      return out;
    }
    case "arr": {
      const out: JsonValue[] = [];
      d.items.forEach((item, i) => {
        const v = buildValue(f.items!, item, [...path, i], errors);
        if (v === undefined) errors.set(pathKey([...path, i]), "empty item (remove it or fill it in)");
        else out.push(v);
      });
      return out;
    }
  }
}

function typeOk(t: string, v: JsonValue): boolean {
  switch (t) {
    case "null":
      return v === null;
    case "string":
      return typeof v === "string";
    case "number":
      return typeof v === "number";
    case "integer":
      return typeof v === "number" && Number.isInteger(v);
    case "boolean":
      return typeof v === "boolean";
    case "array":
      return Array.isArray(v);
    case "object":
      return isObj(v);
    default:
      return true;
  }
}

function show(v: JsonValue): string {
  const s = JSON.stringify(v);
  return s.length > 40 ? s.slice(0, 40) + "…" : s;
}

/** Basic checks of a value against the common subset of JSON Schema; errors by path. */
export function checkValue(schema: JsonValue, v: JsonValue, path: (string | number)[], errors: Errors): void {
  if (!isObj(schema)) return;
  const key = pathKey(path);
  const set = (msg: string) => {
    if (!errors.has(key)) errors.set(key, msg);
  };
  const union = Array.isArray(schema.anyOf) ? schema.anyOf : Array.isArray(schema.oneOf) ? schema.oneOf : null;
  if (union) {
    const tries = union.map((m) => {
      const e: Errors = new Map();
      checkValue(m, v, path, e);
      return e;
    });
    if (!tries.some((e) => e.size === 0)) {
      const nonNull = union.map((m, i) => [m, i] as const).filter(([m]) => !(isObj(m) && m.type === "null"));
      if (nonNull.length === 1) tries[nonNull[0][1]].forEach((msg, k) => !errors.has(k) && errors.set(k, msg));
      else set("matches none of the allowed shapes");
    }
  }
  const types = typeof schema.type === "string" ? [schema.type] : Array.isArray(schema.type) ? (schema.type as string[]) : [];
  if (types.length && !types.some((t) => typeOk(t, v))) {
    set(`${show(v)} is not of type ${types.join(" | ")}`);
    return;
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => jsonEqual(e, v))) set(`must be one of ${schema.enum.map(show).join(", ")}`);
  if ("const" in schema && !jsonEqual(schema.const, v)) set(`must be ${show(schema.const)}`);
  if (typeof v === "string") {
    if (typeof schema.minLength === "number" && [...v].length < schema.minLength) set(`at least ${schema.minLength} characters`);
    if (typeof schema.maxLength === "number" && [...v].length > schema.maxLength) set(`at most ${schema.maxLength} characters`);
    if (typeof schema.pattern === "string") {
      try {
        if (!new RegExp(schema.pattern, "u").test(v)) set(`must match ${schema.pattern}`);
      } catch {
        /* a pattern JS cannot read is left to the server */
      }
    }
  }
  if (typeof v === "number") {
    if (typeof schema.minimum === "number" && v < schema.minimum) set(`must be ≥ ${schema.minimum}`);
    if (typeof schema.maximum === "number" && v > schema.maximum) set(`must be ≤ ${schema.maximum}`);
    if (typeof schema.exclusiveMinimum === "number" && v <= schema.exclusiveMinimum) set(`must be > ${schema.exclusiveMinimum}`);
    if (typeof schema.exclusiveMaximum === "number" && v >= schema.exclusiveMaximum) set(`must be < ${schema.exclusiveMaximum}`);
  }
  if (Array.isArray(v)) {
    if (typeof schema.minItems === "number" && v.length < schema.minItems) set(`at least ${schema.minItems} items`);
    if (typeof schema.maxItems === "number" && v.length > schema.maxItems) set(`at most ${schema.maxItems} items`);
    if (schema.items !== undefined && !Array.isArray(schema.items)) v.forEach((item, i) => checkValue(schema.items!, item, [...path, i], errors));
  }
  if (isObj(v)) {
    const props = isObj(schema.properties) ? schema.properties : {};
    if (Array.isArray(schema.required))
      for (const r of schema.required) if (typeof r === "string" && !(r in v)) errors.set(pathKey([...path, r]), "required");
    for (const [k, sub] of Object.entries(v)) {
      if (k in props) checkValue(props[k], sub, [...path, k], errors);
      else if (schema.additionalProperties === false) errors.set(pathKey([...path, k]), `unknown property "${k}"`);
      else if (isObj(schema.additionalProperties)) checkValue(schema.additionalProperties, sub, [...path, k], errors);
    }
  }
}

/** The arguments a root draft sends, and every problem found (parse errors first). */
export function evaluate(root: Field, d: Draft): { args: JsonValue | undefined; errors: Errors } {
  const errors: Errors = new Map();
  const args = buildValue(root, d, [], errors);
  if (args !== undefined) checkValue(root.raw, args, [], errors);
  return { args, errors };
}

/** The server names the field as `arguments.a.0`; the form keys it `a.0`. */
export function serverFieldKey(field: string | null | undefined): string | null {
  if (!field || !field.startsWith("arguments")) return null;
  return field.replace(/^arguments\.?/, "");
}
