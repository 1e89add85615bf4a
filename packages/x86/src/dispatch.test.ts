import { expect, it } from "vitest";
import { realMode } from "../test/helpers.js";
import { EXIT_HLT } from "./cpu.js";
import { experimental_useCallDispatch, slotRunner } from "./dispatch.js";
import { opcodeDesc } from "./fetchdecode.js";

it("the generated dispatcher is a named function over the whole handler table", () => {
  opcodeDesc(1, 0);
  expect(slotRunner().name).toBe("runSlots");
  // And it runs code: mov cx,3; l: add ax,cx; loop l; hlt.
  const cpu = realMode([0xb9, 0x03, 0x00, 0x01, 0xc8, 0xe2, 0xfc, 0xf4]);
  expect(cpu.run(100)).toBe(EXIT_HLT);
  expect(cpu.regs[0]).toBe(6);
});

it("without generated code the call-through loops give the same result", () => {
  experimental_useCallDispatch(true);
  try {
    expect(slotRunner().name).toBe("runSlotsByCall");
    const cpu = realMode([0xb9, 0x03, 0x00, 0x01, 0xc8, 0xe2, 0xfc, 0xf4]);
    expect(cpu.run(100)).toBe(EXIT_HLT);
    expect(cpu.regs[0]).toBe(6);
    expect(cpu.instructionCount).toBe(1 + 6 + 1);
  } finally {
    experimental_useCallDispatch(false);
  }
});
