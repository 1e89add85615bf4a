/**
 * Firmware images for the qemu_init scenarios: 64 KiB ROMs whose reset vector (offset
 * 0xFFF0, CS base 0xFFFF0000 after reset) jumps to real-mode code at offset 0xF000.
 */
import { HostKernel, kvmModule } from "@glassvm/kvm-kernel";
import type { HostOs } from "@glassvm/kvm-kernel/uapi";
import { kvmIntelModule } from "@glassvm/vmx";
import type { QemuEnv } from "../src/system/vl.js";

export const ROM_SIZE = 0x1_0000;
export const CODE_AT = 0xf000;

/** A ROM with `code` at 0xF000 and `jmp near 0xF000` at the reset vector. */
export function romWith(code: readonly number[]): Uint8Array {
  const rom = new Uint8Array(ROM_SIZE).fill(0xf4); // hlt
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

/** A host with kvm_intel and a QEMU process; files from `files`; output collected. */
export function qemuTestEnv(files: Record<string, Uint8Array> = {}): {
  env: QemuEnv;
  os: HostOs;
  stdout: string[];
  stderr: string[];
} {
  const kernel = new HostKernel();
  kernel.loadModule(kvmModule(kvmIntelModule(kernel)));
  const os = kernel.spawn("qemu-system-x86_64");
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    os,
    stdout,
    stderr,
    env: {
      os,
      files: (p) => files[p] ?? null,
      stdout: (t) => stdout.push(t),
      stderr: (t) => stderr.push(t),
    },
  };
}

/**
 * A ROM that counts its runs in RAM at 0x500, writes the count as a digit to 0xE9, and
 * triple-faults (real-mode IDT limit 0, then INT3) until run `runs`, which exits through
 * isa-debug-exit at 0x501 with 0x21 (status 67).
 */
export function tripleFaultRom(runs: number): Uint8Array {
  const IDTR_AT = 0xe000;
  const code = [
    0xfe,
    0x06,
    0x00,
    0x05, // inc byte [0x500]
    0xa0,
    0x00,
    0x05, // mov al, [0x500]
    0x04,
    0x30, // add al, '0'
    0xe6,
    0xe9, // out 0xe9, al
    0x80,
    0x3e,
    0x00,
    0x05,
    runs, // cmp byte [0x500], runs
    0x75,
    0x06, // jne +6 (the triple fault)
    0xb0,
    0x21, // mov al, 0x21
    0xba,
    0x01,
    0x05, // mov dx, 0x501
    0xee, // out dx, al
    0x2e,
    0x0f,
    0x01,
    0x1e,
    IDTR_AT & 0xff,
    IDTR_AT >> 8, // lidt cs:[IDTR_AT]
    0xcc, // int3 → #GP → #DF → triple fault
    0xf4, // hlt
  ];
  const rom = romWith(code);
  rom.fill(0, IDTR_AT, IDTR_AT + 6);
  return rom;
}

export const TRIPLE_FAULT_ARGV = [
  "qemu-system-x86_64",
  "-machine",
  "pc,accel=kvm",
  "-m",
  "16",
  "-bios",
  "tf.bin",
  "-chardev",
  "ringbuf,id=dbg",
  "-device",
  "isa-debugcon,chardev=dbg",
  "-device",
  "isa-debug-exit,iobase=0x501,iosize=2",
];
