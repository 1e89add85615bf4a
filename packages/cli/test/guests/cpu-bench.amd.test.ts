import { it } from "vitest";
import { expectGuest } from "./suite.js";

it("cpu-bench on -host-cpu amd: the same console output, exit status and memory as on intel", () => {
  expectGuest("cpu-bench", "amd");
});
