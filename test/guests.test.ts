/**
 * The guest suite (guests/): every committed image has the shape its loader expects — a
 * 64 KiB -bios image whose reset vector far-jumps to F000:0000, a flat payload for address
 * 0, a multiboot v1 ELF32 — and, where GNU as and ld are installed, rebuilding from
 * guests/src into a temporary directory reproduces every committed file byte for byte.
 * The guests' end-to-end runs live with the command line's tests, not here.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  apicTimerOutput,
  BIN_DIR,
  BIOS_IMAGE_SIZE,
  buildGuests,
  CPU_BENCH,
  cpuBenchChecksum,
  GUESTS,
  GUESTS_DIR,
  MULTIBOOT_HEADER_MAGIC,
  MULTIBOOT_SEARCH_LIMIT,
  RESET_VECTOR_OFFSET,
  SMP,
  smpOutput,
} from "../guests/build.ts";

function hasBinutils(): boolean {
  try {
    execFileSync("as", ["--version"], { stdio: "ignore" });
    execFileSync("ld", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const committed = (output: string): Uint8Array =>
  new Uint8Array(readFileSync(join(BIN_DIR, output)));

/** Where `needle` first occurs in `hay`, or -1. */
function indexOfBytes(hay: Uint8Array, needle: Uint8Array): number {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength).indexOf(Buffer.from(needle));
}

const byKind = (kind: string) => GUESTS.filter((g) => g.kind === kind);

describe("guests/bin holds exactly the outputs guests/build.ts lists", () => {
  it("has no missing or stray files", () => {
    expect(readdirSync(BIN_DIR).sort()).toEqual(GUESTS.map((g) => g.output).sort());
  });

  it("README.md documents every guest", () => {
    const readme = readFileSync(join(GUESTS_DIR, "README.md"), "utf8");
    for (const g of GUESTS) expect(readme, g.name).toContain(g.output);
  });
});

describe.each(byKind("bios"))("guests/bin/$output", ({ output }) => {
  it("is a 64 KiB image whose reset vector jumps to F000:0000", () => {
    const image = committed(output);
    expect(image.length).toBe(BIOS_IMAGE_SIZE);
    // ljmp $0xf000, $0 (EA, offset 16, segment 16)
    expect(Array.from(image.subarray(RESET_VECTOR_OFFSET, RESET_VECTOR_OFFSET + 5))).toEqual([
      0xea, 0x00, 0x00, 0x00, 0xf0,
    ]);
  });
});

describe.each(byKind("payload"))("guests/bin/$output", ({ name, output }) => {
  const payload = committed(output);

  it("ends below 0x400, the dword it stores 42 into", () => {
    expect(payload.length).toBeGreaterThan(0);
    expect(payload.length).toBeLessThanOrEqual(0x400);
  });

  it('carries "Hello, world!\\n"', () => {
    expect(indexOfBytes(payload, new TextEncoder().encode("Hello, world!\n"))).toBeGreaterThan(0);
  });

  it(`is what ${name.replace("payload", "hello")}.bin copies to address 0`, () => {
    const image = committed(`${name.replace("payload", "hello")}.bin`);
    expect(indexOfBytes(image, payload)).toBeGreaterThan(0);
  });
});

describe.each(byKind("multiboot"))("guests/bin/$output", ({ output }) => {
  const elf = committed(output);
  const v = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);

  it("is an i386 ELF32 executable loaded from 1 MiB, entry in an executable segment", () => {
    expect(Array.from(elf.subarray(0, 6))).toEqual([0x7f, 0x45, 0x4c, 0x46, 1, 1]); // ELF32 LE
    expect(v.getUint16(16, true)).toBe(2); // ET_EXEC
    expect(v.getUint16(18, true)).toBe(3); // EM_386
    const entry = v.getUint32(24, true);
    const phoff = v.getUint32(28, true);
    const phentsize = v.getUint16(42, true);
    const loads = Array.from({ length: v.getUint16(44, true) }, (_, i) => phoff + i * phentsize)
      .filter((o) => v.getUint32(o, true) === 1) // PT_LOAD
      .map((o) => ({
        paddr: v.getUint32(o + 12, true),
        memsz: v.getUint32(o + 20, true),
        flags: v.getUint32(o + 24, true),
      }));
    expect(loads.length).toBeGreaterThan(0);
    for (const s of loads) expect(s.paddr).toBeGreaterThanOrEqual(0x10_0000);
    const text = loads.find((s) => entry >= s.paddr && entry < s.paddr + s.memsz);
    expect((text?.flags ?? 0) & 1).toBe(1); // PF_X
  });

  it("has a valid multiboot v1 header in its first 8 KiB", () => {
    let at = -1;
    for (let o = 0; o + 12 <= Math.min(elf.length, MULTIBOOT_SEARCH_LIMIT); o += 4) {
      if (v.getUint32(o, true) === MULTIBOOT_HEADER_MAGIC) {
        at = o;
        break;
      }
    }
    expect(at).toBeGreaterThanOrEqual(0);
    const flags = v.getUint32(at + 4, true);
    expect((MULTIBOOT_HEADER_MAGIC + flags + v.getUint32(at + 8, true)) >>> 0).toBe(0);
    expect(flags & 0x1_0000).toBe(0); // no address fields: loaded by its ELF headers
  });
});

describe("cpu-bench", () => {
  it("runs the iteration count the model assumes", () => {
    // mov $N, %ecx (B9 imm32) right before the loop
    const n = CPU_BENCH.iterations;
    const imm = [0xb9, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
    expect(indexOfBytes(committed("cpu-bench.bin"), new Uint8Array(imm))).toBeGreaterThan(0);
  });

  it("prints the checksum of the model of its loop", () => {
    expect(cpuBenchChecksum().toString(16).padStart(8, "0")).toBe("f59c4562");
  });
});

/** The little-endian bytes of a 32-bit immediate. */
const imm32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);

describe("smp", () => {
  const image = committed("smp.bin");

  it("runs the workload SMP describes", () => {
    // mov $K, %esi (BE imm32) at the top of the workload
    expect(indexOfBytes(image, new Uint8Array([0xbe, ...imm32(SMP.xaddsPerCpu)]))).toBeGreaterThan(
      0,
    );
    // test $(LOCK_EVERY - 1), %esi (F7 C6 imm32): the spinlock every LOCK_EVERY-th iteration
    const every = new Uint8Array([0xf7, 0xc6, ...imm32(SMP.lockEvery - 1)]);
    expect(indexOfBytes(image, every)).toBeGreaterThan(0);
    // cmp $MAX_CPUS, %ebx (83 FB imm8): the fw_cfg count's bound
    expect(indexOfBytes(image, new Uint8Array([0x83, 0xfb, SMP.maxCpus]))).toBeGreaterThan(0);
  });

  it("sends INIT and a SIPI whose vector is the trampoline's page, below 1 MiB", () => {
    expect(SMP.trampoline % 0x1000).toBe(0);
    expect(SMP.trampoline).toBeLessThan(0x10_0000);
    // mov $imm, %eax (B8 imm32): all-but-self, level assert, INIT / STARTUP | vector
    const init = 0xc_0000 | 0x4000 | 0x500;
    const sipi = 0xc_0000 | 0x4000 | 0x600 | (SMP.trampoline >>> 12);
    expect(indexOfBytes(image, new Uint8Array([0xb8, ...imm32(init)]))).toBeGreaterThan(0);
    expect(indexOfBytes(image, new Uint8Array([0xb8, ...imm32(sipi)]))).toBeGreaterThan(0);
    // mov $TRAMPOLINE, %edi (BF imm32): where the trampoline is copied
    expect(indexOfBytes(image, new Uint8Array([0xbf, ...imm32(SMP.trampoline)]))).toBeGreaterThan(
      0,
    );
  });

  it("prints what smpOutput says, one line per CPU in APIC-ID order", () => {
    expect(smpOutput(1)).toBe("cpu 0 up\nsmp: 1 cpus, counter 100000, ok\n");
    expect(smpOutput(4)).toBe(
      "cpu 0 up\ncpu 1 up\ncpu 2 up\ncpu 3 up\nsmp: 4 cpus, counter 400000, ok\n",
    );
    for (const part of ["cpu ", " up\n", "smp: ", " cpus, counter ", ", ok\n"]) {
      expect(indexOfBytes(image, ascii(`${part}\0`)), part).toBeGreaterThan(0);
    }
  });
});

describe("apic-timer", () => {
  it("carries every line apicTimerOutput expects", () => {
    const image = committed("apic-timer.bin");
    const lines = new Set([
      ...apicTimerOutput(true).split("\n"),
      ...apicTimerOutput(false).split("\n"),
    ]);
    lines.delete("");
    expect(lines.size).toBe(4);
    for (const line of lines)
      expect(indexOfBytes(image, ascii(`${line}\n\0`)), line).toBeGreaterThan(0);
  });
});

describe.runIf(hasBinutils())("rebuilding guests/src with GNU as and ld", () => {
  let dir = "";
  let rebuilt = new Map<string, Uint8Array>();

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "guests-"));
    rebuilt = buildGuests(dir);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(GUESTS)("reproduces bin/$output byte for byte", ({ output }) => {
    const bytes = rebuilt.get(output);
    expect(bytes).toBeDefined();
    expect(Buffer.compare(Buffer.from(bytes!), Buffer.from(committed(output)))).toBe(0);
  });
});
