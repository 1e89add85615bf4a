/**
 * AMD-V as instructions: a 32-bit hypervisor in x86 code enables SVM (RDMSR/WRMSR EFER,
 * WRMSR VM_HSAVE_PA), runs a real-mode guest under its own nested page tables with VMRUN,
 * and continues after VMRUN with the exit in its VMCB.
 */
import {
  EXIT_SHUTDOWN,
  PhysMemory,
  setRegisters,
  setSystemRegisters,
  X86Cpu,
  type X86Segment,
} from "@glassvm/x86";
import { describe, expect, it } from "vitest";
import {
  EFER_SVME,
  INTERCEPT_IOIO_PROT,
  INTERCEPT_VMRUN,
  SVM_EXIT_IOIO,
  SVM_NESTED_CTL_NP_ENABLE,
} from "../asm/svm.js";
import { SvmRootCpu } from "./svm_root.js";
import {
  VMCB_ASID,
  VMCB_CR0,
  VMCB_CS,
  VMCB_DS,
  VMCB_EFER,
  VMCB_ES,
  VMCB_EXIT_CODE,
  VMCB_IDTR,
  VMCB_IOPM_BASE_PA,
  VMCB_MISC_CTL,
  VMCB_MSRPM_BASE_PA,
  VMCB_NESTED_CR3,
  VMCB_RFLAGS,
  VMCB_RIP,
  VMCB_RSP,
  VMCB_SS,
  Vmcb,
} from "./vmcb.js";

const CODE = 0x1000;
const NPT = 0x1_0000;
const VMCB = 0x2_0000;
const HSAVE = 0x2_1000;
const IOPM = 0x2_2000;
const MSRPM = 0x2_5000;
const GUEST_RAM = 0x10_0000;
const STACK = 0x8000;

const seg = (selector: number, ar: number, limit = 0xffff_ffff): X86Segment => ({
  selector,
  base: 0,
  limit,
  ar,
});

function machine(code: number[]): { cpu: X86Cpu; amdv: SvmRootCpu; ram: Uint8Array } {
  const mem = new PhysMemory();
  const ram = new Uint8Array(2 << 20);
  mem.addRam(0, ram);
  const cpu = new X86Cpu(mem);
  const amdv = new SvmRootCpu(cpu);
  const flatData = seg(0x10, 0xc093);
  setSystemRegisters(cpu, {
    es: flatData,
    cs: seg(0x08, 0xc09b),
    ss: flatData,
    ds: flatData,
    fs: flatData,
    gs: flatData,
    ldtr: seg(0, 0x1_0000, 0),
    tr: seg(0x18, 0x8b, 0x67),
    gdt: { base: 0, limit: 0xffff },
    idt: { base: 0, limit: 0 },
    cr0: 0x11,
    cr2: 0,
    cr3: 0,
    cr4: 0,
    cr8: 0,
    efer: 0,
    dr: [0, 0, 0, 0, 0xffff0ff0, 0x400],
  });
  setRegisters(cpu, {
    eax: 0,
    ecx: 0,
    edx: 0,
    ebx: 0,
    esp: STACK,
    ebp: 0,
    esi: 0,
    edi: 0,
    eip: CODE,
    eflags: 0x2,
  });
  ram.set(code, CODE);
  return { cpu, amdv, ram };
}

/** EFER.SVME on, VM_HSAVE_PA = HSAVE. */
const ENABLE_SVM = [
  0xb9,
  0x80,
  0x00,
  0x00,
  0xc0, // mov ecx, 0xc0000080 (EFER)
  0x0f,
  0x32, //                   rdmsr
  0x0d,
  0x00,
  0x10,
  0x00,
  0x00, // or eax, 0x1000 (SVME)
  0x0f,
  0x30, //                   wrmsr
  0xb9,
  0x17,
  0x01,
  0x01,
  0xc0, // mov ecx, 0xc0010117 (VM_HSAVE_PA)
  0xb8,
  0x00,
  0x10,
  0x02,
  0x00, // mov eax, 0x21000
  0x31,
  0xd2, //                   xor edx, edx
  0x0f,
  0x30, //                   wrmsr
];

/** A real-mode guest at GPA 0x1000 under nested paging (GPA 0–1 MiB → GUEST_RAM); only VMRUN intercepted. */
function realModeGuest(ram: Uint8Array, guestCode: number[]): Vmcb {
  const dv = new DataView(ram.buffer);
  // Nested tables: GPA 0–1 MiB → host GUEST_RAM.
  dv.setUint32(NPT, (NPT + 0x1000) | 7, true);
  dv.setUint32(NPT + 0x1000, (NPT + 0x2000) | 7, true);
  dv.setUint32(NPT + 0x2000, (NPT + 0x3000) | 7, true);
  for (let i = 0; i < 256; i++)
    dv.setUint32(NPT + 0x3000 + 8 * i, (GUEST_RAM + i * 4096) | 7, true);
  ram.set(guestCode, GUEST_RAM + 0x1000);

  const v = new Vmcb(VMCB, ram.subarray(VMCB, VMCB + 0x1000));
  v.setIntercept(INTERCEPT_VMRUN);
  v.write32(VMCB_ASID, 1);
  v.write64(VMCB_IOPM_BASE_PA, BigInt(IOPM));
  v.write64(VMCB_MSRPM_BASE_PA, BigInt(MSRPM));
  v.write64(VMCB_MISC_CTL, BigInt(SVM_NESTED_CTL_NP_ENABLE));
  v.write64(VMCB_NESTED_CR3, BigInt(NPT));
  for (const at of [VMCB_ES, VMCB_SS, VMCB_DS]) {
    v.setSegment(at, { selector: 0, attrib: 0x93, limit: 0xffff, base: 0n });
  }
  v.setSegment(VMCB_CS, { selector: 0, attrib: 0x9b, limit: 0xffff, base: 0n });
  v.write32(VMCB_IDTR + 4, 0x3ff);
  v.write64(VMCB_EFER, BigInt(EFER_SVME));
  v.write64(VMCB_CR0, 0x10n);
  v.write64(VMCB_RFLAGS, 0x2n);
  v.write64(VMCB_RIP, 0x1000n);
  v.write64(VMCB_RSP, 0x7000n);

  return v;
}

/** mov eax, 0x20000 (the VMCB); vmrun; hlt. */
const VMRUN_THEN_HLT = [0xb8, 0x00, 0x00, 0x02, 0x00, 0x0f, 0x01, 0xd8, 0xf4];

describe("SVM instructions executed by x86 code (SvmRootCpu)", () => {
  it("enables SVM, VMRUNs a guest under nested paging, and continues after VMRUN", () => {
    const { cpu, amdv, ram } = machine([...ENABLE_SVM, ...VMRUN_THEN_HLT]);
    // The guest at GPA 0x1000: mov al, 0x2a; out 0x42, al
    const v = realModeGuest(ram, [0xb0, 0x2a, 0xe6, 0x42]);
    ram[IOPM + (0x42 >>> 3)] = 1 << (0x42 & 7);
    v.setIntercept(INTERCEPT_IOIO_PROT);

    cpu.run(100);
    expect(cpu.st[29]).toBe(1); // halted at the HLT after VMRUN
    expect(v.exitCode()).toBe(SVM_EXIT_IOIO);
    expect(v.read64(0x078)).toBe(0x0042_0090n);
    expect(cpu.regs[0]).toBe(VMCB); // RAX back from the host save area
    expect(cpu.regs[4]).toBe(STACK);
    expect(cpu.st[0]).toBe(CODE + ENABLE_SVM.length + 5 + 3 + 1);
    expect(amdv.efer() & EFER_SVME).toBe(EFER_SVME);
    expect(amdv.svm.hsavePa).toBe(HSAVE);
    expect(amdv.svm.gif).toBe(false);
  });

  it("CLGI and STGI set GIF; RDMSR VM_CR reads it", () => {
    const { cpu, amdv } = machine([
      ...ENABLE_SVM,
      0x0f,
      0x01,
      0xdd, //             clgi
      0xf4, //                         hlt
      0x0f,
      0x01,
      0xdc, //             stgi
      0xb9,
      0x14,
      0x01,
      0x01,
      0xc0, // mov ecx, 0xc0010114 (VM_CR)
      0x0f,
      0x32, //                   rdmsr
      0xf4, //                         hlt
    ]);
    cpu.run(100);
    expect(amdv.svm.gif).toBe(false);
    cpu.st[29] = 0;
    cpu.regs[0] = 0x1234;
    cpu.run(100);
    expect(amdv.svm.gif).toBe(true);
    expect(cpu.regs[0]).toBe(0);
  });

  it("an SVM instruction without EFER.SVME is #UD (here, with no IDT, a shutdown)", () => {
    const { cpu, amdv } = machine([0x0f, 0x01, 0xdd]); // clgi
    expect(cpu.run(100)).toBe(2);
    expect(amdv.svm.gif).toBe(true);
  });

  it("a guest that shuts down without the SHUTDOWN intercept shuts the processor down: no #VMEXIT", () => {
    const { cpu, ram } = machine([...ENABLE_SVM, ...VMRUN_THEN_HLT]);
    // lidt [0x1010] (limit 0: no IDT); int3 → #GP → #DF → triple fault.
    const v = realModeGuest(ram, [0x0f, 0x01, 0x1e, 0x10, 0x10, 0xcc]);
    v.write64(VMCB_EXIT_CODE, 0x1234n);
    expect(cpu.run(100)).toBe(EXIT_SHUTDOWN);
    expect(v.exitCode()).toBe(0x1234);
  });
});
