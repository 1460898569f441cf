#!/usr/bin/env node
/**
 * `npm test`: the type-check (`tsc --noEmit`, strict) and the unit tests (jest) side by side, so that jest does
 * not wait ~13 s for tsc before it starts; fails if either fails. Arguments go to jest
 * (`npm test -- test/core/mesh.test.ts`, `npm test -- --json --outputFile=r.json`).
 *
 * tsc keeps its incremental state in node_modules/.cache (never in the repository): after a change, only what it
 * touches is checked again. Its messages are printed after jest's, in one block.
 */
const { spawn } = require("child_process");
const path = require("path");

const root = path.join(__dirname, "..");
const tsBuildInfo = path.join(root, "node_modules", ".cache", "istio-multicluster-typecheck", "tsconfig.tsbuildinfo");

function run(script, args, capture) {
    return new Promise((resolve) => {
        const child = spawn(process.execPath, [require.resolve(script, { paths: [root] }), ...args], {
            cwd: root,
            stdio: capture ? ["ignore", "pipe", "pipe"] : "inherit",
        });
        let output = "";
        if (capture) {
            child.stdout.on("data", (d) => (output += d));
            child.stderr.on("data", (d) => (output += d));
        }
        child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), output }));
    });
}

async function main() {
    const started = Date.now();
    const [typecheck, jest] = await Promise.all([
        run("typescript/bin/tsc", ["--noEmit", "--incremental", "--tsBuildInfoFile", tsBuildInfo], true),
        run("jest/bin/jest", process.argv.slice(2), false),
    ]);
    if (typecheck.code !== 0) {
        process.stderr.write(`\n${typecheck.output}\ntype-check (tsc --noEmit) FAILED\n`);
    } else {
        process.stderr.write("type-check (tsc --noEmit, strict): clean\n");
    }
    process.stderr.write(`npm test: ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    process.exit(typecheck.code !== 0 || jest.code !== 0 ? 1 : 0);
}

main();
