import { describe, expect, it } from "vitest";
import {
  ACC,
  exceptionVector,
  PM,
  protectedMode,
  read16,
  read32,
  realMode,
  setIdtGate,
  stackDword,
  write16,
  write32,
  writeDescriptor,
  writeGate,
  writeTss32,
} from "../../test/helpers.js";
import { EXIT_HLT, EXIT_HOOK } from "../cpu.js";
import {
  EV_CR_ACCESS,
  EV_DESC_TABLE,
  EV_EXCEPTION,
  EV_TASK_SWITCH,
  HOOK_EXIT,
  HOOK_PASS,
} from "../hooks.js";
import { getFlags } from "../lazy_flags.js";
import {
  AR_UNUSABLE,
  CR0_PE,
  CR0_TS,
  CS,
  DS,
  EAX,
  EBX,
  ECX,
  EDX,
  ES,
  ESP,
  FLAG_IF,
  FLAG_NT,
  FLAG_VM,
  FLAG_ZF,
  GP_VECTOR,
  LDTR,
  NP_VECTOR,
  SS,
  SS_VECTOR,
  TR,
  TS_VECTOR,
  UD_VECTOR,
} from "../regs.js";
import { CPL, CR0, CR4, DR_BASE, EIP, FLAGS, GDTR_BASE, GDTR_LIMIT, INHIBIT } from "../state.js";

/** Little-endian bytes of a dword / word. */
const d = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const w = (v: number) => [v & 0xff, (v >>> 8) & 0xff];

const HLT = 0xf4;
const MOV_AX = (v: number) => [0x66, 0xb8, ...w(v)];
const MOV_EAX = (v: number) => [0xb8, ...d(v)];

/** Run until HLT; return the exception vector that halted in a stub, or -1. */
function runToHlt(cpu: ReturnType<typeof protectedMode>, budget = 1000): number {
  expect(cpu.run(budget)).toBe(EXIT_HLT);
  return exceptionVector(cpu);
}

/**
 * Run until the first exception and return [vector, error code] as the EV_EXCEPTION hook
 * saw them (the hook claims it, so nothing is delivered).
 */
function firstException(cpu: ReturnType<typeof protectedMode>): number[] {
  let seen: number[] = [];
  cpu.hooks = {
    onEvent: (c, kind) => {
      if (kind !== EV_EXCEPTION) return HOOK_PASS;
      seen = [c.exitInfo[1]!, c.exitInfo[2]!];
      return HOOK_EXIT;
    },
  };
  expect(cpu.run(100)).toBe(EXIT_HOOK);
  return seen;
}

/** The error code an exception stub finds on its (ring-0) stack. */
function errorCode(cpu: ReturnType<typeof protectedMode>): number {
  return stackDword(cpu, 0);
}

describe("segment loads in protected mode", () => {
  it("mov ds,ax with a null selector makes DS unusable", () => {
    const cpu = protectedMode([...MOV_AX(0), 0x8e, 0xd8, 0xa1, ...d(0x100), HLT]);
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
    expect(cpu.segSel[DS]).toBe(0);
    expect(cpu.segAr[DS]! & AR_UNUSABLE).not.toBe(0);
    expect(errorCode(cpu)).toBe(0);
    // The fault is on the `mov eax,[0x100]` after the load.
    expect(stackDword(cpu, 4)).toBe(PM.CODE + 6);
  });

  it("mov ss,ax with a null selector raises #GP(0)", () => {
    const cpu = protectedMode([...MOV_AX(0), 0x8e, 0xd0, HLT]);
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
    expect(errorCode(cpu)).toBe(0);
    expect(cpu.segSel[SS]).toBe(PM.DATA0);
  });

  it("mov ds,ax sets the accessed bit of the descriptor in the GDT", () => {
    const cpu = protectedMode([...MOV_AX(PM.FREE), 0x8e, 0xd8, HLT]);
    writeDescriptor(cpu, PM.FREE, 0x2_0000, 0xfff, 0x92);
    runToHlt(cpu);
    expect(cpu.mem.read8(PM.GDT + PM.FREE + 5)).toBe(0x93);
    expect(cpu.segBase[DS]).toBe(0x2_0000);
    expect(cpu.segLimit[DS]).toBe(0xfff);
  });

  it("mov ds,ax with a not-present segment raises #NP(sel)", () => {
    const cpu = protectedMode([...MOV_AX(PM.FREE), 0x8e, 0xd8, HLT]);
    writeDescriptor(cpu, PM.FREE, 0, 0xfff, 0x12);
    expect(runToHlt(cpu)).toBe(NP_VECTOR);
    expect(errorCode(cpu)).toBe(PM.FREE);
  });

  it("mov ss,ax with a not-present stack raises #SS(sel)", () => {
    const cpu = protectedMode([...MOV_AX(PM.FREE), 0x8e, 0xd0, HLT]);
    writeDescriptor(cpu, PM.FREE, 0, 0xfff, 0x12);
    expect(runToHlt(cpu)).toBe(SS_VECTOR);
    expect(errorCode(cpu)).toBe(PM.FREE);
  });

  it("mov ds,ax beyond the GDT limit raises #GP(sel)", () => {
    const cpu = protectedMode([...MOV_AX(0x2000), 0x8e, 0xd8, HLT]);
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
    expect(errorCode(cpu)).toBe(0x2000);
  });

  it("mov ds,ax at ring 3 with a DPL 0 data segment raises #GP(sel)", () => {
    const cpu = protectedMode([...MOV_AX(PM.DATA0 | 3), 0x8e, 0xd8, HLT], { ring: 3 });
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
    expect(errorCode(cpu)).toBe(PM.DATA0);
  });

  it("mov ds,ax with an execute-only code segment raises #GP(sel)", () => {
    const cpu = protectedMode([...MOV_AX(PM.FREE), 0x8e, 0xd8, HLT]);
    writeDescriptor(cpu, PM.FREE, 0, 0xfff, 0x98);
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
    expect(errorCode(cpu)).toBe(PM.FREE);
  });

  it("mov ds,ax at ring 3 with a readable conforming DPL 0 code segment", () => {
    const cpu = protectedMode([...MOV_AX(PM.FREE | 3), 0x8e, 0xd8, HLT], { ring: 3 });
    writeDescriptor(cpu, PM.FREE, 0, 0xfff, 0x9e);
    cpu.run(2);
    expect(cpu.segSel[DS]).toBe(PM.FREE | 3);
    expect(cpu.st[EIP]).toBe(PM.CODE + 6);
  });

  it("mov ss,ax with RPL != CPL raises #GP(sel)", () => {
    const cpu = protectedMode([...MOV_AX(PM.DATA0 | 1), 0x8e, 0xd0, HLT]);
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
    expect(errorCode(cpu)).toBe(PM.DATA0);
  });

  it("mov ss,ax sets a one-instruction interrupt shadow", () => {
    const cpu = protectedMode([...MOV_AX(PM.DATA0), 0x8e, 0xd0, 0x90, 0x90, HLT]);
    cpu.run(2);
    expect(cpu.st[INHIBIT]).toBe(1);
    cpu.run(1);
    expect(cpu.st[INHIBIT]).toBe(0);
  });

  it("mov cs,ax raises #UD", () => {
    const cpu = protectedMode([...MOV_AX(PM.CODE0), 0x8e, 0xc8, HLT]);
    expect(runToHlt(cpu)).toBe(UD_VECTOR);
  });

  it("lss esp with a non-writable segment raises #GP(sel)", () => {
    const cpu = protectedMode([0x0f, 0xb2, 0x25, ...d(0x6000), HLT]);
    writeDescriptor(cpu, PM.FREE, 0, 0xfffff, 0x90);
    write32(cpu, 0x6000, 0x1234);
    write16(cpu, 0x6004, PM.FREE);
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
    expect(errorCode(cpu)).toBe(PM.FREE);
  });

  it("lss esp,[m] loads SS and ESP", () => {
    const cpu = protectedMode([0x0f, 0xb2, 0x25, ...d(0x6000), HLT]);
    write32(cpu, 0x6000, 0x8800);
    write16(cpu, 0x6004, PM.DATA16);
    runToHlt(cpu);
    expect(cpu.segSel[SS]).toBe(PM.DATA16);
    expect(cpu.regs[ESP]).toBe(0x8800);
  });

  it("les bx,[m] with a 16-bit operand size", () => {
    const cpu = protectedMode([0x66, 0xc4, 0x1d, ...d(0x6000), HLT]);
    cpu.regs[EBX] = 0x5555_0000;
    write16(cpu, 0x6000, 0xbeef);
    write16(cpu, 0x6002, PM.DATA0);
    runToHlt(cpu);
    expect(cpu.regs[EBX]! >>> 0).toBe(0x5555_beef);
    expect(cpu.segSel[ES]).toBe(PM.DATA0);
  });

  it("mov eax,ds zero-extends the selector", () => {
    const cpu = protectedMode([0x8c, 0xd8, HLT]);
    cpu.regs[EAX] = -1;
    runToHlt(cpu);
    expect(cpu.regs[EAX]).toBe(PM.DATA0);
  });

  it("push ds; pop es with a 32-bit operand size", () => {
    const cpu = protectedMode([0x1e, 0x07, HLT]);
    cpu.segSel[ES] = 0;
    runToHlt(cpu);
    expect(cpu.segSel[ES]).toBe(PM.DATA0);
    expect(cpu.regs[ESP]).toBe(PM.STACK0);
  });

  it("pop ss with a DPL 3 segment at ring 0 raises #GP(sel) and leaves ESP", () => {
    const cpu = protectedMode([0x6a, PM.DATA3, 0x17, HLT]);
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
    expect(errorCode(cpu)).toBe(PM.DATA3 & 0xfffc);
    // Frame: error code, EIP, CS, EFLAGS, then the pushed selector still on the stack.
    expect(stackDword(cpu, 16)).toBe(PM.DATA3);
  });

  it("mov ds,ax through the LDT after lldt", () => {
    const LDT = 0x4000;
    const cpu = protectedMode([
      ...MOV_AX(PM.FREE),
      0x0f,
      0x00,
      0xd0, // lldt ax
      ...MOV_AX(0x0c), // LDT index 1
      0x8e,
      0xd8,
      HLT,
    ]);
    writeDescriptor(cpu, PM.FREE, LDT, 0xf, ACC.LDT, 0);
    writeDescriptor(cpu, 0x08, 0x3_0000, 0xffff, 0x92, 0, LDT);
    runToHlt(cpu);
    expect(cpu.segSel[LDTR]).toBe(PM.FREE);
    expect(cpu.segBase[LDTR]).toBe(LDT);
    expect(cpu.segSel[DS]).toBe(0x0c);
    expect(cpu.segBase[DS]).toBe(0x3_0000);
  });
});

describe("segment loads in real mode", () => {
  it("mov ds,ax sets the base to selector × 16", () => {
    const cpu = realMode([0xb8, 0x34, 0x12, 0x8e, 0xd8, HLT]);
    cpu.run(10);
    expect(cpu.segSel[DS]).toBe(0x1234);
    expect(cpu.segBase[DS]).toBe(0x12340);
  });

  it("lds si,[0x200]", () => {
    const cpu = realMode([0xc5, 0x36, 0x00, 0x02, HLT]);
    cpu.mem.load(0x200, [0x78, 0x56, 0x34, 0x12]);
    cpu.run(10);
    expect(cpu.r16[6 << 1]).toBe(0x5678);
    expect(cpu.segBase[DS]).toBe(0x12340);
  });

  it("jmp far 0x1000:0x0010", () => {
    const cpu = realMode([0xea, 0x10, 0x00, 0x00, 0x10]);
    cpu.mem.load(0x10010, [HLT]);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.segSel[CS]).toBe(0x1000);
    expect(cpu.st[EIP]).toBe(0x11);
  });

  it("call far 0x1000:0x0010 then retf", () => {
    const cpu = realMode([0x9a, 0x10, 0x00, 0x00, 0x10, HLT]);
    cpu.mem.load(0x10010, [0xcb]);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.segSel[CS]).toBe(0);
    expect(cpu.st[EIP]).toBe(0x106);
    expect(cpu.regs[ESP]).toBe(0x8000);
  });

  it("iret restores FLAGS, CS and IP", () => {
    const cpu = realMode([0xcf]);
    cpu.regs[ESP] = 0x7ffa;
    cpu.mem.load(0x7ffa, [0x20, 0x00, 0x00, 0x20, 0xc3, 0x08]);
    cpu.mem.load(0x20020, [HLT]);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.segBase[CS]).toBe(0x20000);
    expect(getFlags(cpu.st) & 0xffff).toBe(0x08c3 | 2);
  });

  it("sldt ax in real mode raises #UD", () => {
    const cpu = realMode([0x0f, 0x00, 0xc0]);
    cpu.mem.load(UD_VECTOR * 4, [0x00, 0x03, 0x00, 0x00]);
    cpu.mem.load(0x300, [HLT]);
    cpu.run(10);
    expect(cpu.st[EIP]).toBe(0x301);
  });

  it("mov cr0 sets PE; jmp far loads a protected-mode CS", () => {
    // mov eax,cr0; or al,1; mov cr0,eax; jmp 0x08:0x200
    const cpu = realMode([
      0x0f, 0x20, 0xc0, 0x0c, 0x01, 0x0f, 0x22, 0xc0, 0xea, 0x00, 0x02, 0x08, 0x00,
    ]);
    writeDescriptor(cpu, 0x08, 0, 0xffff, ACC.CODE0, 0);
    cpu.st[GDTR_BASE] = PM.GDT;
    cpu.st[GDTR_LIMIT] = 0xff;
    cpu.mem.load(0x200, [HLT]);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.st[CR0]! & CR0_PE).toBe(CR0_PE);
    expect(cpu.segSel[CS]).toBe(0x08);
    expect(cpu.st[CPL]).toBe(0);
    expect(cpu.st[EIP]).toBe(0x201);
  });
});

describe("far transfers in protected mode", () => {
  it("jmp far to a ring-3 non-conforming segment from ring 0 raises #GP(sel)", () => {
    const cpu = protectedMode([0xea, ...d(0x1_0100), ...w(PM.CODE3), HLT]);
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
    expect(errorCode(cpu)).toBe(PM.CODE3 & 0xfffc);
  });

  it("jmp far 0x30:0x0100 switches to 16-bit code", () => {
    const cpu = protectedMode([0xea, ...d(0x0100), ...w(PM.CODE16)]);
    cpu.mem.load(0x100, [0xb8, 0x34, 0x12, HLT]); // mov ax,0x1234 (16-bit)
    runToHlt(cpu);
    expect(cpu.segSel[CS]).toBe(PM.CODE16);
    expect(cpu.regs[EAX]! & 0xffff).toBe(0x1234);
  });

  it("call far to a conforming ring-0 segment from ring 3 keeps CPL 3", () => {
    const cpu = protectedMode([0x9a, ...d(0x1_0100), ...w(PM.FREE), HLT], { ring: 3 });
    writeDescriptor(cpu, PM.FREE, 0, 0xffff_ffff, 0x9e);
    cpu.mem.load(0x1_0100, [0x90]);
    cpu.run(2);
    expect(cpu.st[CPL]).toBe(3);
    expect(cpu.segSel[CS]).toBe(PM.FREE | 3);
    expect(stackDword(cpu, 0)).toBe(PM.CODE + 7);
    expect(stackDword(cpu, 4)).toBe(PM.CODE3);
  });

  it("call far through a 32-bit call gate to ring 0 switches to the TSS stack", () => {
    // push 0x11; push 0x22; call far gate:0; (ring 0) hlt
    const cpu = protectedMode([0x6a, 0x11, 0x6a, 0x22, 0x9a, ...d(0), ...w(PM.FREE | 3), HLT], {
      ring: 3,
    });
    writeGate(cpu, PM.GDT + PM.FREE, PM.CODE0, 0x1_0100, ACC.CALL_GATE32 | 0x60, 2);
    cpu.mem.load(0x1_0100, [HLT]);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.st[CPL]).toBe(0);
    expect(cpu.segSel[CS]).toBe(PM.CODE0);
    expect(cpu.segSel[SS]).toBe(PM.DATA0);
    expect(cpu.regs[ESP]).toBe(PM.STACK0 - 24);
    expect(stackDword(cpu, 0)).toBe(PM.CODE + 11); // return EIP
    expect(stackDword(cpu, 4)).toBe(PM.CODE3);
    expect(stackDword(cpu, 8)).toBe(0x22); // parameter 0 (last pushed)
    expect(stackDword(cpu, 12)).toBe(0x11);
    expect(stackDword(cpu, 16)).toBe(PM.STACK3 - 8); // old ESP
    expect(stackDword(cpu, 20)).toBe(PM.DATA3);
  });

  it("call far through a call gate, then retf 8 back to ring 3", () => {
    const cpu = protectedMode([0x6a, 0x11, 0x6a, 0x22, 0x9a, ...d(0), ...w(PM.FREE | 3), HLT], {
      ring: 3,
    });
    writeGate(cpu, PM.GDT + PM.FREE, PM.CODE0, 0x1_0100, ACC.CALL_GATE32 | 0x60, 2);
    cpu.mem.load(0x1_0100, [0xca, 0x08, 0x00]); // retf 8
    cpu.run(4);
    expect(cpu.st[CPL]).toBe(3);
    expect(cpu.segSel[CS]).toBe(PM.CODE3);
    expect(cpu.segSel[SS]).toBe(PM.DATA3);
    expect(cpu.regs[ESP]).toBe(PM.STACK3);
    expect(cpu.st[EIP]).toBe(PM.CODE + 11);
  });

  it("call far through a call gate with DPL 0 from ring 3 raises #GP(sel)", () => {
    const cpu = protectedMode([0x9a, ...d(0), ...w(PM.FREE | 3), HLT], { ring: 3 });
    writeGate(cpu, PM.GDT + PM.FREE, PM.CODE0, 0x1_0100, ACC.CALL_GATE32, 0);
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
    expect(errorCode(cpu)).toBe(PM.FREE);
  });

  it("call far through a call gate with a bad TSS SS0 raises #TS(sel)", () => {
    const cpu = protectedMode([0x9a, ...d(0), ...w(PM.FREE | 3), HLT], { ring: 3 });
    writeGate(cpu, PM.GDT + PM.FREE, PM.CODE0, 0x1_0100, ACC.CALL_GATE32 | 0x60, 0);
    write32(cpu, PM.TSS + 8, PM.DATA3); // SS0 = a ring-3 segment
    expect(firstException(cpu)).toEqual([TS_VECTOR, PM.DATA3 & 0xfffc]);
    expect(cpu.st[CPL]).toBe(3);
    expect(cpu.st[EIP]).toBe(PM.CODE);
  });

  it("retf to ring 3 nulls DS with DPL 0", () => {
    // push 0x23; push STACK3; push 0x1b; push target; retf
    const cpu = protectedMode([
      0x6a,
      PM.DATA3,
      0x68,
      ...d(PM.STACK3),
      0x6a,
      PM.CODE3,
      0x68,
      ...d(0x1_0100),
      0xcb,
    ]);
    cpu.mem.load(0x1_0100, [0x90, HLT]);
    cpu.run(6);
    expect(cpu.st[CPL]).toBe(3);
    expect(cpu.st[EIP]).toBe(0x1_0101);
    expect(cpu.segSel[DS]).toBe(0);
    expect(cpu.segAr[DS]! & AR_UNUSABLE).not.toBe(0);
    expect(cpu.segSel[ES]).toBe(0);
    expect(cpu.segSel[SS]).toBe(PM.DATA3);
    expect(cpu.regs[ESP]).toBe(PM.STACK3);
  });

  it("retf to ring 3 keeps DS with DPL 3", () => {
    const cpu = protectedMode([
      ...MOV_AX(PM.DATA3),
      0x8e,
      0xd8,
      0x6a,
      PM.DATA3,
      0x68,
      ...d(PM.STACK3),
      0x6a,
      PM.CODE3,
      0x68,
      ...d(0x1_0100),
      0xcb,
    ]);
    cpu.mem.load(0x1_0100, [0x90]);
    cpu.run(7);
    expect(cpu.st[CPL]).toBe(3);
    expect(cpu.segSel[DS]).toBe(PM.DATA3);
  });

  it("retf to ring 0 from ring 3 raises #GP(sel)", () => {
    const cpu = protectedMode([0x6a, PM.CODE0, 0x68, ...d(0x1_0100), 0xcb], { ring: 3 });
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
    expect(errorCode(cpu)).toBe(PM.CODE0);
  });

  it("int 0x80 from ring 3 through a trap gate", () => {
    const cpu = protectedMode([0xcd, 0x80, HLT], { ring: 3 });
    setIdtGate(cpu, 0x80, PM.CODE0, 0x1_0100, ACC.TRAP_GATE32 | 0x60);
    cpu.mem.load(0x1_0100, [HLT]);
    cpu.setEflags(FLAG_IF | 2);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.st[CPL]).toBe(0);
    expect(cpu.st[EIP]).toBe(0x1_0101);
    expect(cpu.st[FLAGS]! & FLAG_IF).toBe(FLAG_IF); // a trap gate leaves IF
    expect(cpu.segSel[SS]).toBe(PM.DATA0);
    expect(stackDword(cpu, 0)).toBe(PM.CODE + 2);
    expect(stackDword(cpu, 4)).toBe(PM.CODE3);
    expect(stackDword(cpu, 8) & FLAG_IF).toBe(FLAG_IF);
    expect(stackDword(cpu, 12)).toBe(PM.STACK3);
    expect(stackDword(cpu, 16)).toBe(PM.DATA3);
  });

  it("int 0x80 through a gate to a code descriptor not yet accessed sets its accessed bit", () => {
    const cpu = protectedMode([0xcd, 0x80, HLT]);
    // A ring-0 32-bit code segment whose type is 0xA (execute/read, accessed bit clear).
    writeDescriptor(cpu, PM.FREE, 0, 0xf_ffff, 0x9a, 0xc);
    setIdtGate(cpu, 0x80, PM.FREE, 0x1_0100, ACC.INT_GATE32);
    cpu.mem.load(0x1_0100, [HLT]);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.segSel[CS]).toBe(PM.FREE);
    expect(cpu.mem.read8(PM.GDT + PM.FREE + 5)).toBe(0x9b);
    // …and in CS's cache: a VMCS would store AR 0xc09b, which VM entry accepts.
    expect(cpu.segAr[CS]! & 0xff).toBe(0x9b);
  });

  it("int 0x80 from ring 3 through a DPL 0 gate raises #GP(vector·8+2)", () => {
    const cpu = protectedMode([0xcd, 0x80, HLT], { ring: 3 });
    setIdtGate(cpu, 0x80, PM.CODE0, 0x1_0100, ACC.TRAP_GATE32);
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
    expect(errorCode(cpu)).toBe(0x80 * 8 + 2);
  });

  it("iret back to ring 3", () => {
    // int 0x80 (ring 3) → handler: iretd → ring 3 again: hlt is privileged, so use nop; hlt
    const cpu = protectedMode([0xcd, 0x80, 0x90, HLT], { ring: 3 });
    setIdtGate(cpu, 0x80, PM.CODE0, 0x1_0100, ACC.INT_GATE32 | 0x60);
    cpu.mem.load(0x1_0100, [0xcf]);
    cpu.setEflags(FLAG_IF | 2);
    cpu.run(3);
    expect(cpu.st[CPL]).toBe(3);
    expect(cpu.st[EIP]).toBe(PM.CODE + 3);
    expect(cpu.segSel[CS]).toBe(PM.CODE3);
    expect(cpu.segSel[SS]).toBe(PM.DATA3);
    expect(cpu.regs[ESP]).toBe(PM.STACK3);
    expect(cpu.st[FLAGS]! & FLAG_IF).toBe(FLAG_IF);
    // HLT at ring 3: #GP(0).
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
  });

  it("o16 iret at the same privilege pops 16-bit IP, CS and FLAGS", () => {
    // push word 0x0202; push word 0x08; push word 0x0100; o16 iret
    const cpu = protectedMode([
      0x66, 0x68, 0x02, 0x02, 0x66, 0x6a, 0x08, 0x66, 0x68, 0x00, 0x01, 0x66, 0xcf,
    ]);
    cpu.mem.load(0x100, [HLT]);
    expect(runToHlt(cpu)).toBe(-1);
    expect(cpu.st[EIP]).toBe(0x101);
    expect(cpu.regs[ESP]).toBe(PM.STACK0);
    expect(cpu.st[FLAGS]! & FLAG_IF).toBe(FLAG_IF);
  });

  it("o16 retf at the same privilege", () => {
    const cpu = protectedMode([0x66, 0x6a, 0x08, 0x66, 0x68, 0x00, 0x01, 0x66, 0xcb]);
    cpu.mem.load(0x100, [HLT]);
    expect(runToHlt(cpu)).toBe(-1);
    expect(cpu.st[EIP]).toBe(0x101);
    expect(cpu.regs[ESP]).toBe(PM.STACK0);
  });

  it("iret at ring 3 cannot change IOPL or IF when CPL > IOPL", () => {
    // push eflags image with IOPL=3, IF=1; push cs; push eip; iretd
    const cpu = protectedMode(
      [0x68, ...d(0x3202), 0x6a, PM.CODE3, 0x68, ...d(PM.CODE + 13), 0xcf, 0x90],
      { ring: 3 },
    );
    cpu.run(5);
    expect(cpu.st[EIP]).toBe(PM.CODE + 14);
    expect(cpu.st[FLAGS]! & (FLAG_IF | 0x3000)).toBe(0);
  });

  it("iretd to VM86 mode loads real-mode style segments", () => {
    const frame = [0x0100, 0x2000, FLAG_VM | 2, 0x0800, 0x3000, 0x4000, 0x5000, 0, 0];
    const pushes = frame
      .slice()
      .reverse()
      .flatMap((v) => [0x68, ...d(v)]);
    const cpu = protectedMode([...pushes, 0xcf]);
    cpu.mem.load(0x2_0100, [0x90]);
    cpu.run(frame.length + 1);
    expect(cpu.st[FLAGS]! & FLAG_VM).toBe(FLAG_VM);
    expect(cpu.st[CPL]).toBe(3);
    expect(cpu.segBase[CS]).toBe(0x2_0000);
    expect(cpu.segBase[SS]).toBe(0x3_0000);
    expect(cpu.segBase[ES]).toBe(0x4_0000);
    expect(cpu.segBase[DS]).toBe(0x5_0000);
    expect(cpu.regs[ESP]).toBe(0x0800);
    cpu.run(1);
    expect(cpu.st[EIP]).toBe(0x0101);
  });

  it("VM86 segments, CS too, are DPL 3 read/write data (0xF3): a write through CS lands", () => {
    // guest-fuzz: a VM exit saved CS as code (0xFB) in VM86 mode and VM entry refused it.
    const frame = [0x0100, 0x2000, FLAG_VM | 2, 0x0800, 0x3000, 0x4000, 0x5000, 0, 0];
    const pushes = frame
      .slice()
      .reverse()
      .flatMap((v) => [0x68, ...d(v)]);
    const cpu = protectedMode([...pushes, 0xcf]);
    cpu.mem.load(0x2_0100, [0x2e, 0xc6, 0x06, ...w(0x0200), 0x5a]); // mov byte cs:[0x200], 0x5a
    cpu.run(frame.length + 2);
    for (const s of [CS, SS, ES, DS]) expect(cpu.segAr[s]! & 0xffff).toBe(0xf3);
    expect(cpu.st[EIP]).toBe(0x0106);
    expect(cpu.mem.read8(0x2_0200)).toBe(0x5a);
  });

  it("hlt in VM86 mode raises #GP(0) into ring 0 with the VM86 segments on the stack", () => {
    const frame = [0x0100, 0x2000, FLAG_VM | 2, 0x0800, 0x3000, 0x4000, 0x5000, 0x6000, 0x7000];
    const pushes = frame
      .slice()
      .reverse()
      .flatMap((v) => [0x68, ...d(v)]);
    const cpu = protectedMode([...pushes, 0xcf]);
    cpu.mem.load(0x2_0100, [HLT]);
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
    expect(cpu.st[CPL]).toBe(0);
    expect(cpu.st[FLAGS]! & FLAG_VM).toBe(0);
    expect(cpu.segSel[DS]).toBe(0);
    expect(cpu.segAr[ES]! & AR_UNUSABLE).not.toBe(0);
    expect(cpu.regs[ESP]).toBe(PM.STACK0 - 40);
    const pushed = Array.from({ length: 10 }, (_, k) => stackDword(cpu, 4 * k));
    expect(pushed).toEqual([
      0,
      0x100,
      0x2000,
      FLAG_VM | 2,
      0x800,
      0x3000,
      0x4000,
      0x5000,
      0x6000,
      0x7000,
    ]);
  });
});

describe("task switches", () => {
  /** A second task at PM.TSS2 (selector FREE) running `code` at 0x1_0100, ring 0. */
  function twoTasks(code: number[], caller: number[], gate = false) {
    const cpu = protectedMode(caller);
    writeDescriptor(cpu, PM.FREE, PM.TSS2, 0x67, ACC.TSS32, 0);
    writeTss32(cpu, PM.TSS2, {
      eip: 0x1_0100,
      eflags: 2,
      regs: [0x1111, 0x2222, 0x3333, 0x4444, 0x8800, 0x6666, 0x7777, 0x8888],
      cs: PM.CODE0,
      ss: PM.DATA0,
      ds: PM.DATA0,
      es: PM.DATA0,
    });
    if (gate) writeGate(cpu, PM.GDT + PM.FREE + 8, PM.FREE, 0, ACC.TASK_GATE);
    cpu.mem.load(0x1_0100, code);
    return cpu;
  }

  it("jmp to a TSS switches tasks", () => {
    const cpu = twoTasks([HLT], [0xb8, ...d(0xabcd), 0xea, ...d(0), ...w(PM.FREE)]);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.segSel[TR]).toBe(PM.FREE);
    expect(cpu.st[EIP]).toBe(0x1_0101);
    expect(cpu.regs[EAX]).toBe(0x1111);
    expect(cpu.regs[ESP]).toBe(0x8800);
    expect(cpu.st[CR0]! & CR0_TS).toBe(CR0_TS);
    expect(cpu.st[FLAGS]! & FLAG_NT).toBe(0);
    // The old task's state was saved and its TSS is no longer busy; the new one is.
    expect(read32(cpu, PM.TSS + 0x20)).toBe(PM.CODE + 12);
    expect(read32(cpu, PM.TSS + 0x28)).toBe(0xabcd);
    expect(cpu.mem.read8(PM.GDT + PM.TSS_SEL + 5)).toBe(0x89);
    expect(cpu.mem.read8(PM.GDT + PM.FREE + 5)).toBe(0x8b);
  });

  it("call to a TSS nests; iret returns to the caller", () => {
    const cpu = twoTasks([0xcf], [0x9a, ...d(0), ...w(PM.FREE), 0x90, HLT]);
    cpu.run(1);
    expect(cpu.segSel[TR]).toBe(PM.FREE);
    expect(cpu.st[FLAGS]! & FLAG_NT).toBe(FLAG_NT);
    expect(read16(cpu, PM.TSS2)).toBe(PM.TSS_SEL);
    expect(cpu.mem.read8(PM.GDT + PM.TSS_SEL + 5)).toBe(0x8b); // still busy
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.segSel[TR]).toBe(PM.TSS_SEL);
    expect(cpu.st[EIP]).toBe(PM.CODE + 9);
    expect(cpu.regs[ESP]).toBe(PM.STACK0);
    expect(cpu.mem.read8(PM.GDT + PM.FREE + 5)).toBe(0x89); // no longer busy
    expect(read32(cpu, PM.TSS2 + 0x24) & FLAG_NT).toBe(0);
  });

  it("jmp through a task gate switches tasks", () => {
    const cpu = twoTasks([HLT], [0xea, ...d(0), ...w(PM.FREE + 8)], true);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.segSel[TR]).toBe(PM.FREE);
  });

  it("jmp to a busy TSS raises #GP(sel)", () => {
    const cpu = protectedMode([0xea, ...d(0), ...w(PM.TSS_SEL)]);
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
    expect(errorCode(cpu)).toBe(PM.TSS_SEL);
  });

  it("#GP through a task gate in the IDT pushes the error code on the new task's stack", () => {
    const cpu = twoTasks([HLT], [...MOV_AX(PM.FREE), 0x8e, 0xd8], true);
    setIdtGate(cpu, GP_VECTOR, PM.FREE, 0, ACC.TASK_GATE);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.segSel[TR]).toBe(PM.FREE);
    expect(cpu.regs[ESP]).toBe(0x8800 - 4);
    expect(stackDword(cpu, 0)).toBe(PM.FREE);
    expect(cpu.st[FLAGS]! & FLAG_NT).toBe(FLAG_NT);
    // The old task resumes at the faulting instruction.
    expect(read32(cpu, PM.TSS + 0x20)).toBe(PM.CODE + 4);
  });

  it("a task switch to a TSS with a bad SS raises #TS(sel) in the new task", () => {
    const cpu = twoTasks([HLT], [0xea, ...d(0), ...w(PM.FREE)]);
    write32(cpu, PM.TSS2 + 0x50, PM.CODE0); // SS = a code segment
    expect(firstException(cpu)).toEqual([TS_VECTOR, PM.CODE0]);
    expect(cpu.segSel[TR]).toBe(PM.FREE);
    expect(cpu.st[EIP]).toBe(0x1_0100);
    expect(cpu.segSel[SS]).toBe(PM.CODE0);
  });

  it("the EV_TASK_SWITCH hook sees the switch first", () => {
    const cpu = twoTasks([HLT], [0xea, ...d(0), ...w(PM.FREE)]);
    const seen: number[] = [];
    cpu.hooks = {
      onEvent: (c, kind) => {
        if (kind !== EV_TASK_SWITCH) return HOOK_PASS;
        seen.push(c.exitInfo[1]!, c.exitInfo[2]!);
        return HOOK_EXIT;
      },
    };
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(seen).toEqual([PM.FREE, 2]);
    expect(cpu.segSel[TR]).toBe(PM.TSS_SEL);
    expect(cpu.st[EIP]).toBe(PM.CODE);
  });
});

describe("system instructions", () => {
  it("lgdt [m]; sgdt [m] round trip", () => {
    const cpu = protectedMode([
      0x0f,
      0x01,
      0x15,
      ...d(0x6000),
      0x0f,
      0x01,
      0x05,
      ...d(0x6010),
      HLT,
    ]);
    write16(cpu, 0x6000, 0x0fff);
    write32(cpu, 0x6002, PM.GDT);
    runToHlt(cpu);
    expect(read16(cpu, 0x6010)).toBe(0x0fff);
    expect(read32(cpu, 0x6012)).toBe(PM.GDT);
  });

  it("lgdt with a 16-bit operand size loads a 24-bit base", () => {
    const cpu = protectedMode([0x66, 0x0f, 0x01, 0x15, ...d(0x6000), HLT]);
    write16(cpu, 0x6000, 0x0fff);
    write32(cpu, 0x6002, 0xff00_1000);
    runToHlt(cpu);
    expect(cpu.st[GDTR_BASE]).toBe(0x1000);
  });

  it("lidt at ring 3 raises #GP(0)", () => {
    const cpu = protectedMode([0x0f, 0x01, 0x1d, ...d(0x6000), HLT], { ring: 3 });
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
    expect(errorCode(cpu)).toBe(0);
  });

  it("lgdt is reported to the EV_DESC_TABLE hook", () => {
    const cpu = protectedMode([0x0f, 0x01, 0x15, ...d(0x6000), HLT]);
    cpu.hooks = {
      onEvent: (c, kind) => (kind === EV_DESC_TABLE && c.exitInfo[1] === 2 ? HOOK_EXIT : HOOK_PASS),
    };
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(cpu.st[GDTR_BASE]).toBe(PM.GDT);
    expect(cpu.st[EIP]).toBe(PM.CODE);
  });

  it("ltr ax marks the TSS busy; str ax reads it back", () => {
    const cpu = protectedMode([...MOV_AX(PM.FREE), 0x0f, 0x00, 0xd8, 0x0f, 0x00, 0xc9, HLT]);
    writeDescriptor(cpu, PM.FREE, PM.TSS2, 0x67, ACC.TSS32, 0);
    runToHlt(cpu);
    expect(cpu.segSel[TR]).toBe(PM.FREE);
    expect(cpu.segBase[TR]).toBe(PM.TSS2);
    expect(cpu.mem.read8(PM.GDT + PM.FREE + 5)).toBe(0x8b);
    expect(cpu.regs[ECX]).toBe(PM.FREE);
  });

  it("ltr ax with a busy TSS raises #GP(sel)", () => {
    const cpu = protectedMode([...MOV_AX(PM.TSS_SEL), 0x0f, 0x00, 0xd8, HLT]);
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
    expect(errorCode(cpu)).toBe(PM.TSS_SEL);
  });

  it("lldt ax with a null selector makes LDTR unusable", () => {
    const cpu = protectedMode([0x31, 0xc0, 0x0f, 0x00, 0xd0, HLT]);
    runToHlt(cpu);
    expect(cpu.segAr[LDTR]! & AR_UNUSABLE).not.toBe(0);
  });

  it("lar eax,ecx for ring-0 code", () => {
    const cpu = protectedMode([0x0f, 0x02, 0xc1, HLT]);
    cpu.regs[ECX] = PM.CODE0;
    runToHlt(cpu);
    expect(cpu.st[FLAGS]! & FLAG_ZF).toBe(FLAG_ZF);
    expect(cpu.regs[EAX]! >>> 0).toBe(0x00cf_9a00);
  });

  it("lar eax,ecx at ring 3 on a DPL 0 segment clears ZF", () => {
    const cpu = protectedMode([0x0f, 0x02, 0xc1, 0x9c, HLT], { ring: 3 });
    cpu.regs[ECX] = PM.DATA0;
    cpu.regs[EAX] = 0x77;
    cpu.run(2);
    expect(cpu.st[FLAGS]! & FLAG_ZF).toBe(0);
    expect(cpu.regs[EAX]).toBe(0x77);
  });

  it("lar eax,ecx with a selector beyond the GDT clears ZF without faulting", () => {
    const cpu = protectedMode([0x0f, 0x02, 0xc1, HLT]);
    cpu.regs[ECX] = 0xfff8;
    expect(runToHlt(cpu)).toBe(-1);
    expect(cpu.st[FLAGS]! & FLAG_ZF).toBe(0);
  });

  it("lsl eax,ecx with a page-granular limit", () => {
    const cpu = protectedMode([0x0f, 0x03, 0xc1, HLT]);
    cpu.regs[ECX] = PM.DATA0;
    runToHlt(cpu);
    expect(cpu.regs[EAX]).toBe(-1);
    expect(cpu.st[FLAGS]! & FLAG_ZF).toBe(FLAG_ZF);
  });

  it("lsl eax,ecx on a call gate clears ZF", () => {
    const cpu = protectedMode([0x0f, 0x03, 0xc1, HLT]);
    writeGate(cpu, PM.GDT + PM.FREE, PM.CODE0, 0, ACC.CALL_GATE32);
    cpu.regs[ECX] = PM.FREE;
    runToHlt(cpu);
    expect(cpu.st[FLAGS]! & FLAG_ZF).toBe(0);
  });

  it("verr/verw ax on a read-only data segment", () => {
    // verr ax; setz bl; verw ax; setz bh
    const cpu = protectedMode([
      0x0f,
      0x00,
      0xe0,
      0x0f,
      0x94,
      0xc3,
      0x0f,
      0x00,
      0xe8,
      0x0f,
      0x94,
      0xc7,
      HLT,
    ]);
    writeDescriptor(cpu, PM.FREE, 0, 0xfff, 0x90);
    cpu.regs[EAX] = PM.FREE;
    runToHlt(cpu);
    expect(cpu.regs[EBX]! & 0xffff).toBe(0x0001);
  });

  it("arpl ax,cx raises the RPL", () => {
    const cpu = protectedMode([0x63, 0xc8, HLT]);
    cpu.regs[EAX] = 0x10;
    cpu.regs[ECX] = 0x23;
    runToHlt(cpu);
    expect(cpu.regs[EAX]).toBe(0x13);
    expect(cpu.st[FLAGS]! & FLAG_ZF).toBe(FLAG_ZF);
  });

  it("smsw ax; lmsw ax cannot clear PE", () => {
    // smsw ax; and al,0xfe; lmsw ax
    const cpu = protectedMode([0x0f, 0x01, 0xe0, 0x24, 0xfe, 0x0f, 0x01, 0xf0, HLT]);
    runToHlt(cpu);
    expect(cpu.st[CR0]! & CR0_PE).toBe(CR0_PE);
  });

  it("clts clears CR0.TS; reported to the EV_CR_ACCESS hook", () => {
    const cpu = protectedMode([0x0f, 0x06, HLT]);
    cpu.st[CR0] = cpu.st[CR0]! | CR0_TS;
    const kinds: number[] = [];
    cpu.hooks = {
      onEvent: (c, kind) => {
        if (kind === EV_CR_ACCESS) kinds.push(c.exitInfo[2]!);
        return HOOK_PASS;
      },
    };
    runToHlt(cpu);
    expect(cpu.st[CR0]! & CR0_TS).toBe(0);
    expect(kinds).toEqual([2]);
  });

  it("mov eax,cr0 at ring 3 raises #GP(0)", () => {
    const cpu = protectedMode([0x0f, 0x20, 0xc0, HLT], { ring: 3 });
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
    expect(errorCode(cpu)).toBe(0);
  });

  it("mov cr0,eax with PG but not PE raises #GP(0)", () => {
    const cpu = protectedMode([...MOV_EAX(0x8000_0010), 0x0f, 0x22, 0xc0, HLT]);
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
  });

  it("mov cr4,eax with a reserved bit raises #GP(0)", () => {
    const cpu = protectedMode([...MOV_EAX(1 << 25), 0x0f, 0x22, 0xe0, HLT]);
    expect(runToHlt(cpu)).toBe(GP_VECTOR);
    expect(cpu.st[CR4]).toBe(0);
  });

  it("mov eax,cr1 raises #UD", () => {
    const cpu = protectedMode([0x0f, 0x20, 0xc8, HLT]);
    expect(runToHlt(cpu)).toBe(UD_VECTOR);
  });

  it("mov cr0,eax clearing PE returns to real mode with CPL 0", () => {
    const cpu = protectedMode([0x0f, 0x20, 0xc0, 0x24, 0xfe, 0x0f, 0x22, 0xc0, HLT]);
    cpu.run(3);
    expect(cpu.st[CR0]! & CR0_PE).toBe(0);
    expect(cpu.st[CPL]).toBe(0);
  });

  it("mov dr7,eax; mov edx,dr5 reads DR7 through the alias", () => {
    const cpu = protectedMode([
      ...MOV_EAX(0x0000_0401 | 0),
      0x0f,
      0x23,
      0xf8,
      0x0f,
      0x21,
      0xea,
      HLT,
    ]);
    runToHlt(cpu);
    expect(cpu.st[DR_BASE + 7]).toBe(0x401);
    expect(cpu.regs[EDX]).toBe(0x401);
  });

  it("mov eax,dr4 with CR4.DE raises #UD", () => {
    const cpu = protectedMode([0x0f, 0x21, 0xe0, HLT]);
    cpu.st[CR4] = 1 << 3;
    expect(runToHlt(cpu)).toBe(UD_VECTOR);
  });
});
