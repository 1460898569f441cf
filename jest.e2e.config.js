/**
 * The end-to-end suites (`npm run test:e2e`, test/e2e/run.sh): test/e2e/*.e2e.ts against the bed (real API servers,
 * real Helm, real istiod) through the real Pulumi engine (the CLI and the kubernetes provider built by the bed).
 * run.sh builds the bed, then runs jest with this config inside a network namespace of the run's own.
 * Same transform and module mapping as jest.config.js; one file at a time, long timeouts.
 * `npm test` (jest.config.js) only matches *.test.ts and never runs these.
 */
const base = require("./jest.config.js");

/** @type {import('jest').Config} */
module.exports = {
    testEnvironment: base.testEnvironment,
    roots: ["<rootDir>/test/e2e"],
    testMatch: ["**/*.e2e.ts"],
    testPathIgnorePatterns: ["/node_modules/"],
    transform: base.transform,
    transformIgnorePatterns: base.transformIgnorePatterns,
    moduleNameMapper: base.moduleNameMapper,
    testTimeout: 60 * 60 * 1000,
    maxWorkers: 1,
    bail: false,
    verbose: true,
};
