// A small hash router: `#/runs/42?step=llm/1`. Hash routes work the same under Tauri's custom
// protocol and under `waymark serve`, and keep selection in the URL (shareable, back button).
import { useSyncExternalStore } from "react";

export type Route = { path: string[]; query: URLSearchParams };

function parse(): Route {
  const raw = window.location.hash.replace(/^#/, "") || "/runs";
  const [p, q] = raw.split("?", 2);
  const path = p.split("/").filter(Boolean).map(decodeURIComponent);
  return { path, query: new URLSearchParams(q ?? "") };
}

let current = parse();
const listeners = new Set<() => void>();
window.addEventListener("hashchange", () => {
  current = parse();
  listeners.forEach((l) => l());
});

export function useRoute(): Route {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => current,
  );
}

/** Builds `#/a/b?x=1` from parts (each part encoded). */
export function href(path: (string | number)[], query?: Record<string, string | number | undefined | null>): string {
  const p = "#/" + path.map((s) => encodeURIComponent(String(s))).join("/");
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const qs = q.toString();
  return qs ? `${p}?${qs}` : p;
}

export function navigate(to: string, replace = false): void {
  if (replace) {
    history.replaceState(null, "", to);
    current = parse();
    listeners.forEach((l) => l());
  } else {
    window.location.hash = to.replace(/^#/, "");
  }
}
