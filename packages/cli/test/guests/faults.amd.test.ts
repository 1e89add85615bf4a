import { it } from "vitest";
import { expectGuest } from "./suite.js";

it("faults on -host-cpu amd: the same console output, exit status and memory as on intel", () => {
  expectGuest("faults", "amd");
});
