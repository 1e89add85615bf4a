/**
 * The Node worker entry of a vCPU thread (node:worker_threads): workerData is a
 * VcpuThreadData. A thread that dies says why in its control page (see
 * kvmVcpuThreadDied), so the main thread — which does not turn its event loop while
 * the VM runs — reports it.
 */
import { workerData } from "node:worker_threads";
import { kvmVcpuThreadDied } from "@glassvm/qemu-machine";
import { type VcpuThreadData, vcpuThreadMain } from "./vcpu-thread.js";

const data = workerData as VcpuThreadData;
vcpuThreadMain(data).then(
  () => process.exit(0),
  (err: unknown) => {
    kvmVcpuThreadDied(
      data.link,
      data.arg,
      err instanceof Error ? (err.stack ?? err.message) : String(err),
    );
  },
);
