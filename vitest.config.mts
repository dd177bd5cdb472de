import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Kernel and notebook tests start real processes; they wait on events, and these limits only
    // stop a hung run from hanging CI.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: run files in parallel, but not so many that kernels starve each other.
    maxWorkers: 2,
  },
});
