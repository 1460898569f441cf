/**
 * jest's node environment, plus the test process's own `process` object for the suites whose updates die or fail on
 * purpose (faults.e2e.ts: `@jest-environment ./test/e2e/lib/engineEnvironment.js`).
 *
 * Why: the program runs inline, in jest's process (lib/stack.ts). While it runs, the Pulumi SDK's language server
 * (automation/server.js) registers handlers for uncaught errors on `process`, and reports what they catch to the
 * engine as the update's errors, as it does outside jest. Inside jest's sandbox that `process` is a copy: Node never
 * calls handlers registered there, and jest's own handlers on the real one fail whichever test is running instead.
 * So this environment registers the sandbox's handlers for those two events on the real process (the SDK sees what
 * it would see in production), and hands the suite the real process (`__testProcess`) for lib/interrupt.ts
 * `ignoreDeadEngineCalls`, which keeps the errors the SDK handles, and those of its calls to an engine that is gone
 * (a killed CLI), from jest.
 */
"use strict";
const { TestEnvironment } = require("jest-environment-node");

const FORWARDED = new Set(["uncaughtException", "unhandledRejection"]);

class EngineEnvironment extends TestEnvironment {
    constructor(config, context) {
        super(config, context);
        const real = process;
        const sandbox = this.global.process;
        this.global.__testProcess = real;
        /** Listeners the sandbox registered on the real process, so the suite can tell the SDK's from jest's. */
        const forwarded = new Set();
        this.global.__sandboxErrorListeners = forwarded;
        for (const method of ["on", "addListener", "prependListener", "once"]) {
            const own = sandbox[method].bind(sandbox);
            sandbox[method] = (event, listener) => {
                if (!FORWARDED.has(event)) return own(event, listener);
                forwarded.add(listener);
                real[method](event, listener);
                return sandbox;
            };
        }
        for (const method of ["off", "removeListener"]) {
            const own = sandbox[method].bind(sandbox);
            sandbox[method] = (event, listener) => {
                if (!FORWARDED.has(event)) return own(event, listener);
                forwarded.delete(listener);
                real.removeListener(event, listener);
                return sandbox;
            };
        }
    }
}

module.exports = EngineEnvironment;
