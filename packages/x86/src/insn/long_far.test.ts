/**
 * 64-bit mode's system instructions and far transfers (long_far.ts): MOV CR/DR, LGDT/SGDT,
 * LTR with a 16-byte descriptor, SWAPGS, SYSCALL/SYSRET, far JMP/CALL/RET — run in the
 * long-mode fixture (the 32-bit prologue enters 64-bit mode; the code runs at LONG.ENTRY).
 */
import { describe, expect, it } from "vitest";
import {
  CODE64_3,
  LONG,
  longMode,
  longModeRing3,
  PM,
  read16,
  read32,
  USER64,
  userSetup64,
  vector64,
  write32,
  writeDescriptor,
} from "../../test/helpers.js";
import { EXIT_HLT, type X86Cpu } from "../cpu.js";
import { getFlags } from "../lazy_flags.js";
import { CS, EAX, EBX, ECX, EDX, EFER_SCE, ESP, FLAG_IF, GS, SS, TR } from "../regs.js";
import {
  CPL,
  CR8,
  EFER,
  EIP,
  GDTR_BASE,
  GDTR_BASE_HI,
  GDTR_LIMIT,
  IDTR_BASE_HI,
} from "../state.js";
import {
  getMsr,
  MSR_IA32_KERNEL_GS_BASE,
  MSR_IA32_LSTAR,
  MSR_IA32_STAR,
  setMsr,
} from "./proc_ctrl.js";

const d = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const w = (v: number) => [v & 0xff, (v >>> 8) & 0xff];
const movRax64 = (lo: number, hi: number) => [0x48, 0xb8, ...d(lo), ...d(hi)];
const movRcx64 = (lo: number, hi: number) => [0x48, 0xb9, ...d(lo), ...d(hi)];
/** A ModRM/SIB pair for an absolute [disp32] operand with ModRM.reg = r. */
const abs = (r: number, at: number) => [(r << 3) | 4, 0x25, ...d(at)];
const HLT = 0xf4;
const R11 = 11;

function run(cpu: X86Cpu): void {
  expect(cpu.run(10_000)).toBe(EXIT_HLT);
}

function runClean(code: readonly number[], setup?: (cpu: X86Cpu) => void): X86Cpu {
  const cpu = longMode(code);
  setup?.(cpu);
  run(cpu);
  expect(vector64(cpu)).toBe(-1);
  return cpu;
}

function runFault(code: readonly number[], setup?: (cpu: X86Cpu) => void): X86Cpu {
  const cpu = longMode(code);
  setup?.(cpu);
  run(cpu);
  return cpu;
}

describe("MOV CR and MOV DR in 64-bit mode", () => {
  it("mov cr8, rax sets the task priority and mov rbx, cr8 reads it back", () => {
    const code = [...movRax64(5, 0), 0x44, 0x0f, 0x22, 0xc0, 0x44, 0x0f, 0x20, 0xc3, HLT];
    const cpu = runClean(code);
    expect(cpu.st[CR8]).toBe(5);
    expect([cpu.regs[EBX], cpu.regsHi[EBX]]).toEqual([5, 0]);
  });

  it("mov cr8 with a bit above 3 set is #GP(0)", () => {
    const cpu = runFault([...movRax64(0x10, 0), 0x44, 0x0f, 0x22, 0xc0, HLT]);
    expect(vector64(cpu)).toBe(13);
  });

  it("mov cr4 with a bit in 63:32 set is #GP(0)", () => {
    const cpu = runFault([0x0f, 0x20, 0xe0, 0x48, 0x0f, 0xba, 0xe8, 40, 0x0f, 0x22, 0xe0, HLT]);
    // mov rax, cr4; bts rax, 40; mov cr4, rax
    expect(vector64(cpu)).toBe(13);
  });

  it("mov rax, cr0 zero-extends into rax", () => {
    const cpu = runClean([...movRax64(-1, -1), 0x0f, 0x20, 0xc0, HLT]);
    expect(cpu.regs[EAX]! & 0x8000_0001).toBe(0x8000_0001 | 0);
    expect(cpu.regsHi[EAX]).toBe(0);
  });

  it("mov cr3, rcx flushes a stale translation", () => {
    const V = 0x20_8000; // virtual, in the second 2 MiB page
    const code = [
      0x48,
      0x8b,
      ...abs(0, V), // mov rax, [V]  (cached in the TLB)
      0xc7,
      ...abs(0, 0x20_2008),
      ...d(0x83), // PD[1] → physical 0
      0x48,
      0x8b,
      ...abs(3, V), // mov rbx, [V]  (still the old page)
      0x0f,
      0x20,
      0xd9, // mov rcx, cr3
      0x0f,
      0x22,
      0xd9, // mov cr3, rcx
      0x48,
      0x8b,
      ...abs(2, V), // mov rdx, [V]  (the new page)
      HLT,
    ];
    const cpu = runClean(code, (c) => {
      write32(c, V, 0xaaaa);
      write32(c, V - 0x20_0000, 0xbbbb);
    });
    expect(cpu.regs[EAX]).toBe(0xaaaa);
    expect(cpu.regs[EBX]).toBe(0xaaaa);
    expect(cpu.regs[EDX]).toBe(0xbbbb);
  });

  it("invlpg [v] drops the stale translation of that page", () => {
    const V = 0x20_8000;
    const code = [
      0x48,
      0x8b,
      ...abs(0, V),
      0xc7,
      ...abs(0, 0x20_2008),
      ...d(0x83),
      0x0f,
      0x01,
      ...abs(7, V), // invlpg [V]
      0x48,
      0x8b,
      ...abs(2, V),
      HLT,
    ];
    const cpu = runClean(code, (c) => {
      write32(c, V, 0xaaaa);
      write32(c, V - 0x20_0000, 0xbbbb);
    });
    expect(cpu.regs[EDX]).toBe(0xbbbb);
  });

  it("mov dr7, rax with a bit in 63:32 set is #GP(0)", () => {
    const cpu = runFault([...movRax64(0x400, 1), 0x0f, 0x23, 0xf8, HLT]);
    expect(vector64(cpu)).toBe(13);
  });
});

describe("descriptor tables", () => {
  const PTR = 0x3_0000;
  it("lgdt loads a 64-bit base and sgdt stores all 10 bytes", () => {
    const code = [0x0f, 0x01, ...abs(2, PTR), 0x0f, 0x01, ...abs(0, PTR + 16), HLT];
    const cpu = runClean(code, (c) => {
      c.mem.load(PTR, [...w(0x0fff), ...d(PM.GDT), ...d(0x1234)]);
    });
    expect(cpu.st[GDTR_LIMIT]).toBe(0x0fff);
    expect(cpu.st[GDTR_BASE]).toBe(PM.GDT);
    expect(cpu.st[GDTR_BASE_HI]).toBe(0x1234);
    expect(read16(cpu, PTR + 16)).toBe(0x0fff);
    expect(read32(cpu, PTR + 18)).toBe(PM.GDT);
    expect(read32(cpu, PTR + 22)).toBe(0x1234);
  });

  it("lgdt and lidt with a non-canonical base are #GP(0) and load nothing", () => {
    // guest-fuzz: the base went into GDTR/IDTR and the next VM entry refused it.
    for (const r of [2, 3]) {
      const cpu = runFault([0x0f, 0x01, ...abs(r, PTR), HLT], (c) => {
        c.mem.load(PTR, [...w(0x0fff), ...d(PM.GDT), ...d(0x8000)]);
      });
      expect(vector64(cpu)).toBe(13);
      expect(cpu.st[r === 2 ? GDTR_BASE_HI : IDTR_BASE_HI]).toBe(0);
    }
  });

  it("ltr loads a 16-byte TSS descriptor with base 63:32 and marks it busy", () => {
    const SEL = PM.FREE + 0x20;
    const code = [0x66, 0xb8, ...w(SEL), 0x0f, 0x00, 0xd8, HLT]; // mov ax, SEL; ltr ax
    const cpu = runClean(code, (c) => {
      writeDescriptor(c, SEL, 0x3400, 0x67, 0x89, 0);
      write32(c, PM.GDT + SEL + 8, 5);
      write32(c, PM.GDT + SEL + 12, 0);
    });
    expect(cpu.segSel[TR]).toBe(SEL);
    expect([cpu.segBase[TR], cpu.segBaseHi[TR]]).toEqual([0x3400, 5]);
    expect(cpu.mem.read8(PM.GDT + SEL + 5)).toBe(0x8b);
  });

  it("ltr of a descriptor whose upper half has a type is #GP(selector)", () => {
    const SEL = PM.FREE + 0x20;
    const cpu = runFault([0x66, 0xb8, ...w(SEL), 0x0f, 0x00, 0xd8, HLT], (c) => {
      writeDescriptor(c, SEL, 0x3400, 0x67, 0x89, 0);
      write32(c, PM.GDT + SEL + 12, 0x0900);
    });
    expect(vector64(cpu)).toBe(13);
    expect(read32(cpu, cpu.regs[ESP]!)).toBe(SEL);
  });
});

describe("SWAPGS", () => {
  it("swapgs exchanges gs base and kernel gs base", () => {
    const cpu = runClean([0x0f, 0x01, 0xf8, HLT], (c) => {
      c.segBase[GS] = 0x1111;
      c.segBaseHi[GS] = 2;
      setMsr(c, MSR_IA32_KERNEL_GS_BASE, 0x3_0000_4444n);
    });
    expect([cpu.segBase[GS], cpu.segBaseHi[GS]]).toEqual([0x4444, 3]);
    expect(getMsr(cpu, MSR_IA32_KERNEL_GS_BASE)).toBe(0x2_0000_1111n);
  });

  it("swapgs at ring 3 is #GP(0)", () => {
    const cpu = longModeRing3([0x0f, 0x01, 0xf8, HLT]);
    run(cpu);
    expect(vector64(cpu)).toBe(13);
    expect(read32(cpu, cpu.regs[ESP]! + 8)).toBe(USER64);
  });
});

describe("SYSCALL and SYSRET", () => {
  const HANDLER = 0x2_0000;
  /** STAR: SYSCALL CS = CODE64 (SS + 8); SYSRET base 0x50 (SS 0x5B, 64-bit CS 0x63). */
  function sysSetup(cpu: X86Cpu): void {
    cpu.st[EFER] = cpu.st[EFER]! | EFER_SCE;
    setMsr(cpu, MSR_IA32_STAR, (0x50n << 48n) | (BigInt(LONG.CODE64) << 32n));
    setMsr(cpu, MSR_IA32_LSTAR, BigInt(HANDLER));
    cpu.mem.load(HANDLER, [HLT]);
  }

  it("syscall from ring 3 enters LSTAR at ring 0 with rcx = next rip and r11 = rflags", () => {
    const cpu = longModeRing3([0x90, 0x0f, 0x05, HLT]);
    sysSetup(cpu);
    run(cpu);
    expect(cpu.st[EIP]).toBe(HANDLER + 1);
    expect(cpu.st[CPL]).toBe(0);
    expect(cpu.segSel[CS]).toBe(LONG.CODE64);
    expect(cpu.segSel[SS]).toBe(LONG.CODE64 + 8);
    expect([cpu.regs[ECX], cpu.regsHi[ECX]]).toEqual([USER64 + 3, 0]);
    expect(cpu.regs[R11]).toBe(0x2);
  });

  it("syscall clears the IA32_FMASK bits of rflags", () => {
    const cpu = runClean([0xfb, 0x0f, 0x05], (c) => {
      sysSetup(c);
      setMsr(c, 0xc000_0084, BigInt(FLAG_IF));
    });
    expect(cpu.regs[R11]! & FLAG_IF).toBe(FLAG_IF);
    expect(getFlags(cpu.st) & FLAG_IF).toBe(0);
  });

  it("syscall without EFER.SCE is #UD", () => {
    const cpu = runFault([0x0f, 0x05, HLT]);
    expect(vector64(cpu)).toBe(6);
  });

  it("sysret returns to ring 3 64-bit code", () => {
    const code = [
      ...movRcx64(USER64, 0),
      0x49,
      0xc7,
      0xc3,
      ...d(0x2), // mov r11, 2
      0x48,
      0x0f,
      0x07, // sysretq
    ];
    const cpu = longMode(code);
    userSetup64(cpu);
    sysSetup(cpu);
    // Ring 3: mov ebx, 42; ud2 (the #UD stub runs at ring 0 and halts).
    cpu.mem.load(USER64, [0xbb, ...d(42), 0x0f, 0x0b]);
    run(cpu);
    expect(vector64(cpu)).toBe(6);
    expect(cpu.regs[EBX]).toBe(42);
    const sp = cpu.regs[ESP]!;
    expect(read32(cpu, sp)).toBe(USER64 + 5); // RIP of ud2
    expect(read32(cpu, sp + 8)).toBe(0x63); // CS = base + 16, RPL 3
    expect(read32(cpu, sp + 32)).toBe(0x5b); // SS = base + 8, RPL 3
  });

  it("sysret without rex.w returns to compatibility mode at ecx", () => {
    const code = [...movRcx64(USER64, 0), 0x49, 0xc7, 0xc3, ...d(0x2), 0x0f, 0x07];
    const cpu = longMode(code);
    userSetup64(cpu);
    sysSetup(cpu);
    cpu.mem.load(USER64, [0x0f, 0x0b]);
    run(cpu);
    expect(vector64(cpu)).toBe(6);
    expect(read32(cpu, cpu.regs[ESP]! + 8)).toBe(0x53); // CS = base, RPL 3
  });

  it("sysret with a non-canonical rcx is #GP(0) in ring 0", () => {
    const cpu = runFault([...movRcx64(0, 0x8000), 0x48, 0x0f, 0x07, HLT], sysSetup);
    expect(vector64(cpu)).toBe(13);
    expect(read32(cpu, cpu.regs[ESP]! + 16)).toBe(LONG.CODE64);
  });

  it("sysret at ring 3 is #GP(0)", () => {
    const cpu = longModeRing3([0x48, 0x0f, 0x07, HLT]);
    sysSetup(cpu);
    run(cpu);
    expect(vector64(cpu)).toBe(13);
  });
});

describe("far JMP, CALL, RET in 64-bit mode", () => {
  const PTR = 0x3_0000;
  const COMPAT = 0x1_1000;
  const BACK = 0x1_2000;

  it("jmp far [m16:32] reaches compatibility-mode code, which jumps back to 64-bit code", () => {
    const code = [0xff, ...abs(5, PTR)];
    const cpu = runClean(code, (c) => {
      c.mem.load(PTR, [...d(COMPAT), ...w(PM.CODE0)]);
      // 32-bit code: mov ebx, 0x1234; jmp far CODE64:BACK
      c.mem.load(COMPAT, [0xbb, ...d(0x1234), 0xea, ...d(BACK), ...w(LONG.CODE64)]);
      c.mem.load(BACK, [HLT]);
    });
    expect(cpu.regs[EBX]).toBe(0x1234);
    expect(cpu.st[EIP]).toBe(BACK + 1);
    expect(cpu.segSel[CS]).toBe(LONG.CODE64);
  });

  it("call far [m16:64] pushes cs and rip as quadwords and retfq returns", () => {
    const TARGET = 0x1_3000;
    const code = [0x48, 0xff, ...abs(3, PTR), HLT];
    const cpu = runClean(code, (c) => {
      c.mem.load(PTR, [...d(TARGET), ...d(0), ...w(LONG.CODE64)]);
      c.mem.load(TARGET, [0x48, 0xbb, ...d(7), ...d(0), 0x48, 0xcb]); // mov rbx, 7; retfq
    });
    expect(cpu.regs[EBX]).toBe(7);
    expect(cpu.st[EIP]).toBe(LONG.ENTRY + 9);
    expect(cpu.regs[ESP]).toBe(PM.STACK0);
    expect(read32(cpu, PM.STACK0 - 8)).toBe(LONG.CODE64);
    expect(read32(cpu, PM.STACK0 - 16)).toBe(LONG.ENTRY + 8);
    expect(read32(cpu, PM.STACK0 - 12)).toBe(0);
  });

  it("jmp far to a 64-bit target with a non-canonical offset is #GP(0)", () => {
    const cpu = runFault([0x48, 0xff, ...abs(5, PTR), HLT], (c) => {
      c.mem.load(PTR, [...d(0), ...d(0x8000), ...w(LONG.CODE64)]);
    });
    expect(vector64(cpu)).toBe(13);
    expect(read32(cpu, cpu.regs[ESP]!)).toBe(0);
  });

  /** A 64-bit call gate at GDT selector `sel` to CODE64:target, DPL `dpl`. */
  const gate = (c: X86Cpu, sel: number, target: number, dpl: number, upper = 0) => {
    write32(c, PM.GDT + sel, (LONG.CODE64 << 16) | (target & 0xffff));
    write32(c, PM.GDT + sel + 4, (target & 0xffff_0000) | 0x8c00 | (dpl << 13));
    write32(c, PM.GDT + sel + 8, 0);
    write32(c, PM.GDT + sel + 12, upper);
  };

  it("jmp far through a 64-bit call gate reaches the gate's target", () => {
    const SEL = PM.FREE + 0x20;
    const TARGET = LONG.ENTRY + 0x80;
    const cpu = runClean([0xff, ...abs(5, PTR), HLT], (c) => {
      c.mem.load(PTR, [...d(0), ...w(SEL)]);
      gate(c, SEL, TARGET, 0);
      c.mem.load(TARGET, [0xb8, ...d(7), HLT]); // mov eax, 7; hlt
    });
    expect(cpu.regs[0]).toBe(7);
    expect(cpu.segSel[CS]).toBe(LONG.CODE64);
  });

  it("call far through a call gate pushes cs and rip as quadwords; retfq returns", () => {
    const SEL = PM.FREE + 0x20;
    const TARGET = LONG.ENTRY + 0x80;
    const cpu = runClean([0xff, ...abs(3, PTR), 0xbb, ...d(9), HLT], (c) => {
      c.mem.load(PTR, [...d(0), ...w(SEL)]);
      gate(c, SEL, TARGET, 0);
      c.mem.load(TARGET, [0x48, 0x8b, 0x04, 0x24, 0x48, 0xcb]); // mov rax, [rsp]; retfq
    });
    expect(cpu.regs[0]).toBe(LONG.ENTRY + 7); // the return RIP the call pushed
    expect(cpu.regs[3]).toBe(9);
    expect(cpu.regs[4]).toBe(PM.STACK0);
  });

  it("a call gate whose upper type field is not 0 is #GP(selector)", () => {
    const SEL = PM.FREE + 0x20;
    const cpu = runFault([0xff, ...abs(5, PTR), HLT], (c) => {
      c.mem.load(PTR, [...d(0), ...w(SEL)]);
      gate(c, SEL, LONG.ENTRY, 0, 0x0c00);
    });
    expect(vector64(cpu)).toBe(13);
    expect(read32(cpu, cpu.regs[ESP]!)).toBe(SEL);
  });

  it("call far from ring 3 through a DPL-3 gate switches to RSP0 and pushes SS, RSP, CS, RIP", () => {
    const SEL = PM.FREE + 0x20;
    const KERNEL = 0x2_2000;
    const cpu = longModeRing3([0xff, ...abs(3, PTR), HLT]);
    cpu.mem.load(PTR, [...d(0), ...w(SEL | 3)]);
    gate(cpu, SEL, KERNEL, 3);
    cpu.mem.load(KERNEL, [HLT]);
    run(cpu);
    expect(vector64(cpu)).toBe(-1);
    expect(cpu.st[CPL]).toBe(0);
    const sp = cpu.regs[ESP]!;
    expect(sp).toBe(PM.STACK0 - 32);
    expect(read32(cpu, sp + 8)).toBe(CODE64_3); // old CS
    expect(read32(cpu, sp + 16)).toBe(PM.STACK3); // old RSP
    expect(read32(cpu, sp + 24)).toBe(PM.DATA3); // old SS
    expect(cpu.segSel[SS]).toBe(0); // null SS with RPL 0
  });

  it("retfq to ring 3 pops rsp and ss and runs at CPL 3", () => {
    const code = [
      0x6a,
      PM.DATA3, // push ss
      0x68,
      ...d(PM.STACK3), // push rsp
      0x6a,
      CODE64_3, // push cs
      0x68,
      ...d(USER64), // push rip
      0x48,
      0xcb, // retfq
    ];
    const cpu = longMode(code);
    userSetup64(cpu);
    cpu.mem.load(USER64, [0x48, 0x89, 0xe3, 0x0f, 0x0b]); // mov rbx, rsp; ud2
    run(cpu);
    expect(vector64(cpu)).toBe(6);
    expect(cpu.regs[EBX]).toBe(PM.STACK3);
    expect(read32(cpu, cpu.regs[ESP]! + 8)).toBe(CODE64_3);
  });
});
