// Re-reads live data every few seconds while the page is visible (a hidden tab or a minimized
// window asks nothing), and once more as soon as it is shown again.
import { useEffect, useRef } from "react";

export function usePoll(reload: () => Promise<void> | void, everyMs: number, enabled = true): void {
  const ref = useRef(reload);
  ref.current = reload;
  useEffect(() => {
    if (!enabled) return;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let stopped = false;
    let running = false;
    const schedule = () => {
      if (timer !== null) clearTimeout(timer);
      timer = stopped ? null : setTimeout(() => void tick(), everyMs);
    };
    const tick = async () => {
      if (running) return;
      running = true;
      try {
        if (document.visibilityState === "visible") await ref.current();
      } catch {
        // The caller shows its own error; the next tick tries again.
      } finally {
        running = false;
      }
      schedule();
    };
    const onVisible = () => {
      if (document.visibilityState === "visible" && !stopped) void tick();
    };
    schedule();
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [everyMs, enabled]);
}
