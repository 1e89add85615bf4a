import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import {
  checkImportGraph,
  checkRepo,
  type ImportEdge,
  LAYER_RULES,
  type Workspace,
} from "../scripts/layers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

describe("the repository follows design.md's import rules", () => {
  const repo = checkRepo(root);

  it("has no violations", () => {
    expect(repo.violations.map((v) => v.message)).toEqual([]);
  });

  it("really scanned every package (the check is not vacuous)", () => {
    expect(repo.workspaces.map((w) => w.dir)).toContain("packages/qom");
    for (const ws of repo.workspaces) {
      const own = repo.edges.filter((e) => e.file.startsWith(`${ws.dir}/src/`));
      expect(own.length, `${ws.dir} has no resolved imports in src/`).toBeGreaterThan(0);
    }
  });

  it("knows every package design.md names", () => {
    expect(Object.keys(LAYER_RULES).sort()).toEqual(
      [
        "apps/playground",
        "packages/cli",
        "packages/kvm-kernel",
        "packages/qemu-machine",
        "packages/qom",
        "packages/svm",
        "packages/vmx",
        "packages/x86",
      ].sort(),
    );
  });
});

describe("the checker reports violations (synthetic graph)", () => {
  const ws = (dir: string, name: string, deps: string[] = []): Workspace => ({
    name,
    dir,
    private: false,
    exports: { ".": "./src/index.ts", "./uapi": "./src/uapi/index.ts" },
    deps: new Set(deps),
  });
  const workspaces = [
    ws("packages/qom", "@glassvm/qom"),
    ws("packages/x86", "@glassvm/x86"),
    ws("packages/kvm-kernel", "@glassvm/kvm-kernel"),
    ws("packages/vmx", "@glassvm/vmx", ["@glassvm/x86", "@glassvm/kvm-kernel"]),
    ws("packages/qemu-machine", "@glassvm/qemu-machine", ["@glassvm/qom", "@glassvm/kvm-kernel"]),
    ws("packages/cli", "@glassvm/cli"),
  ];
  const edge = (file: string, specifier: string, resolved: string | null = "x.ts"): ImportEdge => ({
    file,
    line: 3,
    specifier,
    resolved,
  });
  const check = (...edges: ImportEdge[]) =>
    checkImportGraph(workspaces, edges).map((v) => `${v.rule} ${v.file} ${v.specifier}`);

  it("names file, import and rule in the message", () => {
    const [v] = checkImportGraph(workspaces, [edge("packages/qom/src/a.ts", "@glassvm/x86")]);
    expect(v?.message).toBe(
      'packages/qom/src/a.ts:3: import "@glassvm/x86" breaks rule "layer": @glassvm/qom (packages/qom) may import no other workspace package (design.md "Packages and who may import whom")',
    );
  });

  it("allows only kvm-kernel/uapi to qemu-machine", () => {
    const file = "packages/qemu-machine/src/accel/kvm/kvm-all.ts";
    expect(check(edge(file, "@glassvm/kvm-kernel/uapi"), edge(file, "@glassvm/qom"))).toEqual([]);
    expect(check(edge(file, "@glassvm/kvm-kernel"))).toEqual([`layer ${file} @glassvm/kvm-kernel`]);
    const [v] = checkImportGraph(workspaces, [edge(file, "@glassvm/kvm-kernel")]);
    expect(v?.message).toContain("may import only @glassvm/qom, @glassvm/kvm-kernel/uapi");
  });

  it("forbids arrows pointing up", () => {
    const file = "packages/vmx/src/vmx.ts";
    expect(check(edge(file, "@glassvm/x86"), edge(file, "@glassvm/kvm-kernel"))).toEqual([]);
    expect(check(edge(file, "@glassvm/qemu-machine"))).toEqual([
      `layer ${file} @glassvm/qemu-machine`,
    ]);
  });

  it("keeps browser-safe src free of node built-ins, but exempts tests from that rule only", () => {
    expect(check(edge("packages/qom/src/object.ts", "node:fs"))).toEqual([
      "node-builtin packages/qom/src/object.ts node:fs",
    ]);
    expect(check(edge("packages/qom/src/object.ts", "worker_threads"))).toHaveLength(1);
    expect(check(edge("packages/qom/src/object.test.ts", "node:fs"))).toEqual([]);
    expect(check(edge("packages/cli/src/main.ts", "node:fs"))).toEqual([]);
    expect(check(edge("packages/qom/src/object.test.ts", "@glassvm/x86"))).toEqual([
      "layer packages/qom/src/object.test.ts @glassvm/x86",
    ]);
  });

  it("forbids relative reach-ins and deep imports", () => {
    const file = "packages/vmx/src/vmx.ts";
    expect(
      check(
        edge(file, "../../x86/src/cpu.js", "packages/x86/src/cpu.ts"),
        edge(file, "@glassvm/x86/src/cpu.js", null),
        edge(file, "./vmcs.js", "packages/vmx/src/vmcs.ts"),
      ),
    ).toEqual([
      `reach-in ${file} ../../x86/src/cpu.js`,
      `deep-import ${file} @glassvm/x86/src/cpu.js`,
    ]);
  });

  it("requires runtime imports to be declared dependencies", () => {
    expect(check(edge("packages/cli/src/main.ts", "@glassvm/qom"))).toEqual([
      "undeclared packages/cli/src/main.ts @glassvm/qom",
    ]);
    expect(check(edge("packages/cli/examples/demo.ts", "@glassvm/qom"))).toEqual([]);
  });

  it("fails on a workspace package missing from the rule table", () => {
    const v = checkImportGraph([...workspaces, ws("packages/mystery", "@glassvm/mystery")], []);
    expect(v.map((x) => x.rule)).toEqual(["unknown-package"]);
    expect(v[0]?.message).toContain(
      "@glassvm/mystery (packages/mystery) has no entry in LAYER_RULES",
    );
  });
});

describe("the checker reports violations (fixture repo, real compiler resolution)", () => {
  const dir = mkdtempSync(join(tmpdir(), "glassvm-layers-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const write = (path: string, text: string): void => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  const pkg = (name: string, deps: Record<string, string> = {}): string =>
    JSON.stringify({
      name,
      type: "module",
      exports: { ".": { "@glassvm/source": "./src/index.ts", default: "./dist/index.js" } },
      dependencies: deps,
    });
  write("package.json", JSON.stringify({ private: true, workspaces: ["packages/*"] }));
  copyFileSync(join(root, "tsconfig.base.json"), join(dir, "tsconfig.base.json"));
  write("packages/qom/package.json", pkg("@glassvm/qom", { "@glassvm/x86": "^0.0.0" }));
  write(
    "packages/qom/src/index.ts",
    [
      'import { readFileSync } from "node:fs";',
      'import type { Cpu } from "@glassvm/x86";',
      'import { cpuReset } from "../../x86/src/cpu.js";',
      'export const later = () => import("@glassvm/x86/src/cpu.js");',
      "export { readFileSync, cpuReset, type Cpu };",
    ].join("\n"),
  );
  write("packages/x86/package.json", pkg("@glassvm/x86"));
  write("packages/x86/src/index.ts", 'export * from "./cpu.js";\n');
  write("packages/x86/src/cpu.ts", "export interface Cpu {}\nexport function cpuReset() {}\n");
  write("packages/x86/src/cpu.test.ts", 'import "node:assert";\nimport "./cpu.js";\n');
  write("packages/mystery/package.json", pkg("@glassvm/mystery"));
  write("packages/mystery/src/index.ts", "export {};\n");
  mkdirSync(join(dir, "node_modules/@glassvm"), { recursive: true });
  for (const name of ["qom", "x86", "mystery"]) {
    symlinkSync(join(dir, "packages", name), join(dir, "node_modules/@glassvm", name), "dir");
  }

  it("resolves through the source condition and reports each broken rule", () => {
    const { edges, violations } = checkRepo(dir);
    expect(edges).toContainEqual({
      file: "packages/qom/src/index.ts",
      line: 2,
      specifier: "@glassvm/x86",
      resolved: "packages/x86/src/index.ts",
    });
    expect(violations.map((v) => `${v.rule} ${v.file}:${v.line} ${v.specifier}`)).toEqual([
      "unknown-package packages/mystery/package.json:1 @glassvm/mystery",
      "node-builtin packages/qom/src/index.ts:1 node:fs",
      "layer packages/qom/src/index.ts:2 @glassvm/x86",
      "reach-in packages/qom/src/index.ts:3 ../../x86/src/cpu.js",
      "deep-import packages/qom/src/index.ts:4 @glassvm/x86/src/cpu.js",
    ]);
    expect(violations[3]?.message).toBe(
      'packages/qom/src/index.ts:3: import "../../x86/src/cpu.js" breaks rule "reach-in": relative path leaves packages/qom into @glassvm/x86 (packages/x86/src/cpu.ts); import the package by name through its "exports"',
    );
  });
});
