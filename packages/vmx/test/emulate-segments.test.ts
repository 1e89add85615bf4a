/**
 * A far JMP through a GDT in a read-only memslot (firmware running from ROM, descriptors
 * without the accessed bit): the CPU's write of the accessed bit hits the ROM, the EPT
 * violation sends the instruction to KVM's emulator, which completes the jump — CS loaded
 * with set_segment — and hands the descriptor write to userspace as KVM_EXIT_MMIO, as
 * Linux does (the write is dropped there: it is ROM). The guest then runs on in 32-bit
 * protected mode.
 */
import { KVM_MEM_READONLY } from "@glassvm/kvm-kernel/uapi";
import { expect, it } from "vitest";
import { createGuest, le16, le32, le64 } from "./guests.js";

const ROM = 0xf_0000;

it("completes a far JMP whose descriptor lives in ROM and reports the accessed-bit write", () => {
  const g = createGuest({ ramSize: 0x8_0000 });
  const romAddr = g.os.mmap(-1, 0x1_0000);
  const rom = g.os.view(romAddr, 0x1_0000);
  rom.set([
    ...[0x66, 0x2e, 0x0f, 0x01, 0x16, 0x40, 0x00], // lgdtl cs:[0x40]
    ...[0x0f, 0x20, 0xc0], // mov eax, cr0
    ...[0x0c, 0x01], // or al, 1
    ...[0x0f, 0x22, 0xc0], // mov cr0, eax
    ...[0x66, 0xea, ...le32(ROM + 0x20), ...le16(0x08)], // ljmpl 0x08:ROM+0x20
  ]);
  rom.set([0xb0, 0x41, 0xe6, 0xe9, 0xf4], 0x20); // mov al,'A'; out 0xe9,al; hlt
  rom.set([...le16(0x17), ...le32(ROM + 0x48)], 0x40); // the GDT descriptor
  rom.set([...le64(0n), ...le64(0x00cf_9a00_0000_ffffn), ...le64(0x00cf_9200_0000_ffffn)], 0x48);
  g.vm.setUserMemoryRegion({
    slot: 1,
    flags: KVM_MEM_READONLY,
    guestPhysAddr: BigInt(ROM),
    memorySize: 0x1_0000n,
    userspaceAddr: BigInt(romAddr),
  });
  const s = g.vcpu.getSregs();
  g.vcpu.setSregs({ ...s, cs: { ...s.cs, selector: 0xf000, base: BigInt(ROM) } });
  g.vcpu.setRegs({ ...g.vcpu.getRegs(), rip: 0n, rflags: 2n });

  const first = g.vcpu.run();
  expect(first.reason).toBe("MmioWrite");
  if (first.reason !== "MmioWrite") return;
  // The write lands in the code descriptor (selector 0x08) and sets the accessed bit.
  expect(first.addr >= BigInt(ROM + 0x50) && first.addr < BigInt(ROM + 0x58)).toBe(true);
  const cs = g.vcpu.getSregs().cs;
  expect([cs.selector, cs.base, cs.db, cs.type & 1]).toEqual([0x08, 0n, 1, 1]);
  expect(g.vcpu.getRegs().rip).toBe(BigInt(ROM + 0x20));
  const out = g.vcpu.run();
  expect(out).toMatchObject({ reason: "IoOut", port: 0xe9 });
  expect(g.vcpu.run().reason).toBe("Hlt");
  expect(rom[0x48 + 8 + 5]).toBe(0x9a); // ROM unchanged
});
