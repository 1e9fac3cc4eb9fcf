import type { AgentsDraftResponse } from "../bindings/AgentsDraftResponse";

export type DraftInfo = Pick<AgentsDraftResponse, "notes" | "repairs">;

/** Above the form after a draft: the model's notes, and how many repairs its answer took. */
export function DraftNotes({ info }: { info: DraftInfo }) {
  return (
    <div className="banner info draft-notes" role="status" data-testid="draft-notes">
      <strong>Drafted by the model{info.repairs ? ` (after ${info.repairs} repair${info.repairs > 1 ? "s" : ""})` : ""}.</strong> Fields marked <span className="draft-mark">drafted</span> are the
      model's; check them before saving.
      {info.notes.length ? (
        <ul>
          {info.notes.map((n) => (
            <li key={n}>{n}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
