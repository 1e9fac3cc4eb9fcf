import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import "./styles.css";
import { App } from "./App";
import { TransportContext, makeTransport } from "./transport";
import { openSessionFromLink } from "./transport/http";
import { inTauri } from "./transport/tauri";
import { followSystemTheme } from "./lib/theme";

followSystemTheme();

async function start() {
  const transport = makeTransport();
  let session: boolean | null = null;
  if (!inTauri()) session = await openSessionFromLink().catch(() => false);
  const root = document.getElementById("root");
  if (!root) return;
  createRoot(root).render(
    <StrictMode>
      <TransportContext.Provider value={transport}>
        <App sessionRefused={session === false} />
      </TransportContext.Provider>
    </StrictMode>,
  );
}
void start();
