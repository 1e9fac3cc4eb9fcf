// The form of a server's question (MCP elicitation `requestedSchema`): a flat object of text,
// numbers, yes/no, a choice, or several choices. Read into fields the card renders, with drafts
// as the person types them and the schema's checks run before anything is sent. A schema outside
// that subset is not guessed at: the card falls back to a JSON box.
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import { capText, isObject } from "./elicitation";

export type Choice = { value: string; label: string };

type Common = { name: string; label: string; description: string | null; required: boolean };

export type FormField =
  | (Common & { kind: "text"; format: "email" | "uri" | "date" | "date-time" | null; minLength: number | null; maxLength: number | null; default: string | null })
  | (Common & { kind: "number"; integer: boolean; minimum: number | null; maximum: number | null; default: number | null })
  | (Common & { kind: "boolean"; default: boolean | null })
  | (Common & { kind: "choice"; choices: Choice[]; default: string | null })
  | (Common & { kind: "multi"; choices: Choice[]; minItems: number | null; maxItems: number | null; default: string[] | null });

/** What a field holds while the person edits it: text (numbers too, so "1." survives), a
 * checkbox, or the ticked choices. */
export type FieldDraft = string | boolean | string[];
export type Drafts = Record<string, FieldDraft>;

/** More fields than this is not a form a person fills in: JSON instead. */
const MAX_FIELDS = 60;
const MAX_CHOICES = 500;
const FORMATS = ["email", "uri", "date", "date-time"] as const;

export type ParsedForm = { ok: true; fields: FormField[] } | { ok: false; reason: string };

function num(v: JsonValue | undefined): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}
function text(v: JsonValue | undefined, max: number): string | null {
  return typeof v === "string" && v.trim() ? capText(v, max) : null;
}

/** Choices from `enum` (+ legacy `enumNames`) or `oneOf`/`anyOf` of `{const, title}`. */
function choicesOf(s: { [k: string]: JsonValue }): Choice[] | string {
  const titled = Array.isArray(s.oneOf) ? s.oneOf : Array.isArray(s.anyOf) ? s.anyOf : null;
  if (Array.isArray(s.enum)) {
    const names = Array.isArray(s.enumNames) ? s.enumNames : [];
    if (!s.enum.every((v) => typeof v === "string")) return "its choices are not all text";
    return (s.enum as string[]).map((value, i) => ({ value, label: capText(typeof names[i] === "string" ? names[i] : value, 200) }));
  }
  if (titled) {
    const out: Choice[] = [];
    for (const o of titled) {
      if (!isObject(o) || typeof o.const !== "string") return "its choices are not {const, title} pairs of text";
      out.push({ value: o.const, label: capText(typeof o.title === "string" ? o.title : o.const, 200) });
    }
    return out;
  }
  return "no choices";
}

function fieldOf(name: string, s: JsonValue, required: boolean): FormField | string {
  if (!isObject(s)) return `field "${capText(name, 60)}" is not a schema`;
  const common: Common = { name, label: text(s.title, 200) ?? name, description: text(s.description, 1000), required };
  const bad = (why: string) => `field "${capText(name, 60)}": ${why}`;
  switch (s.type) {
    case "string": {
      if (s.enum !== undefined || s.oneOf !== undefined || s.anyOf !== undefined) {
        const choices = choicesOf(s);
        if (typeof choices === "string") return bad(choices);
        if (choices.length === 0 || choices.length > MAX_CHOICES) return bad(`${choices.length} choices`);
        const d = typeof s.default === "string" && choices.some((c) => c.value === s.default) ? s.default : null;
        return { ...common, kind: "choice", choices, default: d };
      }
      const format = FORMATS.find((f) => f === s.format) ?? null;
      if (s.format !== undefined && !format) return bad(`the format "${capText(String(s.format), 40)}" is not one a form takes`);
      return { ...common, kind: "text", format, minLength: num(s.minLength), maxLength: num(s.maxLength), default: typeof s.default === "string" ? s.default : null };
    }
    case "number":
    case "integer":
      return { ...common, kind: "number", integer: s.type === "integer", minimum: num(s.minimum), maximum: num(s.maximum), default: num(s.default) };
    case "boolean":
      return { ...common, kind: "boolean", default: typeof s.default === "boolean" ? s.default : null };
    case "array": {
      if (!isObject(s.items)) return bad("a list without items");
      const choices = choicesOf(s.items);
      if (typeof choices === "string") return bad(`a list with ${choices}`);
      if (choices.length === 0 || choices.length > MAX_CHOICES) return bad(`${choices.length} choices`);
      const d = Array.isArray(s.default) ? s.default.filter((v): v is string => typeof v === "string" && choices.some((c) => c.value === v)) : null;
      return { ...common, kind: "multi", choices, minItems: num(s.minItems), maxItems: num(s.maxItems), default: d };
    }
    default:
      return bad(`the type ${capText(JSON.stringify(s.type ?? null), 40)} is not one a form takes`);
  }
}

/** The fields of `schema`, or why it is not a form this card can show. */
export function parseForm(schema: JsonValue): ParsedForm {
  if (!isObject(schema)) return { ok: false, reason: "the server sent no form schema (an object with properties)" };
  if (schema.type !== undefined && schema.type !== "object") return { ok: false, reason: "the form's schema is not an object" };
  const props = schema.properties ?? {};
  if (!isObject(props)) return { ok: false, reason: "the form's properties are not an object" };
  const entries = Object.entries(props);
  if (entries.length > MAX_FIELDS) return { ok: false, reason: `the form has ${entries.length} fields; at most ${MAX_FIELDS} are shown as a form` };
  const required = new Set(Array.isArray(schema.required) ? schema.required.filter((r): r is string => typeof r === "string") : []);
  const fields: FormField[] = [];
  for (const [name, s] of entries) {
    const f = fieldOf(name, s, required.has(name));
    if (typeof f === "string") return { ok: false, reason: f };
    fields.push(f);
  }
  const missing = [...required].filter((r) => !(r in props));
  if (missing.length) return { ok: false, reason: `the form requires ${capText(missing.join(", "), 200)}, which it does not describe` };
  // Required fields first, each group in the order the step kept.
  return { ok: true, fields: [...fields.filter((f) => f.required), ...fields.filter((f) => !f.required)] };
}

/** The drafts a form opens with: the schema's defaults. */
export function initialDrafts(fields: readonly FormField[]): Drafts {
  const d: Drafts = {};
  for (const f of fields) {
    switch (f.kind) {
      case "text":
        d[f.name] = f.format === "date-time" && f.default ? localDateTime(f.default) : (f.default ?? "");
        break;
      case "number":
        d[f.name] = f.default === null ? "" : String(f.default);
        break;
      case "boolean":
        d[f.name] = f.default ?? false;
        break;
      case "choice":
        d[f.name] = f.default ?? "";
        break;
      case "multi":
        d[f.name] = f.default ?? [];
        break;
    }
  }
  return d;
}

/** An RFC 3339 time as the datetime-local input holds it (local, to the minute). */
function localDateTime(iso: string): string {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, "0");
  return `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())}T${p(t.getHours())}:${p(t.getMinutes())}`;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

function plural(n: number, word: string) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** One field's value to send (undefined: left out) or its problem. */
function checkField(f: FormField, draft: FieldDraft | undefined): { value?: JsonValue; error?: string } {
  const missing = f.required ? { error: "Required." } : {};
  switch (f.kind) {
    case "boolean":
      return { value: draft === true };
    case "multi": {
      const picked = Array.isArray(draft) ? draft : [];
      if (picked.length === 0 && f.required && (f.minItems ?? 1) > 0) return missing;
      if (f.minItems !== null && picked.length < f.minItems) return { error: `Pick at least ${f.minItems}.` };
      if (f.maxItems !== null && picked.length > f.maxItems) return { error: `Pick at most ${f.maxItems}.` };
      return picked.length || f.required ? { value: picked } : {};
    }
    case "choice": {
      const v = typeof draft === "string" ? draft : "";
      if (!v) return missing;
      return f.choices.some((c) => c.value === v) ? { value: v } : { error: "Pick one of the choices." };
    }
    case "number": {
      const t = typeof draft === "string" ? draft.trim() : "";
      if (!t) return missing;
      const n = Number(t);
      if (!Number.isFinite(n)) return { error: "Enter a number." };
      if (f.integer && !Number.isInteger(n)) return { error: "Enter a whole number." };
      if (f.minimum !== null && n < f.minimum) return { error: `At least ${f.minimum}.` };
      if (f.maximum !== null && n > f.maximum) return { error: `At most ${f.maximum}.` };
      return { value: n };
    }
    case "text": {
      let v = typeof draft === "string" ? draft : "";
      if (!v) return missing;
      // Characters as JSON Schema counts them (code points), not UTF-16 units.
      const len = [...v].length;
      if (f.minLength !== null && len < f.minLength) return { error: `At least ${plural(f.minLength, "character")} (now ${len}).` };
      if (f.maxLength !== null && len > f.maxLength) return { error: `At most ${plural(f.maxLength, "character")} (now ${len}).` };
      if (f.format === "email" && !EMAIL.test(v)) return { error: "Enter an email address." };
      if (f.format === "uri") {
        try {
          new URL(v);
        } catch {
          return { error: "Enter a full address (https://…)." };
        }
      }
      if (f.format === "date" && !DATE.test(v)) return { error: "Enter a date (YYYY-MM-DD)." };
      if (f.format === "date-time") {
        // The datetime-local input gives local time without a zone: sent as UTC (RFC 3339).
        const t = new Date(v);
        if (Number.isNaN(t.getTime())) return { error: "Enter a date and time." };
        v = t.toISOString();
      }
      return { value: v };
    }
  }
}

/** The content to send, or the problem of each field that has one. */
export function buildContent(fields: readonly FormField[], drafts: Drafts): { content: Record<string, JsonValue>; errors: Map<string, string> } {
  const content: Record<string, JsonValue> = {};
  const errors = new Map<string, string>();
  for (const f of fields) {
    const r = checkField(f, drafts[f.name]);
    if (r.error) errors.set(f.name, r.error);
    else if (r.value !== undefined) content[f.name] = r.value;
  }
  return { content, errors };
}

/** The pretty JSON a fallback box starts with: the schema's defaults where it has them. */
export function fallbackStart(schema: JsonValue): string {
  const out: Record<string, JsonValue> = {};
  if (isObject(schema) && isObject(schema.properties)) {
    for (const [k, s] of Object.entries(schema.properties)) if (isObject(s) && s.default !== undefined) out[k] = s.default;
  }
  return JSON.stringify(out, null, 2);
}
