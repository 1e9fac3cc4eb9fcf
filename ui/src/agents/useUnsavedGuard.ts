import { useEffect } from "react";
import { navigate } from "../lib/router";

const LEAVE_QUESTION = "This agent has unsaved changes. Leave without saving them?";

/**
 * Warns before leaving with unsaved changes: closing the tab, following a link in the app, or
 * the browser's Back. `leaving` is set by a navigation the page makes itself (after a save).
 */
export function useUnsavedGuard(dirty: boolean, leaving: { current: boolean }) {
  useEffect(() => {
    if (!dirty) return;
    let here = window.location.hash;
    const onBeforeUnload = (e: BeforeUnloadEvent) => {
      e.preventDefault();
    };
    const onClick = (e: MouseEvent) => {
      const a = (e.target as Element | null)?.closest?.("a[href^='#']");
      if (!a || a.getAttribute("download") !== null) return;
      if (a.getAttribute("href") === window.location.hash) return;
      if (window.confirm(LEAVE_QUESTION)) leaving.current = true;
      else {
        e.preventDefault();
        e.stopPropagation();
      }
    };
    // Back/Forward: the address has already changed; staying puts the builder's back. On
    // `popstate`, which comes before the `hashchange` the router re-renders the app on.
    const onHistory = () => {
      if (leaving.current || window.location.hash === here) return;
      if (window.confirm(LEAVE_QUESTION)) leaving.current = true;
      else navigate(here, true);
    };
    window.addEventListener("beforeunload", onBeforeUnload);
    window.addEventListener("popstate", onHistory);
    document.addEventListener("click", onClick, true);
    return () => {
      here = "";
      window.removeEventListener("beforeunload", onBeforeUnload);
      window.removeEventListener("popstate", onHistory);
      document.removeEventListener("click", onClick, true);
    };
  }, [dirty, leaving]);
}
