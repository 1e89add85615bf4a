/**
 * Every guest of the suite through the `glassvm` command as a child process (src/bin.ts
 * with tsx and the source condition), run from guests/bin/: exact stdout and exit status.
 * The same cases run in-process in this directory's other files.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { GUEST_BIN, GUESTS, guestArgv } from "./suite.js";

const bin = fileURLToPath(new URL("../../src/bin.ts", import.meta.url));

interface Result {
  status: number | null;
  stdout: string;
}

function glassvm(args: readonly string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "--conditions=@glassvm/source", bin, ...args],
      {
        cwd: fileURLToPath(GUEST_BIN),
        encoding: "latin1",
        timeout: 60_000,
      },
      (err, stdout) => {
        const code = err ? (err as { code?: unknown }).code : 0;
        resolve({ status: typeof code === "number" ? code : null, stdout });
      },
    );
  });
}

const results = new Map<string, Result>();

beforeAll(async () => {
  const names = Object.keys(GUESTS);
  // Two at a time: these machines have two cores.
  for (let i = 0; i < names.length; i += 2) {
    const pair = names.slice(i, i + 2);
    const done = await Promise.all(pair.map((n) => glassvm(guestArgv(GUESTS[n]!).slice(1))));
    for (const [k, n] of pair.entries()) results.set(n, done[k]!);
  }
}, 180_000);

describe.each(Object.keys(GUESTS))("glassvm %s (child process)", (name) => {
  it("prints exactly the suite's output and exits with its status", () => {
    const c = GUESTS[name]!;
    expect(results.get(name)).toEqual({ status: c.status, stdout: c.stdout });
  });
});
