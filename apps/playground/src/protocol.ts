/**
 * Messages between the page and the emulator worker. Values cross by structured clone
 * (bigints included); the worker sends a full view after every slice or step.
 */
import type { PathNode } from "@glassvm/cli";
import type { KvmRegs, KvmSregs } from "@glassvm/kvm-kernel/uapi";
import type { KvmRunRow } from "./decode/kvm-run.js";
import type { SyscallEntry } from "./engine/ioctl-log.js";
import type { PlaygroundOptions } from "./engine/options.js";
import type {
  ControlBlock,
  EntryFailure,
  ExitRow,
  FieldChange,
  LastExit,
  SessionStatus,
  TimelineSegment,
} from "./engine/session.js";

export type ToWorker =
  | { type: "boot"; id: number; options: PlaygroundOptions; image: Uint8Array; run: boolean }
  | { type: "run" }
  | { type: "pause" }
  | { type: "step-exit" }
  | { type: "step-insn" }
  | { type: "input"; text: string }
  | { type: "trace" }
  | { type: "select-vcpu"; index: number };

export interface VmView {
  readonly status: SessionStatus;
  readonly exitStatus: number | null;
  readonly backend: "vmx" | "svm";
  readonly message: string;
  /** Console output since the previous view. */
  readonly console: string;
  readonly exitsTotal: number;
  readonly exits: readonly ExitRow[];
  readonly lastExit: LastExit | null;
  readonly syscalls: readonly SyscallEntry[];
  readonly syscallsTotal: number;
  readonly regs: { regs: KvmRegs; sregs: KvmSregs } | null;
  readonly kvmRun: readonly KvmRunRow[] | null;
  readonly control: ControlBlock | null;
  readonly entryFailure: EntryFailure | null;
  readonly changed: ReadonlyMap<string, FieldChange>;
  readonly instructions: number;
  readonly runMs: number;
  /** Guest instructions per µs of run time (run slices and steps, exit handling included). */
  readonly mips: number | null;
  readonly vcpus: number;
  /**
   * thread=multi took effect: the vCPUs run in Web Workers of their own, on those workers'
   * copies of the kernel — the exits, timeline, VMCS/VMCB and instruction counts of this
   * worker's kernel do not see them.
   */
  readonly threaded: boolean;
  /** vCPU threads handed to workers of their own in this VM (thread=multi). */
  readonly vcpuWorkers: number;
  /** vCPU Web Workers the emulator's worker has created so far, every boot counted. */
  readonly vcpuWorkersCreated: number;
  /** The vCPU whose registers, kvm_run and VMCS/VMCB the view carries. */
  readonly vcpu: number;
  /** Per vCPU: the newest timeline segments (guest time vs exit handling). */
  readonly timeline: readonly (readonly TimelineSegment[])[];
  /** The host kernel's log (dmesg) since the vendor module loaded. */
  readonly dmesg: readonly string[];
  readonly hasSerial: boolean;
}

export type FromWorker =
  | { type: "booted"; bootId: number; startupTree: readonly PathNode[]; argv: readonly string[] }
  | { type: "view"; bootId: number; view: VmView }
  | { type: "trace"; json: string }
  | { type: "fatal"; message: string };
