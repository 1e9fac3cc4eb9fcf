// The theme override (light, dark, or the system's), kept in localStorage. public/theme.js applies
// the same rule before the app's code loads, so the first paint already has the right colours.
export type Theme = "light" | "dark" | "system";

const KEY = "waymark.theme";
const systemDark = matchMedia("(prefers-color-scheme: dark)");

export function storedTheme(): Theme {
  const v = localStorage.getItem(KEY);
  return v === "light" || v === "dark" ? v : "system";
}

export function applyTheme(t: Theme): void {
  document.documentElement.classList.toggle("dark", t === "dark" || (t === "system" && systemDark.matches));
}

export function chooseTheme(t: Theme): void {
  if (t === "system") localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, t);
  applyTheme(t);
}

/** Keeps the page in step with the system's setting while the app is open. */
export function followSystemTheme(): void {
  systemDark.addEventListener("change", () => applyTheme(storedTheme()));
}
