// The review before saving over a saved agent: a line diff of the spec, unchanged stretches folded.
import { useMemo } from "react";
import { Modal } from "../components/common";
import { lineDiff } from "./spec";
import { KeyDestination } from "./EnvKeyHosts";
import type { ModelSpec } from "../bindings/ModelSpec";

export type Review = { before: string; after: string; replacing: boolean };

export function ReviewDialog({
  review,
  name,
  model,
  saving,
  onClose,
  onConfirm,
}: {
  review: Review;
  name: string;
  /** The spec's model: where its key from the environment would go is shown before saving. */
  model?: Partial<ModelSpec>;
  saving: boolean;
  onClose: () => void;
  onConfirm: () => void;
}) {
  const lines = useMemo(() => lineDiff(review.before, review.after), [review]);
  const changed = lines.filter((l) => l.kind !== "same").length;
  // Unchanged stretches fold to a line, keeping three lines of context around each change.
  const shown = useMemo(() => {
    const near = lines.map((_, i) => lines.slice(Math.max(0, i - 3), i + 4).some((l) => l.kind !== "same"));
    const out: ({ kind: "fold"; count: number } | (typeof lines)[number])[] = [];
    for (let i = 0; i < lines.length; i++) {
      if (near[i]) out.push(lines[i]);
      else {
        const last = out.at(-1);
        if (last && last.kind === "fold") last.count++;
        else out.push({ kind: "fold", count: 1 });
      }
    }
    return out;
  }, [lines]);
  return (
    <Modal title={`Save ${name}?`} onClose={onClose}>
      {review.replacing ? (
        <div className="banner warn">
          An agent named <span className="mono">{name}</span> is already saved: saving makes this its new version. Runs under way keep the spec they started with.
        </div>
      ) : (
        <p className="muted">Changes against the saved version. Runs under way keep the spec they started with.</p>
      )}
      <KeyDestination model={model} />
      {changed === 0 ? (
        <p>No changes to save.</p>
      ) : (
        <pre className="diff" data-testid="review-diff" aria-label="Changes">
          {shown.map((l, i) =>
            l.kind === "fold" ? (
              <div key={i} className="diff-fold">
                ⋯ {l.count} unchanged line{l.count === 1 ? "" : "s"}
              </div>
            ) : (
              <div key={i} className={`diff-${l.kind}`}>
                {l.kind === "add" ? "+ " : l.kind === "del" ? "- " : "  "}
                {l.text}
              </div>
            ),
          )}
        </pre>
      )}
      <div className="row">
        <span className="muted">
          {lines.filter((l) => l.kind === "add").length} added, {lines.filter((l) => l.kind === "del").length} removed lines
        </span>
        <div className="grow" />
        <button type="button" onClick={onClose}>
          Keep editing
        </button>
        <button type="button" className="primary" onClick={onConfirm} disabled={saving || changed === 0} data-testid="confirm-save">
          {saving ? "Saving…" : "Save"}
        </button>
      </div>
    </Modal>
  );
}
