/**
 * A bench for ISA device tests: QOM initialised, a /machine container for unattached
 * devices, manual QEMU_CLOCK_VIRTUAL and QEMU_CLOCK_HOST, a fresh ISA bus whose 16 IRQ
 * lines are recorded, and port I/O helpers. `dispose()` unrealizes what `create` made.
 */
import {
  type DeviceState,
  MODULE_INIT_QOM,
  moduleCallInit,
  objectGetRoot,
  objectNew,
  objectPropertyAddChild,
  objectPropertyAddNewContainer,
  objectPropertyParse,
  objectResolvePathComponent,
  objectUnparent,
  objectUnref,
  TYPE_CONTAINER,
} from "@glassvm/qom";
import { qemuAllocateIrqs } from "../src/hw/irq.js";
import {
  type ISABus,
  type ISADevice,
  isaBusIrqs,
  isaBusNew,
  isaNew,
  isaRealizeAndUnref,
} from "../src/hw/isa/isa-bus.js";
import { AddressSpace } from "../src/system/memory.js";
import { runstateReset } from "../src/system/runstate.js";
import {
  QEMU_CLOCK_HOST,
  QEMU_CLOCK_VIRTUAL,
  qemuClockRunTimers,
  qemuClockSetSource,
} from "../src/util/qemu-timer.js";

export interface IsaHarness {
  readonly bus: ISABus;
  readonly io: AddressSpace;
  /** Current level of each ISA IRQ line (when the harness owns the lines). */
  readonly levels: number[];
  /** Rising edges seen on each ISA IRQ line. */
  readonly edges: number[];
  /** QEMU_CLOCK_VIRTUAL and QEMU_CLOCK_HOST now, in ns (both start at 0). */
  now(): number;
  /** Move both clocks forward and run the timers that came due. */
  advance(ns: number): void;
  /** Create, configure (string properties, as -device does) and realize a device. */
  create<T extends ISADevice>(type: string, props?: Record<string, string>): T;
  inb(port: number): number;
  outb(port: number, val: number): void;
  dispose(): void;
}

export function ensureMachine(): void {
  moduleCallInit(MODULE_INIT_QOM);
  if (objectResolvePathComponent(objectGetRoot(), "machine")) return;
  const machine = objectNew(TYPE_CONTAINER);
  objectPropertyAddChild(objectGetRoot(), "machine", machine);
  objectUnref(machine);
  objectPropertyAddNewContainer(machine, "unattached");
}

/** A fresh bench; with `ownIrqs: false` the test registers the bus IRQs itself. */
export function isaHarness(opts: { ownIrqs?: boolean } = {}): IsaHarness {
  ensureMachine();
  runstateReset();
  let t = 0;
  qemuClockSetSource(QEMU_CLOCK_VIRTUAL, () => t);
  qemuClockSetSource(QEMU_CLOCK_HOST, () => t);
  const bus = isaBusNew(null, null, null);
  const levels = new Array<number>(16).fill(0);
  const edges = new Array<number>(16).fill(0);
  if (opts.ownIrqs !== false) {
    isaBusIrqs(
      bus,
      qemuAllocateIrqs(
        (_o, n, level) => {
          if (level && !levels[n]) edges[n]!++;
          levels[n] = level ? 1 : 0;
        },
        null,
        16,
      ),
    );
  }
  const io = new AddressSpace("I/O", bus.addressSpaceIo);
  const created: DeviceState[] = [];
  return {
    bus,
    io,
    levels,
    edges,
    now: () => t,
    advance(ns) {
      t += ns;
      qemuClockRunTimers(QEMU_CLOCK_VIRTUAL);
      qemuClockRunTimers(QEMU_CLOCK_HOST);
    },
    create<T extends ISADevice>(type: string, props: Record<string, string> = {}): T {
      const dev = isaNew<T>(type);
      for (const [k, v] of Object.entries(props)) objectPropertyParse(dev, k, v);
      isaRealizeAndUnref(dev, bus);
      created.push(dev);
      return dev;
    },
    inb: (port) => io.read(port, 1),
    outb: (port, val) => io.write(port, val, 1),
    dispose() {
      for (const dev of created.reverse()) objectUnparent(dev);
      objectUnref(bus);
      runstateReset();
      qemuClockSetSource(QEMU_CLOCK_VIRTUAL, null);
      qemuClockSetSource(QEMU_CLOCK_HOST, null);
    },
  };
}
