/**
 * The end-to-end suites (`npm run test:e2e`): test/e2e/*.e2e.ts against the bed (real API servers, real Helm,
 * real istiod). Same transform and module mapping as jest.config.js; one file at a time, long timeouts.
 * `npm test` (jest.config.js) only matches *.test.ts and never runs these.
 *
 * `mesh.e2e.ts` drives a real Pulumi CLI with its Node.js language host and the kubernetes provider plugin. The
 * Go module proxy this project builds from does not serve them (403), so it runs only where a directory holding
 * them is given: E2E_PULUMI_BIN_DIR, or the bed cache's bin/ when `BED_PULUMI=1 build.sh` could build them.
 * Without one it is left out of the run (and not counted), and this says so.
 */
const fs = require("fs");
const os = require("os");
const path = require("path");
const base = require("./jest.config.js");

const ENGINE_PIECES = ["pulumi", "pulumi-language-nodejs", "pulumi-resource-kubernetes"];
const cache = process.env.ISTIO_MC_BED_CACHE || path.join(os.homedir(), ".cache", "istio-multicluster-bed");
const engineDir = process.env.E2E_PULUMI_BIN_DIR || path.join(cache, "bin");
const hasEngine = ENGINE_PIECES.every((p) => fs.existsSync(path.join(engineDir, p)));
if (!hasEngine) {
    console.error(`test:e2e: no Pulumi CLI, language host and kubernetes plugin in ${engineDir}: mesh.e2e.ts (the real-engine suite) is not run. See test/e2e/README.md.`);
}

/** @type {import('jest').Config} */
module.exports = {
    testEnvironment: base.testEnvironment,
    roots: ["<rootDir>/test/e2e"],
    testMatch: ["**/*.e2e.ts"],
    testPathIgnorePatterns: hasEngine ? ["/node_modules/"] : ["/node_modules/", "/test/e2e/mesh\\.e2e\\.ts$"],
    transform: base.transform,
    transformIgnorePatterns: base.transformIgnorePatterns,
    moduleNameMapper: base.moduleNameMapper,
    testTimeout: 60 * 60 * 1000,
    maxWorkers: 1,
    bail: false,
    verbose: true,
};
