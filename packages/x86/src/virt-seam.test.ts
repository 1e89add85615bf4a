/**
 * What a virtualization extension needs from the core beyond claiming events (hooks.ts):
 * changing a CR access's value, injecting an event at entry, the length of the exiting
 * instruction, writes to read-only RAM and fetches outside RAM offered to the hook, #PF
 * claimed without touching CR2, and the event being delivered when a hook exits.
 */
import { describe, expect, it } from "vitest";
import { realMode } from "../test/helpers.js";
import { EXIT_HLT, EXIT_HOOK } from "./cpu.js";
import { EVENT_EXTERNAL, EVENT_SOFTWARE, injectEvent } from "./exception.js";
import * as H from "./hooks.js";
import {
  CR0,
  CR2,
  EIP,
  EVENT_DEPTH,
  EVENT_KIND,
  EVENT_VECTOR,
  GDTR_BASE,
  GDTR_LIMIT,
} from "./state.js";

describe("the core's virtualization seams", () => {
  it("a hook that passes MOV to/from CR0 may change the value used", () => {
    // mov eax,cr0; mov cr0,eax; hlt
    const cpu = realMode([0x0f, 0x20, 0xc0, 0x0f, 0x22, 0xc0, 0xf4]);
    cpu.hooks = {
      onEvent: (c, kind) => {
        if (kind !== H.EV_CR_ACCESS) return H.HOOK_PASS;
        const x = c.exitInfo;
        // Reads see 0x11 in the low byte; writes keep the real ET bit.
        if (x[2] === 1) x[4] = (x[4]! & ~0xff) | 0x11;
        else x[4] = x[4]! & ~1;
        return H.HOOK_PASS;
      },
    };
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.regs[0]! & 0xff).toBe(0x11);
    // The write had PE taken out by the hook: still real mode.
    expect(cpu.st[CR0]! & 1).toBe(0);
  });

  it("CLTS does what the hook leaves in exitInfo[4]", () => {
    const cpu = realMode([0x0f, 0x06, 0xf4]); // clts; hlt
    cpu.st[CR0] = cpu.st[CR0]! | 8;
    cpu.hooks = {
      onEvent: (c) => {
        c.exitInfo[4] = c.st[CR0]!;
        return H.HOOK_PASS;
      },
    };
    cpu.run(10);
    expect(cpu.st[CR0]! & 8).toBe(8);
  });

  it("decodeAtRip gives the length and form of the instruction a hook stopped", () => {
    const cpu = realMode([0x66, 0xe7, 0x70]); // out 0x70, eax
    cpu.hooks = { onEvent: (_c, k) => (k === H.EV_IO ? H.HOOK_EXIT : H.HOOK_PASS) };
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(cpu.decodeAtRip()).toBe(3);
    expect(cpu.dc.opcode[cpu.dc.scratch]).toBe(0xe7);
  });

  it("injectEvent delivers through the IVT without asking the exception hook", () => {
    const cpu = realMode([0x90]);
    cpu.mem.load(0x21 * 4, [0x00, 0x20, 0x00, 0x00]);
    cpu.mem.load(0x2000, [0xf4]);
    const kinds: number[] = [];
    cpu.hooks = {
      onEvent: (_c, k) => {
        kinds.push(k);
        return H.HOOK_PASS;
      },
    };
    injectEvent(cpu, 0x21, -1, EVENT_SOFTWARE, 0x102);
    expect(cpu.st[EIP]).toBe(0x2000);
    expect(kinds).not.toContain(H.EV_EXCEPTION);
    // The return address pushed is the one given (after a 2-byte INT n).
    expect(cpu.mem.read8(0x8000 - 6)).toBe(0x02);
  });

  it("a hook exit during delivery leaves the event's vector and kind readable", () => {
    const cpu = realMode([0x90]);
    // The IVT entry for 0x30 points outside RAM: the handler fetch is not the delivery,
    // so make the stack push fail instead — the stack at the top of a RAM-less segment.
    cpu.segBase[2] = 0x10_0000;
    let depth = -1;
    let vector = -1;
    let kind = -1;
    cpu.hooks = {
      onEvent: (c, k) => {
        if (k !== H.EV_MMIO) return H.HOOK_PASS;
        depth = c.st[EVENT_DEPTH]!;
        vector = c.st[EVENT_VECTOR]!;
        kind = c.st[EVENT_KIND]!;
        return H.HOOK_EXIT;
      },
    };
    injectEvent(cpu, 0x30, -1, EVENT_EXTERNAL, 0);
    expect([depth, vector, kind]).toEqual([1, 0x30, EVENT_EXTERNAL]);
  });

  it("writes to read-only RAM and fetches outside RAM reach the hook as EV_MMIO", () => {
    const seen: number[][] = [];
    const cpu = realMode([0xa2, 0x00, 0x30, 0xea, 0x00, 0x00, 0x00, 0xf0]); // mov [0x3000],al; jmp f000:0
    cpu.mem.removeRam(0);
    cpu.mem.addRam(0, new Uint8Array(0x3000));
    cpu.mem.addRam(0x3000, new Uint8Array(0x1000), true);
    cpu.mem.load(0x100, [0xa2, 0x00, 0x30, 0xea, 0x00, 0x00, 0x00, 0xf0]);
    cpu.regs[0] = 0x5a;
    cpu.hooks = {
      onEvent: (c, k) => {
        if (k !== H.EV_MMIO) return H.HOOK_PASS;
        const x = c.exitInfo;
        seen.push([x[1]! >>> 0, x[2]!, x[3]!, x[4]!]);
        return x[3] === 2 ? H.HOOK_EXIT : H.HOOK_DONE;
      },
    };
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(seen[0]).toEqual([0x3000, 1, 1, 0x5a]);
    expect(seen.at(-1)!.slice(0, 3)).toEqual([0xf0000, 1, 2]);
    expect(cpu.st[EIP]).toBe(0);
  });

  it("a far JMP whose accessed-bit write exits leaves CS as it was", () => {
    // Protected mode, 16-bit code at 0x100; the GDT (descriptors not accessed) in
    // read-only RAM at 0x3000, as firmware running from ROM has it.
    const code = [0x66, 0xea, 0x00, 0x02, 0x00, 0x00, 0x08, 0x00]; // jmp dword 0x08:0x200
    const cpu = realMode(code);
    cpu.mem.removeRam(0);
    cpu.mem.addRam(0, new Uint8Array(0x3000));
    const gdt = new Uint8Array(0x1000);
    gdt.set([0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0x9a, 0xcf, 0]);
    cpu.mem.addRam(0x3000, gdt, true);
    cpu.mem.load(0x100, code);
    cpu.st[GDTR_BASE] = 0x3000;
    cpu.st[GDTR_LIMIT] = 0xf;
    cpu.st[CR0] = cpu.st[CR0]! | 1;
    const writes: number[] = [];
    cpu.hooks = {
      onEvent: (c, k) => {
        if (k !== H.EV_MMIO || c.exitInfo[3] !== 1) return H.HOOK_PASS;
        writes.push(c.exitInfo[1]! >>> 0);
        return H.HOOK_EXIT; // an EPT violation: the instruction does not complete
      },
    };
    const before = [cpu.segSel[1], cpu.segBase[1], cpu.segAr[1]];
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(writes).toEqual([0x300d]);
    expect([cpu.segSel[1], cpu.segBase[1], cpu.segAr[1]]).toEqual(before);
    expect(cpu.st[EIP]).toBe(0x100);
  });

  it("a #PF the hook claims leaves CR2 alone and reports the address", () => {
    // 32-bit paging with an empty page directory: the first data access faults.
    const cpu = realMode([0xa0, 0x00, 0x50]); // mov al,[0x5000]
    cpu.st[CR2] = 0x1234;
    cpu.st[CR0] = cpu.st[CR0]! | 0x8000_0001;
    let address = 0;
    cpu.hooks = {
      onEvent: (c, k) => {
        if (k !== H.EV_EXCEPTION || c.exitInfo[1] !== 14) return H.HOOK_PASS;
        address = c.exitInfo[4]!;
        return H.HOOK_EXIT;
      },
    };
    // Code fetch faults first under paging (linear 0x100 unmapped): that is the #PF seen.
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(address).toBe(0x100);
    expect(cpu.st[CR2]).toBe(0x1234);
  });
});
