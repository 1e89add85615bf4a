import { it } from "vitest";
import { expectGuest } from "./suite.js";

it("hello-long on -host-cpu amd: the same console output, exit status and memory as on intel", () => {
  expectGuest("hello-long", "amd");
});
