/**
 * Entering IA-32e mode the way a boot loader does it (SDM Vol. 3 §9.8.5): from 32-bit
 * protected mode, CR3 = PML4, CR4.PAE, EFER.LME, CR0.PG (EFER.LMA follows; compatibility
 * mode), then a far jump to a 64-bit code segment. The 64-bit code then runs, and an
 * exception in it goes through a 64-bit IDT gate.
 */
import { describe, expect, it } from "vitest";
import {
  LONG,
  longMode,
  longModeRing3,
  PM,
  read32,
  realMode,
  vector64,
  write32,
} from "../test/helpers.js";

const { CODE64, STUBS64 } = LONG;
const R8 = 8;
const R9 = 9;
const R10 = 10;

import { EXIT_HLT, EXIT_SHUTDOWN } from "./cpu.js";
import { EV_VMCALL, HOOK_DONE, HOOK_PASS } from "./hooks.js";
import { CS, EBX, ECX, EDX, EFER_LMA, ESP, FS } from "./regs.js";
import { CPL, EFER, EIP, HALTED, RIP_HI } from "./state.js";

const d = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

describe("IA-32e mode", () => {
  it("real → protected → paged → long mode: 64-bit registers, stack, calls and loops", () => {
    const code = [
      0x48,
      0xb8,
      ...d(0x8000_0000),
      ...d(1), // mov rax, 0x1_8000_0000
      0x48,
      0x01,
      0xc0, // add rax, rax        → 0x3_0000_0000
      0x49,
      0x89,
      0xc0, // mov r8, rax
      0x50,
      0x59, // push rax; pop rcx
      0xe8,
      ...d(13), // call f (13 bytes on)
      0x41,
      0xba,
      ...d(5), // mov r10d, 5
      0x49,
      0xff,
      0xca, // l: dec r10
      0x75,
      0xfb, // jnz l
      0xf4, // hlt
      0x90,
      0x90, // (padding)
      0x49,
      0xff,
      0xc1, // f: inc r9
      0x48,
      0x8d,
      0x1d,
      ...d(0x10), // lea rbx, [rip + 0x10]
      0xc3, // ret
    ];
    const cpu = longMode(code);
    expect(cpu.run(1000)).toBe(EXIT_HLT);
    expect(vector64(cpu)).toBe(-1);
    expect(cpu.st[EFER]! & EFER_LMA).toBe(EFER_LMA);
    expect([cpu.regs[0], cpu.regsHi[0]]).toEqual([0, 3]);
    expect([cpu.regs[R8], cpu.regsHi[R8]]).toEqual([0, 3]);
    expect([cpu.regs[ECX], cpu.regsHi[ECX]]).toEqual([0, 3]);
    expect(cpu.regs[R9]).toBe(1);
    expect(cpu.regs[R10]).toBe(0);
    // lea rbx,[rip+0x10] at offset 40 of the code (7 bytes): next RIP + 0x10.
    expect(cpu.regs[EBX]).toBe(PM.CODE + 0x100 + 40 + 7 + 0x10);
    expect(cpu.st[RIP_HI]).toBe(0);
    expect(cpu.regs[ESP]).toBe(PM.STACK0);
  });

  it("a 32-bit result zero-extends (mov eax, -1 after mov rax, -1 … ) and 16-bit ones do not", () => {
    const code = [
      0x48,
      0xc7,
      0xc0,
      ...d(-1), // mov rax, -1 (sign-extended imm32)
      0x48,
      0xc7,
      0xc2,
      ...d(-1), // mov rdx, -1
      0xb8,
      ...d(7), // mov eax, 7           → rax = 7
      0x66,
      0xba,
      0x07,
      0x00, // mov dx, 7   → rdx = 0xffff_ffff_ffff_0007
      0xf4,
    ];
    const cpu = longMode(code);
    expect(cpu.run(1000)).toBe(EXIT_HLT);
    expect([cpu.regs[0], cpu.regsHi[0]]).toEqual([7, 0]);
    expect([cpu.regs[EDX]! >>> 0, cpu.regsHi[EDX]]).toEqual([0xffff_0007, -1]);
  });

  it("ud2 in 64-bit mode goes through the 64-bit IDT with an 8-byte frame of SS, RSP, RFLAGS, CS, RIP", () => {
    const code = [0x90, 0x0f, 0x0b];
    const cpu = longMode(code);
    expect(cpu.run(1000)).toBe(EXIT_HLT);
    expect(vector64(cpu)).toBe(6);
    const sp = cpu.regs[ESP]!;
    // RSP was aligned down to 16 first, then five quadwords pushed.
    expect(sp).toBe(((PM.STACK0 & ~15) - 40) >>> 0);
    expect(read32(cpu, sp)).toBe(PM.CODE + 0x100 + 1); // RIP of ud2
    expect(read32(cpu, sp + 8)).toBe(CODE64); // CS
    expect(read32(cpu, sp + 24)).toBe(PM.STACK0); // old RSP
  });

  it("iretq returns from the handler to the instruction after an int3-like fault frame", () => {
    // #BP handler (vector 3): iretq. Then the code goes on to hlt.
    const cpu = longMode([0xcc, 0xf4]);
    cpu.mem.load(STUBS64 + 16 * 3, [0x48, 0xcf]);
    // INT3 has no 64-bit handler yet: it decodes as #UD. Use the #UD stub's own path:
    // point vector 6 at an iretq that skips the 1-byte instruction.
    cpu.mem.load(STUBS64 + 16 * 6, [0x48, 0x83, 0x04, 0x24, 0x01, 0x48, 0xcf]); // add qword [rsp],1; iretq
    expect(cpu.run(1000)).toBe(EXIT_HLT);
    expect(cpu.st[EIP]).toBe(PM.CODE + 0x100 + 2);
    expect(cpu.regs[ESP]).toBe(PM.STACK0);
  });

  it("pop qword [0x500000] faults (#PF) with RSP as it was before the pop", () => {
    // push rax; pop qword [0x500000] (not mapped: the fixture maps 0–4 MiB).
    const cpu = longMode([0x50, 0x8f, 0x04, 0x25, ...d(0x50_0000), 0xf4]);
    expect(cpu.run(1000)).toBe(EXIT_HLT);
    expect(vector64(cpu)).toBe(14);
    // Frame: error code, RIP, CS, RFLAGS, RSP (the interrupted one), SS.
    expect(read32(cpu, cpu.regs[ESP]! + 32)).toBe(PM.STACK0 - 8);
  });

  it("leave with RBP on a missing page faults without changing RSP", () => {
    // mov rbp, 0x500000; leave
    const cpu = longMode([0x48, 0xc7, 0xc5, ...d(0x50_0000), 0xc9, 0xf4]);
    expect(cpu.run(1000)).toBe(EXIT_HLT);
    expect(vector64(cpu)).toBe(14);
    expect(read32(cpu, cpu.regs[ESP]! + 8)).toBe(LONG.ENTRY + 7); // RIP of leave
    expect(read32(cpu, cpu.regs[ESP]! + 32)).toBe(PM.STACK0);
  });

  it("xlat reads [rbx + al]; vmcall reaches the hook in 64-bit mode", () => {
    // mov ebx, 0x30000; mov al, 5; xlat; vmcall; hlt
    const cpu = longMode([0xbb, ...d(0x3_0000), 0xb0, 0x05, 0xd7, 0x0f, 0x01, 0xc1, 0xf4]);
    cpu.mem.load(0x3_0005, [0x77]);
    let calls = 0;
    cpu.hooks = {
      onEvent: (_cpu, kind) => {
        if (kind !== EV_VMCALL) return HOOK_PASS;
        calls++;
        return HOOK_DONE;
      },
    };
    expect(cpu.run(1000)).toBe(EXIT_HLT);
    expect(vector64(cpu)).toBe(-1);
    expect(cpu.regs[0]! & 0xff).toBe(0x77);
    expect(calls).toBe(1);
  });

  it("lfs rax, [0x30000] loads an 8-byte offset and a selector (REX.W: m16:64)", () => {
    const cpu = longMode([0x48, 0x0f, 0xb4, 0x04, 0x25, ...d(0x3_0000), 0xf4]);
    cpu.mem.load(0x3_0000, [...d(0x1234_5678), ...d(9), PM.DATA0, 0]);
    expect(cpu.run(1000)).toBe(EXIT_HLT);
    expect(vector64(cpu)).toBe(-1);
    expect([cpu.regs[0]! >>> 0, cpu.regsHi[0]]).toEqual([0x1234_5678, 9]);
    expect(cpu.segSel[FS]).toBe(PM.DATA0);
  });

  it("a boot loader's path: real → protected → paged long mode → compatibility mode", () => {
    // Real mode at 0000:1000. GDT at 0x800: null, 32-bit code 0x08, data 0x10, 64-bit
    // code 0x18; GDTR image at 0x900. Page tables as the fixture's, 2 MiB pages.
    const PM32 = 0x1100;
    const LM64 = 0x1200;
    const COMPAT = 0x1300;
    const real = [
      0x0f,
      0x01,
      0x16,
      0x00,
      0x09, // lgdt [0x900]
      0x0f,
      0x20,
      0xc0,
      0x0c,
      0x01,
      0x0f,
      0x22,
      0xc0, // mov eax,cr0; or al,1; mov cr0,eax
      0x66,
      0xea,
      ...d(PM32),
      0x08,
      0x00, // jmp dword 0x08:PM32
    ];
    const pm32 = [
      0x66,
      0xb8,
      0x10,
      0x00,
      0x8e,
      0xd8,
      0x8e,
      0xd0,
      0x8e,
      0xc0, // mov ax,0x10; ds, ss, es
      0xbc,
      ...d(0x8000), // mov esp, 0x8000
      0xb8,
      ...d(0x20_0000),
      0x0f,
      0x22,
      0xd8, // mov eax, PML4; mov cr3, eax
      0x0f,
      0x20,
      0xe0,
      0x83,
      0xc8,
      0x20,
      0x0f,
      0x22,
      0xe0, // cr4.PAE
      0xb9,
      ...d(0xc000_0080),
      0x0f,
      0x32,
      0x0d,
      ...d(0x100),
      0x0f,
      0x30, // EFER.LME
      0x0f,
      0x20,
      0xc0,
      0x0d,
      ...d(0x8000_0000),
      0x0f,
      0x22,
      0xc0, // CR0.PG
      0xea,
      ...d(LM64),
      0x18,
      0x00, // jmp 0x18:LM64
    ];
    const lm64 = [
      0x48,
      0xb8,
      ...d(0x1111_1111),
      ...d(0x2222_2222), // mov rax, 0x2222222211111111
      0xff,
      0x2c,
      0x25,
      ...d(0x1400), // jmp far [0x1400] (m16:32 → 0x08:COMPAT)
    ];
    const compat = [0xbb, ...d(0x1234), 0xf4]; // mov ebx, 0x1234; hlt
    const cpu = realMode(real, { at: 0x1000, ramSize: 4 << 20 });
    cpu.cpuid = (leaf, _sub, out) => {
      out.fill(0);
      if (leaf === 1) out[3] = (1 << 6) | (1 << 5);
      else if (leaf === (0x8000_0000 | 0)) out[0] = 0x8000_0001 | 0;
      else if (leaf === (0x8000_0001 | 0)) out[3] = 1 << 29;
    };
    cpu.mem.load(PM32, pm32);
    cpu.mem.load(LM64, lm64);
    cpu.mem.load(COMPAT, compat);
    cpu.mem.load(0x1400, [...d(COMPAT), 0x08, 0x00]);
    write32(cpu, 0x808, 0x0000_ffff);
    write32(cpu, 0x80c, 0x00cf_9a00); // 32-bit code
    write32(cpu, 0x810, 0x0000_ffff);
    write32(cpu, 0x814, 0x00cf_9200); // data
    write32(cpu, 0x818, 0x0000_ffff);
    write32(cpu, 0x81c, 0x00af_9a00); // 64-bit code (L)
    cpu.mem.load(0x900, [0x1f, 0x00, ...d(0x800)]);
    write32(cpu, 0x20_0000, 0x20_1003);
    write32(cpu, 0x20_1000, 0x20_2003);
    write32(cpu, 0x20_2000, 0x83);
    expect(cpu.run(1000)).toBe(EXIT_HLT);
    expect(cpu.st[EFER]! & EFER_LMA).toBe(EFER_LMA);
    expect(cpu.segSel[CS]).toBe(0x08); // compatibility mode: a 32-bit code segment
    expect(cpu.regs[EBX]).toBe(0x1234);
    expect(cpu.st[EIP]).toBe(COMPAT + 6);
  });

  it("a kernel-half address (0xffff800000000000) is cached in the TLB until INVLPG", () => {
    // PML4[256] → PDPT → PD → PT → 0x30000. Three stops at HLT: read; read again after
    // the test clears the PTE's accessed bit (a TLB hit leaves it clear); INVLPG, read
    // (a walk sets it again).
    const code = [
      0x48,
      0xb8,
      ...d(0),
      ...d(0xffff_8000), // mov rax, 0xffff800000000000
      0x8b,
      0x18,
      0xf4, // mov ebx, [rax]; hlt
      0x8b,
      0x08,
      0xf4, // mov ecx, [rax]; hlt
      0x0f,
      0x01,
      0x38,
      0x8b,
      0x10,
      0xf4, // invlpg [rax]; mov edx, [rax]; hlt
    ];
    const cpu = longMode(code);
    write32(cpu, LONG.PML4 + 256 * 8, 0x20_5003);
    write32(cpu, 0x20_5000, 0x20_6003);
    write32(cpu, 0x20_6000, 0x20_7003);
    write32(cpu, 0x20_7000, 0x3_0003);
    write32(cpu, 0x3_0000, 0xabcd);
    const resume = () => {
      cpu.st[HALTED] = 0;
      expect(cpu.run(1000)).toBe(EXIT_HLT);
    };
    expect(cpu.run(1000)).toBe(EXIT_HLT);
    expect(cpu.regs[EBX]).toBe(0xabcd);
    expect(read32(cpu, 0x20_7000) & 0x20).toBe(0x20);
    write32(cpu, 0x20_7000, 0x3_0003); // accessed bit cleared behind the TLB's back
    resume();
    expect(cpu.regs[ECX]).toBe(0xabcd);
    expect(read32(cpu, 0x20_7000) & 0x20).toBe(0);
    resume();
    expect(cpu.regs[EDX]).toBe(0xabcd);
    expect(read32(cpu, 0x20_7000) & 0x20).toBe(0x20);
  });

  it("an exception frame pushed from RSP = 0x1_0000_0010 crosses down below 4 GiB", () => {
    // mov rsp, 0x100000010; ud2. Linear 0xffff_f000 → 0x31_0000, 0x1_0000_0000 → 0x31_1000
    // (PDPT[3] → PD[511] → PT[511]; PDPT[4] → PD[0] → PT[0]).
    const cpu = longMode([0x48, 0xbc, ...d(0x10), ...d(1), 0x0f, 0x0b]);
    write32(cpu, LONG.PML4 + 0x1000 + 3 * 8, 0x20_8003);
    write32(cpu, 0x20_8000 + 511 * 8, 0x20_9003);
    write32(cpu, 0x20_9000 + 511 * 8, 0x31_0003);
    write32(cpu, LONG.PML4 + 0x1000 + 4 * 8, 0x20_a003);
    write32(cpu, 0x20_a000, 0x20_b003);
    write32(cpu, 0x20_b000, 0x31_1003);
    expect(cpu.run(1000)).toBe(EXIT_HLT);
    expect(vector64(cpu)).toBe(6);
    expect([cpu.regs[ESP]! >>> 0, cpu.regsHi[ESP]]).toEqual([0xffff_ffe8, 0]);
    expect(read32(cpu, 0x31_0fe8)).toBe(LONG.ENTRY + 10); // RIP of ud2
    expect(read32(cpu, 0x31_0ff0)).toBe(CODE64); // CS
    expect([read32(cpu, 0x31_1000), read32(cpu, 0x31_1004)]).toEqual([0x10, 1]); // old RSP
  });

  it("sysexit (rex.w) to ring 3 64-bit code, then sysenter back to ring 0 in 64-bit mode", () => {
    const RING3 = LONG.ENTRY + 0x40;
    const KERNEL = LONG.ENTRY + 0x80;
    const code = [
      0x48,
      0xb9,
      ...d(0x7000),
      ...d(0), // mov rcx, 0x7000 (ring-3 RSP)
      0x48,
      0xba,
      ...d(RING3),
      ...d(0), // mov rdx, RING3
      0x48,
      0x0f,
      0x35, // sysexit (to 64-bit code)
    ];
    const cpu = longMode(code);
    const cpuid = cpu.cpuid;
    cpu.cpuid = (leaf, sub, out) => {
      cpuid(leaf, sub, out);
      if (leaf === 1) out[3] = out[3]! | (1 << 11); // SEP
    };
    cpu.mem.load(RING3, [0x0f, 0x34]); // sysenter
    cpu.mem.load(KERNEL, [0xf4]);
    // User pages (the fixture's 2 MiB pages are supervisor-only).
    write32(cpu, 0x20_2000, 0x87);
    write32(cpu, 0x20_1000, 0x20_2007);
    write32(cpu, LONG.PML4, 0x20_1007);
    cpu.msrs.set(0x174, BigInt(LONG.CODE64));
    cpu.msrs.set(0x175, 0x1_0000_9000n); // RSP above 4 GiB: its high half must arrive
    cpu.msrs.set(0x176, BigInt(KERNEL));
    expect(cpu.run(1000)).toBe(EXIT_HLT);
    expect(cpu.st[EIP]).toBe(KERNEL + 1);
    expect(cpu.segSel[CS]).toBe(LONG.CODE64);
    expect([cpu.regs[ESP], cpu.regsHi[ESP]]).toEqual([0x9000, 1]);
    expect(cpu.st[CPL]).toBe(0);
  });
});

describe("a fault while pushing an inner-privilege interrupt frame", () => {
  it("is delivered from the state before the delivery: #UD at CPL 3 with a bad RSP0 shuts down", () => {
    // RSP0 = 0x10000000 is not mapped: the #UD frame's push faults, so does #DF's.
    const cpu = longModeRing3([0x0f, 0x0b]);
    write32(cpu, PM.TSS + 4, 0x1000_0000);
    expect(cpu.run(50)).toBe(EXIT_SHUTDOWN);
    // Not half-switched: still the ring-3 code and stack selectors, at CPL 3.
    expect(cpu.st[CPL]).toBe(3);
    expect(cpu.segSel[CS]! & 3).toBe(3);
    expect(cpu.segSel[2]! & 3).toBe(3);
  });
});
