/**
 * hw/core/machine-qmp-cmds.c's `qmp_query_cpus_fast` (QMP `query-cpus-fast`) and the HMP
 * `info cpus` that prints it (monitor/hmp-cmds-target.c's hmp_info_cpus): every CPU with
 * its index, QOM path, the id of the host thread that runs it, and its topology.
 * With thread=single every vCPU's thread is QEMU's main thread; with thread=multi each has
 * a thread of its own.
 */
import { objectGetCanonicalPath } from "@glassvm/qom";
import { cpusVcpuThreads } from "../../system/cpus.js";
import type { X86CPU } from "../../target/i386/cpu.js";

/** CpuInfoFast (qapi/machine.json). */
export interface CpuInfoFast {
  readonly "cpu-index": number;
  readonly "qom-path": string;
  readonly "thread-id": number;
  readonly props: {
    readonly "node-id"?: number;
    readonly "socket-id": number;
    readonly "die-id": number;
    readonly "core-id": number;
    readonly "thread-id": number;
  };
  readonly target: "x86_64";
}

/** `qmp_query_cpus_fast`. */
export function qmpQueryCpusFast(): CpuInfoFast[] {
  return cpusVcpuThreads().map((t) => {
    const cpu = t.cpu as X86CPU;
    return {
      "cpu-index": cpu.cpuIndex,
      "qom-path": objectGetCanonicalPath(cpu) ?? "",
      "thread-id": t.threadId,
      props: {
        ...(cpu.nodeId >= 0 ? { "node-id": cpu.nodeId } : {}),
        "socket-id": cpu.socketId,
        "die-id": cpu.dieId,
        "core-id": cpu.coreId,
        "thread-id": cpu.threadId,
      },
      target: "x86_64",
    };
  });
}

/** `hmp_info_cpus`: `* CPU #0: thread_id=1000`, the monitor's current CPU starred (the first). */
export function hmpInfoCpus(): string {
  return qmpQueryCpusFast()
    .map((c, i) => `${i === 0 ? "*" : " "} CPU #${c["cpu-index"]}: thread_id=${c["thread-id"]}\n`)
    .join("");
}
