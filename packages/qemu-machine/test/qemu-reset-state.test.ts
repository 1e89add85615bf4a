/**
 * What the guest changed does not survive a system reset: kvm_arch_put_registers at
 * KVM_PUT_RESET_STATE pushes QEMU's reset values of the MSRs (KVM_SET_MSRS), the x87/SSE
 * control words (KVM_SET_FPU) and the debug registers (KVM_SET_DEBUGREGS), not only REGS
 * and SREGS. The first boot (run count at 0x500 = 1) writes SYSENTER_CS, STAR, PAT,
 * MTRRdefType, FCW, MXCSR and DR7, then triple-faults; the second reads them back into RAM
 * at 0x520… and leaves through isa-debug-exit.
 */
import { describe, expect, it } from "vitest";
import { addressSpaceMemory } from "../src/system/physmem.js";
import { qemuInit, qemuMainLoop } from "../src/system/vl.js";
import { CR0_RESET, FPUC_RESET, MXCSR_RESET, PAT_RESET } from "../src/target/i386/cpu.js";
import { qemuTestEnv, romWith, TRIPLE_FAULT_ARGV } from "./qemu-firmware.js";

const IDTR_AT = 0xe000;
/** Where the second boot stores what it reads (guest-physical, DS = 0). */
const OUT = 0x520;
/** Where the first boot stores the same, just before its triple fault. */
const BEFORE = 0x580;

const imm16 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff];
const imm32 = (v: number): number[] => [...imm16(v), ...imm16(v >>> 16)];
/** `mov ecx, msr; mov eax, lo; mov edx, hi; wrmsr` */
const wrmsr = (msr: number, lo: number, hi = 0): number[] => [
  ...[0x66, 0xb9, ...imm32(msr)],
  ...[0x66, 0xb8, ...imm32(lo)],
  ...[0x66, 0xba, ...imm32(hi)],
  ...[0x0f, 0x30],
];
/** `mov ecx, msr; rdmsr; mov [at], eax; mov [at+4], edx` */
const rdmsr = (msr: number, at: number): number[] => [
  ...[0x66, 0xb9, ...imm32(msr)],
  ...[0x0f, 0x32],
  ...[0x66, 0xa3, ...imm16(at)],
  ...[0x66, 0x89, 0x16, ...imm16(at + 4)],
];
/** `mov eax, cr4; or eax, 0x200 (OSFXSR); mov cr4, eax` — SSE instructions need it. */
const osfxsr = [0x0f, 0x20, 0xe0, 0x66, 0x0d, ...imm32(0x200), 0x0f, 0x22, 0xe0];

const MSR_IA32_SYSENTER_CS = 0x174;
const MSR_STAR = 0xc000_0081;
const MSR_PAT = 0x277;
const MSR_MTRRdefType = 0x2ff;

/** SYSENTER_CS, STAR, PAT, MTRRdefType, FCW, DR7, DR6, MXCSR, CR0 into RAM at `at`. */
function readBack(at: number): number[] {
  return [
    ...rdmsr(MSR_IA32_SYSENTER_CS, at),
    ...rdmsr(MSR_STAR, at + 8),
    ...rdmsr(MSR_PAT, at + 16),
    ...rdmsr(MSR_MTRRdefType, at + 24),
    ...[0xd9, 0x3e, ...imm16(at + 32)], // fnstcw [at+32]
    ...[0x0f, 0x21, 0xf8], // mov eax, dr7
    ...[0x66, 0xa3, ...imm16(at + 36)], // mov [at+36], eax
    ...[0x0f, 0x21, 0xf0], // mov eax, dr6
    ...[0x66, 0xa3, ...imm16(at + 40)], // mov [at+40], eax
    ...osfxsr,
    ...[0x0f, 0xae, 0x1e, ...imm16(at + 44)], // stmxcsr [at+44]
    ...[0x0f, 0x20, 0xc0], // mov eax, cr0
    ...[0x66, 0xa3, ...imm16(at + 48)], // mov [at+48], eax
  ];
}

function resetStateRom(): Uint8Array {
  const firstBoot = [
    ...wrmsr(MSR_IA32_SYSENTER_CS, 0x1234),
    ...wrmsr(MSR_STAR, 0x5678_9abc, 0x0023_0010),
    ...wrmsr(MSR_PAT, 0x0007_0407, 0x0007_0406),
    ...wrmsr(MSR_MTRRdefType, 0xc06),
    ...[0xc7, 0x06, ...imm16(0x510), ...imm16(0x027f)], // mov word [0x510], 0x027f
    ...[0xd9, 0x2e, ...imm16(0x510)], // fldcw [0x510]
    ...osfxsr,
    ...[0x66, 0xc7, 0x06, ...imm16(0x514), ...imm32(0x9f80)], // mov dword [0x514], 0x9f80
    ...[0x0f, 0xae, 0x16, ...imm16(0x514)], // ldmxcsr [0x514]
    ...[0x66, 0xb8, ...imm32(0x0700)], // mov eax, 0x700 (LE | GE | bit 10)
    ...[0x0f, 0x23, 0xf8], // mov dr7, eax
    ...readBack(BEFORE), // what the guest set, for the test to check the writes took
    ...[0x2e, 0x0f, 0x01, 0x1e, ...imm16(IDTR_AT)], // lidt cs:[IDTR_AT] (limit 0)
    0xcc, // int3 → #GP → #DF → triple fault → system reset
    0xf4,
  ];
  const secondBoot = [...readBack(OUT), ...[0xb0, 0x21, 0xba, ...imm16(0x501), 0xee], 0xf4];
  const code = [
    ...[0xfe, 0x06, ...imm16(0x500)], // inc byte [0x500]
    ...[0x80, 0x3e, ...imm16(0x500), 1], // cmp byte [0x500], 1
    ...[0x0f, 0x85, ...imm16(firstBoot.length)], // jne near second boot
    ...firstBoot,
    ...secondBoot,
  ];
  const rom = romWith(code);
  rom.fill(0, IDTR_AT, IDTR_AT + 6);
  return rom;
}

describe("system reset puts QEMU's reset state back into KVM", () => {
  it("MSRs, FCW, MXCSR and DR7 read back as after power-on", () => {
    const { env } = qemuTestEnv({ "tf.bin": resetStateRom() });
    const inst = qemuInit(TRIPLE_FAULT_ARGV, env);
    expect(qemuMainLoop(inst, 1000)).toBe(67);
    expect(inst.resetCount).toBe(1);

    const mem = addressSpaceMemory();
    expect(mem.read(0x500, 1)).toBe(2); // two boots
    const at = (base: number) => {
      const b = Uint8Array.from({ length: 52 }, (_, i) => mem.read(base + i, 1));
      const dv = new DataView(b.buffer);
      return {
        sysenterCs: dv.getBigUint64(0, true),
        star: dv.getBigUint64(8, true),
        pat: dv.getBigUint64(16, true),
        mtrrDefType: dv.getBigUint64(24, true),
        fcw: dv.getUint16(32, true),
        dr7: dv.getUint32(36, true),
        dr6: dv.getUint32(40, true),
        mxcsr: dv.getUint32(44, true),
        cr0: dv.getUint32(48, true),
      };
    };
    // The first boot's writes took …
    expect(at(BEFORE)).toEqual({
      sysenterCs: 0x1234n,
      star: 0x0023_0010_5678_9abcn,
      pat: 0x0007_0406_0007_0407n,
      mtrrDefType: 0xc06n,
      fcw: 0x027f,
      dr7: 0x0700,
      dr6: 0xffff_0ff0,
      mxcsr: 0x9f80,
      cr0: CR0_RESET,
    });
    // … and the reset undid them (QEMU's x86_cpu_reset_hold values).
    expect(at(OUT)).toEqual({
      sysenterCs: 0n,
      star: 0n,
      pat: PAT_RESET,
      mtrrDefType: 0n,
      fcw: FPUC_RESET,
      dr7: 0x400,
      dr6: 0xffff_0ff0,
      mxcsr: MXCSR_RESET,
      cr0: CR0_RESET,
    });
  });
});
