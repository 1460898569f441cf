#!/usr/bin/env node
/**
 * Start or stop a bed by hand (debugging). Plain node: clusters.ts is compiled on load by @swc/core.
 * The bed runs only inside the run's own network namespace, so start it through run.sh, and run what talks to
 * it in the same command (a shell, for example):
 *   E2E_SKIP_BUILD=1 E2E_COMMAND=1 bash test/e2e/run.sh bash -c 'node test/e2e/bed/cli.js start & exec bash'
 *   node test/e2e/bed/cli.js start [--names c1,c2,c3] [--work-dir /tmp/istio-mc-bed] [--slot N]
 *       starts the bed, prints each cluster's kubeconfig and addresses, runs until Ctrl-C, then stops it
 *   node test/e2e/bed/cli.js stop [--work-dir /tmp/istio-mc-bed]
 *       kills the processes a bed left in that workDir (pids.json)
 */
"use strict";
const fs = require("fs");
const path = require("path");
const swc = require("@swc/core");

require.extensions[".ts"] = (module, filename) => {
    const { code } = swc.transformSync(fs.readFileSync(filename, "utf8"), {
        filename,
        jsc: { parser: { syntax: "typescript" }, target: "es2022" },
        module: { type: "commonjs" },
    });
    module._compile(code, filename);
};
const { startBed, bedVersions } = require("./clusters.ts");

function arg(name, dflt) {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : dflt;
}

async function main() {
    const cmd = process.argv[2];
    const workDir = path.resolve(arg("work-dir", "/tmp/istio-mc-bed"));
    if (cmd === "start") {
        const names = arg("names", "c1,c2,c3").split(",");
        const slot = arg("slot") === undefined ? undefined : Number(arg("slot"));
        const bed = await startBed({ names, workDir, slot, verbose: true });
        console.log(`bed up in ${bed.startSeconds.toFixed(1)} s (slot ${bed.slot}, etcd ${bed.etcdUrl}, logs ${bed.logsDir})`);
        console.log(`export PATH=${bed.binDir}:$PATH`);
        for (const c of bed.clusters) {
            console.log(`${c.name}: KUBECONFIG=${c.kubeconfigPath}  api ${c.apiServerUrl}  services ${c.serviceCidr}  pods ${c.podCidr}  LB ${c.loadBalancerCidr}  nodes ${c.nodeIps.join(",")}`);
        }
        console.log("Ctrl-C stops the bed.");
        const done = async () => {
            await bed.stop();
            process.exit(0);
        };
        process.removeAllListeners("SIGINT");
        process.removeAllListeners("SIGTERM");
        process.once("SIGINT", done);
        process.once("SIGTERM", done);
        setInterval(() => {}, 1 << 30);
    } else if (cmd === "stop") {
        const f = path.join(workDir, "pids.json");
        if (!fs.existsSync(f)) return console.log(`no bed in ${workDir}`);
        for (const p of JSON.parse(fs.readFileSync(f, "utf8"))) {
            try {
                process.kill(-p.pid, "SIGKILL");
                console.log(`killed ${p.name} (${p.pid})`);
            } catch {
                /* gone */
            }
        }
        fs.rmSync(f);
    } else if (cmd === "versions") {
        console.log(bedVersions());
    } else {
        console.error("usage: cli.js start [--names a,b,c] [--work-dir DIR] [--slot N] | stop [--work-dir DIR] | versions");
        process.exit(2);
    }
}
main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
});
