/**
 * Builds guests/bench.c + start.S into a flat image with Debian's binutils and gcc. It
 * installs nothing: when a tool is missing it says which package provides it.
 *
 *   gcc -m32 -march=i686 -ffreestanding -nostdlib -O2 -fno-pic -static -c bench.c
 *   gcc -m32 -c start.S
 *   ld -m elf_i386 -T link.ld start.o bench.o -o bench.elf
 *   objcopy -O binary bench.elf bench.bin
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const GUEST_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "guests");
/** Where the image is linked and loaded (link.ld). */
export const LOAD_ADDRESS = 0x10_0000;
/** glassvm_entry: right after the 16-byte multiboot header (start.S). */
export const ENTRY_OFFSET = 0x10;

export interface GuestImage {
  /** The flat image, to be loaded at LOAD_ADDRESS. */
  readonly bin: Uint8Array;
  /** The ELF, for QEMU -kernel (multiboot). */
  readonly elf: string;
  /** Address of bench_result. */
  readonly resultAddress: number;
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
] as const;

export function missingTools(): string[] {
  return TOOLS.filter(([t]) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0).map(
    ([t, pkg]) => `${t} (apt-get install -y ${pkg})`,
  );
}

/** Build the guest with `rounds` rounds of work into a fresh directory under the OS temp dir. */
export function buildGuest(rounds: number): GuestImage {
  const missing = missingTools();
  if (missing.length > 0) throw new GuestBuildError(`missing tools: ${missing.join(", ")}`);
  const out = join(tmpdir(), `glassvm-bench-${process.pid}-${rounds}`);
  mkdirSync(out, { recursive: true });
  const cflags = [
    "-m32",
    "-march=i686",
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
  try {
    run("gcc", [...cflags, "-c", join(GUEST_DIR, "bench.c"), "-o", "bench.o"], out);
  } catch (e) {
    throw new GuestBuildError(
      `${(e as Error).message}\nIf gcc cannot build 32-bit code here: apt-get install -y gcc-multilib`,
      { cause: e },
    );
  }
  run("gcc", ["-m32", "-c", join(GUEST_DIR, "start.S"), "-o", "start.o"], out);
  run(
    "ld",
    [
      "-m",
      "elf_i386",
      "--no-warn-rwx-segments",
      "-T",
      join(GUEST_DIR, "link.ld"),
      "-o",
      "bench.elf",
      "start.o",
      "bench.o",
    ],
    out,
  );
  run("objcopy", ["-O", "binary", "bench.elf", "bench.bin"], out);
  const syms = run("nm", ["bench.elf"], out);
  const sym = (name: string): number => {
    const m = new RegExp(`^([0-9a-f]+) \\w ${name}$`, "m").exec(syms);
    if (!m) throw new GuestBuildError(`symbol ${name} not found in bench.elf`);
    return Number.parseInt(m[1]!, 16);
  };
  if (sym("glassvm_entry") !== LOAD_ADDRESS + ENTRY_OFFSET) {
    throw new GuestBuildError("glassvm_entry is not at image + 0x10: check link.ld");
  }
  return {
    bin: new Uint8Array(readFileSync(join(out, "bench.bin"))),
    elf: join(out, "bench.elf"),
    resultAddress: sym("bench_result"),
  };
}
