import { it } from "vitest";
import { expectGuest } from "./suite.js";

it("io-bench: its console output, exit status and memory, in-process", () => {
  expectGuest("io-bench");
});
