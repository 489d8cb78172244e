import { defineConfig } from "vitest/config";

// Model tests run real networks on a 2-core CPU: 5 s (vitest's default) is too tight under load.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
