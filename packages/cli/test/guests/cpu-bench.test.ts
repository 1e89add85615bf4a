import { it } from "vitest";
import { expectGuest } from "./suite.js";

it("cpu-bench: its console output, exit status and memory, in-process", () => {
  expectGuest("cpu-bench");
});
