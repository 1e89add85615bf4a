import { describe, expect, it } from "vitest";
import { exceptionVector, PM, protectedMode, realMode } from "../../test/helpers.js";
import { EXIT_HLT, EXIT_HOOK } from "../cpu.js";
import { EV_IO, HOOK_EXIT, HOOK_PASS } from "../hooks.js";
import type { AccessSize } from "../memory.js";
import { OPEN_BUS } from "../memory.js";
import { EAX, EDX, TR } from "../regs.js";
import { EIP } from "../state.js";

const HLT = 0xf4;

function recorder(log: unknown[][]) {
  return {
    ...OPEN_BUS,
    ioRead: (port: number, size: AccessSize) => {
      log.push(["in", port, size]);
      return size === 4 ? 0x8765_4321 : size === 2 ? 0x4321 : 0x21;
    },
    ioWrite: (port: number, size: AccessSize, v: number) => {
      log.push(["out", port, size, v]);
    },
  };
}

describe("IN / OUT", () => {
  it("in al,0x60 reads the device", () => {
    const log: unknown[][] = [];
    const cpu = realMode([0xe4, 0x60, HLT], { devices: recorder(log) });
    cpu.regs[EAX] = 0x1234_5678;
    cpu.run(10);
    expect(log).toEqual([["in", 0x60, 1]]);
    expect(cpu.regs[EAX]).toBe(0x1234_5621);
  });

  it("in eax,dx (66 ed) reads a dword", () => {
    const log: unknown[][] = [];
    const cpu = realMode([0x66, 0xed, HLT], { devices: recorder(log) });
    cpu.regs[EDX] = 0xcfc;
    cpu.run(10);
    expect(log).toEqual([["in", 0xcfc, 4]]);
    expect(cpu.regs[EAX]! >>> 0).toBe(0x8765_4321);
  });

  it("out dx,ax and out 0x80,al write the device", () => {
    const log: unknown[][] = [];
    const cpu = realMode([0xef, 0xe6, 0x80, HLT], { devices: recorder(log) });
    cpu.regs[EDX] = 0x3f8;
    cpu.regs[EAX] = 0xabcd;
    cpu.run(10);
    expect(log).toEqual([
      ["out", 0x3f8, 2, 0xabcd],
      ["out", 0x80, 1, 0xcd],
    ]);
  });

  it("in al,dx with no devices reads 0xff", () => {
    const cpu = realMode([0xec, HLT]);
    cpu.run(10);
    expect(cpu.regs[EAX]).toBe(0xff);
  });

  it("out 0x80,al claimed by a hook (EV_IO) does not reach the device", () => {
    const log: unknown[][] = [];
    const cpu = realMode([0xe6, 0x80, HLT], { devices: recorder(log) });
    cpu.regs[EAX] = 0x55;
    cpu.hooks = {
      onEvent: (_c, kind) => (kind === EV_IO ? HOOK_EXIT : HOOK_PASS),
    };
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(cpu.exitInfo[0]).toBe(EV_IO);
    expect([...cpu.exitInfo.subarray(1, 7)]).toEqual([0x80, 1, 0, 0, 0, 0x55]);
    expect(log).toEqual([]);
    expect(cpu.st[EIP]).toBe(0x100);
  });

  it("in al,dx passed by a hook reaches the device", () => {
    const log: unknown[][] = [];
    const cpu = realMode([0xec, HLT], { devices: recorder(log) });
    cpu.regs[EDX] = 0;
    let asked = 0;
    cpu.hooks = {
      onEvent: (_c, kind) => {
        if (kind === EV_IO) asked++;
        return HOOK_PASS;
      },
    };
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(asked).toBe(1);
    expect(log).toEqual([["in", 0, 1]]);
  });
});

describe("I/O permission", () => {
  it("in al,dx at cpl 3 with iopl 0 and no bitmap in the TSS raises #GP", () => {
    const cpu = protectedMode([0xec, HLT], { ring: 3 });
    cpu.run(10);
    expect(exceptionVector(cpu)).toBe(13);
  });

  it("in al,dx at cpl 3 follows the TSS I/O bitmap", () => {
    // TSS limit covers a bitmap at TSS+0x68; port 0x71 denied (bit 1 of byte 0x0e).
    const allowed = protectedMode([0xe4, 0x70, 0xe4, 0x71, HLT], { ring: 3 });
    allowed.segLimit[TR] = 0x68 + 0x2000;
    allowed.mem.load(PM.TSS + 0x68 + 0x0e, [0x02]);
    allowed.run(10);
    expect(allowed.regs[EAX]! & 0xff).toBe(0xff);
    expect(exceptionVector(allowed)).toBe(13);
    expect(allowed.instructionCount).toBeGreaterThanOrEqual(1);
  });

  it("in ax,0x70 at cpl 3 is denied when its second port's bit is set", () => {
    const cpu = protectedMode([0x66, 0xe5, 0x70, HLT], { ring: 3 });
    cpu.segLimit[TR] = 0x68 + 0x2000;
    cpu.mem.load(PM.TSS + 0x68 + 0x0e, [0x02]);
    cpu.run(10);
    expect(exceptionVector(cpu)).toBe(13);
  });

  it("out dx,al at cpl 0 needs no bitmap", () => {
    const cpu = protectedMode([0xee, HLT]);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(exceptionVector(cpu)).toBe(-1);
  });
});
