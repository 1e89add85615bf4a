import { it } from "vitest";
import { expectGuest } from "./suite.js";

it("faults-no-reboot: its console output, exit status and memory, in-process", () => {
  expectGuest("faults-no-reboot");
});
