/**
 * `-kernel` with a multiboot ELF, end to end: qemu_init → pc_memory_init → fw_cfg +
 * x86_load_linux → load_multiboot; the vCPU starts in glassvm's firmware at the reset
 * vector, which reads fw_cfg, builds the memory map, enters protected mode, loads the
 * kernel and jumps to it with the multiboot hand-over.
 */
import { describe, expect, it } from "vitest";
import { qemuChrFind, ringbufRead } from "../src/chardev/char.js";
import { qemuInit, qemuMainLoop } from "../src/system/vl.js";
import { multibootElf } from "./multiboot-images.js";
import { qemuTestEnv } from "./qemu-firmware.js";

const dec = new TextDecoder();

describe("-kernel with a multiboot ELF and -initrd modules", () => {
  it("boots through the firmware and hands over the multiboot information", () => {
    const mod = new TextEncoder().encode("module one");
    const { env, stderr } = qemuTestEnv({ "kernel.elf": multibootElf(), "mod1.bin": mod });
    const inst = qemuInit(
      [
        "qemu-system-x86_64",
        "-machine",
        "pc,accel=kvm",
        "-m",
        "64",
        "-kernel",
        "kernel.elf",
        "-append",
        "console=ttyS0 quiet",
        "-initrd",
        "mod1.bin arg1",
        "-chardev",
        "ringbuf,id=dbg",
        "-device",
        "isa-debugcon,chardev=dbg",
        "-device",
        "isa-debug-exit,iobase=0x501,iosize=2",
      ],
      env,
    );
    const status = qemuMainLoop(inst, 10_000);
    expect(
      stderr
        .join("")
        .split("\n")
        .filter((l) => l && !l.includes("warning:")),
    ).toEqual([]);
    expect(dec.decode(ringbufRead(qemuChrFind("dbg")!))).toBe("MB\n");
    expect(status).toBe(33);

    const ram = inst.machine.ram!.ram!;
    const v = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
    const str = (at: number) => {
      let end = at;
      while (ram[end] !== 0) end++;
      return dec.decode(ram.subarray(at, end));
    };
    expect(v.getUint32(0x500, true)).toBe(0x2badb002); // EAX
    const mbi = v.getUint32(0x504, true); // EBX
    expect(mbi).toBe(0x9500);
    expect(v.getUint32(0x508, true) & 0x8000_0001).toBe(1); // PE, no paging
    expect(v.getUint16(0x50c, true)).toBe(0x08);
    expect(v.getUint16(0x50e, true)).toBe(0x10);

    // flags: memory, boot device, cmdline, modules, memory map, boot loader name
    expect(v.getUint32(mbi, true)).toBe(0x24f);
    expect(v.getUint32(mbi + 4, true)).toBe(639); // mem_lower
    expect(v.getUint32(mbi + 8, true)).toBe(63 * 1024); // mem_upper: 64 MiB − 1 MiB
    expect(v.getUint32(mbi + 12, true)).toBe(0x8000ffff);
    expect(str(v.getUint32(mbi + 16, true))).toBe("kernel.elf console=ttyS0 quiet");
    expect(str(v.getUint32(mbi + 64, true))).toBe("qemu");

    expect(v.getUint32(mbi + 20, true)).toBe(1); // mods_count
    const modEntry = v.getUint32(mbi + 24, true);
    const start = v.getUint32(modEntry, true);
    const end = v.getUint32(modEntry + 4, true);
    expect(start % 4096).toBe(0);
    expect(end - start).toBe(mod.length);
    expect(dec.decode(ram.subarray(start, end))).toBe("module one");
    expect(str(v.getUint32(modEntry + 8, true))).toBe("mod1.bin arg1");

    // The memory map: size-prefixed entries at mmap_addr.
    const mmapLen = v.getUint32(mbi + 44, true);
    const mmapAddr = v.getUint32(mbi + 48, true);
    expect(mmapAddr).toBe(0x9000);
    const map: [number, number, number][] = [];
    for (let p = mmapAddr; p < mmapAddr + mmapLen; p += 4 + v.getUint32(p, true)) {
      expect(v.getUint32(p, true)).toBe(20);
      map.push([
        Number(v.getBigUint64(p + 4, true)),
        Number(v.getBigUint64(p + 12, true)),
        v.getUint32(p + 20, true),
      ]);
    }
    expect(map).toEqual([
      [0, 0x9fc00, 1],
      [0x9fc00, 0x400, 2],
      [0xf0000, 0x10000, 2],
      [0x10_0000, 63 * 1024 * 1024, 1],
      [0xffff_0000, 0x10000, 2],
    ]);
    // The kernel itself, and its bss cleared.
    expect(v.getUint32(0x10_0060, true)).toBe(0x1badb002);
  });
});
