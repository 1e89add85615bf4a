/**
 * A vCPU's shared state (KvmVcpuShared) and remote stubs (kvmCreateRemoteVcpu): what a
 * thread that does not own a vCPU may do to it — deliver IPIs and I/O APIC messages
 * (fixed, level, lowest priority, NMI, INIT, SIPI; physical, logical and x2APIC
 * destinations) — reaches the owner through the shared page and words only, with no
 * vendor op called on the stub; bits set from two threads at once are never lost; and a
 * threaded VM's halted or uninitialized vCPU really sleeps until another thread wakes it.
 */
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import {
  HLT,
  type IrqchipVm,
  irqchipVm,
  JMP_SELF,
  le32,
  movAl,
  outImm,
  STI,
  store,
} from "../test/irqchip-setup.js";
import { TOY_CPUID } from "../test/toy-vendor.js";
import type { VcpuSharedWorkerData } from "../test/vcpu-shared-worker.js";
import { type KvmLapicIrq, kvmIrqDeliveryToApic } from "./irq_comm.js";
import {
  KVM_REQ_EVENT,
  KVM_REQ_NMI,
  KVM_VCPU_SHARED_BYTES,
  type Kvm,
  type KvmVcpu,
  KvmVcpuShared,
  kvmVcpuKick,
  VCPU_SHARED_APIC_BASE_LO,
  VCPU_SHARED_APIC_EVENTS,
  VCPU_SHARED_ARB_PRIO,
  VCPU_SHARED_MP_STATE,
  VCPU_SHARED_NMI_QUEUED,
  VCPU_SHARED_REQUESTS,
  VCPU_SHARED_SIPI_VECTOR,
  VCPU_SHARED_WAKE,
} from "./kvm_host.js";
import type { KvmX86Ops } from "./kvm-x86-ops.js";
import {
  APIC_DM_FIXED,
  APIC_DM_INIT,
  APIC_DM_LOWEST,
  APIC_DM_STARTUP,
  APIC_ICR,
  APIC_ICR2,
  APIC_ID,
  APIC_IRR,
  APIC_LDR,
  APIC_SPIV,
  APIC_TMR,
  apicAcceptIrq,
  kvmApicAcceptEvents,
  kvmApicHasInterrupt,
  kvmCreateRemoteVcpu,
  kvmGetApicInterrupt,
  kvmLapicRegWrite,
} from "./lapic.js";
import {
  EAGAIN,
  encodeKvmCpuid2,
  KVM_EXIT_IO,
  KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_UNINITIALIZED,
  KVM_SET_CPUID2,
} from "./uapi/index.js";
import { getVcpuEvents, kvmSetMsr } from "./x86.js";

const irrHas = (v: KvmVcpu, vec: number) =>
  ((v.arch.apic!.getReg(APIC_IRR + ((vec >> 5) << 4)) >>> (vec & 31)) & 1) === 1;
const tmrHas = (v: KvmVcpu, vec: number) =>
  ((v.arch.apic!.getReg(APIC_TMR + ((vec >> 5) << 4)) >>> (vec & 31)) & 1) === 1;
const write = (v: KvmVcpu, off: number, val: number) => kvmLapicRegWrite(v.arch.apic!, off, val);
function ipi(v: KvmVcpu, low: number, dest: number) {
  write(v, APIC_ICR2, dest << 24);
  write(v, APIC_ICR, low);
}
const msg = (o: Partial<KvmLapicIrq>): KvmLapicIrq => ({
  vector: 0,
  deliveryMode: APIC_DM_FIXED,
  destMode: 0,
  level: true,
  trigMode: false,
  shorthand: 0,
  destId: 0,
  ...o,
});

/**
 * Vendor ops that throw when handed `stub`: Kvm.ops swapped for a proxy (the stub's
 * thread has no vendor state for it).
 */
function forbidVendorOps(kvm: Kvm, stub: KvmVcpu): void {
  const ops = kvm.ops;
  const guarded = new Proxy(ops, {
    get(target, prop, receiver) {
      const f = Reflect.get(target, prop, receiver) as unknown;
      if (typeof f !== "function") return f;
      return (...args: unknown[]) => {
        if (args[0] === stub) throw new Error(`vendor op ${String(prop)} on a remote stub`);
        return (f as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as KvmX86Ops;
  Object.defineProperty(kvm, "ops", { value: guarded });
}

/**
 * Two threads' copies of one VM, in one thread: copy 1 owns vCPU A (id 1, the AP); copy 2
 * owns a sender (id 0) and holds a stub of A over A.shared. Both APICs software-enabled.
 */
function twoCopies() {
  const c1 = irqchipVm(2);
  const c2 = irqchipVm(1);
  const a = c1.kv[1]!;
  const sender = c2.kv[0]!;
  write(a, APIC_SPIV, 0x1ff);
  write(sender, APIC_SPIV, 0x1ff);
  const stub = kvmCreateRemoteVcpu(c2.kvm(), 1, 1, a.shared);
  forbidVendorOps(c2.kvm(), stub);
  return { c1, c2, a, sender, stub };
}

describe("KvmVcpuShared", () => {
  it("one buffer: page 0 the APIC registers, page 1 the words; a short buffer is refused", () => {
    const s = new KvmVcpuShared();
    expect(s.buffer.byteLength).toBe(KVM_VCPU_SHARED_BYTES);
    expect(s.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect([s.apicRegs.byteOffset, s.apicRegs.length]).toEqual([0, 4096]);
    expect([s.words.byteOffset, s.words.length]).toEqual([4096, 1024]);
    expect(() => new KvmVcpuShared(new SharedArrayBuffer(4096))).toThrow(RangeError);
  });

  it("requests, IA32_APIC_BASE, mp_state and the APIC page of a vCPU live in it", () => {
    const { kv } = irqchipVm(2);
    const ap = kv[1]!;
    const w = ap.shared.words;
    expect(w[VCPU_SHARED_APIC_BASE_LO]! >>> 0).toBe(0xfee0_0800);
    expect(w[VCPU_SHARED_MP_STATE]).toBe(KVM_MP_STATE_UNINITIALIZED);
    expect(ap.arch.apic!.regs.buffer).toBe(ap.shared.buffer);
    expect(new DataView(ap.shared.buffer).getUint32(APIC_ID, true)).toBe(1 << 24);
    ap.requests = 0;
    ap.requests |= KVM_REQ_EVENT;
    expect(w[VCPU_SHARED_REQUESTS]).toBe(KVM_REQ_EVENT);
    // IA32_APIC_BASE above 4 GiB keeps its high half.
    ap.arch.apicBase = 0x1_2345_6000 + 0x900;
    expect(ap.arch.apicBase).toBe(0x1_2345_6900);
  });

  it("kvmVcpuKick bumps the WAKE sequence", () => {
    const { kv } = irqchipVm(1);
    const w = kv[0]!.shared.words;
    const seq = w[VCPU_SHARED_WAKE]!;
    kvmVcpuKick(kv[0]!);
    expect(w[VCPU_SHARED_WAKE]).toBe(seq + 1);
  });
});

describe("remote stubs (kvmCreateRemoteVcpu)", () => {
  it("sit in kvm.vcpus by index over the owner's page, not reset, with no vendor state", () => {
    const { c2, a, stub } = twoCopies();
    expect(c2.kvm().vcpus.map((v) => [v.vcpuId, v.vcpuIdx, v.remote])).toEqual([
      [0, 0, false],
      [1, 1, true],
    ]);
    expect(stub.vendor).toBeNull();
    expect(stub.arch.apic!.regs.buffer).toBe(a.shared.buffer);
    // The owner's registers survive the stub's creation.
    expect(stub.arch.apic!.getReg(APIC_SPIV)).toBe(0x1ff);
    expect(stub.arch.apic!.getReg(APIC_ID)).toBe(1 << 24);
    expect(stub.arch.apicBase).toBe(a.arch.apicBase);
    expect(stub.arch.mpState).toBe(KVM_MP_STATE_UNINITIALIZED);
  });

  it("keep kvm.vcpus sorted by index; a stub replaces a stub, never a local vCPU", () => {
    const c = irqchipVm(1);
    const kvm = c.kvm();
    const s3 = kvmCreateRemoteVcpu(kvm, 7, 3, new KvmVcpuShared());
    kvmCreateRemoteVcpu(kvm, 5, 2, new KvmVcpuShared());
    expect(kvm.vcpus.map((v) => v.vcpuIdx)).toEqual([0, 2, 3]);
    const again = kvmCreateRemoteVcpu(kvm, 7, 3, s3.shared);
    expect(kvm.vcpus.length).toBe(3);
    expect(kvm.vcpus[2]).toBe(again);
    expect(() => kvmCreateRemoteVcpu(kvm, 9, 0, new KvmVcpuShared())).toThrow(RangeError);
  });

  it("without an in-kernel irqchip a stub has no APIC", () => {
    const c = irqchipVm(1, [], { irqchip: false });
    expect(kvmCreateRemoteVcpu(c.kvm(), 1, 1, new KvmVcpuShared()).arch.apic).toBeNull();
  });
});

describe("delivery through a remote stub reaches the owner", () => {
  it("a fixed IPI to a physical destination: IRR bit, KVM_REQ_EVENT, a kick", () => {
    const { a, sender } = twoCopies();
    a.requests = 0;
    const seq = a.shared.words[VCPU_SHARED_WAKE]!;
    ipi(sender, 0x4041, 1);
    expect(irrHas(a, 0x41)).toBe(true);
    expect(a.requests & KVM_REQ_EVENT).toBe(KVM_REQ_EVENT);
    expect(a.shared.words[VCPU_SHARED_WAKE]).toBeGreaterThan(seq);
    // The owner takes it (IRR → ISR).
    expect(kvmApicHasInterrupt(a)).toBe(0x41);
    expect(kvmGetApicInterrupt(a)).toBe(0x41);
    expect(irrHas(a, 0x41)).toBe(false);
  });

  it("logical flat destinations match the owner's LDR", () => {
    const { a, sender } = twoCopies();
    write(a, APIC_LDR, 0x0200_0000);
    ipi(sender, 0x4842, 0x01);
    expect(irrHas(a, 0x42)).toBe(false);
    ipi(sender, 0x4843, 0x02);
    expect(irrHas(a, 0x43)).toBe(true);
  });

  it("an I/O APIC message (no source): level-triggered sets TMR, edge clears it", () => {
    const { c2, a } = twoCopies();
    expect(
      kvmIrqDeliveryToApic(c2.kvm(), null, msg({ vector: 0x52, trigMode: true, destId: 1 })),
    ).toBe(1);
    expect([irrHas(a, 0x52), tmrHas(a, 0x52)]).toEqual([true, true]);
    expect(kvmIrqDeliveryToApic(c2.kvm(), null, msg({ vector: 0x52, destId: 1 }))).toBe(1);
    expect(tmrHas(a, 0x52)).toBe(false);
    // A broadcast reaches the local sender and the stub.
    expect(kvmIrqDeliveryToApic(c2.kvm(), null, msg({ vector: 0x53, destId: 0xff }))).toBe(2);
    expect(irrHas(a, 0x53)).toBe(true);
  });

  it("lowest priority: the arbitration counter is shared", () => {
    const { c2, a } = twoCopies();
    c2.kvm().arch.vectorHashing = false;
    write(a, APIC_LDR, 0x0200_0000);
    const irq = msg({ vector: 0x61, deliveryMode: APIC_DM_LOWEST, destMode: 0x800, destId: 2 });
    expect(kvmIrqDeliveryToApic(c2.kvm(), null, irq)).toBe(1);
    expect(irrHas(a, 0x61)).toBe(true);
    expect(a.arch.apicArbPrio).toBe(1);
    expect(a.shared.words[VCPU_SHARED_ARB_PRIO]).toBe(1);
  });

  it("NMI: queued (nmi_queued) with KVM_REQ_NMI; the owner's process_nmi makes it pending", () => {
    const { a, sender } = twoCopies();
    a.requests = 0;
    ipi(sender, 0x4400, 1);
    expect(a.shared.words[VCPU_SHARED_NMI_QUEUED]).toBe(1);
    expect(a.arch.nmiPending).toBe(0);
    expect(a.requests & KVM_REQ_NMI).toBe(KVM_REQ_NMI);
    ipi(sender, 0x4400, 1);
    ipi(sender, 0x4400, 1);
    // KVM_GET_VCPU_EVENTS runs process_nmi: at most two pending.
    expect(getVcpuEvents(a).nmi.pending).toBe(1);
    expect(a.shared.words[VCPU_SHARED_NMI_QUEUED]).toBe(0);
    expect(a.arch.nmiPending).toBe(2);
  });

  it("INIT then SIPI are latched in the shared words; the owner takes them", () => {
    const { c1, a, sender, stub } = twoCopies();
    ipi(sender, 0x4500, 1);
    expect(a.shared.words[VCPU_SHARED_APIC_EVENTS]).toBe(1);
    ipi(sender, 0x4609, 1);
    expect(a.shared.words[VCPU_SHARED_APIC_EVENTS]).toBe(3);
    expect(a.shared.words[VCPU_SHARED_SIPI_VECTOR]).toBe(9);
    expect(a.arch.apic!.pendingEvents).toBe(3);
    kvmApicAcceptEvents(a);
    expect(a.arch.mpState).toBe(KVM_MP_STATE_RUNNABLE);
    expect(stub.arch.mpState).toBe(KVM_MP_STATE_RUNNABLE);
    expect(a.arch.apic!.pendingEvents).toBe(0);
    const cs = c1.kvm().ops.getSegment(a, 1);
    expect([cs.selector, cs.base]).toEqual([0x900, 0x9000n]);
  });

  it("x2APIC mode, set by the owner, is what the stub matches destinations by", () => {
    const { c1, c2, a, stub } = twoCopies();
    const cpuid = TOY_CPUID.map((e) => (e.function === 1 ? { ...e, ecx: e.ecx | (1 << 21) } : e));
    expect(c1.proc.ioctl(c1.vcpus[1]!, KVM_SET_CPUID2, encodeKvmCpuid2(cpuid))).toBe(0);
    const base = BigInt(a.arch.apicBase) | 0x400n;
    expect(kvmSetMsr(a, { hostInitiated: false, index: 0x1b, data: base })).toBe(0);
    expect(stub.arch.apicBase).toBe(Number(base));
    // Physical: the x2APIC ID (the vCPU id); logical: cluster 0, bit 1 (LDR 0x2).
    expect(kvmIrqDeliveryToApic(c2.kvm(), null, msg({ vector: 0x71, destId: 1 }))).toBe(1);
    expect(irrHas(a, 0x71)).toBe(true);
    const logical = msg({ vector: 0x72, destMode: 0x800, destId: 0x2 });
    expect(kvmIrqDeliveryToApic(c2.kvm(), null, logical)).toBe(1);
    expect(irrHas(a, 0x72)).toBe(true);
    // A device's 0xff broadcast reaches x2APIC targets too.
    expect(kvmIrqDeliveryToApic(c2.kvm(), null, msg({ vector: 0x73, destId: 0xff }))).toBe(2);
    expect(irrHas(a, 0x73)).toBe(true);
  });

  it("INIT/SIPI through a stub also go to the stub's own accept helpers' view", () => {
    const { c2, a, stub } = twoCopies();
    const init = msg({ deliveryMode: APIC_DM_INIT, destId: 1 });
    const sipi = msg({ deliveryMode: APIC_DM_STARTUP, vector: 0x10, destId: 1 });
    expect(kvmIrqDeliveryToApic(c2.kvm(), null, init)).toBe(1);
    expect(kvmIrqDeliveryToApic(c2.kvm(), null, sipi)).toBe(1);
    expect(stub.arch.apic!.pendingEvents).toBe(a.arch.apic!.pendingEvents);
    expect(stub.arch.apic!.sipiVector).toBe(0x10);
  });
});

// ── real threads ──

/** A worker running test/vcpu-shared-worker.ts (through tsx), and its messages. */
function startWorker(data: Partial<VcpuSharedWorkerData>) {
  const script = new URL("../test/vcpu-shared-worker.ts", import.meta.url).pathname;
  const boot = `import("tsx/esm/api").then(({ tsImport }) => tsImport(${JSON.stringify(script)}, ${JSON.stringify(import.meta.url)}))`;
  const w = new Worker(boot, { eval: true, workerData: data });
  const messages: unknown[] = [];
  const waiters: ((m: unknown) => void)[] = [];
  let failure: unknown = null;
  w.on("message", (m) => {
    const f = waiters.shift();
    if (f) f(m);
    else messages.push(m);
  });
  w.on("error", (e) => {
    failure = e;
  });
  const next = <T>(): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (failure) reject(failure);
      else if (messages.length > 0) resolve(messages.shift() as T);
      else {
        waiters.push(resolve as (m: unknown) => void);
        w.once("error", reject);
      }
    });
  return { next, done: () => w.terminate() };
}

/** The toy's vector table: handler address of vector `vec` at 4·vec. */
const ivt = (vec: number, handler: number): readonly [number, number[]] => [vec * 4, le32(handler)];
const APIC = 0xfee0_0000;

function expectOut(v: IrqchipVm, i: number, port: number) {
  expect(v.runs[i]!.exitReason).toBe(KVM_EXIT_IO);
  expect(v.runs[i]!.ioPort).toBe(port);
}

describe("vCPUs in worker threads", () => {
  it("IRR and TMR bits set and cleared from two threads at once: no lost update", async () => {
    const { kv } = irqchipVm(1);
    const a = kv[0]!;
    write(a, APIC_SPIV, 0x1ff);
    const barrier = new Int32Array(new SharedArrayBuffer(4));
    // Enough that both loops run hot and overlap: with a plain read-modify-write of the
    // register, every run of this loses thousands of updates (10k iterations lose none).
    const n = 200_000;
    const w = startWorker({
      mode: "contend",
      shared: a.shared.buffer as SharedArrayBuffer,
      vcpuId: 0,
      barrier,
      n,
      firstVector: 48,
    });
    await w.next<{ ready: true }>();
    const result = w.next<{ mismatches: number }>();
    // This thread owns vectors 32–47 of the same IRR/TMR words.
    const apic = a.arch.apic!;
    let mismatches = 0;
    Atomics.add(barrier, 0, 1);
    while (Atomics.load(barrier, 0) < 2) {
      // The worker is already spinning at the barrier.
    }
    for (let i = 0; i < n; i++) {
      const vec = 32 + (i & 15);
      const level = ((i >> 4) & 1) === 1;
      apicAcceptIrq(apic, APIC_DM_FIXED, vec, true, level);
      if (tmrHas(a, vec) !== level || !irrHas(a, vec)) mismatches++;
    }
    for (let k = 0; k < 16; k++) apicAcceptIrq(apic, APIC_DM_FIXED, 32 + k, true, true);
    expect((await result).mismatches).toBe(0);
    expect(mismatches).toBe(0);
    expect(apic.getReg(APIC_IRR + 0x10)).toBe(0xffff_ffff);
    expect(apic.getReg(APIC_TMR + 0x10)).toBe(0xffff_ffff);
    await w.done();
  }, 60_000);

  it("a halted vCPU of a threaded VM sleeps until another thread's interrupt wakes it", async () => {
    const code = [...store(APIC + 0xf0, 0x1ff), ...STI, ...HLT, ...JMP_SELF];
    const handler = [...movAl(0x41), ...outImm(0x80), ...HLT];
    const v = irqchipVm(1, [ivt(0x41, 0x1100), [0x1000, code], [0x1100, handler]]);
    v.kvm().threaded = true;
    const w = startWorker({
      mode: "deliver",
      shared: v.kv[0]!.shared.buffer as SharedArrayBuffer,
      vcpuId: 0,
      irqs: [msg({ vector: 0x41, destId: 0 })],
      delayMs: 300,
    });
    await w.next<{ ready: true }>();
    // Nothing local can wake it: single-threaded, KVM_RUN would return -EINTR at once.
    expect(v.run(0)).toBe(0);
    expectOut(v, 0, 0x80);
    expect(v.kv[0]!.stat.halt_exits).toBe(1);
    expect(v.kv[0]!.stat.halt_wakeup).toBe(1);
    expect((await w.next<{ delivered: number[] }>()).delivered).toEqual([1]);
    await w.done();
  }, 60_000);

  it("an AP of a threaded VM waits in KVM_RUN for INIT and SIPI from another thread", async () => {
    const v = irqchipVm(2, [[0x9000, [...movAl(0x99), ...outImm(0x91), ...HLT]]]);
    v.kvm().threaded = true;
    const w = startWorker({
      mode: "deliver",
      shared: v.kv[1]!.shared.buffer as SharedArrayBuffer,
      vcpuId: 1,
      irqs: [
        msg({ deliveryMode: APIC_DM_INIT, destId: 1 }),
        msg({ deliveryMode: APIC_DM_STARTUP, vector: 0x09, destId: 1 }),
      ],
      delayMs: 150,
    });
    await w.next<{ ready: true }>();
    let r = v.run(1);
    for (let tries = 0; r === -EAGAIN && tries < 4; tries++) {
      expect([KVM_MP_STATE_INIT_RECEIVED, KVM_MP_STATE_RUNNABLE]).toContain(v.kv[1]!.arch.mpState);
      r = v.run(1);
    }
    expect(r).toBe(0);
    expectOut(v, 1, 0x91);
    expect((await w.next<{ delivered: number[] }>()).delivered).toEqual([1, 1]);
    await w.done();
  }, 60_000);
});
