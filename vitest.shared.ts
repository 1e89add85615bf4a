import { defaultServerConditions, defineConfig } from "vite";

/** Resolve @glassvm/* packages from their TypeScript source: no build needed before tests. */
const conditions = ["@glassvm/source", ...defaultServerConditions];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
});
