/**
 * Paging: each test builds page tables in guest memory, turns paging on the way a
 * kernel does (MOV CR3, MOV CR4, MOV CR0 in ring 0), and runs code through them. #PF
 * ends in the fixture's stub (HLT) with the error code on top of the ring-0 stack.
 */
import { describe, expect, it } from "vitest";
import {
  exceptionVector,
  loadSegmentDirect,
  PM,
  protectedMode,
  read32,
  stackDword,
  write32,
} from "../test/helpers.js";
import { EXIT_HLT, type X86Cpu } from "./cpu.js";
import { EFER_NXE, PF_ID, PF_P, PF_RSVD, PF_U, PF_W } from "./paging.js";
import {
  CR0_PG,
  CR0_WP,
  CR4_PAE,
  CR4_PGE,
  CR4_PSE,
  CR4_SMAP,
  CR4_SMEP,
  CS,
  DS,
  EBX,
  ES,
  GP_VECTOR,
  PF_VECTOR,
  SS,
} from "./regs.js";
import { CPL, CR0, CR2, CR3, CR4, EFER, EIP, HALTED } from "./state.js";

const P = 1;
const RW = 2;
const US = 4;
const A = 0x20;
const D = 0x40;
const PS = 0x80;
const G = 0x100;
const NX_HI = 0x8000_0000 | 0;

const d = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const HLT = 0xf4;
/** mov eax, imm32 */
const MOV_EAX = (v: number) => [0xb8, ...d(v)];
/** mov ebx, [abs] / mov [abs], ebx */
const LOAD_EBX = (a: number) => [0x8b, 0x1d, ...d(a)];
const STORE_EBX = (a: number) => [0x89, 0x1d, ...d(a)];
/** mov cr3, eax / mov cr4, eax / mov cr0, eax / mov eax, cr0 */
const CR3_EAX = [0x0f, 0x22, 0xd8];
const CR4_EAX = [0x0f, 0x22, 0xe0];
const CR0_EAX = [0x0f, 0x22, 0xc0];
const EAX_CR0 = [0x0f, 0x20, 0xc0];
/** or eax, imm32 */
const OR_EAX = (v: number) => [0x0d, ...d(v)];
/** invlpg [abs] */
const INVLPG = (a: number) => [0x0f, 0x01, 0x3d, ...d(a)];

// 32-bit paging: the page directory and the page table of the first 4 MiB.
const PD = 0x20_0000;
const PT0 = 0x20_1000;
const PT1 = 0x20_2000;
// PAE: the PDPT, one page directory, two page tables.
const PDPT = 0x20_3000;
const PAE_PD = 0x20_4000;
const PAE_PT0 = 0x20_5000;
const PAE_PT1 = 0x20_6000;

const RAM = 4 << 20;

/** Identity-map the first 4 MiB with 4 KiB pages (supervisor, writable) in 32-bit paging. */
function tables32(cpu: X86Cpu): void {
  write32(cpu, PD, PT0 | P | RW | US);
  for (let k = 0; k < 1024; k++) write32(cpu, PT0 + 4 * k, (k << 12) | P | RW);
}

/** A 32-bit PTE for linear `lin` (in the 4–8 MiB table PT1 or the first one). */
function pte32(cpu: X86Cpu, lin: number, value: number): void {
  const table = lin >>> 22 === 0 ? PT0 : PT1;
  if (lin >>> 22 === 1) write32(cpu, PD + 4, PT1 | P | RW | US);
  write32(cpu, table + 4 * ((lin >>> 12) & 0x3ff), value);
}

/** The prologue that turns 32-bit paging on: CR3 = PD, CR4 = `cr4`, CR0 |= PG | `cr0`. */
function enable32(cr4 = 0, cr0 = 0): number[] {
  return [
    ...MOV_EAX(PD),
    ...CR3_EAX,
    ...MOV_EAX(cr4),
    ...CR4_EAX,
    ...EAX_CR0,
    ...OR_EAX(CR0_PG | cr0),
    ...CR0_EAX,
  ];
}

/** Identity-map the first 4 MiB with 4 KiB pages in PAE paging (XD clear). */
function tablesPae(cpu: X86Cpu): void {
  write32(cpu, PDPT, PAE_PD | P);
  write32(cpu, PAE_PD, PAE_PT0 | P | RW | US);
  write32(cpu, PAE_PD + 8, PAE_PT1 | P | RW | US);
  for (let k = 0; k < 1024; k++) {
    const table = k < 512 ? PAE_PT0 : PAE_PT1;
    write32(cpu, table + 8 * (k & 511), (k << 12) | P | RW | US);
  }
}

function ptePae(cpu: X86Cpu, lin: number, lo: number, hi = 0): void {
  const table = ((lin >>> 21) & 1) === 0 ? PAE_PT0 : PAE_PT1;
  write32(cpu, table + 8 * ((lin >>> 12) & 0x1ff), lo);
  write32(cpu, table + 8 * ((lin >>> 12) & 0x1ff) + 4, hi);
}

function enablePae(cr4 = 0): number[] {
  return [
    ...MOV_EAX(PDPT),
    ...CR3_EAX,
    ...MOV_EAX(CR4_PAE | cr4),
    ...CR4_EAX,
    ...EAX_CR0,
    ...OR_EAX(CR0_PG),
    ...CR0_EAX,
  ];
}

function run(cpu: X86Cpu): void {
  expect(cpu.run(10_000)).toBe(EXIT_HLT);
}

/** The #PF that halted in its stub: error code and CR2. */
function pageFault(cpu: X86Cpu): { ec: number; cr2: number } {
  expect(exceptionVector(cpu)).toBe(PF_VECTOR);
  return { ec: stackDword(cpu), cr2: cpu.st[CR2]! >>> 0 };
}

describe("32-bit paging", () => {
  it("mov ebx,[0x400000] reads the physical page its PTE names and sets A in PDE and PTE", () => {
    const cpu = protectedMode([...enable32(), ...LOAD_EBX(0x40_0000), HLT], { ramSize: RAM });
    tables32(cpu);
    pte32(cpu, 0x40_0000, 0x30_0000 | P | RW);
    write32(cpu, 0x30_0000, 0x1234_5678);
    run(cpu);
    expect(cpu.regs[EBX]! >>> 0).toBe(0x1234_5678);
    expect(read32(cpu, PD + 4) & A).toBe(A);
    expect(read32(cpu, PT1) & (A | D)).toBe(A);
  });

  it("mov [0x400000],ebx sets the dirty bit and writes the mapped page", () => {
    const cpu = protectedMode([...enable32(), 0xbb, ...d(0xcafe), ...STORE_EBX(0x40_0000), HLT], {
      ramSize: RAM,
    });
    tables32(cpu);
    pte32(cpu, 0x40_0000, 0x30_0000 | P | RW);
    run(cpu);
    expect(read32(cpu, 0x30_0000)).toBe(0xcafe);
    expect(read32(cpu, PT1) & (A | D)).toBe(A | D);
  });

  it("a read of a not-present page is #PF(0) with CR2 = the address, EIP at the load", () => {
    const code = [...enable32(), ...LOAD_EBX(0x40_1234), HLT];
    const cpu = protectedMode(code, { ramSize: RAM });
    tables32(cpu);
    run(cpu);
    expect(pageFault(cpu)).toEqual({ ec: 0, cr2: 0x40_1234 });
    expect(stackDword(cpu, 4)).toBe(PM.CODE + enable32().length);
  });

  it("a write of a not-present page is #PF(W)", () => {
    const cpu = protectedMode([...enable32(), ...STORE_EBX(0x40_0000), HLT], { ramSize: RAM });
    tables32(cpu);
    run(cpu);
    expect(pageFault(cpu).ec).toBe(PF_W);
  });

  it("ring 0 writes a read-only page while CR0.WP = 0 and faults #PF(P|W) once WP = 1", () => {
    const code = [...enable32(), ...STORE_EBX(0x40_0000), HLT];
    const cpu = protectedMode(code, { ramSize: RAM });
    tables32(cpu);
    pte32(cpu, 0x40_0000, 0x30_0000 | P);
    cpu.regs[EBX] = 7;
    run(cpu);
    expect(exceptionVector(cpu)).toBe(-1);
    expect(read32(cpu, 0x30_0000)).toBe(7);

    const wp = protectedMode([...enable32(0, CR0_WP), ...STORE_EBX(0x40_0000), HLT], {
      ramSize: RAM,
    });
    tables32(wp);
    pte32(wp, 0x40_0000, 0x30_0000 | P);
    run(wp);
    expect(pageFault(wp).ec).toBe(PF_P | PF_W);
  });

  it("at CPL 3: a supervisor page is #PF(P|U), a read-only user page written is #PF(P|W|U)", () => {
    for (const [pte, code, ec] of [
      [0x30_0000 | P | RW, LOAD_EBX(0x40_0000), PF_P | PF_U],
      [0x30_0000 | P | US, STORE_EBX(0x40_0000), PF_P | PF_W | PF_U],
    ] as const) {
      const cpu = protectedMode([...code, HLT], { ramSize: RAM, ring: 3 });
      tables32(cpu);
      // Ring 3's code and stack pages must be user pages.
      for (let k = 0; k < 1024; k++) write32(cpu, PT0 + 4 * k, (k << 12) | P | RW | US);
      pte32(cpu, 0x40_0000, pte);
      cpu.st[CR3] = PD;
      cpu.st[CR0] = cpu.st[CR0]! | CR0_PG;
      cpu.flushTlb();
      run(cpu);
      expect(pageFault(cpu)).toEqual({ ec, cr2: 0x40_0000 });
    }
  });

  it("a fault at CPL 3 switches to a supervisor-only ring-0 stack and is delivered", () => {
    const cpu = protectedMode([...LOAD_EBX(0x40_0000), HLT], { ramSize: RAM, ring: 3 });
    tables32(cpu);
    // Everything user-accessible except the ring-0 stack's page and the tables.
    for (let k = 0; k < 1024; k++) write32(cpu, PT0 + 4 * k, (k << 12) | P | RW | US);
    for (const page of [PM.STACK0 - 1, PM.GDT, PM.IDT, PM.TSS]) {
      write32(cpu, PT0 + 4 * (page >>> 12), (page & ~0xfff) | P | RW);
    }
    cpu.st[CR3] = PD;
    cpu.st[CR0] = cpu.st[CR0]! | CR0_PG;
    cpu.flushTlb();
    run(cpu);
    expect(pageFault(cpu)).toEqual({ ec: PF_U, cr2: 0x40_0000 });
    expect(cpu.regs[4]! >>> 0).toBe(PM.STACK0 - 24);
  });

  it("a 4 MiB page with CR4.PSE maps 0x800000 + x to 0x000000 + x", () => {
    const cpu = protectedMode([...enable32(CR4_PSE), ...LOAD_EBX(0x80_0010), HLT], {
      ramSize: RAM,
    });
    tables32(cpu);
    write32(cpu, PD + 8, 0 | P | RW | PS);
    write32(cpu, 0x10, 0xabcd);
    run(cpu);
    expect(cpu.regs[EBX]).toBe(0xabcd);
    expect(read32(cpu, PD + 8) & A).toBe(A);
  });

  it("a dword store across into a not-present page faults at the second page, writing nothing", () => {
    const cpu = protectedMode([...enable32(), 0xbb, ...d(0x1122_3344), ...STORE_EBX(0x40_0ffe)], {
      ramSize: RAM,
    });
    cpu.mem.load(PM.CODE + enable32().length + 5 + 6, [HLT]);
    tables32(cpu);
    pte32(cpu, 0x40_0000, 0x30_0000 | P | RW);
    run(cpu);
    expect(pageFault(cpu)).toEqual({ ec: PF_W, cr2: 0x40_1000 });
    expect(read32(cpu, 0x30_0ffc)).toBe(0);
  });

  it("a stale TLB entry is used until INVLPG drops it", () => {
    // Read 0x400000 (→ 0x300000), remap the PTE to 0x310000, read again (stale),
    // INVLPG, read again (new).
    const remap = [0xc7, 0x05, ...d(PT1), ...d(0x31_0000 | P | RW)]; // mov dword [PT1], imm
    const code = [
      ...enable32(),
      ...LOAD_EBX(0x40_0000),
      0x89,
      0xd9, // mov ecx, ebx
      ...remap,
      ...LOAD_EBX(0x40_0000),
      0x89,
      0xda, // mov edx, ebx
      ...INVLPG(0x40_0000),
      ...LOAD_EBX(0x40_0000),
      HLT,
    ];
    const cpu = protectedMode(code, { ramSize: RAM });
    tables32(cpu);
    pte32(cpu, 0x40_0000, 0x30_0000 | P | RW);
    write32(cpu, 0x30_0000, 1);
    write32(cpu, 0x31_0000, 2);
    run(cpu);
    expect([cpu.regs[1], cpu.regs[2], cpu.regs[EBX]]).toEqual([1, 1, 2]);
  });

  it("mov cr3 keeps global pages (CR4.PGE) and drops the others", () => {
    const remap = (v: number) => [0xc7, 0x05, ...d(PT1), ...d(v)];
    const remap2 = (v: number) => [0xc7, 0x05, ...d(PT1 + 4), ...d(v)];
    const code = [
      ...enable32(CR4_PGE),
      ...LOAD_EBX(0x40_0000),
      ...LOAD_EBX(0x40_1000),
      ...remap(0x31_0000 | P | RW | G),
      ...remap2(0x31_1000 | P | RW),
      ...MOV_EAX(PD),
      ...CR3_EAX,
      0x8b,
      0x0d,
      ...d(0x40_0000), // mov ecx, [0x400000]: global, still the old page
      0x8b,
      0x15,
      ...d(0x40_1000), // mov edx, [0x401000]: reloaded
      HLT,
    ];
    const cpu = protectedMode(code, { ramSize: RAM });
    tables32(cpu);
    pte32(cpu, 0x40_0000, 0x30_0000 | P | RW | G);
    pte32(cpu, 0x40_1000, 0x30_1000 | P | RW);
    write32(cpu, 0x30_0000, 1);
    write32(cpu, 0x30_1000, 2);
    write32(cpu, 0x31_0000, 3);
    write32(cpu, 0x31_1000, 4);
    run(cpu);
    expect([cpu.regs[1], cpu.regs[2]]).toEqual([1, 4]);
  });

  it("jmp to a not-present page is #PF at the target with CR2 = the target", () => {
    const cpu = protectedMode([...enable32(), ...MOV_EAX(0x40_0000), 0xff, 0xe0], {
      ramSize: RAM,
    });
    tables32(cpu);
    run(cpu);
    expect(pageFault(cpu)).toEqual({ ec: 0, cr2: 0x40_0000 });
    expect(stackDword(cpu, 4)).toBe(0x40_0000);
  });

  it("code written through another mapping of its page runs as written", () => {
    // Linear 0x400000 maps the code page PM.CODE: store `inc ebx` over a NOP there.
    const body = [...enable32(), 0xc6, 0x05];
    const target = PM.CODE + body.length + 4 + 1; // the NOP after this store
    const code = [...body, ...d(0x40_0000 + (target - PM.CODE)), 0x43, 0x90, HLT];
    const cpu = protectedMode(code, { ramSize: RAM });
    tables32(cpu);
    pte32(cpu, 0x40_0000, PM.CODE | P | RW);
    run(cpu);
    expect(cpu.regs[EBX]).toBe(1);
  });
});

describe("decoded code under paging", () => {
  it("a page written through a cached alias, then run, then written again, runs the new code", () => {
    // 0x30000 holds `nop; ret`; linear 0x400000 is another mapping of that page.
    const MOV_BYTE = (a: number, v: number) => [0xc6, 0x05, ...d(a), v];
    const CALL_30000 = [...MOV_EAX(0x3_0000), 0xff, 0xd0];
    const code = [
      ...enable32(),
      ...MOV_BYTE(0x40_0000, 0x90), // caches a write entry for the alias
      ...CALL_30000, // decodes the page: the alias's write entry must go
      ...MOV_BYTE(0x40_0000, 0x43), // inc ebx
      ...CALL_30000,
      HLT,
    ];
    const cpu = protectedMode(code, { ramSize: RAM });
    tables32(cpu);
    pte32(cpu, 0x40_0000, 0x3_0000 | P | RW);
    cpu.mem.load(0x3_0000, [0x90, 0xc3]);
    run(cpu);
    expect(exceptionVector(cpu)).toBe(-1);
    expect(cpu.regs[EBX]).toBe(1);
  });

  it("a loop that writes its own code page keeps the TLB's fill log short", () => {
    // Each store drops the decoded page and each decode drops the write entry again: the
    // log once grew by an entry a pass, and every search of it slowed (guest-fuzz: a
    // 64-bit guest executing zeroes, `add [rax], al` into its own page, ran ~85K
    // instructions a second).
    const STORE_AL = [0xa2, ...d(PM.CODE + 0x800)]; // mov [PM.CODE + 0x800], al
    const code = [...enable32(), 0xb9, ...d(20_000), ...STORE_AL, 0xe2, 0xf9, HLT]; // loop
    const cpu = protectedMode(code, { ramSize: RAM });
    tables32(cpu);
    expect(cpu.run(200_000)).toBe(EXIT_HLT);
    expect(exceptionVector(cpu)).toBe(-1);
    expect(cpu.tlb.count).toBeLessThan(64);
  });

  it("an instruction across two pages is decoded again when the second page is remapped", () => {
    // At linear 0x400ffd: mov ebx, imm32 (its last two bytes in the next page); ret.
    const CALL = [...MOV_EAX(0x40_0ffd), 0xff, 0xd0];
    const code = [
      ...enable32(),
      ...CALL,
      0x89,
      0xd9, // mov ecx, ebx
      0xc7,
      0x05,
      ...d(PT1 + 4),
      ...d(0x30_2000 | P | RW), // the second page now maps 0x302000
      ...INVLPG(0x40_1000),
      ...CALL,
      HLT,
    ];
    const cpu = protectedMode(code, { ramSize: RAM });
    tables32(cpu);
    pte32(cpu, 0x40_0000, 0x30_0000 | P | RW);
    pte32(cpu, 0x40_1000, 0x30_1000 | P | RW);
    cpu.mem.load(0x30_0ffd, [0xbb, 0x11, 0x22]);
    cpu.mem.load(0x30_1000, [0x33, 0x44, 0xc3]);
    cpu.mem.load(0x30_2000, [0x55, 0x66, 0xc3]);
    run(cpu);
    expect(cpu.regs[1]! >>> 0).toBe(0x4433_2211);
    expect(cpu.regs[EBX]! >>> 0).toBe(0x6655_2211);
  });
});

describe("PAE paging", () => {
  it("reads through PDPTE, PDE and PTE, and a 2 MiB page", () => {
    const code = [...enablePae(), ...LOAD_EBX(0x40_0000), 0x8b, 0x0d, ...d(0x60_0008), HLT];
    const cpu = protectedMode(code, { ramSize: RAM });
    tablesPae(cpu);
    write32(cpu, PAE_PD + 8 * 2, 0x20_0000 | P | RW | PS); // 0x400000: 2 MiB → 0x200000
    write32(cpu, PAE_PD + 8 * 3, 0x00_0000 | P | RW | PS); // 0x600000: 2 MiB → 0
    write32(cpu, 0x20_0000, 0x55);
    write32(cpu, 0x08, 0x66);
    run(cpu);
    expect([cpu.regs[EBX], cpu.regs[1]]).toEqual([0x55, 0x66]);
  });

  it("with EFER.NXE a fetch from an XD page is #PF(P|I/D); without NXE the XD bit is reserved", () => {
    const code = [...enablePae(), ...MOV_EAX(0x30_0000), 0xff, 0xe0];
    const cpu = protectedMode(code, { ramSize: RAM });
    tablesPae(cpu);
    ptePae(cpu, 0x30_0000, 0x30_0000 | P | RW, NX_HI);
    cpu.mem.load(0x30_0000, [HLT]);
    cpu.st[EFER] = EFER_NXE;
    run(cpu);
    expect(pageFault(cpu)).toEqual({ ec: PF_P | PF_ID, cr2: 0x30_0000 });

    const rsvd = protectedMode(code, { ramSize: RAM });
    tablesPae(rsvd);
    ptePae(rsvd, 0x30_0000, 0x30_0000 | P | RW, NX_HI);
    run(rsvd);
    expect(pageFault(rsvd)).toEqual({ ec: PF_P | PF_RSVD, cr2: 0x30_0000 });
  });

  it("mov cr3 with a reserved bit in a present PDPTE is #GP(0) and keeps CR3", () => {
    const cpu = protectedMode([...enablePae(), ...MOV_EAX(PDPT + 0x20), ...CR3_EAX, HLT], {
      ramSize: RAM,
    });
    tablesPae(cpu);
    write32(cpu, PDPT + 0x20, PAE_PD | P | 4); // bit 2 is reserved in a PDPTE
    run(cpu);
    expect(exceptionVector(cpu)).toBe(GP_VECTOR);
    expect(cpu.st[CR3]).toBe(PDPT);
  });

  it("SMEP: a ring-0 fetch from a user page is #PF(P|I/D)", () => {
    const code = [...enablePae(CR4_SMEP), ...MOV_EAX(0x30_0000), 0xff, 0xe0];
    const cpu = protectedMode(code, { ramSize: RAM });
    tablesPae(cpu);
    for (let k = 0; k < 512; k++) write32(cpu, PAE_PT0 + 8 * k, (k << 12) | P | RW);
    ptePae(cpu, 0x30_0000, 0x30_0000 | P | RW | US);
    cpu.mem.load(0x30_0000, [HLT]);
    run(cpu);
    expect(pageFault(cpu)).toEqual({ ec: PF_P | PF_ID, cr2: 0x30_0000 });
  });

  it("SMAP: a ring-0 read of a user page is #PF(P) unless EFLAGS.AC is set", () => {
    // pushfd; or dword [esp], 0x40000; popfd — sets AC — then the same read succeeds.
    const setAc = [0x9c, 0x81, 0x0c, 0x24, ...d(0x4_0000), 0x9d];
    for (const [prefix, faults] of [
      [[], true],
      [setAc, false],
    ] as const) {
      const code = [...enablePae(CR4_SMAP), ...prefix, ...LOAD_EBX(0x30_0000), HLT];
      const cpu = protectedMode(code, { ramSize: RAM });
      tablesPae(cpu);
      for (let k = 0; k < 512; k++) write32(cpu, PAE_PT0 + 8 * k, (k << 12) | P | RW);
      ptePae(cpu, 0x30_0000, 0x30_0000 | P | RW | US);
      write32(cpu, 0x30_0000, 9);
      run(cpu);
      if (faults) expect(pageFault(cpu)).toEqual({ ec: PF_P, cr2: 0x30_0000 });
      else expect(cpu.regs[EBX]).toBe(9);
    }
  });
});

describe("4-level paging", () => {
  it("compatibility-mode code reads through PML4E, PDPTE, PDE and PTE", () => {
    // Long mode active (EFER.LME|LMA, CR4.PAE, CR0.PG) with a 32-bit code segment.
    const PML4 = 0x20_7000;
    const PDPT4 = 0x20_8000;
    const cpu = protectedMode([...LOAD_EBX(0x40_0000), HLT], { ramSize: RAM });
    tablesPae(cpu);
    write32(cpu, PML4, PDPT4 | P | RW | US);
    write32(cpu, PDPT4, PAE_PD | P | RW | US);
    write32(cpu, PAE_PD + 8 * 2, 0x20_0000 | P | RW | PS);
    write32(cpu, 0x20_0000, 0x77);
    cpu.st[CR3] = PML4;
    cpu.st[CR4] = CR4_PAE;
    cpu.st[EFER] = (1 << 8) | (1 << 10);
    cpu.st[CR0] = cpu.st[CR0]! | CR0_PG;
    cpu.flushTlb();
    run(cpu);
    expect(cpu.regs[EBX]).toBe(0x77);
    expect(read32(cpu, PML4) & A).toBe(A);
    expect(read32(cpu, PDPT4) & A).toBe(A);
  });
});

describe("CPL and the TLB", () => {
  it("a supervisor page cached by a ring-0 read still faults for a ring-3 read", () => {
    const body = [...enable32(), ...LOAD_EBX(0x40_0000), HLT];
    const cpu = protectedMode([...body, ...LOAD_EBX(0x40_0000), HLT], { ramSize: RAM });
    tables32(cpu);
    for (let k = 0; k < 1024; k++) write32(cpu, PT0 + 4 * k, (k << 12) | P | RW | US);
    pte32(cpu, 0x40_0000, 0x30_0000 | P | RW);
    write32(cpu, 0x30_0000, 5);
    run(cpu);
    expect(cpu.regs[EBX]).toBe(5);
    // Drop to ring 3 as an embedder would (segment caches and CPL), and read again.
    loadSegmentDirect(cpu, CS, PM.CODE3);
    for (const s of [SS, DS, ES]) loadSegmentDirect(cpu, s, PM.DATA3);
    cpu.st[CPL] = 3;
    cpu.regs[4] = PM.STACK3;
    cpu.st[HALTED] = 0;
    cpu.st[EIP] = PM.CODE + body.length;
    run(cpu);
    expect(pageFault(cpu)).toEqual({ ec: PF_P | PF_U, cr2: 0x40_0000 });
  });
});
