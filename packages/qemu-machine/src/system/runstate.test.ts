import { afterEach, describe, expect, it } from "vitest";
import {
  mainLoopShouldExit,
  qemuRegisterReset,
  qemuResetRequested,
  qemuSetNotifyEvent,
  qemuShutdownRequested,
  qemuSystemResetRequest,
  qemuSystemShutdownRequest,
  qemuSystemShutdownRequestWithCode,
  qmpSetAction,
  runstateReset,
  SHUTDOWN_CAUSE_GUEST_RESET,
  SHUTDOWN_CAUSE_GUEST_SHUTDOWN,
  SHUTDOWN_CAUSE_HOST_SIGNAL,
  SHUTDOWN_CAUSE_LOOKUP,
  SHUTDOWN_CAUSE_NONE,
} from "./runstate.js";

describe("runstate requests", () => {
  afterEach(() => runstateReset());

  it("names the causes as QAPI does", () => {
    expect(SHUTDOWN_CAUSE_LOOKUP[SHUTDOWN_CAUSE_GUEST_RESET]).toBe("guest-reset");
    expect(SHUTDOWN_CAUSE_LOOKUP[SHUTDOWN_CAUSE_GUEST_SHUTDOWN]).toBe("guest-shutdown");
    expect(SHUTDOWN_CAUSE_GUEST_SHUTDOWN).toBe(6);
  });

  it("a reset request is consumed once and runs the reset handlers in order", () => {
    const seen: string[] = [];
    qemuRegisterReset((o) => seen.push(o as string), "pic");
    qemuRegisterReset((o) => seen.push(o as string), "pit");
    let kicks = 0;
    qemuSetNotifyEvent(() => kicks++);
    qemuSystemResetRequest(SHUTDOWN_CAUSE_GUEST_RESET);
    expect(kicks).toBe(1);
    const out = { status: 0 };
    expect(mainLoopShouldExit(out)).toBe(false);
    expect(seen).toEqual(["pic", "pit"]);
    expect(mainLoopShouldExit(out)).toBe(false);
    expect(seen).toHaveLength(2);
  });

  it("a shutdown with a code ends the main loop with that status", () => {
    qemuSystemShutdownRequestWithCode(SHUTDOWN_CAUSE_GUEST_SHUTDOWN, 35);
    const out = { status: 0 };
    expect(mainLoopShouldExit(out)).toBe(true);
    expect(out.status).toBe(35);
    expect(qemuShutdownRequested()).toBe(SHUTDOWN_CAUSE_NONE);
  });

  it("a plain shutdown exits with status 0", () => {
    qemuSystemShutdownRequest(SHUTDOWN_CAUSE_HOST_SIGNAL);
    const out = { status: 0 };
    expect(mainLoopShouldExit(out)).toBe(true);
    expect(out.status).toBe(0);
  });

  it("with -no-reboot (reboot=shutdown) a guest reset becomes a shutdown", () => {
    qmpSetAction({ reboot: "shutdown" });
    qemuSystemResetRequest(SHUTDOWN_CAUSE_GUEST_RESET);
    expect(qemuResetRequested()).toBe(SHUTDOWN_CAUSE_NONE);
    expect(qemuShutdownRequested()).toBe(SHUTDOWN_CAUSE_GUEST_RESET);
  });
});
