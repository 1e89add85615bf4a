/**
 * system/physmem.c's globals: `cpu_exec_init_all` creates the root regions of the
 * machine — `system` (all of physical memory) and `io` (the 64 KiB port space) — and the
 * address spaces over them, `address_space_memory` and `address_space_io`, which KVM's
 * memory listener and the exit handlers use.
 */
import { AddressSpace, type MemoryRegion, memoryRegionInit } from "./memory.js";

/** The `system` region's size: QEMU's is UINT64_MAX; 2^48 keeps offsets exact in a double. */
export const SYSTEM_MEMORY_SIZE = 2 ** 48;
/** The `io` region: 64 KiB of ports. */
export const SYSTEM_IO_SIZE = 0x1_0000;

let systemMemory: MemoryRegion | null = null;
let systemIo: MemoryRegion | null = null;
let asMemory: AddressSpace | null = null;
let asIo: AddressSpace | null = null;

/** `cpu_exec_init_all` (memory_map_init): the two root regions and address spaces. */
export function cpuExecInitAll(): void {
  systemMemory = memoryRegionInit("/machine", "system", SYSTEM_MEMORY_SIZE);
  systemIo = memoryRegionInit("/machine", "io", SYSTEM_IO_SIZE);
  asMemory = new AddressSpace("memory", systemMemory, true);
  asIo = new AddressSpace("I/O", systemIo);
}

function need<T>(v: T | null, what: string): T {
  if (v === null) throw new Error(`${what}: cpu_exec_init_all has not run`);
  return v;
}

/** `get_system_memory()`. */
export const getSystemMemory = (): MemoryRegion => need(systemMemory, "get_system_memory");
/** `get_system_io()`. */
export const getSystemIo = (): MemoryRegion => need(systemIo, "get_system_io");
/** `address_space_memory`. */
export const addressSpaceMemory = (): AddressSpace => need(asMemory, "address_space_memory");
/** `address_space_io`. */
export const addressSpaceIo = (): AddressSpace => need(asIo, "address_space_io");
