// One clock for running bars and countdowns: a single 1 s interval shared by every subscriber,
// running only while something live is on screen.
import { useSyncExternalStore } from "react";

let clockNow = Date.now();
const listeners = new Set<() => void>();
let timer: ReturnType<typeof setInterval> | null = null;

function subscribe(l: () => void) {
  listeners.add(l);
  clockNow = Date.now();
  if (!timer)
    timer = setInterval(() => {
      clockNow = Date.now();
      listeners.forEach((f) => f());
    }, 1000);
  return () => {
    listeners.delete(l);
    if (!listeners.size && timer) {
      clearInterval(timer);
      timer = null;
    }
  };
}

const noop = () => () => {};

function snapshot() {
  // Before the first tick (or after a pause) the clock catches up, at most once a second.
  if (!timer && Date.now() - clockNow > 1000) clockNow = Date.now();
  return clockNow;
}

/** The current time, ticking every second while `on`; 0 when off. */
export function useNow(on: boolean): number {
  return useSyncExternalStore(on ? subscribe : noop, () => (on ? snapshot() : 0));
}
