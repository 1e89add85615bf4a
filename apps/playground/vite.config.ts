/**
 * The playground's Vite config: React, the @glassvm packages bundled from their TypeScript
 * source (the @glassvm/source condition), ES-module workers, COOP/COEP on both servers (so
 * the page is cross-origin isolated), and the guest suite served under /guests/ (the files
 * of guests/bin, emitted into the build as they are).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defaultClientConditions, defineConfig, type Plugin } from "vite";

const here = dirname(fileURLToPath(import.meta.url));
const GUESTS = join(here, "../../guests/bin");

const isolation = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};

/** guests/bin/* at /guests/*: served by the dev server, emitted by the build. */
function guests(): Plugin {
  const files = (): string[] => readdirSync(GUESTS).filter((f) => /\.(bin|elf)$/.test(f));
  return {
    name: "glassvm-guests",
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const m = /^\/guests\/([\w.-]+)$/.exec(req.url ?? "");
        if (!m || !files().includes(m[1]!)) return next();
        res.setHeader("Content-Type", "application/octet-stream");
        res.end(readFileSync(join(GUESTS, m[1]!)));
      });
    },
    generateBundle() {
      for (const f of files()) {
        this.emitFile({
          type: "asset",
          fileName: `guests/${f}`,
          source: readFileSync(join(GUESTS, f)),
        });
      }
    },
  };
}

export default defineConfig({
  root: here,
  base: "./",
  plugins: [react(), guests()],
  resolve: { conditions: ["@glassvm/source", ...defaultClientConditions] },
  worker: { format: "es" },
  server: { headers: isolation },
  preview: { headers: isolation, host: "127.0.0.1" },
  build: { target: "es2022", chunkSizeWarningLimit: 4096 },
});
