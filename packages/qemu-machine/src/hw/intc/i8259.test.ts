import { objectUnparent } from "@glassvm/qom";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type IsaHarness, isaHarness } from "../../../test/isa-harness.js";
import { traceAddSink, traceEnable, traceReset } from "../../trace/control.js";
import { type QemuIrq, qemuAllocateIrq, qemuIrqPulse, qemuSetIrq } from "../irq.js";
import { isaBusIrqs } from "../isa/isa-bus.js";
import { i8259Init, isaPic, type PICCommonState, picGetOutput, picReadIrq } from "./i8259.js";

describe("i8259 PIC pair", () => {
  let h: IsaHarness;
  let irqs: QemuIrq[];
  let intr: number;
  let master: PICCommonState;
  let slave: PICCommonState;

  /** The ICW sequence Linux's init_8259A and SeaBIOS both use (ICW4: 8086 mode). */
  function initPics(masterBase: number, slaveBase: number, icw4 = 0x01): void {
    h.outb(0x20, 0x11);
    h.outb(0x21, masterBase);
    h.outb(0x21, 0x04); // slave on IR2
    h.outb(0x21, icw4);
    h.outb(0xa0, 0x11);
    h.outb(0xa1, slaveBase);
    h.outb(0xa1, 0x02); // cascade identity 2
    h.outb(0xa1, icw4);
    h.outb(0x21, 0x00);
    h.outb(0xa1, 0x00);
  }
  const ocw3ReadIsr = (port: number) => {
    h.outb(port, 0x0b);
    const v = h.inb(port);
    h.outb(port, 0x0a);
    return v;
  };

  beforeEach(() => {
    h = isaHarness({ ownIrqs: false });
    intr = 0;
    irqs = i8259Init(
      h.bus,
      qemuAllocateIrq((_o, _n, l) => (intr = l), null, 0),
    );
    isaBusIrqs(h.bus, irqs);
    master = isaPic!;
    slave = master.slave!;
  });
  afterEach(() => {
    objectUnparent(slave);
    objectUnparent(master);
    h.dispose();
    traceReset();
  });

  it("programs vector bases with ICW1–4 and delivers IRQ 0 as vector base+0", () => {
    initPics(0x08, 0x70);
    qemuIrqPulse(irqs[0]!);
    expect(intr).toBe(1);
    expect(h.inb(0x20)).toBe(0x01); // IRR (OCW3 default)
    expect(picReadIrq(master)).toBe(0x08);
    expect(intr).toBe(0);
    expect(h.inb(0x20)).toBe(0x00);
    expect(ocw3ReadIsr(0x20)).toBe(0x01);
    h.outb(0x20, 0x20); // non-specific EOI
    expect(ocw3ReadIsr(0x20)).toBe(0x00);
  });

  it("masks with IMR (OCW1) and reads it back", () => {
    initPics(0x20, 0x28);
    h.outb(0x21, 0xfe);
    expect(h.inb(0x21)).toBe(0xfe);
    qemuIrqPulse(irqs[1]!);
    expect(intr).toBe(0);
    expect(h.inb(0x20)).toBe(0x02);
    h.outb(0x21, 0x00);
    expect(intr).toBe(1);
    expect(picReadIrq(master)).toBe(0x21);
  });

  it("serves by priority; an in-service IRQ blocks lower ones until EOI", () => {
    initPics(0x20, 0x28);
    qemuIrqPulse(irqs[3]!);
    qemuIrqPulse(irqs[1]!);
    expect(picReadIrq(master)).toBe(0x21);
    expect(intr).toBe(0); // IRQ 3 waits behind IRQ 1
    qemuIrqPulse(irqs[0]!);
    expect(intr).toBe(1); // IRQ 0 nests above IRQ 1
    expect(picReadIrq(master)).toBe(0x20);
    h.outb(0x20, 0x60); // specific EOI for IRQ 0
    h.outb(0x20, 0x20); // EOI for IRQ 1
    expect(intr).toBe(1);
    expect(picReadIrq(master)).toBe(0x23);
  });

  it("delivers slave IRQs through master input 2 (cascade)", () => {
    initPics(0x08, 0x70);
    qemuIrqPulse(irqs[10]!);
    expect(h.inb(0xa0)).toBe(0x04);
    expect(h.inb(0x20)).toBe(0x04);
    expect(intr).toBe(1);
    expect(picReadIrq(master)).toBe(0x72);
    expect(ocw3ReadIsr(0xa0)).toBe(0x04);
    expect(ocw3ReadIsr(0x20)).toBe(0x04);
    h.outb(0xa0, 0x20);
    h.outb(0x20, 0x20);
    expect(ocw3ReadIsr(0xa0) | ocw3ReadIsr(0x20)).toBe(0);
  });

  it("edge-triggered inputs request once per rising edge; level ones while high (ELCR)", () => {
    initPics(0x20, 0x28);
    qemuSetIrq(irqs[5]!, 1);
    expect(picReadIrq(master)).toBe(0x25);
    h.outb(0x20, 0x20);
    expect(intr).toBe(0); // still high, but no new edge
    qemuSetIrq(irqs[5]!, 0);

    h.outb(0x4d0, 0xff);
    expect(h.inb(0x4d0)).toBe(0xf8); // IRQ 0–2 can't be level-triggered
    qemuSetIrq(irqs[5]!, 1);
    expect(picReadIrq(master)).toBe(0x25);
    h.outb(0x20, 0x20);
    expect(intr).toBe(1); // still asserted: requests again
    qemuSetIrq(irqs[5]!, 0);
    expect(intr).toBe(0);
    expect(h.inb(0x20) & 0x20).toBe(0);
    h.outb(0x4d1, 0xff);
    expect(h.inb(0x4d1)).toBe(0xde);
  });

  it("poll mode (OCW3 bit 2) returns 0x80 | irq and acknowledges it", () => {
    initPics(0x20, 0x28);
    qemuIrqPulse(irqs[6]!);
    h.outb(0x20, 0x0c);
    expect(h.inb(0x20)).toBe(0x86);
    expect(ocw3ReadIsr(0x20)).toBe(0x40);
    h.outb(0x20, 0x0c);
    expect(h.inb(0x20)).toBe(0x00);
  });

  it("answers a vanished request with spurious IRQ 7 (or 15 from the slave)", () => {
    initPics(0x08, 0x70);
    expect(picReadIrq(master)).toBe(0x0f);
    expect(ocw3ReadIsr(0x20)).toBe(0x00);
    h.outb(0x4d1, 0x04); // IRQ 10 level-triggered
    qemuSetIrq(irqs[10]!, 1);
    qemuSetIrq(irqs[10]!, 0); // gone before INTA; the master latched the edge on IR2
    expect(intr).toBe(1);
    expect(picReadIrq(master)).toBe(0x77);
  });

  it("auto-EOI (ICW4 bit 1) leaves ISR clear", () => {
    initPics(0x20, 0x28, 0x03);
    qemuIrqPulse(irqs[4]!);
    expect(picReadIrq(master)).toBe(0x24);
    expect(ocw3ReadIsr(0x20)).toBe(0x00);
  });

  it("rotates priorities on EOI and with set-priority", () => {
    initPics(0x20, 0x28);
    qemuIrqPulse(irqs[1]!);
    expect(picReadIrq(master)).toBe(0x21);
    h.outb(0x20, 0xa0); // rotate on non-specific EOI: IRQ 1 becomes lowest
    qemuIrqPulse(irqs[5]!);
    qemuIrqPulse(irqs[1]!);
    expect(picReadIrq(master)).toBe(0x25);
    h.outb(0x20, 0x20);
    h.outb(0x20, 0xc4); // set priority: IRQ 4 lowest, so 5, 6, 7, 0, 1, …
    qemuIrqPulse(irqs[0]!);
    expect(picReadIrq(master)).toBe(0x20); // IRQ 0 now outranks the waiting IRQ 1
    h.outb(0x20, 0x20);
    expect(picReadIrq(master)).toBe(0x21);
  });

  it("special mask mode lets lower priorities in past a masked in-service IRQ", () => {
    initPics(0x20, 0x28);
    qemuIrqPulse(irqs[1]!);
    expect(picReadIrq(master)).toBe(0x21);
    qemuIrqPulse(irqs[5]!);
    expect(intr).toBe(0);
    h.outb(0x21, 0x02);
    h.outb(0x20, 0x68); // set special mask
    // As in QEMU, OCW3 itself does not re-evaluate INT; the next INTA or update does.
    expect(picGetOutput(master)).toBe(true);
    expect(picReadIrq(master)).toBe(0x25);
    expect(picGetOutput(master)).toBe(false);
  });

  it("traces pic_* events with QEMU's formats", () => {
    initPics(0x20, 0x28);
    const lines: string[] = [];
    traceEnable("pic_*");
    const off = traceAddSink((r) => lines.push(r.line));
    qemuIrqPulse(irqs[0]!);
    picReadIrq(master);
    h.inb(0x21);
    off();
    expect(lines).toEqual([
      "pic_set_irq master 1 irq 0 level 1",
      "pic_update_irq master 1 imr 0 irr 1 padd 0",
      "pic_set_irq master 1 irq 0 level 0",
      "pic_update_irq master 1 imr 0 irr 1 padd 0",
      "pic_interrupt irq 0 intno 32",
      "pic_ioport_read master 1 addr 0x1 val 0x0",
    ]);
  });
});
