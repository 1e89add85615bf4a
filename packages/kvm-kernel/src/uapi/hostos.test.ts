import { describe, expect, it } from "vitest";
import { HostKernel } from "../kernel.js";
import { interposeHostOs } from "./hostos.js";

describe("interposeHostOs", () => {
  it("passes every call through except the ones replaced", () => {
    const os = new HostKernel().spawn("traced");
    const seen: number[] = [];
    const traced = interposeHostOs(os, {
      close(fd) {
        seen.push(fd);
        return os.close(fd);
      },
    });
    const addr = traced.mmap(-1, 4096);
    traced.view(addr, 4096)[0] = 7;
    expect(os.view(addr, 4096)[0]).toBe(7);
    expect(traced.pid).toBe(os.pid);
    expect(traced.close(42)).toBeLessThan(0); // EBADF, seen on the way
    expect(seen).toEqual([42]);
  });
});
