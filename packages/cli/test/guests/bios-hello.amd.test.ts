import { it } from "vitest";
import { expectGuest } from "./suite.js";

it("bios-hello on -host-cpu amd: the same console output, exit status and memory as on intel", () => {
  expectGuest("bios-hello", "amd");
});
