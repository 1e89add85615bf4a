import { objectUnparent } from "@glassvm/qom";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type IsaHarness, isaHarness } from "../../../test/isa-harness.js";
import {
  qemuChardevNew,
  qemuChrBeQueueInput,
  qemuChrFind,
  ringbufRead,
} from "../../chardev/char.js";
import { traceAddSink, traceEnable, traceReset } from "../../trace/control.js";
import "./serial.js";

// Register offsets from the base.
const RBR = 0;
const THR = 0;
const DLL = 0;
const IER = 1;
const DLM = 1;
const IIR = 2;
const FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;

const COM1 = 0x3f8;

describe("isa-serial (16550A)", () => {
  let h: IsaHarness;
  const rd = (off: number) => h.inb(COM1 + off);
  const wr = (off: number, v: number) => h.outb(COM1 + off, v);
  const output = () => new TextDecoder().decode(ringbufRead(qemuChrFind("serial0")!));

  beforeEach(() => {
    h = isaHarness();
    qemuChardevNew("serial0", { type: "ringbuf" });
  });
  afterEach(() => {
    h.dispose();
    objectUnparent(qemuChrFind("serial0")!);
    traceReset();
  });

  it("resets to LSR THRE|TEMT, IIR no-interrupt, MCR OUT2, MSR DCD|DSR|CTS", () => {
    h.create("isa-serial", { index: "0", chardev: "serial0" });
    expect(rd(LSR)).toBe(0x60);
    expect(rd(IIR)).toBe(0x01);
    expect(rd(IER)).toBe(0x00);
    expect(rd(LCR)).toBe(0x00);
    expect(rd(MCR)).toBe(0x08);
    expect(rd(MSR)).toBe(0xb0);
    expect(h.levels[4]).toBe(0);
  });

  it("THR writes reach the chardev at once; THRE and TEMT are set again", () => {
    h.create("isa-serial", { index: "0", chardev: "serial0" });
    for (const c of "OK\r\n") {
      // A polite driver waits for THRE.
      expect(rd(LSR) & 0x20).toBe(0x20);
      wr(THR, c.charCodeAt(0));
    }
    expect(output()).toBe("OK\r\n");
    expect(rd(LSR)).toBe(0x60);
  });

  it("raises the THRE interrupt on IRQ 4; reading IIR acknowledges it, a THR write re-arms it", () => {
    h.create("isa-serial", { index: "0", chardev: "serial0" });
    wr(IER, 0x02);
    expect(h.levels[4]).toBe(1);
    expect(rd(IIR)).toBe(0x02);
    expect(h.levels[4]).toBe(0);
    expect(rd(IIR)).toBe(0x01);
    wr(THR, 0x41);
    expect(h.levels[4]).toBe(1);
    expect(rd(IIR)).toBe(0x02);
    expect(h.edges[4]).toBe(2);
    expect(output()).toBe("A");
  });

  it("DLAB switches offsets 0/1 to the divisor latch (115200 / 1)", () => {
    h.create("isa-serial", { index: "0", chardev: "serial0" });
    const lines: string[] = [];
    traceEnable("serial_update_parameters");
    const off = traceAddSink((r) => lines.push(r.line));
    wr(IER, 0x05);
    wr(LCR, 0x80);
    expect(rd(DLL)).toBe(0x0c);
    expect(rd(DLM)).toBe(0x00);
    wr(DLL, 0x01);
    wr(DLM, 0x00);
    expect(rd(DLL)).toBe(0x01);
    wr(LCR, 0x03);
    off();
    expect(rd(LCR)).toBe(0x03);
    expect(rd(IER)).toBe(0x05);
    expect(lines.at(-1)).toBe("serial_update_parameters baudrate=115200 parity='N' data=8 stop=1");
    wr(THR, 0x5a);
    expect(output()).toBe("Z");
  });

  it("passes Linux's 8250 probe: IER, scratch, loopback MSR 0x90, FIFO → 16550A", () => {
    h.create("isa-serial", { index: "0", chardev: "serial0" });
    wr(IER, 0x00);
    expect(rd(IER) & 0x0f).toBe(0x00);
    wr(IER, 0x0f);
    expect(rd(IER) & 0x0f).toBe(0x0f);
    wr(IER, 0x00);
    wr(SCR, 0xa5);
    expect(rd(SCR)).toBe(0xa5);
    wr(SCR, 0x5a);
    expect(rd(SCR)).toBe(0x5a);
    wr(MCR, 0x10 | 0x0a);
    expect(rd(MSR) & 0xf0).toBe(0x90);
    wr(MCR, 0x08);
    wr(FCR, 0x01);
    expect(rd(IIR) >> 6).toBe(3);
  });

  it("in loopback a transmitted byte is received, not sent, and MCR shows in MSR", () => {
    h.create("isa-serial", { index: "0", chardev: "serial0" });
    wr(MCR, 0x10 | 0x0f);
    expect(rd(MSR)).toBe(0xf0);
    wr(THR, 0x42);
    expect(rd(LSR) & 0x01).toBe(0x01);
    expect(rd(RBR)).toBe(0x42);
    expect(rd(LSR) & 0x01).toBe(0x00);
    expect(output()).toBe("");
  });

  it("receives from the chardev with an RDA interrupt, one byte at a time without FIFO", () => {
    h.create("isa-serial", { index: "0", chardev: "serial0" });
    wr(IER, 0x01);
    expect(h.levels[4]).toBe(0);
    qemuChrBeQueueInput(qemuChrFind("serial0")!, new TextEncoder().encode("hi"));
    expect(h.levels[4]).toBe(1);
    expect(rd(IIR)).toBe(0x04);
    expect(rd(LSR) & 0x01).toBe(0x01);
    expect(rd(RBR)).toBe(0x68);
    // Reading RBR made room: the next byte arrived.
    expect(rd(LSR) & 0x03).toBe(0x01);
    expect(rd(RBR)).toBe(0x69);
    expect(rd(LSR) & 0x01).toBe(0x00);
    expect(rd(IIR)).toBe(0x01);
    expect(h.levels[4]).toBe(0);
  });

  it("with the FIFO on, RDA waits for the trigger level; fewer bytes time out (CTI)", () => {
    h.create("isa-serial", { index: "0", chardev: "serial0" });
    wr(FCR, 0x87); // enable, clear both, trigger level 8
    wr(IER, 0x01);
    const chr = qemuChrFind("serial0")!;
    qemuChrBeQueueInput(chr, new TextEncoder().encode("abc"));
    expect(rd(IIR)).toBe(0xc1);
    expect(rd(LSR) & 0x01).toBe(0x01);
    // Four character times at 9600 8N1 (~4.2 ms) later: character timeout.
    h.advance(5_000_000);
    expect(rd(IIR)).toBe(0xcc);
    expect(h.levels[4]).toBe(1);
    qemuChrBeQueueInput(chr, new TextEncoder().encode("defghij"));
    expect(rd(IIR) & 0x0f).toBe(0x0c);
    expect(rd(RBR)).toBe(0x61);
    // The backend offers bytes up to the trigger level only; the read made room for
    // one more, so the FIFO is back at 8 and RDA stays pending.
    expect(rd(IIR)).toBe(0xc4);
    let s = "";
    while (rd(LSR) & 0x01) s += String.fromCharCode(rd(RBR));
    expect(s).toBe("bcdefghij");
    expect(h.levels[4]).toBe(0);
  });

  it("reaches the RDA level of 8 bytes in one go", () => {
    h.create("isa-serial", { index: "0", chardev: "serial0" });
    wr(FCR, 0x81);
    wr(IER, 0x01);
    qemuChrBeQueueInput(qemuChrFind("serial0")!, new TextEncoder().encode("0123456789"));
    expect(rd(IIR)).toBe(0xc4);
    expect(h.levels[4]).toBe(1);
  });

  it("orders IIR: line status > received data > THR empty", () => {
    h.create("isa-serial", { index: "0", chardev: "serial0" });
    wr(MCR, 0x10); // loopback: we can overrun the receiver ourselves
    wr(IER, 0x07);
    wr(THR, 0x31);
    wr(THR, 0x32); // overrun: DR still set
    expect(rd(IIR)).toBe(0x06);
    expect(rd(LSR) & 0x03).toBe(0x03);
    expect(rd(IIR)).toBe(0x04);
    expect(rd(RBR)).toBe(0x32);
    expect(rd(IIR)).toBe(0x02);
    expect(rd(IIR)).toBe(0x01);
  });

  it("index selects the PC's port and IRQ; more than four is refused", () => {
    h.create("isa-serial", { index: "1", chardev: "serial0" });
    h.create("isa-serial", { index: "3" });
    h.outb(0x2f8 + IER, 0x02);
    expect(h.levels[3]).toBe(1);
    expect(h.inb(0x2e8 + LSR)).toBe(0x60);
    h.outb(0x2f8 + THR, 0x21);
    expect(output()).toBe("!");
    h.create("isa-serial", { iobase: "0x3e8", irq: "5", index: "2" });
    h.outb(0x3e8 + IER, 0x02);
    expect(h.levels[5]).toBe(1);
    expect(() => h.create("isa-serial", { index: "4" })).toThrow(
      "Max. supported number of ISA serial ports is 4.",
    );
  });

  it("traces serial_read and serial_write with QEMU's format", () => {
    h.create("isa-serial", { index: "0", chardev: "serial0" });
    const lines: string[] = [];
    traceEnable("serial_*");
    const off = traceAddSink((r) => lines.push(r.line));
    wr(SCR, 0x7f);
    rd(LSR);
    off();
    expect(lines).toEqual([
      "serial_write write addr 0x07 val 0x7f",
      "serial_read read addr 0x05 val 0x60",
    ]);
  });
});
