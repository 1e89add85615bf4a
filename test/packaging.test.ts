/**
 * Every public workspace package, as a consumer gets it: built, packed, linted (publint, attw),
 * installed from its tarball into a scratch project outside the repo (offline), then loaded by
 * node as ESM and CJS and type-checked by tsc under module nodenext.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { publint } from "publint";
import { formatMessage } from "publint/utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadWorkspaces } from "../scripts/layers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = (name: string): string => join(root, "node_modules/.bin", name);
const packages = loadWorkspaces(root).filter((w) => !w.private);

/** Runtime exports each package must have (on top of ESM and CJS agreeing). */
const EXPECTED_EXPORTS: Readonly<Record<string, readonly string[]>> = {
  "@glassvm/cli": ["ChromeTrace", "KvmStat", "glassvmMain", "kvmStatReport", "tracepointLine"],
  "@glassvm/kvm-kernel": ["HostKernel", "KVM_X86_OPS", "emulatorVcpu", "kvmModule", "readKvmStats"],
  "@glassvm/x86": ["PhysMemory", "X86Cpu", "X86EmulateCtxt", "x86EmulateInsn"],
  "@glassvm/vmx": [
    "GUEST_RIP",
    "KvmIntel",
    "VMCS_FIELDS",
    "VmxCpu",
    "VmxRootCpu",
    "kvmIntelModule",
    "setupVmcsConfig",
    "vmxX86Ops",
  ],
  "@glassvm/svm": [
    "HostCpu",
    "SvmCpu",
    "SvmNonRoot",
    "SvmRootCpu",
    "VMCB_EXIT_CODE",
    "Vmcb",
    "vmrunChecks",
  ],
  "@glassvm/qemu-machine": ["AddressSpace", "memoryRegionInitIo", "qemuSetIrq", "traceEnable"],
  "@glassvm/qom": [
    "MODULE_INIT_QOM",
    "QomError",
    "moduleCallInit",
    "objectNew",
    "qdevNew",
    "typeRegisterStatic",
  ],
};

function run(cmd: string, args: readonly string[], cwd: string): string {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: "utf8",
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: "1", NO_COLOR: "1" },
  });
  if (r.status !== 0) {
    throw new Error(
      `\`${cmd} ${args.join(" ")}\` in ${cwd} exited ${r.status}\n${r.stdout}${r.stderr}`,
    );
  }
  return r.stdout;
}

const work = mkdtempSync(join(tmpdir(), "glassvm-packaging-"));
const scratch = join(work, "consumer");
const tarballs = new Map<string, string>();

beforeAll(() => {
  run(
    bin("turbo"),
    ["run", "build", "--output-logs=errors-only", ...packages.map((p) => `--filter=${p.name}`)],
    root,
  );
  for (const p of packages) {
    const out = run("npm", ["pack", "-w", p.name, "--json", "--pack-destination", work], root);
    const [info] = JSON.parse(out) as [{ filename: string }];
    tarballs.set(p.name, join(work, info.filename));
  }
  mkdirSync(scratch);
  writeFileSync(join(scratch, "package.json"), '{ "name": "consumer", "private": true }\n');
  run(
    "npm",
    ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", ...tarballs.values()],
    scratch,
  );
}, 180_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.each(packages)("$name as published", (p) => {
  it("passes publint (warnings are errors)", async () => {
    const data = readFileSync(tarballs.get(p.name)!);
    const tarball = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    const { messages, pkg } = await publint({ pack: { tarball }, level: "warning", strict: true });
    expect(pkg.name).toBe(p.name);
    expect(messages.map((m) => `${m.code}: ${formatMessage(m, pkg, { color: false })}`)).toEqual(
      [],
    );
  });

  it("passes arethetypeswrong (strict profile, offline)", { timeout: 60_000 }, () => {
    const args = [
      tarballs.get(p.name)!,
      "--no-definitely-typed",
      "--no-color",
      "--format",
      "ascii",
    ];
    expect(run(bin("attw"), args, work)).toContain("No problems found");
  });

  it("loads from the installed tarball as ESM and CJS with the same exports", {
    timeout: 30_000,
  }, () => {
    const id = JSON.stringify(p.name);
    const esm = run(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import * as m from ${id}; console.log(JSON.stringify([import.meta.resolve(${id}), Object.keys(m).sort()]));`,
      ],
      scratch,
    );
    const cjs = run(
      process.execPath,
      [
        "-e",
        `console.log(JSON.stringify([require.resolve(${id}), Object.keys(require(${id})).sort()]))`,
      ],
      scratch,
    );
    const [esmUrl, esmKeys] = JSON.parse(esm) as [string, string[]];
    const [cjsPath, cjsKeys] = JSON.parse(cjs) as [string, string[]];
    const installed = join(scratch, "node_modules", p.name, "dist");
    expect(fileURLToPath(esmUrl)).toBe(join(installed, "index.js"));
    expect(cjsPath).toBe(join(installed, "index.cjs"));
    expect(esmKeys.length).toBeGreaterThan(0);
    expect(cjsKeys).toEqual(esmKeys);
    expect(esmKeys).toEqual(expect.arrayContaining([...(EXPECTED_EXPORTS[p.name] ?? [])]));
  });
});

/** The same program twice: `import` from .mts, `require` from .cts. Each line is typed API. */
const consumer = (load: string, format: string): string => `${load}

m.moduleCallInit(m.MODULE_INIT_QOM);
const o: import("@glassvm/qom").QomObject = m.objectNew("container");
const typename: string = m.objectGetTypename(o);
// @ts-expect-error a typename is a string: this line proves the types are not \`any\`
const wrong: number = m.objectGetTypename(o);
let code: m.QomErrorCode | "none" = "none";
try {
  m.objectNew("no-such-type");
} catch (e) {
  if (e instanceof m.QomError) code = e.code;
}
console.log(JSON.stringify({ format: "${format}", typename, code, wrong: typeof wrong }));
`;

describe.runIf(packages.some((p) => p.name === "@glassvm/qom"))("a TypeScript consumer", () => {
  it("type-checks the packed .d.ts/.d.cts under nodenext and runs as ESM and CJS", {
    timeout: 90_000,
  }, () => {
    writeFileSync(join(scratch, "esm.mts"), consumer('import * as m from "@glassvm/qom";', "esm"));
    writeFileSync(join(scratch, "cjs.cts"), consumer('import m = require("@glassvm/qom");', "cjs"));
    const compilerOptions = {
      module: "nodenext",
      moduleResolution: "nodenext",
      target: "es2022",
      lib: ["es2023"],
      strict: true,
      skipLibCheck: false,
      typeRoots: [join(root, "node_modules/@types")],
      types: ["node"],
      rootDir: ".",
      outDir: "out",
    };
    writeFileSync(
      join(scratch, "tsconfig.json"),
      JSON.stringify({ compilerOptions, files: ["esm.mts", "cjs.cts"] }),
    );
    const tsc = join(root, "node_modules/typescript/bin/tsc");
    const listed = run(process.execPath, [tsc, "-p", ".", "--listFiles"], scratch);
    const dist = join(scratch, "node_modules/@glassvm/qom/dist");
    expect(listed).toContain(join(dist, "index.d.ts"));
    expect(listed).toContain(join(dist, "index.d.cts"));

    for (const [file, format] of [
      ["out/esm.mjs", "esm"],
      ["out/cjs.cjs", "cjs"],
    ] as const) {
      expect(JSON.parse(run(process.execPath, [file], scratch))).toEqual({
        format,
        typename: "container",
        code: "unknown-type",
        wrong: "string",
      });
    }
  });
});
