import { it } from "vitest";
import { expectGuest } from "./suite.js";

it("io-bench on -host-cpu amd: the same console output, exit status and memory as on intel", () => {
  expectGuest("io-bench", "amd");
});
