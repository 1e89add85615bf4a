export {
  type CpuidSource,
  EXIT_BUDGET,
  EXIT_HLT,
  EXIT_HOOK,
  EXIT_REQUEST,
  EXIT_SHUTDOWN,
  type ExitReason,
  X86Cpu,
} from "./cpu.js";
export {
  getRegisters,
  getRegisters64,
  getSystemRegisters,
  getSystemRegisters64,
  loadSegment,
  setRegisters,
  setRegisters64,
  setSystemRegisters,
  setSystemRegisters64,
  syncLoadedState,
  type X86Registers,
  type X86Registers64,
  type X86Segment,
  type X86Segment64,
  type X86SystemRegisters,
  type X86SystemRegisters64,
} from "./cpu-state.js";
export { experimental_useCallDispatch } from "./dispatch.js";
export {
  segmentAccessRights,
  segmentFields,
  X86_SHADOW_INT_MOV_SS,
  X86_SHADOW_INT_STI,
  X86EMUL_CONTINUE,
  X86EMUL_IO_NEEDED,
  X86EMUL_PROPAGATE_FAULT,
  X86EMUL_UNHANDLEABLE,
  X86EmulateCtxt,
  type X86EmulateOps,
  type X86EmulateRam,
  type X86EmulateSregs,
  type X86EmulateVcpu,
  type X86SegmentFields,
  x86EmulateInsn,
} from "./emulate.js";
export {
  EVENT_EXTERNAL,
  EVENT_FAULT,
  EVENT_PRIV_SOFTWARE,
  EVENT_SOFTWARE,
  injectEvent,
} from "./exception.js";
export {
  decodeInsn,
  type FetchSource,
  MAX_INSN_LENGTH,
  type OpDesc,
  opcodeDesc,
} from "./fetchdecode.js";
export type { HookResult, X86Hooks } from "./hooks.js";
export * as hooks from "./hooks.js";
export { getMsr, setMsr } from "./insn/proc_ctrl.js";
/** Flag bits of a decoded instruction (`cpu.dc.flags[slot]`). */
export * as instr from "./instr.js";
export {
  type AccessSize,
  OPEN_BUS,
  PAGE_SIZE,
  PhysMemory,
  type RamRange,
  type X86Devices,
} from "./memory.js";
export { readMemOperand, writeMemOperand } from "./operand.js";
export * as regs from "./regs.js";
export * as state from "./state.js";
