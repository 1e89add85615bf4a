/**
 * Another thread's view of a vCPU, for src/vcpu_shared.test.ts: a worker with a kernel and
 * a VM of its own (the in-kernel irqchip, no vCPUs) that builds a remote stub over the
 * SharedArrayBuffer of a vCPU the main thread owns, then either
 * - "contend": once both threads are at the barrier, sets and clears IRR/TMR bits of that
 *   vCPU's APIC page in a tight loop while the main thread does the same to other bits of
 *   the same words, checking after every step that its own bits are as it left them (a
 *   lost update would show), or
 * - "deliver": after `delayMs`, sends each of `irqs` to the stub as the I/O APIC would
 *   (kvm_irq_delivery_to_apic with no source), `delayMs` apart.
 * Loaded in a worker through tsx.
 */
import { parentPort, workerData } from "node:worker_threads";
import { KvmVcpuShared, kvmGlobal } from "../src/index.js";
import { type KvmLapicIrq, kvmIrqDeliveryToApic } from "../src/irq_comm.js";
import {
  APIC_DM_FIXED,
  APIC_IRR,
  APIC_TMR,
  apicAcceptIrq,
  kvmCreateRemoteVcpu,
} from "../src/lapic.js";
import { KVM_CREATE_IRQCHIP, KVM_CREATE_VM } from "../src/uapi/index.js";
import { irqchipHost } from "./irqchip-setup.js";

export interface VcpuSharedWorkerData {
  readonly mode: "contend" | "deliver";
  /** KvmVcpuShared.buffer of the main thread's vCPU. */
  readonly shared: SharedArrayBuffer;
  readonly vcpuId: number;
  /** contend: [0] counts the threads ready; both start when it reaches 2. */
  readonly barrier: Int32Array;
  /** contend: iterations; the worker owns vectors `firstVector` … `firstVector + 15`. */
  readonly n: number;
  readonly firstVector: number;
  /** deliver: the interrupts, and the pause before each. */
  readonly irqs: readonly KvmLapicIrq[];
  readonly delayMs: number;
}

const data = workerData as VcpuSharedWorkerData;
const { proc, sys, kernel } = irqchipHost();
const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
if (proc.ioctl(vm, KVM_CREATE_IRQCHIP, 0) !== 0) throw new Error("KVM_CREATE_IRQCHIP");
const kvm = [...kvmGlobal(kernel)!.vms][0]!;
const stub = kvmCreateRemoteVcpu(kvm, data.vcpuId, 0, new KvmVcpuShared(data.shared));
const apic = stub.arch.apic!;
const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

if (data.mode === "contend") {
  const irrWord = (APIC_IRR + ((data.firstVector >> 5) << 4)) >> 2;
  const tmrWord = (APIC_TMR + ((data.firstVector >> 5) << 4)) >> 2;
  let mismatches = 0;
  parentPort!.postMessage({ ready: true });
  Atomics.add(data.barrier, 0, 1);
  while (Atomics.load(data.barrier, 0) < 2) {
    // Spin: both threads start together, so their loops overlap.
  }
  for (let i = 0; i < data.n; i++) {
    const vec = data.firstVector + (i & 15);
    const level = ((i >> 4) & 1) === 1;
    // Level-triggered sets the TMR bit, edge clears it; both set the IRR bit.
    apicAcceptIrq(apic, APIC_DM_FIXED, vec, true, level);
    const bit = 1 << (vec & 31);
    if (((Atomics.load(apic.regs32, tmrWord) & bit) !== 0) !== level) mismatches++;
    if ((Atomics.load(apic.regs32, irrWord) & bit) === 0) mismatches++;
  }
  for (let k = 0; k < 16; k++) apicAcceptIrq(apic, APIC_DM_FIXED, data.firstVector + k, true, true);
  parentPort!.postMessage({ mismatches });
} else {
  parentPort!.postMessage({ ready: true });
  const got: number[] = [];
  for (const irq of data.irqs) {
    sleep(data.delayMs);
    got.push(kvmIrqDeliveryToApic(kvm, null, { ...irq }));
  }
  parentPort!.postMessage({ delivered: got });
}
