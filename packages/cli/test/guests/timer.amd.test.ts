import { it } from "vitest";
import { expectGuest } from "./suite.js";

it("timer on -host-cpu amd: the same console output, exit status and memory as on intel", () => {
  expectGuest("timer", "amd");
});
