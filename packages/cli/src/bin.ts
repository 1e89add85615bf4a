#!/usr/bin/env node
/**
 * The `glassvm` command: `glassvm -machine pc,accel=kvm -m 64 -bios fw.bin -debugcon stdio …`.
 * Exits with the status glassvmMain returns (QEMU's).
 */
import process from "node:process";
import { glassvmMain } from "./main.js";
import { nodeHostIo, restoreStdin } from "./node-host.js";

let status: number;
try {
  status = glassvmMain(["glassvm", ...process.argv.slice(2)], nodeHostIo());
} finally {
  restoreStdin();
}
// Let stdout/stderr drain before exiting with QEMU's status.
process.exitCode = status & 0xff;
