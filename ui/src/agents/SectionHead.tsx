import { Sparkles } from "lucide-react";
import { DraftMark, type Editor } from "./fields";
import { SECTIONS, type Redraft } from "./drafting";

/** A form section's heading, with its "drafted" mark and a button to redraft that section alone. */
export function SectionHead({ id, title, section, ed, redraft }: { id: string; title: string; section: string; ed: Editor; redraft: Redraft | null }) {
  const err = redraft?.error?.section === section ? redraft.error.message : null;
  return (
    <>
      <div className="section-head">
        <h2 id={id}>
          {title} {section !== "basics" ? <DraftMark ed={ed} section={SECTIONS[section][0]} /> : null}
        </h2>
        {redraft ? (
          <button type="button" className="small" onClick={() => redraft.run(section)} disabled={redraft.pending !== null} data-testid={`redraft-${section}`} title="Ask the model again for this section only">
            <Sparkles size={12} aria-hidden /> {redraft.pending === section ? "Drafting…" : "Redraft"}
          </button>
        ) : null}
      </div>
      {err ? (
        <div className="field-error" role="alert">
          The model could not redraft this section: {err}
        </div>
      ) : null}
    </>
  );
}
