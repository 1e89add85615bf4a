/**
 * Builds guests/bench.c into a flat image with Debian's binutils and gcc, as 32-bit code
 * (start.S, link.ld) or as 64-bit code that enters IA-32e mode itself (start64.S,
 * link64.ld). It installs nothing: when a tool is missing it says which package provides it.
 *
 *   32-bit:
 *   gcc -m32 -march=i686 -ffreestanding -nostdlib -O2 -fno-pic -static -c bench.c
 *   gcc -m32 -c start.S
 *   ld -m elf_i386 -T link.ld start.o bench.o -o bench.elf
 *   objcopy -O binary bench.elf bench.bin
 *
 *   64-bit:
 *   gcc -m64 -mcmodel=small -mno-red-zone -mgeneral-regs-only -fcf-protection=none
 *       -ffreestanding -nostdlib -O2 -fno-pic -static -c bench.c
 *   gcc -m64 -c start64.S -o start64.o
 *   ld -m elf_x86_64 -T link64.ld start64.o bench.o -o bench.elf
 *   objcopy -O binary bench.elf bench.bin
 *
 * (both with -fno-tree-loop-distribute-patterns -fno-asynchronous-unwind-tables
 * -fno-stack-protector -DROUNDS=n).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const GUEST_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "guests");
/** Where the image is linked and loaded (link.ld, link64.ld). */
export const LOAD_ADDRESS = 0x10_0000;
/** glassvm_entry: right after the 16-byte multiboot header (start.S). */
export const ENTRY_OFFSET = 0x10;
/** glassvm_entry of the 64-bit image: after its 32-byte header with address fields (start64.S). */
export const ENTRY_OFFSET_64 = 0x20;

/** 32: protected-mode code throughout; 64: the guest enters IA-32e mode and runs 64-bit code. */
export type GuestBits = 32 | 64;

export interface GuestImage {
  readonly bits: GuestBits;
  /** The flat image, to be loaded at LOAD_ADDRESS. */
  readonly bin: Uint8Array;
  /** The ELF (symbols, disassembly). */
  readonly elf: string;
  /**
   * The file for QEMU -kernel (multiboot): the ELF when 32-bit; when 64-bit the flat
   * image, whose header carries its load addresses (QEMU refuses ELF64 multiboot files).
   */
  readonly kernel: string;
  /** glassvm_entry: where the harness starts, in flat 32-bit protected mode. */
  readonly entry: number;
  /** Address of bench_result. */
  readonly resultAddress: number;
  /** The ELF's symbol table (`nm` output). */
  readonly symbols: string;
}

export class GuestBuildError extends Error {}

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8" });
  if (r.error) throw new GuestBuildError(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new GuestBuildError(`${cmd} ${args.join(" ")} failed:\n${r.stderr}${r.stdout}`);
  }
  return r.stdout;
}

/** The tools the build needs, and the Debian package for each. */
const TOOLS = [
  ["gcc", "gcc"],
  ["ld", "binutils"],
  ["objcopy", "binutils"],
  ["nm", "binutils"],
  ["objdump", "binutils"],
] as const;

export function missingTools(): string[] {
  return TOOLS.filter(([t]) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0).map(
    ([t, pkg]) => `${t} (apt-get install -y ${pkg})`,
  );
}

/** Flags both builds share. */
function commonFlags(rounds: number): string[] {
  return [
    "-ffreestanding",
    "-nostdlib",
    "-O2",
    "-fno-pic",
    "-static",
    "-fno-tree-loop-distribute-patterns",
    "-fno-asynchronous-unwind-tables",
    "-fno-stack-protector",
    `-DROUNDS=${rounds}`,
  ];
}

const BUILDS = {
  32: {
    cflags: ["-m32", "-march=i686"],
    asflags: ["-m32"],
    start: "start.S",
    ldscript: "link.ld",
    emulation: "elf_i386",
    entryOffset: ENTRY_OFFSET,
  },
  64: {
    // -mcmodel=small: every symbol below 2 GiB (the image is at 1 MiB), absolute
    // addresses as 32-bit immediates; -mgeneral-regs-only: no SSE/x87/MMX, which the
    // interpreter lacks in 64-bit mode; -mno-red-zone as for any kernel code;
    // -fcf-protection=none: no ENDBR64, should the compiler default to CET.
    cflags: [
      "-m64",
      "-mcmodel=small",
      "-mno-red-zone",
      "-mgeneral-regs-only",
      "-fcf-protection=none",
    ],
    asflags: ["-m64"],
    start: "start64.S",
    ldscript: "link64.ld",
    emulation: "elf_x86_64",
    entryOffset: ENTRY_OFFSET_64,
  },
} as const;

/**
 * Build the guest with `rounds` rounds of work, as 32- or 64-bit code, into a fresh
 * directory under the OS temp dir.
 */
export function buildGuest(rounds: number, bits: GuestBits = 32): GuestImage {
  const missing = missingTools();
  if (missing.length > 0) throw new GuestBuildError(`missing tools: ${missing.join(", ")}`);
  const b = BUILDS[bits];
  const out = join(tmpdir(), `glassvm-bench-${process.pid}-${bits}-${rounds}`);
  mkdirSync(out, { recursive: true });
  try {
    run(
      "gcc",
      [...b.cflags, ...commonFlags(rounds), "-c", join(GUEST_DIR, "bench.c"), "-o", "bench.o"],
      out,
    );
  } catch (e) {
    throw new GuestBuildError(
      `${(e as Error).message}\nIf gcc cannot build ${bits}-bit code here: apt-get install -y gcc-multilib`,
      { cause: e },
    );
  }
  run("gcc", [...b.asflags, "-c", join(GUEST_DIR, b.start), "-o", "start.o"], out);
  run(
    "ld",
    [
      "-m",
      b.emulation,
      "--no-warn-rwx-segments",
      "-T",
      join(GUEST_DIR, b.ldscript),
      "-o",
      "bench.elf",
      "start.o",
      "bench.o",
    ],
    out,
  );
  run("objcopy", ["-O", "binary", "bench.elf", "bench.bin"], out);
  const symbols = run("nm", ["bench.elf"], out);
  const entry = symbolAddress(symbols, "glassvm_entry");
  if (entry !== LOAD_ADDRESS + b.entryOffset) {
    throw new GuestBuildError(
      `glassvm_entry is not at image + 0x${b.entryOffset.toString(16)}: check ${b.ldscript}`,
    );
  }
  const elf = join(out, "bench.elf");
  const bin = join(out, "bench.bin");
  return {
    bits,
    bin: new Uint8Array(readFileSync(bin)),
    elf,
    kernel: bits === 64 ? bin : elf,
    entry,
    resultAddress: symbolAddress(symbols, "bench_result"),
    symbols,
  };
}

/** The address of `name` in `nm` output. */
export function symbolAddress(symbols: string, name: string): number {
  const m = new RegExp(`^([0-9a-f]+) \\w ${name}$`, "m").exec(symbols);
  if (!m) throw new GuestBuildError(`symbol ${name} not found in bench.elf`);
  return Number.parseInt(m[1]!, 16);
}

/** One instruction of `objdump -d -M intel`. */
export interface DisassembledInsn {
  readonly address: number;
  readonly bytes: Uint8Array;
  /** Intel syntax, as objdump prints it. */
  readonly text: string;
  /** The mnemonic, after any prefixes objdump prints as words (rep, lock, cs, data16). */
  readonly mnemonic: string;
}

/**
 * The image's code from symbol `from` on, disassembled by objdump in Intel syntax (the
 * SDM's mnemonics) as the ELF's machine: give the 64-bit image `long64`, where start64.S's
 * 32-bit part ends. Padding (nop) is left out.
 */
export function disassemble(image: GuestImage, from: string): DisassembledInsn[] {
  const start = symbolAddress(image.symbols, from);
  const text = run(
    "objdump",
    ["-d", "-M", "intel", "--insn-width=15", `--start-address=0x${start.toString(16)}`, image.elf],
    dirname(image.elf),
  );
  const out: DisassembledInsn[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s+([0-9a-f]+):\t([0-9a-f ]+)\t(.*)$/.exec(line);
    if (!m) continue;
    const asm = m[3]!
      .replace(/\s+#.*$/, "")
      .replace(/\s+/g, " ")
      .trim();
    const mnemonic = /^(?:(?:rep[a-z]*|lock|[c-gs]s|data16|addr32) )*([a-z][a-z0-9]*)/.exec(
      asm,
    )?.[1];
    if (!mnemonic || mnemonic.startsWith("nop")) continue;
    out.push({
      address: Number.parseInt(m[1]!, 16),
      bytes: Uint8Array.from(m[2]!.trim().split(" "), (h) => Number.parseInt(h, 16)),
      text: asm,
      mnemonic,
    });
  }
  return out;
}
