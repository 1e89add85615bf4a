/**
 * End to end: a guest KVM cannot run any further. The firmware enters 32-bit protected
 * mode (flat GDT in the ROM), loads every general register with a known value, writes 20
 * NOPs at the very end of RAM (-m 16: up to 0xFFFFFF) and jumps to them: the CPU runs off
 * the end of RAM, the instruction fetch at 0x1000000 hits no memory slot, KVM's emulator
 * cannot fetch it either, and at CPL 0 KVM_RUN returns KVM_EXIT_INTERNAL_ERROR /
 * EMULATION. QEMU prints kvm_handle_internal_error's lines, then
 * cpu_dump_state(CPU_DUMP_CODE) with the state it fetched from KVM (KVM_GET_REGS/SREGS),
 * and stops the VM (internal-error).
 */
import { describe, expect, it } from "vitest";
import { qemuInit, qemuMainLoop } from "../src/system/vl.js";
import { qemuTestEnv, romWith } from "./qemu-firmware.js";

const PM_AT = 0xf100; // 32-bit code, linear 0xFFFFF100
const GDTR_AT = 0xf1f0;
const GDT_AT = 0xf200;

const u32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

/** Real-mode start: lgdt, CR0.PE, far jump to the 32-bit code. */
const realMode = [
  0xfa, // cli
  0x66,
  0x2e,
  0x0f,
  0x01,
  0x16,
  GDTR_AT & 0xff,
  GDTR_AT >> 8, // lgdtd cs:[GDTR_AT]
  0x0f,
  0x20,
  0xc0, // mov eax, cr0
  0x0c,
  0x01, // or al, 1
  0x0f,
  0x22,
  0xc0, // mov cr0, eax
  0x66,
  0xea,
  ...u32(0xffff_0000 + PM_AT),
  0x08,
  0x00, // jmp dword 0x08:0xFFFFF100
];

const RAM_END = 16 << 20;
const NOPS_AT = RAM_END - 20;

/** The 32-bit part: data segments, known registers, NOPs at the end of RAM, jump there. */
const protectedMode = [
  0x66,
  0xb8,
  0x10,
  0x00, // mov ax, 0x10
  0x8e,
  0xd8, // mov ds, ax
  0x8e,
  0xd0, // mov ss, ax
  0xbc,
  ...u32(0x7000), // mov esp, 0x7000
  0xb8,
  ...u32(0x1111_1111), // mov eax, …
  0xbb,
  ...u32(0x2222_2222), // mov ebx, …
  0xb9,
  ...u32(0x3333_3333), // mov ecx, …
  0xba,
  ...u32(0x4444_4444), // mov edx, …
  0xbe,
  ...u32(0x5555_5555), // mov esi, …
  0xbf,
  ...u32(0x6666_6666), // mov edi, …
  0xbd,
  ...u32(0x7777_7777), // mov ebp, …
  ...[0, 4, 8, 12, 16].flatMap((o) => [0xc7, 0x05, ...u32(NOPS_AT + o), ...u32(0x9090_9090)]),
];
const JMP_AT = PM_AT + protectedMode.length;
protectedMode.push(0xe9, ...u32((NOPS_AT - (0xffff_0000 + JMP_AT + 5)) >>> 0)); // jmp NOPS_AT

function firmware(): Uint8Array {
  const rom = romWith(realMode);
  rom.set(protectedMode, PM_AT);
  rom.set([0x17, 0x00, ...u32(0xffff_0000 + GDT_AT)], GDTR_AT);
  rom.set(
    [
      ...[0, 0, 0, 0, 0, 0, 0, 0],
      ...[0xff, 0xff, 0, 0, 0, 0x9b, 0xcf, 0], // 0x08: code, flat, 32-bit, accessed (the ROM is read-only)
      ...[0xff, 0xff, 0, 0, 0, 0x93, 0xcf, 0], // 0x10: data, flat, 32-bit, accessed
    ],
    GDT_AT,
  );
  return rom;
}

describe("a vCPU KVM cannot run: KVM's messages, then QEMU's register dump", () => {
  it("reports the emulation failure, dumps the real state and stops the VM", () => {
    const rom = firmware();
    const { env, stderr } = qemuTestEnv({ "fw.bin": rom });
    const files = new Map<string, string>();
    const inst = qemuInit(
      [
        "qemu-system-x86_64",
        "-machine",
        "pc,accel=kvm",
        "-m",
        "16",
        "-bios",
        "fw.bin",
        "-d",
        "invalid_mem,in_asm",
        "-D",
        "qemu.log",
      ],
      {
        ...env,
        writeFile: (path, text, append) =>
          files.set(path, (append ? (files.get(path) ?? "") : "") + text),
      },
    );
    // -D: the log file is created when the log is set up (empty: nothing logged yet).
    expect(files.get("qemu.log")).toBe("");
    expect(qemuMainLoop(inst, 1000)).toBeNull();
    expect(inst.runstate).toBe("internal-error");

    const out = stderr.filter((l) => !l.includes("warning:")).join("");
    const lines = out.split("\n");
    // kvm_handle_internal_error: fprintf(stderr), no program prefix.
    expect(lines[0]).toBe("KVM internal error. Suberror: 1");
    expect(lines).toContain("emulation failure");
    const dump = lines.slice(lines.indexOf("emulation failure") + 1);
    expect(dump.slice(0, 3)).toEqual([
      "EAX=11111111 EBX=22222222 ECX=33333333 EDX=44444444",
      "ESI=55555555 EDI=66666666 EBP=77777777 ESP=00007000",
      // PF from `or al, 1` (0x11 has an even number of bits).
      "EIP=01000000 EFL=00000006 [-----P-] CPL=0 II=0 A20=1 SMM=0 HLT=0",
    ]);
    // Protected mode: each present segment is decoded (DPL, type, [CRA]/[EWA]); ES was
    // never reloaded and keeps its real-mode cache. Under KVM the flags word has no limit
    // bits 16-19 (get_seg builds it from struct kvm_segment): 00c09b00, not TCG's 00cf9b00.
    expect(dump.slice(3, 7)).toEqual([
      "ES =0000 00000000 0000ffff 00009300 DPL=0 DS16 [-WA]",
      "CS =0008 00000000 ffffffff 00c09b00 DPL=0 CS32 [-RA]",
      "SS =0010 00000000 ffffffff 00c09300 DPL=0 DS   [-WA]",
      "DS =0010 00000000 ffffffff 00c09300 DPL=0 DS   [-WA]",
    ]);
    expect(dump).toContain(`GDT=     ${(0xffff_0000 + GDT_AT).toString(16)} 00000017`);
    expect(dump.find((l) => l.startsWith("CR0="))).toMatch(/^CR0=60000011 CR2=00000000 /);
    expect(dump).toContain("EFER=0000000000000000");
    // Code=: the 20 NOPs before EIP, then nothing readable from EIP on.
    expect(dump).toContain(`Code=${"90 ".repeat(20)}<??>${" ??".repeat(29)}`);
    expect(dump.at(-1)).toBe("");
    // -d invalid_mem to the -D file: the dump's reads of unassigned memory
    // (cpu_memory_rw_debug → memory_region_access_valid), nothing on stderr. in_asm is a
    // TCG item: accepted, silent under KVM.
    const log = files.get("qemu.log")!.split("\n");
    expect(log[0]).toBe(
      "Invalid read at addr 0x1000000, size 1, region '(null)', reason: rejected",
    );
    expect(log).toHaveLength(31); // 30 bytes from EIP, the last line ends the file
    expect(log[29]).toBe(
      "Invalid read at addr 0x100001D, size 1, region '(null)', reason: rejected",
    );
    expect(out).not.toContain("Invalid read");
  });
});
