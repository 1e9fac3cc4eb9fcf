// Small pieces every page uses: errors, empty states, status, modal, copy.
import { useEffect, useRef, type ReactNode } from "react";
import type { ApiFailure } from "../transport";

export function ErrorBanner({ error, title }: { error: ApiFailure | Error | null | undefined; title?: string }) {
  if (!error) return null;
  const field = "field" in error && error.field ? ` (field: ${error.field})` : "";
  return (
    <div className="banner error" role="alert">
      {title ? <strong>{title}: </strong> : null}
      {error.message}
      {field}
    </div>
  );
}

export function EmptyState({ children, action }: { children: ReactNode; action?: ReactNode }) {
  return (
    <div className="empty">
      <div>{children}</div>
      {action}
    </div>
  );
}

export function Status({ status, label }: { status: string; label?: string }) {
  return (
    <span className={`status ${status}`} data-status={status}>
      {label ?? status.replace("_", " ")}
    </span>
  );
}

export function Modal({ title, onClose, children }: { title: string; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", onKey);
    ref.current?.querySelector<HTMLElement>("input, textarea, button")?.focus();
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);
  return (
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="modal" role="dialog" aria-modal="true" aria-label={title} ref={ref}>
        <h2 style={{ marginTop: 0 }}>{title}</h2>
        {children}
      </div>
    </div>
  );
}

export async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Clipboard access can be refused (insecure context); fall back to a hidden textarea.
    const ta = document.createElement("textarea");
    ta.value = text;
    document.body.appendChild(ta);
    ta.select();
    document.execCommand("copy");
    ta.remove();
  }
}

/** "1.2 s", "340 ms", "2 m 5 s". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  if (m < 60) return `${m} m ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} m`;
}

export function formatTime(ms: number | null | undefined): string {
  if (!ms) return "–";
  return new Date(ms).toLocaleString();
}
