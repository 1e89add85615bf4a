import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm", "cjs"],
  target: "es2022",
  sourcemap: true,
  // Folds constants across modules (st[LF_OP] → st[2]): bundled top-level consts become
  // mutable vars, and V8 reloads those on every use. Names and layout stay readable.
  minifySyntax: true,
  clean: true,
  // composite (for tsc -b) makes the dts build demand every file be listed: turn it off here.
  dts: { compilerOptions: { ignoreDeprecations: "6.0", composite: false } },
});
