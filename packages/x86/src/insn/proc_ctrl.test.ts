import { describe, expect, it } from "vitest";
import { exceptionVector, protectedMode, read16, realMode, write16 } from "../../test/helpers.js";
import { EXIT_HLT, EXIT_HOOK } from "../cpu.js";
import { EV_CPUID, EV_EXCEPTION, EV_RDMSR, HOOK_EXIT, HOOK_PASS } from "../hooks.js";
import { CR0_EM, CR0_MP, CR0_TS, CR4_TSD, EAX, EBX, ECX, EDX } from "../regs.js";
import { CR0, CR4, EFER, EIP } from "../state.js";

const HLT = 0xf4;

/** Stop at the first exception and report its vector (-1 = none). */
function catchVector(cpu: ReturnType<typeof realMode>): () => number {
  let vector = -1;
  cpu.hooks = {
    onEvent: (c, kind) => {
      if (kind !== EV_EXCEPTION) return HOOK_PASS;
      vector = c.exitInfo[1]!;
      return HOOK_EXIT;
    },
  };
  return () => vector;
}

describe("CPUID", () => {
  it("cpuid with eax=0 returns GenuineIntel", () => {
    const cpu = realMode([0x0f, 0xa2, HLT]);
    cpu.regs[EAX] = 0;
    cpu.run(10);
    const s = [EBX, EDX, ECX]
      .map((r) => String.fromCharCode(...[0, 8, 16, 24].map((b) => (cpu.regs[r]! >>> b) & 0xff)))
      .join("");
    expect(s).toBe("GenuineIntel");
  });

  it("cpuid claimed by a hook (EV_CPUID) sees leaf and subleaf", () => {
    const cpu = realMode([0x0f, 0xa2, HLT]);
    cpu.regs[EAX] = 7;
    cpu.regs[ECX] = 1;
    cpu.hooks = { onEvent: (_c, k) => (k === EV_CPUID ? HOOK_EXIT : HOOK_PASS) };
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect([...cpu.exitInfo.subarray(0, 3)]).toEqual([EV_CPUID, 7, 1]);
    expect(cpu.st[EIP]).toBe(0x100);
  });
});

describe("RDTSC / RDMSR / WRMSR", () => {
  it("rdtsc returns instructions retired plus the offset", () => {
    const cpu = realMode([0x0f, 0x31, HLT]);
    cpu.counters[1] = 2 ** 32 * 3 + 5;
    cpu.run(10);
    expect(cpu.regs[EDX]).toBe(3);
    expect(cpu.regs[EAX]).toBe(5);
  });

  it("rdtsc; mov ebx,eax; rdtsc gives increasing values", () => {
    const cpu = realMode([0x0f, 0x31, 0x66, 0x89, 0xc3, 0x0f, 0x31, HLT]);
    cpu.counters[1] = 2 ** 32 - 1;
    cpu.run(10);
    expect(cpu.regs[EBX]).toBe(-1);
    expect(cpu.regs[EDX]).toBe(1);
    expect(cpu.regs[EAX]).toBe(0);
  });

  it("rdtsc at cpl 3 with cr4.tsd raises #GP", () => {
    const cpu = protectedMode([0x0f, 0x31, HLT], { ring: 3 });
    cpu.st[CR4] = CR4_TSD;
    cpu.run(10);
    expect(exceptionVector(cpu)).toBe(13);
  });

  it("wrmsr then rdmsr of IA32_SYSENTER_CS", () => {
    // wrmsr; xor eax,eax; xor edx,edx; rdmsr
    const cpu = realMode([0x0f, 0x30, 0x66, 0x31, 0xc0, 0x66, 0x31, 0xd2, 0x0f, 0x32, HLT]);
    cpu.regs[ECX] = 0x174;
    cpu.regs[EAX] = 0x10;
    cpu.regs[EDX] = 0;
    cpu.run(10);
    expect(cpu.regs[EAX]).toBe(0x10);
    expect(cpu.msrs.get(0x174)).toBe(0x10n);
  });

  it("rdmsr of IA32_APIC_BASE gives 0xfee00900", () => {
    const cpu = realMode([0x0f, 0x32, HLT]);
    cpu.regs[ECX] = 0x1b;
    cpu.run(10);
    expect(cpu.regs[EAX]! >>> 0).toBe(0xfee0_0900);
    expect(cpu.regs[EDX]).toBe(0);
  });

  it("wrmsr then rdmsr of IA32_TSC", () => {
    const cpu = realMode([0x0f, 0x30, 0x0f, 0x32, HLT]);
    cpu.regs[ECX] = 0x10;
    cpu.regs[EAX] = 1000;
    cpu.regs[EDX] = 1;
    cpu.run(10);
    expect(cpu.regs[EDX]).toBe(1);
    expect(cpu.regs[EAX]).toBe(1001); // one instruction later
  });

  it("rdmsr of EFER reads st[EFER]; wrmsr of an unsupported EFER bit raises #GP", () => {
    const cpu = realMode([0x0f, 0x32, 0x0f, 0x30, HLT]);
    cpu.st[EFER] = 0;
    cpu.regs[ECX] = 0xc000_0080 | 0;
    const vector = catchVector(cpu);
    cpu.regs[EAX] = 0x55;
    cpu.run(1);
    expect(cpu.regs[EAX]).toBe(0);
    cpu.regs[EAX] = 1 << 8; // LME: the default CPUID reports no long mode
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(vector()).toBe(13);
  });

  it("rdmsr of an unknown msr raises #GP", () => {
    const cpu = realMode([0x0f, 0x32, HLT]);
    cpu.regs[ECX] = 0x1234;
    const vector = catchVector(cpu);
    cpu.run(10);
    expect(vector()).toBe(13);
  });

  it("rdmsr at cpl 3 raises #GP", () => {
    const cpu = protectedMode([0x0f, 0x32, HLT], { ring: 3 });
    cpu.regs[ECX] = 0x1b;
    cpu.run(10);
    expect(exceptionVector(cpu)).toBe(13);
  });

  it("rdmsr claimed by a hook (EV_RDMSR) even for an unknown msr", () => {
    const cpu = realMode([0x0f, 0x32, HLT]);
    cpu.regs[ECX] = 0x1234;
    cpu.hooks = { onEvent: (_c, k) => (k === EV_RDMSR ? HOOK_EXIT : HOOK_PASS) };
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(cpu.exitInfo[1]).toBe(0x1234);
  });
});

describe("INT n / INT3 / INTO / BOUND", () => {
  it("int 0x21 goes through the IVT and pushes the next ip", () => {
    const cpu = realMode([0xcd, 0x21, HLT]);
    write16(cpu, 0x21 * 4, 0x0300);
    cpu.mem.load(0x300, [HLT]);
    cpu.run(10);
    expect(cpu.st[EIP]).toBe(0x301);
    expect(read16(cpu, 0x7ffa)).toBe(0x102);
  });

  it("int3 pushes the address after the one-byte instruction", () => {
    const cpu = realMode([0xcc, HLT]);
    write16(cpu, 3 * 4, 0x0300);
    cpu.mem.load(0x300, [HLT]);
    cpu.run(10);
    expect(read16(cpu, 0x7ffa)).toBe(0x101);
  });

  it("into with OF clear falls through; with OF set takes vector 4", () => {
    const clear = realMode([0xce, HLT]);
    expect(clear.run(10)).toBe(EXIT_HLT);
    expect(clear.st[EIP]).toBe(0x102);
    const set = realMode([0xce, HLT]);
    set.setEflags(0x0802);
    write16(set, 4 * 4, 0x0300);
    set.mem.load(0x300, [HLT]);
    set.run(10);
    expect(set.st[EIP]).toBe(0x301);
  });

  it("bound ax,[0x600] out of range raises #BR at the bound instruction", () => {
    const cpu = realMode([0x62, 0x06, 0x00, 0x06, HLT]);
    write16(cpu, 0x600, 0xfffe); // -2
    write16(cpu, 0x602, 5);
    cpu.regs[EAX] = 6;
    const vector = catchVector(cpu);
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(vector()).toBe(5);
    expect(cpu.st[EIP]).toBe(0x100);
  });

  it("bound ax,[0x600] in range (signed) continues", () => {
    const cpu = realMode([0x62, 0x06, 0x00, 0x06, HLT]);
    write16(cpu, 0x600, 0xfffe);
    write16(cpu, 0x602, 5);
    cpu.regs[EAX] = 0xffff; // -1
    expect(cpu.run(10)).toBe(EXIT_HLT);
  });
});

describe("UD0 / UD1 / ESC / FWAIT", () => {
  it("ud0 eax,[bx] (0f ff 07) raises #UD", () => {
    const cpu = realMode([0x0f, 0xff, 0x07, HLT]);
    const vector = catchVector(cpu);
    cpu.run(10);
    expect(vector()).toBe(6);
  });

  it("ud1 (0f b9 c0) raises #UD", () => {
    const cpu = realMode([0x0f, 0xb9, 0xc0, HLT]);
    const vector = catchVector(cpu);
    cpu.run(10);
    expect(vector()).toBe(6);
  });

  it("fninit (db e3) with cr0.em raises #NM; without is a no-op", () => {
    const em = realMode([0xdb, 0xe3, HLT]);
    em.st[CR0] = em.st[CR0]! | CR0_EM;
    const vector = catchVector(em);
    em.run(10);
    expect(vector()).toBe(7);
    const plain = realMode([0xdb, 0xe3, HLT]);
    plain.st[CR0] = plain.st[CR0]! & ~(CR0_EM | CR0_TS);
    expect(plain.run(10)).toBe(EXIT_HLT);
  });

  it("fwait raises #NM only with cr0.mp and cr0.ts", () => {
    const ts = realMode([0x9b, HLT]);
    ts.st[CR0] = ts.st[CR0]! | CR0_TS;
    expect(ts.run(10)).toBe(EXIT_HLT);
    const both = realMode([0x9b, HLT]);
    both.st[CR0] = both.st[CR0]! | (CR0_TS | CR0_MP);
    const vector = catchVector(both);
    both.run(10);
    expect(vector()).toBe(7);
  });

  it("xgetbv without cr4.osxsave raises #UD", () => {
    const cpu = realMode([0x0f, 0x01, 0xd0, HLT]);
    const vector = catchVector(cpu);
    cpu.run(10);
    expect(vector()).toBe(6);
  });

  it("monitor without CPUID support raises #UD", () => {
    const cpu = realMode([0x0f, 0x01, 0xc8, HLT]);
    const vector = catchVector(cpu);
    cpu.run(10);
    expect(vector()).toBe(6);
  });
});
