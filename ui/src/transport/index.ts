import { createContext, useContext } from "react";
import { HttpTransport } from "./http";
import { TauriTransport, inTauri } from "./tauri";
import type { Transport } from "./types";

export * from "./types";

export function makeTransport(): Transport {
  return inTauri() ? new TauriTransport() : new HttpTransport();
}

export const TransportContext = createContext<Transport | null>(null);

export function useTransport(): Transport {
  const t = useContext(TransportContext);
  if (!t) throw new Error("useTransport outside TransportContext");
  return t;
}
