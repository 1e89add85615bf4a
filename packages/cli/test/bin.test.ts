/**
 * src/bin.ts as a child process (node with tsx, the source condition): a firmware on the
 * console with isa-debug-exit's status, and QEMU's help options passed through.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HELLO_FW } from "./firmware.js";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "glassvm-bin-"));

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

function glassvm(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "--conditions=@glassvm/source", "packages/cli/src/bin.ts", ...args],
      { cwd: root, encoding: "latin1", timeout: 30_000 },
      (err, stdout, stderr) => {
        const status = err ? ((err as { code?: number }).code ?? null) : 0;
        resolve({ status: typeof status === "number" ? status : null, stdout, stderr });
      },
    );
  });
}

const runs: Record<string, Result> = {};

beforeAll(async () => {
  const fw = join(dir, "fw.bin");
  writeFileSync(fw, HELLO_FW);
  const [hello, cpuHelp, machineHelp, deviceHelp] = await Promise.all([
    glassvm(
      "-m",
      "16",
      "-bios",
      fw,
      "-debugcon",
      "stdio",
      "-serial",
      "stdio",
      "-device",
      "isa-debug-exit",
    ),
    glassvm("-cpu", "help"),
    glassvm("-machine", "help"),
    glassvm("-device", "help"),
  ]);
  Object.assign(runs, { hello, cpuHelp, machineHelp, deviceHelp });
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the glassvm command", () => {
  it("runs a firmware: guest console on stdout, exit status (0x10 << 1) | 1", () => {
    expect(runs.hello!.stdout).toBe("Hi\nOK\n");
    expect(runs.hello!.status).toBe(33);
  });

  it("passes -cpu help, -machine help and -device help to QEMU's handlers (exit 0)", () => {
    expect(runs.cpuHelp!.status).toBe(0);
    expect(runs.cpuHelp!.stdout).toMatch(/SandyBridge/);
    expect(runs.machineHelp!.status).toBe(0);
    expect(runs.machineHelp!.stdout).toMatch(/^Supported machines are:\n/);
    expect(runs.deviceHelp!.status).toBe(0);
    expect(runs.deviceHelp!.stdout).toContain('name "isa-debug-exit"');
  });
});
