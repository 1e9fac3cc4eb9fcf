import { useLayoutEffect, useState } from "react";

/**
 * The error paths no field on the page shows (an unknown key, say), so the banner can spell them
 * out. Looked for again when the errors change, or the view (`raw`, `step`) that shows the fields.
 */
export function useOrphanErrors(errors: Map<string, string>, raw: unknown, step: unknown): string[] {
  const [orphans, setOrphans] = useState<string[]>([]);
  useLayoutEffect(() => {
    const next = [...errors.keys()].filter((k) => !document.querySelector(`[data-field="${CSS.escape(k)}"]`));
    setOrphans((cur) => (cur.join("\n") === next.join("\n") ? cur : next));
  }, [errors, raw, step]);
  return orphans;
}
