/**
 * The firmware images: the committed pc-bios/*.bin and the generated src/pc-bios/*.ts
 * modules hold the same bytes, and — where GNU as and ld are installed (CI installs them)
 * — rebuilding from pc-bios/*.S reproduces them exactly.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { assemblePcBios, PC_BIOS_IMAGES, PKG, pcBiosModule } from "../scripts/build-pc-bios.js";
import { qemuDataFile } from "../src/system/datadir.js";

function hasBinutils(): boolean {
  try {
    execFileSync("as", ["--version"], { stdio: "ignore" });
    execFileSync("ld", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe.each(PC_BIOS_IMAGES)("pc-bios/$image", ({ source, image }) => {
  const committed = new Uint8Array(readFileSync(join(PKG, "pc-bios", image)));

  it("is a 64 KiB image whose reset vector jumps to F000:0000", () => {
    expect(committed.length).toBe(0x1_0000);
    expect(Array.from(committed.subarray(0xfff0, 0xfff5))).toEqual([0xea, 0, 0, 0x00, 0xf0]);
  });

  it("is what the data directory serves", () => {
    expect(qemuDataFile(image)).toEqual(committed);
  });

  it.runIf(hasBinutils())("rebuilds from its source to the same bytes", () => {
    const rebuilt = assemblePcBios(source);
    expect(Buffer.compare(Buffer.from(rebuilt), Buffer.from(committed))).toBe(0);
    const module = readFileSync(
      join(PKG, "src", "pc-bios", image.replace(/\.bin$/, ".ts")),
      "utf8",
    );
    expect(module).toBe(pcBiosModule(image, rebuilt));
  });
});
