import { defineProject, mergeConfig } from "vitest/config";
import shared from "../../vitest.shared.ts";

export default mergeConfig(
  shared,
  defineProject({
    test: {
      name: "@glassvm/playground",
      include: ["src/**/*.test.ts", "e2e/**/*.test.ts"],
      testTimeout: 60_000,
      hookTimeout: 60_000,
    },
  }),
);
