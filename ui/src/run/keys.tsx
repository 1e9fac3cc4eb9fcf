// The run page's keys: ONE table (JG `keyboard-mappings.ts`) that both the key handler and the
// `?` help overlay read, so the overlay cannot drift from what the keys do.
// Timeline keys act while the timeline has focus (ARIA tree); page keys act anywhere on the page
// except while typing in an input, textarea or select. Approve / Reject / Cancel have no key.
import { useEffect, useState } from "react";
import { Modal } from "../components/common";

export type KeyAction =
  | "next"
  | "prev"
  | "first"
  | "last"
  | "expand"
  | "collapse"
  | "open"
  | "clear"
  | "filter"
  | "nextFailure"
  | "prevFailure"
  | "tab"
  | "help";

export type KeyBinding = {
  /** `KeyboardEvent.key` values. */
  keys: string[];
  /** How the help shows the keys. */
  show: string[];
  label: string;
  action: KeyAction;
  scope: "timeline" | "page";
  /** A few words for the one-line hint under the header (only some keys have one). */
  hint?: string;
};

export const KEYMAP: KeyBinding[] = [
  { keys: ["ArrowDown", "j"], show: ["↓", "j"], label: "Select the next step", action: "next", scope: "timeline", hint: "select" },
  { keys: ["ArrowUp", "k"], show: ["↑", "k"], label: "Select the previous step", action: "prev", scope: "timeline" },
  { keys: ["Home"], show: ["Home"], label: "Select the first step", action: "first", scope: "timeline" },
  { keys: ["End"], show: ["End"], label: "Select the last step", action: "last", scope: "timeline" },
  { keys: ["ArrowRight"], show: ["→"], label: "Expand the step's attempts or child run", action: "expand", scope: "timeline", hint: "expand" },
  { keys: ["ArrowLeft"], show: ["←"], label: "Collapse, or go to the parent step", action: "collapse", scope: "timeline" },
  { keys: ["Enter"], show: ["Enter"], label: "Expand / collapse, or move focus to the inspector", action: "open", scope: "timeline" },
  { keys: ["Escape"], show: ["Esc"], label: "Clear the selection (show the run)", action: "clear", scope: "timeline" },
  { keys: ["e"], show: ["e"], label: "Next failure", action: "nextFailure", scope: "page", hint: "failures" },
  { keys: ["E"], show: ["E"], label: "Previous failure", action: "prevFailure", scope: "page" },
  { keys: ["/"], show: ["/"], label: "Filter steps", action: "filter", scope: "page", hint: "filter" },
  { keys: ["1", "2", "3", "4"], show: ["1", "2", "3", "4"], label: "Inspector tab 1–4 (the attempts, then Input)", action: "tab", scope: "page", hint: "tabs" },
  { keys: ["?"], show: ["?"], label: "Show / hide this list of keys", action: "help", scope: "page", hint: "all keys" },
];

/** The binding a key press triggers, if any; `inTimeline` allows the timeline's keys too. */
export function bindingFor(e: { key: string; altKey: boolean; ctrlKey: boolean; metaKey: boolean }, inTimeline: boolean): KeyBinding | null {
  if (e.altKey || e.ctrlKey || e.metaKey) return null;
  return KEYMAP.find((b) => b.keys.includes(e.key) && (inTimeline || b.scope === "page")) ?? null;
}

/** Whether a key press goes to something the user types in (then page keys do nothing). */
export function isTyping(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || !el.tagName) return false;
  return el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable;
}

/** The short hint under the header, built from the same table. */
export const KEY_HINT = (() => {
  const parts: string[] = [];
  for (const scope of ["timeline", "page"] as const) {
    const group = KEYMAP.filter((b) => b.scope === scope);
    for (const b of group) {
      if (!b.hint) continue;
      // A hint covers its binding and the next one of the pair (↓ with ↑, → with ←, e with E).
      const i = KEYMAP.indexOf(b);
      const pair = b.action === "next" || b.action === "expand" || b.action === "nextFailure" ? KEYMAP[i + 1] : null;
      const keys = pair ? `${b.show.join(" ")} / ${pair.show.join(" ")}` : b.action === "tab" ? "1–4" : b.show.join(" ");
      parts.push(`${keys} ${b.hint}`);
    }
  }
  return parts.join(" · ");
})();

export function KeyHelp({ onClose }: { onClose: () => void }) {
  // Focus goes back where it was (the timeline, usually) when the help closes.
  // (Read while rendering: the dialog moves focus into itself in its own effect, which runs first.)
  const [was] = useState(() => document.activeElement as HTMLElement | null);
  useEffect(() => () => was?.focus?.(), [was]);
  const groups = [
    { scope: "timeline" as const, title: "In the timeline (when it has focus)" },
    { scope: "page" as const, title: "Anywhere on the page (not while typing)" },
  ];
  return (
    <Modal title="Keyboard shortcuts" onClose={onClose}>
      <div className="stack key-help" data-testid="key-help">
        {groups.map((g) => (
          <section key={g.scope} aria-label={g.title}>
            <h3>{g.title}</h3>
            <table className="key-table">
              <tbody>
                {KEYMAP.filter((b) => b.scope === g.scope).map((b) => (
                  <tr key={b.action} data-testid="key-help-row" data-action={b.action}>
                    <td className="keys">
                      {b.show.map((k, i) => (
                        <span key={k}>
                          {i ? " " : null}
                          <kbd>{k}</kbd>
                        </span>
                      ))}
                    </td>
                    <td>{b.label}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        ))}
        <p className="hint">Approve, reject and cancel have no key: they always ask first.</p>
        <div className="row">
          <div className="grow" />
          <button type="button" onClick={onClose}>
            Close
          </button>
        </div>
      </div>
    </Modal>
  );
}
