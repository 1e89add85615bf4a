/**
 * A vCPU thread (thread=multi) in a Node worker, for the session's tests: what
 * vcpu-worker.ts is in the browser. workerData is the VcpuThreadData; a thread that dies
 * says why in its control page, and the session's main loop reports it.
 */
import { workerData } from "node:worker_threads";
import { type VcpuThreadData, vcpuThreadMain } from "@glassvm/cli";
import { kvmVcpuThreadDied } from "@glassvm/qemu-machine";

const data = workerData as VcpuThreadData;
vcpuThreadMain(data).then(
  () => process.exit(0),
  (err: unknown) =>
    kvmVcpuThreadDied(
      data.link,
      data.arg,
      err instanceof Error ? (err.stack ?? err.message) : String(err),
    ),
);
