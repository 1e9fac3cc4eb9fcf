// The bar under the form: why the last save failed (each field at fault a link to it), what
// saving will do, Cancel, and Save.
import { href } from "../lib/router";
import type { ApiFailure } from "../transport";
import { ErrorBanner } from "../components/common";
import { focusField } from "./focusField";

export function SaveBar({
  name,
  specName,
  dirty,
  saving,
  blocked,
  saveError,
  saveFieldsFailed,
  errors,
  orphans,
  onSave,
}: {
  /** The saved agent open in the builder; null for a new one. */
  name: string | null;
  specName: string;
  dirty: boolean;
  saving: boolean;
  /** Saving is not possible (the raw JSON does not parse). */
  blocked: boolean;
  saveError: ApiFailure | null;
  /** The last save failed at fields: list them rather than the bare message. */
  saveFieldsFailed: boolean;
  errors: Map<string, string>;
  /** Error paths that no field on the page shows. */
  orphans: string[];
  onSave: () => void;
}) {
  return (
    <div className="save-bar">
      {saveFieldsFailed ? (
        errors.size > 0 ? (
          <div className="banner error" role="alert" data-testid="save-error">
            <strong>Not saved:</strong> {errors.size === 1 ? "one field needs" : `${errors.size} fields need`} fixing:{" "}
            {[...errors.keys()].map((k) => (
              <button key={k} type="button" className="small link-button mono" onClick={() => focusField(k)}>
                {k}
              </button>
            ))}
            {orphans.length ? (
              <ul className="orphans">
                {orphans.map((k) => (
                  <li key={k}>
                    <span className="mono">{k}</span>: {errors.get(k)}
                  </li>
                ))}
              </ul>
            ) : null}
          </div>
        ) : null
      ) : (
        <ErrorBanner error={saveError} title="Not saved" />
      )}
      <div className="row">
        <span className="muted">
          {name && specName && specName !== name ? (
            <>
              Saving under the name <span className="mono">{specName}</span> makes another agent; <span className="mono">{name}</span> stays as it is.
            </>
          ) : dirty ? (
            "You have unsaved changes."
          ) : name ? (
            "Saved."
          ) : (
            ""
          )}
        </span>
        <div className="grow" />
        <a className="button" href={href(["agents"])}>
          Cancel
        </a>
        <button type="button" className="primary" onClick={onSave} disabled={saving || blocked} data-testid="save-agent">
          {saving ? "Saving…" : name && specName === name ? "Review and save" : "Save agent"} <kbd>Ctrl S</kbd>
        </button>
      </div>
    </div>
  );
}
