import { useEffect, useRef } from "react";

/** Ctrl/Cmd+S calls `onSave`, the one given at the latest render. */
export function useSaveShortcut(onSave: () => void) {
  const saveRef = useRef<() => void>(() => {});
  saveRef.current = onSave;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s") {
        e.preventDefault();
        saveRef.current();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
}
