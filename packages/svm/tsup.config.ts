import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm", "cjs"],
  target: "es2022",
  sourcemap: true,
  clean: true,
  // composite (for tsc -b) makes the dts build demand every file be listed: turn it off here.
  dts: { compilerOptions: { ignoreDeprecations: "6.0", composite: false } },
});
