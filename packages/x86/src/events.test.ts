import { describe, expect, it } from "vitest";
import { exceptionVector, protectedMode, realMode, stackDword } from "../test/helpers.js";
import { EXIT_BUDGET, EXIT_HLT, EXIT_HOOK } from "./cpu.js";
import { EV_EXT_INTR, EV_INTR_WINDOW, EV_NMI, HOOK_EXIT, HOOK_PASS } from "./hooks.js";
import { EIP, HALTED } from "./state.js";

/** Real mode with IVT[0x20] → 0000:0300 (inc bx; iret) and IVT[2] → 0000:0310 (inc dx; iret). */
function withHandlers(code: number[]) {
  const cpu = realMode(code);
  cpu.mem.load(0x20 * 4, [0x00, 0x03, 0x00, 0x00]);
  cpu.mem.load(2 * 4, [0x10, 0x03, 0x00, 0x00]);
  cpu.mem.load(0x300, [0x43, 0xcf]);
  cpu.mem.load(0x310, [0x42, 0xcf]);
  return cpu;
}

describe("external events", () => {
  it("sti; l: jmp l — an IRQ on INTR is taken once IF=1 and returns with IRET", () => {
    const cpu = withHandlers([0xfb, 0xeb, 0xfe]);
    cpu.raiseIrq(0x20);
    expect(cpu.run(3)).toBe(EXIT_BUDGET);
    // sti, jmp (the shadow delays the IRQ by one instruction), then inc bx in the handler
    expect(cpu.regs[3]).toBe(1);
    cpu.run(10);
    expect(cpu.st[EIP]).toBe(0x101);
  });

  it("cli; hlt — INTR stays pending while IF=0; an NMI wakes the CPU", () => {
    const cpu = withHandlers([0xfa, 0xf4, 0xeb, 0xfe]);
    cpu.regs[2] = 0;
    cpu.raiseIrq(0x20);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.regs[3]).toBe(0);
    cpu.raiseNmi();
    cpu.run(3);
    expect(cpu.regs[2]).toBe(1); // inc dx in the NMI handler
    expect(cpu.regs[3]).toBe(0);
  });

  it("a hook may claim an external interrupt, an NMI or the interrupt window", () => {
    const cpu = withHandlers([0xfb, 0x90, 0xeb, 0xfe]);
    const seen: number[] = [];
    cpu.hooks = {
      onEvent: (_c, kind) => {
        seen.push(kind);
        return kind === EV_EXT_INTR || kind === EV_NMI || kind === EV_INTR_WINDOW
          ? HOOK_EXIT
          : HOOK_PASS;
      },
    };
    cpu.wantWindow = 1;
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(seen).toEqual([EV_INTR_WINDOW]);
    cpu.wantWindow = 0;
    cpu.raiseIrq(0x20);
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(cpu.exitInfo[1]).toBe(0x20);
    expect(cpu.regs[3]).toBe(0);
  });

  it("an IRQ through an empty IDT slot raises #GP(idt + EXT) (sti; jmp $)", () => {
    // The fixture's IDT fills vectors 0-31; entry 0x20 is all zeroes, not a gate type, so
    // the CPU raises #GP(0x20 * 8 + 2 + EXT) (the type is checked before P) and vector
    // 13's stub halts.
    const cpu = protectedMode([0xfb, 0xeb, 0xfe]);
    cpu.raiseIrq(0x20);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(exceptionVector(cpu)).toBe(13);
    expect(stackDword(cpu)).toBe(0x20 * 8 + 2 + 1);
  });
});

describe("the A20 gate", () => {
  it("mov byte [ffff:0010],1 writes 0x100000 with A20 on and 0x000000 with it off", () => {
    // mov ax,0xffff; mov ds,ax; mov byte [0x10],1; hlt
    const code = [0xb8, 0xff, 0xff, 0x8e, 0xd8, 0xc6, 0x06, 0x10, 0x00, 0x01, 0xf4];
    const on = realMode(code, { ramSize: 2 << 20 });
    on.run(10);
    expect(on.mem.read8(0x10_0000)).toBe(1);
    expect(on.mem.read8(0)).toBe(0);
    const off = realMode(code, { ramSize: 2 << 20 });
    off.setA20(false);
    off.run(10);
    expect(off.mem.read8(0x10_0000)).toBe(0);
    expect(off.mem.read8(0)).toBe(1);
  });
});

describe("the data TLB", () => {
  it("a translation cached with A20 on is dropped when A20 goes off", () => {
    // mov ax,0xffff; mov ds,ax; mov byte [0x1010],1; hlt; mov byte [0x1010],2; hlt
    // (linear 0x101000: a page away from the code, so only the TLB can remember it)
    const code = [0xb8, 0xff, 0xff, 0x8e, 0xd8, 0xc6, 0x06, 0x10, 0x10, 0x01, 0xf4];
    const cpu = realMode([...code, 0xc6, 0x06, 0x10, 0x10, 0x02, 0xf4], { ramSize: 2 << 20 });
    cpu.run(10);
    expect(cpu.mem.read8(0x10_1000)).toBe(1);
    cpu.setA20(false);
    cpu.st[HALTED] = 0; // wake from the first HLT
    cpu.run(10);
    expect(cpu.mem.read8(0x10_1000)).toBe(1);
    expect(cpu.mem.read8(0x1000)).toBe(2);
  });

  it("a page remapped from RAM to MMIO stops being cached", () => {
    const writes: number[] = [];
    const devices = {
      ioRead: () => 0xff,
      ioWrite: () => {},
      mmioRead: () => 0xee,
      mmioWrite: (addr: number, _s: number, v: number) => void writes.push(addr, v),
    };
    // mov byte [0x9000],7; hlt; mov byte [0x9000],8; hlt
    const cpu = realMode([0xc6, 0x06, 0x00, 0x90, 0x07, 0xf4, 0xc6, 0x06, 0x00, 0x90, 0x08, 0xf4], {
      devices,
    });
    cpu.run(10);
    expect(cpu.mem.read8(0x9000)).toBe(7);
    // Replace the first MiB of RAM by a copy without page 9 (which becomes MMIO).
    const ram = cpu.mem.ranges[0]!.bytes;
    cpu.mem.removeRam(0);
    cpu.mem.addRam(0, ram.subarray(0, 0x9000));
    cpu.mem.addRam(0xa000, ram.subarray(0xa000));
    cpu.st[HALTED] = 0; // wake from the first HLT
    cpu.run(10);
    expect(writes).toEqual([0x9000, 8]);
  });
});

describe("INT1 (ICEBP) is a privileged software exception", () => {
  it("int1 from ring 3 through a DPL-0 gate reaches #DB; int 1 raises #GP(0x0a)", () => {
    const icebp = protectedMode([0xf1], { ring: 3 });
    expect(icebp.run(10)).toBe(EXIT_HLT);
    expect(exceptionVector(icebp)).toBe(1);
    const intn = protectedMode([0xcd, 0x01], { ring: 3 });
    expect(intn.run(10)).toBe(EXIT_HLT);
    expect(exceptionVector(intn)).toBe(13);
    expect(stackDword(intn)).toBe(1 * 8 + 2);
  });
});
