/**
 * On a terminal a long run shows a progress line on stderr, redrawn with \r, and cleared
 * before the guest's console output reaches stdout.
 */
import { expect, it } from "vitest";
import { glassvmRun } from "../src/index.js";
import { ascii, debugExit, outBytes, outLoop, romWith, testIo } from "./firmware.js";

it("draws progress between slices and never leaves it under guest output", () => {
  const fw = romWith([...outLoop(3000), ...outBytes(0xe9, ascii("done\n")), ...debugExit(0)]);
  // The clock advances 200 ms per reading (one per 256 exits): the run is "long".
  const t = testIo({ "fw.bin": fw }, { isTTY: true, tick: 200 });
  const status = glassvmRun(
    ["glassvm", "-m", "16", "-bios", "fw.bin", "-debugcon", "stdio", "-device", "isa-debug-exit"],
    t.io,
    { roundsPerSlice: 50 },
  );
  expect(status).toBe(1);
  expect(t.out()).toBe("done\n");
  const draws = t.both.filter(([s, x]) => s === "err" && x.includes("exits/s"));
  expect(draws.length).toBeGreaterThan(0);
  const CLEAR = "\r\u001b[K";
  expect(draws[0]![1].startsWith(CLEAR)).toBe(true);
  expect(draws[0]![1].slice(CLEAR.length)).toMatch(/^glassvm: \d+\.\d s, \d+ exits, \d+ exits\/s$/);
  // Before each stdout write after a drawn line, the line was cleared.
  let shown = false;
  for (const [s, x] of t.both) {
    if (s === "err" && x.includes("exits/s")) shown = true;
    else if (s === "err" && x === "\r\x1b[K") shown = false;
    else if (s === "out") expect(shown).toBe(false);
  }
  // Nothing is left on the line at the end.
  expect(shown).toBe(false);
});
