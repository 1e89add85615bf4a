import { describe, expect, it } from "vitest";
import { read16, read32, realMode } from "../../test/helpers.js";
import { recomputeSegment } from "../access.js";
import { EXIT_BUDGET, EXIT_HLT, EXIT_HOOK } from "../cpu.js";
import { EV_EXCEPTION, EV_IO, HOOK_EXIT, HOOK_PASS } from "../hooks.js";
import type { AccessSize } from "../memory.js";
import { OPEN_BUS } from "../memory.js";
import { DS, EAX, ECX, EDI, EDX, ES, ESI, FLAG_DF, FLAG_ZF } from "../regs.js";
import { EIP } from "../state.js";
import { SLICE } from "./string.js";

const HLT = 0xf4;

function fill(cpu: ReturnType<typeof realMode>, at: number, bytes: readonly number[]): void {
  cpu.mem.load(at, bytes);
}

describe("MOVS", () => {
  it("rep movsb with cx=3", () => {
    const cpu = realMode([0xf3, 0xa4, HLT]);
    fill(cpu, 0x1000, [1, 2, 3, 4]);
    cpu.regs[ESI] = 0x1000;
    cpu.regs[EDI] = 0x2000;
    cpu.regs[ECX] = 3;
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect([0, 1, 2, 3].map((k) => cpu.mem.read8(0x2000 + k))).toEqual([1, 2, 3, 0]);
    expect(cpu.regs[ESI]).toBe(0x1003);
    expect(cpu.regs[EDI]).toBe(0x2003);
    expect(cpu.regs[ECX]).toBe(0);
  });

  it("rep movsb with cx=0 does nothing", () => {
    const cpu = realMode([0xf3, 0xa4, HLT]);
    cpu.regs[ESI] = 0x1000;
    cpu.run(10);
    expect(cpu.regs[ESI]).toBe(0x1000);
    expect(cpu.instructionCount).toBe(2);
  });

  it("rep movsw with df=1 copies downwards", () => {
    const cpu = realMode([0xfd, 0xf3, 0xa5, HLT]);
    fill(cpu, 0x1000, [0x11, 0x22, 0x33, 0x44]);
    cpu.regs[ESI] = 0x1002;
    cpu.regs[EDI] = 0x2002;
    cpu.regs[ECX] = 2;
    cpu.run(10);
    expect(read32(cpu, 0x2000)).toBe(0x4433_2211);
    expect(cpu.regs[ESI]).toBe(0x0ffe);
    expect(cpu.regs[EDI]).toBe(0x1ffe);
  });

  it("rep movsb onto src+1 replicates the first byte", () => {
    const cpu = realMode([0xf3, 0xa4, HLT]);
    fill(cpu, 0x1000, [0xaa, 1, 2, 3, 4, 5, 6, 7, 8]);
    cpu.regs[ESI] = 0x1000;
    cpu.regs[EDI] = 0x1001;
    cpu.regs[ECX] = 8;
    cpu.run(10);
    for (let k = 0; k < 9; k++) expect(cpu.mem.read8(0x1000 + k)).toBe(0xaa);
  });

  it("rep movsd (66 f3 a5) across page boundaries with a ds override (26)", () => {
    const cpu = realMode([0x26, 0x66, 0xf3, 0xa5, HLT]);
    for (let k = 0; k < 0x3000; k++) cpu.mem.write8(0x10_000 + k, (k * 7) & 0xff);
    cpu.segSel[ES] = 0x1000;
    cpu.segBase[ES] = 0x10_000;
    recomputeSegment(cpu, ES);
    // ES:SI = 0x10_0004 source (override), ES:DI = 0x11_0802 destination.
    cpu.regs[ESI] = 0x0004;
    cpu.regs[EDI] = 0x8802;
    cpu.regs[ECX] = 0x900;
    cpu.run(100);
    for (let k = 0; k < 0x2400; k++) {
      if (cpu.mem.read8(0x18_802 + k) !== ((k + 4) * 7) % 256) throw new Error(`byte ${k}`);
    }
    expect(cpu.regs[ESI]).toBe(0x2404);
    expect(cpu.regs[EDI]).toBe(0xac02);
  });

  it("a32 rep movsb (67 f3 a4) uses esi/edi/ecx", () => {
    const cpu = realMode([0x67, 0xf3, 0xa4, HLT]);
    fill(cpu, 0x1000, [9, 8, 7]);
    cpu.regs[ESI] = 0x1000;
    cpu.regs[EDI] = 0x3000;
    cpu.regs[ECX] = 0x0001_0003;
    for (const s of [ES, DS]) {
      cpu.segLimit[s] = 0x000f_ffff;
      recomputeSegment(cpu, s);
    }
    expect(cpu.run(1000)).toBe(EXIT_HLT);
    expect(cpu.regs[ECX]).toBe(0);
    expect(cpu.regs[EDI]).toBe(0x1_3003);
  });

  it("movsb with si=0xffff wraps si to 0 (16-bit address size)", () => {
    const cpu = realMode([0xa4, HLT]);
    cpu.regs[ESI] = 0x1234_ffff;
    cpu.regs[EDI] = 0x2000;
    cpu.run(10);
    expect(cpu.regs[ESI]).toBe(0x1234_0000);
  });

  it("rep movsb faulting mid-way leaves the completed iterations", () => {
    const cpu = realMode([0xf3, 0xa4, HLT]);
    cpu.segLimit[ES] = 0x2001;
    recomputeSegment(cpu, ES);
    cpu.regs[ESI] = 0x1000;
    cpu.regs[EDI] = 0x1ffe;
    cpu.regs[ECX] = 10;
    cpu.hooks = { onEvent: (_c, k) => (k === EV_EXCEPTION ? HOOK_EXIT : HOOK_PASS) };
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(cpu.exitInfo[1]).toBe(13);
    expect(cpu.regs[ECX]).toBe(6);
    expect(cpu.regs[EDI]).toBe(0x2002);
    expect(cpu.regs[ESI]).toBe(0x1004);
    expect(cpu.st[EIP]).toBe(0x100);
  });
});

describe("STOS / LODS", () => {
  it("rep stosb with cx=10000, interrupted by the budget and resumed", () => {
    const cpu = realMode([0xf3, 0xaa, HLT]);
    cpu.regs[EAX] = 0x5a;
    cpu.regs[EDI] = 0x1000;
    cpu.regs[ECX] = 10000;
    expect(cpu.run(1)).toBe(EXIT_BUDGET);
    expect(cpu.st[EIP]).toBe(0x100);
    expect(cpu.regs[ECX]).toBe(10000 - SLICE);
    expect(cpu.regs[EDI]).toBe(0x1000 + SLICE);
    expect(cpu.run(100)).toBe(EXIT_HLT);
    expect(cpu.regs[ECX]).toBe(0);
    expect(cpu.regs[EDI]).toBe(0x1000 + 10000);
    for (let k = 0; k < 10000; k++) if (cpu.mem.read8(0x1000 + k) !== 0x5a) throw new Error(`${k}`);
    expect(cpu.mem.read8(0x1000 + 10000)).toBe(0);
  });

  it("rep stosd (66 f3 ab) at an unaligned address", () => {
    const cpu = realMode([0x66, 0xf3, 0xab, HLT]);
    cpu.regs[EAX] = 0x1122_3344;
    cpu.regs[EDI] = 0x1001;
    cpu.regs[ECX] = 3;
    cpu.run(10);
    expect(read32(cpu, 0x1001)).toBe(0x1122_3344);
    expect(read32(cpu, 0x1009)).toBe(0x1122_3344);
    expect(cpu.regs[EDI]).toBe(0x100d);
  });

  it("rep stosw over the next instruction runs the new code", () => {
    // rep stosw writes two NOPs (90 90) over the HLT placeholder at 0x103; inc ax then.
    const cpu = realMode([0xf3, 0xab, 0xcc, 0xcc, 0x40, HLT]);
    cpu.regs[EAX] = 0x9090;
    cpu.regs[EDI] = 0x102;
    cpu.regs[ECX] = 1;
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.regs[EAX]).toBe(0x9091);
  });

  it("lodsw with df=1", () => {
    const cpu = realMode([0xad, HLT]);
    cpu.st[1] = cpu.st[1]! | FLAG_DF;
    fill(cpu, 0x1000, [0x34, 0x12]);
    cpu.regs[ESI] = 0x1000;
    cpu.run(10);
    expect(cpu.regs[EAX]).toBe(0x1234);
    expect(cpu.regs[ESI]).toBe(0x0ffe);
  });
});

describe("CMPS / SCAS", () => {
  it("repe cmpsb stops after the first difference", () => {
    const cpu = realMode([0xf3, 0xa6, HLT]);
    fill(cpu, 0x1000, [1, 2, 3, 4]);
    fill(cpu, 0x2000, [1, 2, 9, 4]);
    cpu.regs[ESI] = 0x1000;
    cpu.regs[EDI] = 0x2000;
    cpu.regs[ECX] = 4;
    cpu.run(10);
    expect(cpu.regs[ECX]).toBe(1);
    expect(cpu.regs[ESI]).toBe(0x1003);
    expect(cpu.getEflags() & FLAG_ZF).toBe(0);
    expect(cpu.getEflags() & 1).toBe(1); // 3 - 9 borrows
  });

  it("repne scasb finds al", () => {
    const cpu = realMode([0xf2, 0xae, HLT]);
    fill(cpu, 0x2000, [5, 6, 7, 0, 8]);
    cpu.regs[EAX] = 0;
    cpu.regs[EDI] = 0x2000;
    cpu.regs[ECX] = 0xffff;
    cpu.run(10);
    expect(cpu.regs[EDI]).toBe(0x2004);
    expect(cpu.regs[ECX]).toBe(0xffff - 4);
    expect(cpu.getEflags() & FLAG_ZF).toBe(FLAG_ZF);
  });

  it("scasw compares ax with es:di", () => {
    const cpu = realMode([0xaf, HLT]);
    fill(cpu, 0x2000, [0x34, 0x12]);
    cpu.regs[EAX] = 0x1234;
    cpu.regs[EDI] = 0x2000;
    cpu.run(10);
    expect(cpu.getEflags() & FLAG_ZF).toBe(FLAG_ZF);
    expect(cpu.regs[EDI]).toBe(0x2002);
  });
});

describe("INS / OUTS", () => {
  function device(log: [number, number, number][]) {
    let next = 0x40;
    return {
      ...OPEN_BUS,
      ioRead: (port: number, size: AccessSize) => {
        log.push([port, size, -1]);
        return next++ & (size === 1 ? 0xff : 0xffff);
      },
      ioWrite: (port: number, size: AccessSize, v: number) => {
        log.push([port, size, v]);
      },
    };
  }

  it("rep insb with cx=3 reads the port three times", () => {
    const log: [number, number, number][] = [];
    const cpu = realMode([0xf3, 0x6c, HLT], { devices: device(log) });
    cpu.regs[EDX] = 0x1f0;
    cpu.regs[EDI] = 0x3000;
    cpu.regs[ECX] = 3;
    cpu.run(10);
    expect(log).toEqual([
      [0x1f0, 1, -1],
      [0x1f0, 1, -1],
      [0x1f0, 1, -1],
    ]);
    expect([0, 1, 2].map((k) => cpu.mem.read8(0x3000 + k))).toEqual([0x40, 0x41, 0x42]);
  });

  it("rep outsw with cx=2", () => {
    const log: [number, number, number][] = [];
    const cpu = realMode([0xf3, 0x6f, HLT], { devices: device(log) });
    fill(cpu, 0x1000, [0x01, 0x02, 0x03, 0x04]);
    cpu.regs[EDX] = 0x3f8;
    cpu.regs[ESI] = 0x1000;
    cpu.regs[ECX] = 2;
    cpu.run(10);
    expect(log).toEqual([
      [0x3f8, 2, 0x0201],
      [0x3f8, 2, 0x0403],
    ]);
    expect(read16(cpu, 0x1000)).toBe(0x0201);
  });

  it("rep insw claimed by a hook (EV_IO, string, rep) does not run", () => {
    const log: [number, number, number][] = [];
    const cpu = realMode([0xf3, 0x6d, HLT], { devices: device(log) });
    cpu.regs[EDX] = 0x60;
    cpu.regs[ECX] = 5;
    const seen: number[][] = [];
    cpu.hooks = {
      onEvent: (c, kind) => {
        if (kind !== EV_IO) return HOOK_PASS;
        seen.push([...c.exitInfo.subarray(1, 6)]);
        return HOOK_EXIT;
      },
    };
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(seen).toEqual([[0x60, 2, 1, 1, 1]]);
    expect(log).toEqual([]);
    expect(cpu.regs[ECX]).toBe(5);
    expect(cpu.st[EIP]).toBe(0x100);
  });
});
