/**
 * A vCPU thread of the QEMU process (`-accel kvm,thread=multi`) in a Web Worker of its
 * own: what packages/cli's vcpu-thread-node.ts is for the CLI. The emulator's worker
 * (worker.ts) starts one per vCPU before qemuInit — a worker a worker creates may not
 * start while its creator is blocked, and qemuInit blocks until each thread is up — and
 * waits for "ready" (this module graph loaded). Its first message is the thread's
 * VcpuThreadData, with the thread's mail port transferred: vcpuThreadMain loads the
 * vendor module into this realm's copy of the host kernel, attaches to the process and
 * runs QEMU's kvm_vcpu_thread_fn until QEMU ends the thread. A thread that dies says why
 * in its control page; QEMU's main loop reports it and stops the VM.
 */
import { type VcpuThreadData, vcpuThreadMain } from "@glassvm/cli";
import { kvmVcpuThreadDied } from "@glassvm/qemu-machine";

interface VcpuWorkerScope {
  postMessage(msg: "ready"): void;
  onmessage: ((ev: MessageEvent<MessagePort>) => void) | null;
  close(): void;
}
const scope = self as unknown as VcpuWorkerScope;

/** The thread's data comes through the port the creator sent first (see worker.ts). */
scope.onmessage = (ev) => {
  scope.onmessage = null;
  const port = ev.data;
  port.onmessage = (m: MessageEvent<VcpuThreadData>) => {
    port.onmessage = null;
    port.close();
    run(m.data);
  };
  scope.postMessage("ready");
};

function run(data: VcpuThreadData): void {
  vcpuThreadMain(data).then(
    () => scope.close(),
    (err: unknown) =>
      kvmVcpuThreadDied(
        data.link,
        data.arg,
        err instanceof Error ? (err.stack ?? err.message) : String(err),
      ),
  );
}
