/**
 * Coalesced PIO (virt/kvm/coalesced_mmio.c): after KVM_REGISTER_COALESCED_MMIO with `pio`,
 * OUTs to the zone do not exit; they wait in the ring on page 2 of the first vCPU's mmap
 * until userspace replays them. A full ring sends the write to userspace as before.
 */
import { describe, expect, it } from "vitest";
import {
  KVM_CAP_COALESCED_PIO,
  KVM_CHECK_EXTENSION,
  KVM_COALESCED_MMIO_MAX,
  KVM_EXIT_IO,
  KVM_REGISTER_COALESCED_MMIO,
  KVM_UNREGISTER_COALESCED_MMIO,
} from "../src/uapi/index.js";
import { HLT, irqchipVm, movAl, outImm } from "./irqchip-setup.js";

function zone(addr: number, size: number, pio: boolean): Uint8Array {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, BigInt(addr), true);
  dv.setUint32(8, size, true);
  dv.setUint32(12, pio ? 1 : 0, true);
  return b;
}

/** The ring: first, last and the entries' (addr, len, pio, data[0]). */
function ring(bytes: Uint8Array) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset + 2 * 4096, 4096);
  const first = dv.getUint32(0, true);
  const last = dv.getUint32(4, true);
  const entries: [number, number, number, number][] = [];
  for (let i = first; i !== last; i = (i + 1) % KVM_COALESCED_MMIO_MAX) {
    const at = 8 + i * 24;
    entries.push([
      Number(dv.getBigUint64(at, true)),
      dv.getUint32(at + 8, true),
      dv.getUint32(at + 12, true),
      dv.getUint8(at + 16),
    ]);
  }
  return { first, last, entries };
}

const say = (...chars: string[]): number[] =>
  chars.flatMap((c) => [...movAl(c.charCodeAt(0)), ...outImm(0xe9)]);

describe("coalesced PIO", () => {
  it("OUTs to a registered port wait in the ring; the next exit is the port outside it", () => {
    const v = irqchipVm(1, [[0x1000, [...say("h", "i"), ...movAl(1), ...outImm(0x90), ...HLT]]]);
    expect(v.proc.ioctl(v.sys, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_PIO)).toBe(1);
    expect(v.proc.ioctl(v.vm, KVM_REGISTER_COALESCED_MMIO, zone(0xe9, 1, true))).toBe(0);
    expect(v.run(0)).toBe(0);
    expect(v.runs[0]!.exitReason).toBe(KVM_EXIT_IO);
    expect(v.runs[0]!.ioPort).toBe(0x90);
    expect(ring(v.runs[0]!.bytes).entries).toEqual([
      [0xe9, 1, 1, 0x68],
      [0xe9, 1, 1, 0x69],
    ]);
  });

  it("without the zone (or after unregistering it) every OUT exits", () => {
    const v = irqchipVm(1, [[0x1000, [...say("h"), ...HLT]]]);
    expect(v.proc.ioctl(v.vm, KVM_REGISTER_COALESCED_MMIO, zone(0xe9, 1, true))).toBe(0);
    expect(v.proc.ioctl(v.vm, KVM_UNREGISTER_COALESCED_MMIO, zone(0xe0, 0x10, true))).toBe(0);
    expect(v.run(0)).toBe(0);
    expect(v.runs[0]!.ioPort).toBe(0xe9);
    expect(ring(v.runs[0]!.bytes).entries).toEqual([]);
  });

  it("a full ring (one slot always free) sends the write to userspace", () => {
    const n = KVM_COALESCED_MMIO_MAX;
    const v = irqchipVm(1, [[0x1000, [...say(...Array<string>(n).fill("x")), ...HLT]]]);
    expect(v.proc.ioctl(v.vm, KVM_REGISTER_COALESCED_MMIO, zone(0xe9, 1, true))).toBe(0);
    expect(v.run(0)).toBe(0);
    expect(v.runs[0]!.ioPort).toBe(0xe9);
    const r = ring(v.runs[0]!.bytes);
    expect(r.entries.length).toBe(n - 1);
    expect([r.first, r.last]).toEqual([0, n - 1]);
  });
});
