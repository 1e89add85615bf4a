import { defineConfig } from "tsup";

export default defineConfig({
  // index: the browser-safe API; bin: the node command (tsup keeps its shebang, chmod +x);
  // vcpu-thread-node: the worker of a vCPU thread (-accel kvm,thread=multi).
  entry: ["src/index.ts", "src/bin.ts", "src/vcpu-thread-node.ts"],
  format: ["esm", "cjs"],
  target: "es2022",
  sourcemap: true,
  clean: true,
  // composite (for tsc -b) makes the dts build demand every file be listed: turn it off here.
  dts: { entry: "src/index.ts", compilerOptions: { ignoreDeprecations: "6.0", composite: false } },
});
