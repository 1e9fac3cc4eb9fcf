/** Brings the form field at an error's path (or, failing that, its top-level section) into view and focuses its input. */
export function focusField(key: string) {
  const el = document.querySelector<HTMLElement>(`[data-field="${key}"]`) ?? document.querySelector<HTMLElement>(`[data-field="${key.split(".")[0]}"]`);
  el?.scrollIntoView({ block: "center" });
  el?.querySelector<HTMLElement>("input, textarea, select")?.focus();
}
