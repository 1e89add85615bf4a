import { afterEach, describe, expect, it } from "vitest";
import {
  type StartupStep,
  startupStep,
  startupTraceBegin,
  startupTraceListen,
} from "./startup-trace.js";

describe("startup trace", () => {
  afterEach(() => {
    startupTraceBegin(null);
    startupTraceListen(null);
  });

  it("records steps while a list is set, and tells a listener of each as it is recorded", () => {
    const list: StartupStep[] = [];
    const heard: string[] = [];
    startupStep("system/vl.ts", "notRecorded");
    startupTraceBegin(list);
    startupTraceListen((s) => heard.push(`${s.step} ${s.fn} (${list.length})`));
    startupStep("system/vl.ts", "qemuInit");
    startupStep("accel/kvm/kvm-all.ts", "kvmInit");
    expect(list).toEqual([
      { step: 1, file: "system/vl.ts", fn: "qemuInit" },
      { step: 2, file: "accel/kvm/kvm-all.ts", fn: "kvmInit" },
    ]);
    // The listener runs after the push: the step is in the list already.
    expect(heard).toEqual(["1 qemuInit (1)", "2 kvmInit (2)"]);
    startupTraceListen(null);
    startupStep("system/vl.ts", "vmStart");
    expect(heard).toHaveLength(2);
  });
});
