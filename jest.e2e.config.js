/**
 * The end-to-end suite (`npm run test:e2e`): test/e2e/*.e2e.ts against the bed (real Pulumi CLI, real API
 * servers, real istiod). Same transform and module mapping as jest.config.js; one file at a time, long timeouts.
 * `npm test` (jest.config.js) only matches *.test.ts and never runs these.
 */
const base = require("./jest.config.js");

/** @type {import('jest').Config} */
module.exports = {
    testEnvironment: base.testEnvironment,
    roots: ["<rootDir>/test/e2e"],
    testMatch: ["**/*.e2e.ts"],
    transform: base.transform,
    transformIgnorePatterns: base.transformIgnorePatterns,
    moduleNameMapper: base.moduleNameMapper,
    testTimeout: 60 * 60 * 1000,
    maxWorkers: 1,
    bail: false,
    verbose: true,
};
