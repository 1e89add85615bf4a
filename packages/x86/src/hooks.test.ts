import { describe, expect, it } from "vitest";
import { realMode } from "../test/helpers.js";
import { EXIT_HOOK, type X86Cpu } from "./cpu.js";
import * as H from "./hooks.js";
import { EIP } from "./state.js";

/**
 * Every sensitive event can be claimed by an extension: the CPU stops with
 * EXIT_HOOK, the event kind in exitInfo[0], and (for instructions) EIP still at the
 * instruction, which has not retired.
 */
interface Case {
  readonly name: string;
  readonly kind: number;
  readonly code: number[];
  readonly setup?: (cpu: X86Cpu) => void;
  /** Expected exitInfo[1..] (as many as given). */
  readonly info?: number[];
  /** EIP when the claim stops the CPU (default: the first instruction, 0x100). */
  readonly eip?: number;
}

const CASES: Case[] = [
  { name: "out 0x80, al", kind: H.EV_IO, code: [0xe6, 0x80], info: [0x80, 1, 0] },
  {
    name: "in ax, dx",
    kind: H.EV_IO,
    code: [0xba, 0xf8, 0x03, 0xed],
    info: [0x3f8, 2, 1],
    eip: 0x103,
  },
  {
    name: "rep outsb",
    kind: H.EV_IO,
    code: [0xf3, 0x6e],
    setup: (c) => {
      c.regs[1] = 4;
      c.regs[2] = 0x3f8;
    },
    info: [0x3f8, 1, 0, 1, 1],
  },
  { name: "hlt", kind: H.EV_HLT, code: [0xf4] },
  {
    name: "cpuid",
    kind: H.EV_CPUID,
    code: [0x66, 0xb8, 1, 0, 0, 0, 0x0f, 0xa2],
    info: [1],
    eip: 0x106,
  },
  {
    name: "rdmsr",
    kind: H.EV_RDMSR,
    code: [0x66, 0xb9, 0x10, 0, 0, 0, 0x0f, 0x32],
    info: [0x10],
    eip: 0x106,
  },
  {
    name: "wrmsr",
    kind: H.EV_WRMSR,
    code: [0x66, 0xb9, 0x10, 0, 0, 0, 0x0f, 0x30],
    info: [0x10],
    eip: 0x106,
  },
  { name: "mov eax, cr0", kind: H.EV_CR_ACCESS, code: [0x0f, 0x20, 0xc0], info: [0, 1] },
  { name: "mov eax, dr7", kind: H.EV_DR_ACCESS, code: [0x0f, 0x21, 0xf8], info: [7, 1] },
  {
    name: "invlpg [0x1000]",
    kind: H.EV_INVLPG,
    code: [0x0f, 0x01, 0x3e, 0x00, 0x10],
    info: [0x1000],
  },
  { name: "lgdt [0x600]", kind: H.EV_DESC_TABLE, code: [0x0f, 0x01, 0x16, 0x00, 0x06], info: [2] },
  { name: "rdtsc", kind: H.EV_RDTSC, code: [0x0f, 0x31] },
  { name: "ud2", kind: H.EV_EXCEPTION, code: [0x0f, 0x0b], info: [6, -1, 0] },
  { name: "int 0x21", kind: H.EV_EXCEPTION, code: [0xcd, 0x21], info: [0x21, -1, 1] },
  { name: "vmcall", kind: H.EV_VMCALL, code: [0x0f, 0x01, 0xc1], info: [0] },
  { name: "vmmcall", kind: H.EV_VMCALL, code: [0x0f, 0x01, 0xd9], info: [1] },
  {
    name: "vmxon [0x300]",
    kind: H.EV_VMX_INSN,
    code: [0xf3, 0x0f, 0xc7, 0x36, 0x00, 0x03],
    info: [H.VMX_INSN_VMXON],
  },
  { name: "vmrun", kind: H.EV_SVM_INSN, code: [0x0f, 0x01, 0xd8], info: [H.SVM_INSN_VMRUN] },
  { name: "invd", kind: H.EV_INVD, code: [0x0f, 0x08], info: [0] },
  { name: "wbinvd", kind: H.EV_INVD, code: [0x0f, 0x09], info: [1] },
  { name: "rdpmc", kind: H.EV_RDPMC, code: [0x0f, 0x33] },
  { name: "pause", kind: H.EV_PAUSE, code: [0xf3, 0x90] },
  { name: "rsm", kind: H.EV_RSM, code: [0x0f, 0xaa] },
  {
    // mov ax,0xffff; mov ds,ax; mov byte [0x10],1 → 0x100000, past the 1 MiB of RAM
    name: "mov byte [ffff:0010], 1 (no RAM there)",
    kind: H.EV_MMIO,
    code: [0xb8, 0xff, 0xff, 0x8e, 0xd8, 0xc6, 0x06, 0x10, 0x00, 0x01],
    info: [0x10_0000, 1, 1, 1],
    eip: 0x105,
  },
  {
    name: "an IRQ on INTR (sti; nop; nop)",
    kind: H.EV_EXT_INTR,
    code: [0xfb, 0x90, 0x90],
    setup: (c) => c.raiseIrq(0x30),
    info: [0x30],
    eip: 0x102,
  },
  { name: "an NMI", kind: H.EV_NMI, code: [0x90], setup: (c) => c.raiseNmi() },
  {
    name: "the interrupt window (sti; nop)",
    kind: H.EV_INTR_WINDOW,
    code: [0xfb, 0x90, 0x90],
    setup: (c) => {
      c.wantWindow = 1;
    },
    eip: 0x102,
  },
  {
    name: "the NMI window",
    kind: H.EV_NMI_WINDOW,
    code: [0x90],
    setup: (c) => {
      c.wantWindow = 2;
    },
  },
  {
    // SP = 1 and a zero SS limit: the #UD push faults, then #DF, then shutdown.
    name: "a triple fault",
    kind: H.EV_TRIPLE_FAULT,
    code: [0x0f, 0xff],
    setup: (c) => {
      c.regs[4] = 1;
    },
  },
];

describe("every hookable event can be claimed", () => {
  for (const c of CASES) {
    it(c.name, () => {
      const cpu = realMode(c.code);
      c.setup?.(cpu);
      const seen: number[] = [];
      cpu.hooks = {
        onEvent: (_cpu, kind) => {
          seen.push(kind);
          return kind === c.kind ? H.HOOK_EXIT : H.HOOK_PASS;
        },
      };
      expect(cpu.run(20)).toBe(EXIT_HOOK);
      expect(cpu.exitInfo[0]).toBe(c.kind);
      (c.info ?? []).forEach((v, k) => {
        expect(cpu.exitInfo[k + 1], `exitInfo[${k + 1}]`).toBe(v);
      });
      expect(cpu.st[EIP]).toBe(c.eip ?? 0x100);
    });
  }
});

describe("an exit claimed part-way through an event's delivery", () => {
  it("leaves the stack as before the delivery began (real mode, the second push exits)", () => {
    // RAM below 0x7000 and from 0x8000: INT 0x21 pushes FLAGS to 0x8000, then CS to 0x7ffe,
    // which no RAM backs (guest-fuzz: the retried delivery pushed below a stale word).
    const cpu = realMode([0xcd, 0x21], { ramSize: 0x7000, sp: 0x8002 });
    cpu.mem.addRam(0x8000, new Uint8Array(0x8000));
    cpu.hooks = {
      onEvent: (_cpu, kind) => (kind === H.EV_MMIO ? H.HOOK_EXIT : H.HOOK_PASS),
    };
    expect(cpu.run(20)).toBe(EXIT_HOOK);
    expect(cpu.exitInfo[0]).toBe(H.EV_MMIO);
    expect(cpu.exitInfo[1]).toBe(0x7ffe);
    expect(cpu.regs[4]).toBe(0x8002);
    expect(cpu.st[EIP]).toBe(0x100);
  });
});
