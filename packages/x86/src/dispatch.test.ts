import { expect, it } from "vitest";
import { realMode } from "../test/helpers.js";
import { EXIT_HLT } from "./cpu.js";
import {
  chainDispatchInfo,
  chainRunner,
  experimental_useCallDispatch,
  slotRunner,
} from "./dispatch.js";
import { opcodeDesc } from "./fetchdecode.js";

it("the chained runner counts handlers first; single instructions call through dc.fn", () => {
  opcodeDesc(1, 0);
  expect(chainRunner().name).toBe("runChainCounting");
  expect(slotRunner().name).toBe("runSlotsByCall");
  // And it runs code: mov cx,3; l: add ax,cx; loop l; hlt.
  const cpu = realMode([0xb9, 0x03, 0x00, 0x01, 0xc8, 0xe2, 0xfc, 0xf4]);
  expect(cpu.run(100)).toBe(EXIT_HLT);
  expect(cpu.regs[0]).toBe(6);
});

it("without generated code the call-through loops give the same result", () => {
  experimental_useCallDispatch(true);
  try {
    expect(chainRunner().name).toBe("runChainByCall");
    const cpu = realMode([0xb9, 0x03, 0x00, 0x01, 0xc8, 0xe2, 0xfc, 0xf4]);
    expect(cpu.run(100)).toBe(EXIT_HLT);
    expect(cpu.regs[0]).toBe(6);
    expect(cpu.instructionCount).toBe(1 + 6 + 1);
  } finally {
    experimental_useCallDispatch(false);
  }
});

it("the chained runner is regenerated with a case for each handler that ran often", () => {
  opcodeDesc(1, 0);
  // mov ecx,700000 (o32); l: add eax,ecx (o32); loop l (a32: ECX); hlt. 1.4 million
  // instructions: past the first regeneration (2^20).
  const code = [0x66, 0xb9, 0x60, 0xae, 0x0a, 0x00, 0x66, 0x01, 0xc8, 0x67, 0xe2, 0xfa, 0xf4];
  const cpu = realMode(code);
  const before = chainDispatchInfo().generations;
  let why = cpu.run(100_000);
  while (why !== EXIT_HLT) why = cpu.run(100_000);
  const after = chainDispatchInfo();
  expect(after.generations).toBeGreaterThan(before);
  expect(chainRunner().name).toBe("runChain");
  // Slots 0..3: mov, add, loop, hlt. The loop's two ran 700,000 times and have cases;
  // mov and hlt ran once and are still called through the default case.
  const { op } = cpu.dc;
  expect(after.cases).toContain(op[1]);
  expect(after.cases).toContain(op[2]);
  expect(after.cases).not.toContain(op[0]);
  expect(after.cases).not.toContain(op[3]);
  expect(cpu.regs[0]! >>> 0).toBe(((700_000 * 700_001) / 2) % 2 ** 32);
  expect(cpu.instructionCount).toBe(1 + 2 * 700_000 + 1);
});

it("the chained runner is regenerated correctly after the handler table grows", () => {
  // Compiling 64-bit mode's maps registers more handlers: the runner counts anew, and a
  // handler that already has a case must not get a second one.
  opcodeDesc(1, 0, true);
  const code = [0x66, 0xb9, 0x60, 0xae, 0x0a, 0x00, 0x66, 0x01, 0xc8, 0x67, 0xe2, 0xfa, 0xf4];
  const cpu = realMode(code);
  let why = cpu.run(100_000);
  while (why !== EXIT_HLT) why = cpu.run(100_000);
  expect(chainRunner().name).toBe("runChain");
  expect(cpu.regs[0]! >>> 0).toBe(((700_000 * 700_001) / 2) % 2 ** 32);
});
