/**
 * Tiny firmware images for the CLI's runs (the same shape as qemu-machine's test ROMs):
 * 64 KiB, the reset vector jumps to real-mode code at offset 0xF000.
 */
export const ROM_SIZE = 0x1_0000;
export const CODE_AT = 0xf000;

/** A ROM with `code` at 0xF000 and `jmp near 0xF000` at the reset vector (rest: hlt). */
export function romWith(code: readonly number[]): Uint8Array {
  const rom = new Uint8Array(ROM_SIZE).fill(0xf4);
  rom.set(code, CODE_AT);
  const rel = (CODE_AT - (0xfff0 + 3)) & 0xffff;
  rom.set([0xe9, rel & 0xff, rel >> 8], 0xfff0);
  return rom;
}

/** `mov dx, port; mov al, b; out dx, al` for each byte. */
export function outBytes(port: number, bytes: readonly number[]): number[] {
  const code = [0xba, port & 0xff, port >> 8];
  for (const b of bytes) code.push(0xb0, b, 0xee);
  return code;
}

export const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

/** `mov al, v; mov dx, 0x501; out dx, al`: isa-debug-exit (status (v << 1) | 1). */
export const debugExit = (v: number): number[] => [0xb0, v, 0xba, 0x01, 0x05, 0xee, 0xf4];

/** `mov cx, n; l: out 0x80, al; loop l` — n port-I/O exits. */
export const outLoop = (n: number): number[] => [0xb9, n & 0xff, n >> 8, 0xe6, 0x80, 0xe2, 0xfc];

/** The firmware most runs use: "Hi\n" on debugcon, "OK\n" on COM1, debug-exit 0x10 (33). */
export const HELLO_FW = romWith([
  ...outBytes(0xe9, ascii("Hi\n")),
  ...outBytes(0x3f8, ascii("OK\n")),
  ...debugExit(0x10),
]);

/** A GlassvmIo that collects output; files from `files`; a clock of `tick` ms per read. */
export function testIo(
  files: Record<string, Uint8Array> = {},
  opts: { isTTY?: boolean; tick?: number } = {},
) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  /** Both streams in the order written: ["out"|"err", text]. */
  const both: ["out" | "err", string][] = [];
  const written = new Map<string, string>();
  let t = 0;
  const io = {
    readFile: (p: string) => files[p] ?? null,
    writeFile: (p: string, text: string, append: boolean) => {
      written.set(p, (append ? (written.get(p) ?? "") : "") + text);
    },
    stdout: (s: string) => {
      stdout.push(s);
      both.push(["out", s]);
    },
    stderr: (s: string) => {
      stderr.push(s);
      both.push(["err", s]);
    },
    isTTY: opts.isTTY ?? false,
    now: () => {
      t += opts.tick ?? 0.001;
      return t;
    },
  };
  return {
    io,
    out: () => stdout.join(""),
    err: () => stderr.join(""),
    both,
    written,
  };
}

/** stderr without QEMU's CPUID filtering warnings (qemu64 on this host model). */
export const withoutWarnings = (s: string): string =>
  s
    .split("\n")
    .filter((l) => !l.includes("warning: host doesn't support requested feature"))
    .join("\n");

/** A guest of guests/bin on the console, leaving through isa-debug-exit (port 0xf4). */
export function guestArgs(image: string): string[] {
  return ["-nographic", "-bios", image, "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"];
}
