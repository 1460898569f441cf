/**
 * jest's node environment, plus the test process's own `process` object for the suites whose updates die or fail on
 * purpose (faults.e2e.ts: `@jest-environment ./test/e2e/lib/engineEnvironment.js`).
 *
 * Why: the program runs inline, in jest's process (lib/stack.ts). When the CLI is killed, or an update fails, the SDK's
 * calls still in flight to the engine's resource monitor are rejected ("14 UNAVAILABLE: Connection dropped",
 * "resource monitor shut down while sending resource outputs"). The SDK means to catch those with process handlers,
 * but inside jest's sandbox they are registered on the sandbox's copy of `process`, so jest's own handlers on the
 * real one see them and fail whichever test is running. lib/interrupt.ts `ignoreDeadEngineCalls` uses this handle.
 */
"use strict";
const { TestEnvironment } = require("jest-environment-node");

class EngineEnvironment extends TestEnvironment {
    constructor(config, context) {
        super(config, context);
        this.global.__testProcess = process;
    }
}

module.exports = EngineEnvironment;
