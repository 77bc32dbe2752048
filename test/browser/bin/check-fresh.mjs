#!/usr/bin/env node
// Refuses (exit 1, with the reason) unless the built artifact the browser
// tests would load matches the current sources: jazz.wasm's BUILD_ID against
// `go run ./tools/buildinfo/buildid`, and dist/index.js present.
// Honors JAZZ_JS_DIST and JAZZ_WASM_DIR like the tests (lib/harness.mjs).
import { artifact, checkFresh } from "../lib/harness.mjs";

try {
  const a = artifact();
  const id = checkFresh(a);
  console.log(`artifact is fresh: ${a.wasmDir}/jazz.wasm BUILD_ID ${id}, package ${a.dist}`);
} catch (e) {
  console.error(e.message);
  process.exit(1);
}
