import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The same build serves the desktop app (Tauri loads dist/) and the browser (waymark serve
// serves dist/). Relative asset paths work under both.
export default defineConfig({
  base: "./",
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 1500 },
  server: { port: 5173, strictPort: true },
  clearScreen: false,
});
