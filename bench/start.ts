/**
 * How long the program takes to start under Pulumi's mocks, and which cloud SDKs it loads doing so:
 *
 *   npx tsc -p bench/tsconfig.json && node bin/bench/bench/start.js [existing|azure|aws] [runs]
 *
 * Each run is a fresh node process (bench/start.ts --child) that sets up the mocks and the committed or generated
 * stack's config, loads the compiled index.js and waits for every stack output. It prints the time to load the program
 * (what `require("index")` costs: module loading), the time to every output, and the @pulumi packages loaded; the
 * parent prints the median of the runs.
 */
import { spawnSync } from "child_process";
import * as path from "path";
import { performance } from "perf_hooks";
import * as pulumi from "@pulumi/pulumi";
import { BenchMocks } from "./mocks";
import { Platform, committedStack, generatedStack } from "./topology";

interface StartResult {
    loadMs: number;
    outputsMs: number;
    packages: string[];
    modules: number;
}

function configFor(platform: Platform): Record<string, string> {
    return platform === "existing" ? generatedStack("existing", 2) : committedStack(platform);
}

async function child(platform: Platform): Promise<void> {
    const t0 = performance.now();
    const mocks = new BenchMocks(0);
    mocks.start(0);
    await pulumi.runtime.setMocks(mocks, "istio-multicluster", platform, false);
    pulumi.runtime.setAllConfig(configFor(platform), []);
    const program = require(path.join(__dirname, "..", "index"));
    const loadMs = performance.now() - t0;
    for (const value of Object.values(program as Record<string, unknown>)) await new Promise((r) => pulumi.output(value as any).apply(r));
    const outputsMs = performance.now() - t0;
    const files = Object.keys(require.cache);
    const packages = [...new Set(files.map((f) => /node_modules\/(@pulumi\/[^/]+)\//.exec(f)?.[1]).filter((p): p is string => Boolean(p)))].sort();
    const result: StartResult = { loadMs, outputsMs, packages, modules: files.length };
    process.stdout.write(JSON.stringify(result) + "\n");
}

function parent(platform: Platform, runs: number): void {
    const results: StartResult[] = [];
    for (let i = 0; i < runs; i++) {
        const out = spawnSync(process.execPath, [__filename, "--child", platform], { encoding: "utf8" });
        if (out.status !== 0) throw new Error(`run ${i} failed: ${out.stderr}`);
        results.push(JSON.parse(out.stdout.trim().split("\n").pop()!) as StartResult);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log(
        JSON.stringify({
            platform,
            runs,
            medianLoadMs: Math.round(median(results.map((r) => r.loadMs))),
            medianOutputsMs: Math.round(median(results.map((r) => r.outputsMs))),
            modules: results[0].modules,
            pulumiPackages: results[0].packages,
        }),
    );
}

const [first, second, third] = process.argv.slice(2);
if (first === "--child") {
    child(second as Platform).catch((e) => {
        console.error(e);
        process.exit(1);
    });
} else {
    parent((first ?? "existing") as Platform, Number(second ?? 5));
}
void third;
