// The four MCP annotation badges, explicit (the server said so) vs implied (the spec's default),
// and the safety class the engine derives from them.
import type { McpToolInfo } from "../bindings/McpToolInfo";
import type { SafetyClass } from "../bindings/SafetyClass";

type Hint = { key: "read_only" | "destructive" | "idempotent" | "open_world"; label: string; mcp: string; def: boolean; what: string };

const HINTS: Hint[] = [
  { key: "read_only", label: "read-only", mcp: "readOnlyHint", def: false, what: "does not change its environment" },
  { key: "destructive", label: "destructive", mcp: "destructiveHint", def: true, what: "may destroy or overwrite (meaningful when not read-only)" },
  { key: "idempotent", label: "idempotent", mcp: "idempotentHint", def: false, what: "calling again with the same arguments has no further effect" },
  { key: "open_world", label: "open world", mcp: "openWorldHint", def: true, what: "reaches outside entities (web, email, other systems)" },
];

export function AnnotationBadges({ tool, compact = false }: { tool: McpToolInfo; compact?: boolean }) {
  const a = tool.annotations;
  return (
    <span className="ann-badges" aria-label="Annotations">
      {HINTS.map((h) => {
        const explicit = a[h.key] !== undefined && a[h.key] !== null;
        const value = explicit ? Boolean(a[h.key]) : h.def;
        // A read-only tool is neither destructive nor not: the hint does not apply.
        const moot = h.key === "destructive" && a.read_only === true && !explicit;
        const title = `${h.mcp}: ${value}${explicit ? " (set by the server)" : " (implied: the server did not say; MCP's default)"} — ${h.what}`;
        if (compact && (!value || moot)) return null;
        return (
          <span
            key={h.key}
            className={`badge ann ${explicit ? "explicit" : "implied"} ${value ? "on" : "off"} ann-${h.key}${moot ? " moot" : ""}`}
            title={title}
            data-explicit={explicit}
          >
            {value ? h.label : `not ${h.label}`}
            {explicit ? "" : " (implied)"}
          </span>
        );
      })}
    </span>
  );
}

export function SafetyBadge({ safety }: { safety: SafetyClass }) {
  return safety === "retry_safe" ? (
    <span className="badge safety retry-safe" title="retry_safe: an interrupted call may be retried (read-only or idempotent)">
      retry-safe
    </span>
  ) : (
    <span className="badge safety at-most-once" title="at_most_once: an interrupted call is not retried blindly; it needs attention (the side effect may have happened)">
      at most once
    </span>
  );
}
