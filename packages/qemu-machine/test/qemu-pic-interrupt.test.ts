/**
 * The userspace irqchip path: the guest programs the 8259 and the PIT, enables
 * interrupts and halts (KVM_EXIT_HLT → the vCPU sleeps); the PIT's IRQ 0 raises the
 * PIC's INTR, the vCPU wakes, kvm_arch_pre_run injects vector 8 with KVM_INTERRUPT and
 * the handler exits through isa-debug-exit.
 */
import { describe, expect, it } from "vitest";
import { qemuChrFind, ringbufRead } from "../src/chardev/char.js";
import { qemuInit, qemuMainLoop } from "../src/system/vl.js";
import { traceAddSink, traceEnable } from "../src/trace/control.js";
import { ascii, outBytes, qemuTestEnv, romWith } from "./qemu-firmware.js";

const HANDLER_AT = 0xe100;

describe("PIT → i8259 → KVM_INTERRUPT wakes a halted vCPU", () => {
  it("runs the IRQ 0 handler", () => {
    const outb = (port: number, v: number) => [0xb0, v, 0xe6, port]; // mov al, v; out port, al
    const fw = romWith([
      0xc7,
      0x06,
      0x20,
      0x00,
      HANDLER_AT & 0xff,
      HANDLER_AT >> 8, // mov word [0x20], handler
      0xc7,
      0x06,
      0x22,
      0x00,
      0x00,
      0xf0, // mov word [0x22], 0xf000
      ...outb(0x20, 0x11), // ICW1
      ...outb(0x21, 0x08), // ICW2: vectors 8-15
      ...outb(0x21, 0x04), // ICW3
      ...outb(0x21, 0x01), // ICW4
      ...outb(0x21, 0xfe), // mask all but IRQ 0
      ...outb(0x43, 0x34), // PIT channel 0, lo/hi, mode 2
      ...outb(0x40, 0xa9), // 1193 ≈ 1 ms
      ...outb(0x40, 0x04),
      0xfb, // sti
      0xf4, // hlt
      0xeb,
      0xfd, // jmp hlt
    ]);
    fw.set([...outBytes(0xe9, ascii("T")), 0xb0, 0x07, 0xba, 0x01, 0x05, 0xee, 0xf4], HANDLER_AT);
    const { env } = qemuTestEnv({ "fw.bin": fw });
    const inst = qemuInit(
      [
        "qemu-system-x86_64",
        "-m",
        "16",
        "-bios",
        "fw.bin",
        "-chardev",
        "ringbuf,id=dbg",
        "-device",
        "isa-debugcon,chardev=dbg",
        "-device",
        "isa-debug-exit",
      ],
      env,
    );
    traceEnable("kvm_run_exit");
    traceEnable("kvm_vcpu_ioctl");
    const lines: string[] = [];
    traceAddSink((r) => lines.push(r.line));
    expect(qemuMainLoop(inst, 50_000_000)).toBe(15);
    // KVM_EXIT_HLT (5) to userspace, then KVM_INTERRUPT (0x4004ae86) on CPU 0.
    const hlt = lines.indexOf("kvm_run_exit cpu_index 0, reason 5");
    const inject = lines.findIndex((l) =>
      l.startsWith("kvm_vcpu_ioctl cpu_index 0, type 0x4004ae86"),
    );
    expect(hlt).toBeGreaterThanOrEqual(0);
    expect(inject).toBeGreaterThan(hlt);
    expect(new TextDecoder().decode(ringbufRead(qemuChrFind("dbg")!))).toBe("T");
  });
});
