/**
 * hw/i386/fw_cfg.c: the x86 fw_cfg — `fw_cfg_arch_create` puts the device at port 0x510
 * and adds what every x86 firmware reads: boot and maximum CPU counts, the RAM size, the
 * IRQ0 override flag and the e820 table as the file "etc/e820". (ACPI tables, SMBIOS,
 * HPET and NUMA items: glassvm builds none of those yet.)
 */

import { getSystemIo } from "../../system/physmem.js";
import { startupStep } from "../../system/startup-trace.js";
import type { MachineState } from "../core/machine.js";
import {
  FW_CFG_ARCH_LOCAL,
  FW_CFG_IO_BASE,
  FW_CFG_MAX_CPUS,
  FW_CFG_NB_CPUS,
  FW_CFG_RAM_SIZE,
  type FWCfgState,
  fwCfgAddFile,
  fwCfgAddI16,
  fwCfgAddI32,
  fwCfgAddI64,
  fwCfgInitIo,
} from "../nvram/fw_cfg.js";
import { e820TableBytes } from "./e820_memory_layout.js";

export const FW_CFG_ACPI_TABLES = FW_CFG_ARCH_LOCAL + 0;
export const FW_CFG_SMBIOS_ENTRIES = FW_CFG_ARCH_LOCAL + 1;
export const FW_CFG_IRQ0_OVERRIDE = FW_CFG_ARCH_LOCAL + 2;
export const FW_CFG_HPET = FW_CFG_ARCH_LOCAL + 4;

/** `fw_cfg_arch_create(ms, boot_cpus, apic_id_limit)`. */
export function fwCfgArchCreate(
  ms: MachineState,
  bootCpus: number,
  apicIdLimit: number,
): FWCfgState {
  startupStep("hw/i386/fw_cfg.ts", "fwCfgArchCreate");
  const fwCfg = fwCfgInitIo(FW_CFG_IO_BASE, getSystemIo());
  fwCfgAddI16(fwCfg, FW_CFG_NB_CPUS, bootCpus);
  fwCfgAddI16(fwCfg, FW_CFG_MAX_CPUS, apicIdLimit);
  fwCfgAddI64(fwCfg, FW_CFG_RAM_SIZE, BigInt(ms.ramSize));
  fwCfgAddI32(fwCfg, FW_CFG_IRQ0_OVERRIDE, 1);
  fwCfgAddFile(fwCfg, "etc/e820", e820TableBytes());
  return fwCfg;
}
