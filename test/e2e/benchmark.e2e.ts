/**
 * Time, side by side in one run on one bed: the engine's `pulumi up` of the mesh against a script that does what the
 * hand-run tutorials do, in their order, one cluster after the other (bench/seed-order.sh: CA files, namespaces and
 * cacerts, Helm installs, remote secrets, then the samples). The bed holds two copies of the topology: the script
 * builds one (clusters `seed-<name>`), the engine the other; the script runs first, then the engine, so neither
 * competes with the other for the machine's two cores.
 *
 * Both install the same charts (the bed's, version under test) with a real istiod per cluster (lib/istiod.ts,
 * readiness gated on the real process); the tls provider is the STAND-IN (tls-stand-in/), the script uses openssl.
 * Comparable scope: helloworld and curl on both sides, no Bookinfo, no verification Jobs.
 *
 * With E2E_BENCH_WRITE_DOCS=1 the result replaces the block between `<!-- bed-benchmark:begin -->` and
 * `<!-- bed-benchmark:end -->` in docs/benchmarks.md, beside the simulation's prediction for the same shape.
 */
import { execFile } from "child_process";
import { promisify } from "util";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Bed, BedCluster, REPO, bedIstioVersions, buildBed, cacheDir, chartsDir, startBed } from "./lib/bed";
import { IstiodOperator } from "./lib/istiod";
import { Kube } from "./lib/kube";
import * as checks from "./lib/meshChecks";
import { makeLog } from "./lib/meshChecks";
import { meshConfig, openStack, preparePulumi, writeStackConfig } from "./lib/stack";
import { updateTimings } from "./lib/timings";
import { loadTopology } from "./lib/topology";

const topology = loadTopology();
const VERSION = process.env.E2E_TO_VERSION ?? bedIstioVersions().slice(-1)[0] ?? "1.31.1";
const MIN = 60_000;
const SEED = (n: string) => `seed-${n}`;
const log = makeLog("bench");

let root: string;
let bed: Bed | undefined;
const kube: Record<string, Kube> = {};
const istiod: Record<string, IstiodOperator> = {};
const result: { loadAverage?: number[]; seedOrder?: Record<string, number>; engine?: { timeToMesh: number; makespan: number; wall: number; resources: number } } = {};

beforeAll(async () => {
    root = fs.mkdtempSync(path.join(process.env.E2E_WORK_DIR ?? os.tmpdir(), "istio-mc-bench-"));
    buildBed();
    checks.requireBedFiles([VERSION]);
    // Other work on the machine slows both sides; the 1-minute load average before the run is written beside the result.
    result.loadAverage = os.loadavg().map((x) => Math.round(x * 10) / 10);
    bed = await startBed([...topology.names.map(SEED), ...topology.names], path.join(root, "bed"));
    checks.startIstiods(bed.clusters, { root, log, gatePodReadiness: true }, kube, istiod);
}, 30 * MIN);

afterAll(async () => {
    await checks.stopIstiodsAndBed(istiod, bed, log);
    if (root) fs.writeFileSync(path.join(root, "benchmark.json"), JSON.stringify(result, null, 2));
    log(`result ${JSON.stringify(result)}; work dir ${root}`);
}, 10 * MIN);

test("the tutorials' order, scripted (one cluster after the other)", async () => {
    const seedClusters = topology.names.map((n) => bed!.clusters.find((c) => c.name === SEED(n))!);
    // Asynchronously: the istiod operators of this process must keep running while the script waits on Helm.
    const { stdout: out } = await promisify(execFile)("bash", [path.join(REPO, "test/e2e/bench/seed-order.sh")], {
        encoding: "utf8",
        env: {
            ...process.env,
            PATH: `${path.join(cacheDir(), "bin")}:${process.env.PATH}`,
            // Istio cluster IDs are the topology's names; only the bed's copies are called seed-<name>.
            CLUSTERS: seedClusters.map((c, i) => `${topology.names[i]}=${topology.networkOf(topology.names[i])}=${c.kubeconfigPath}`).join(" "),
            CHARTS: chartsDir(VERSION),
            MESH_ID: "mesh1",
            ISTIO_VERSION: VERSION,
            WORK: path.join(root, "seed-order"),
        },
        timeout: 30 * MIN,
    });
    result.seedOrder = Object.fromEntries(out.split("\n").filter((l) => l.startsWith("step ")).map((l) => [l.split(" ")[1], Number(l.split(" ")[2])]));
    log(`seed order: ${JSON.stringify(result.seedOrder)}`);
    expect(result.seedOrder["time-to-mesh"]).toBeGreaterThan(0);
    expect(result.seedOrder.total).toBeGreaterThanOrEqual(result.seedOrder["time-to-mesh"]);
}, 40 * MIN);

test("the engine's up of the same mesh, per-resource timings from its events", async () => {
    const env = preparePulumi(root);
    const stack = await openStack(env, "bench");
    const clusters = topology.names.map((n) => bed!.clusters.find((c) => c.name === n)!) as BedCluster[];
    writeStackConfig(env, "bench", {
        ...meshConfig({
            istioVersion: VERSION,
            chartSource: chartsDir(VERSION),
            clusters: clusters.map((c) => ({ name: c.name, network: topology.networkOf(c.name), kubeconfigPath: c.kubeconfigPath })),
        }),
        "istio-multicluster:samples": { helloworld: { enabled: true }, bookinfo: { enabled: false }, verification: { enabled: false } },
    });
    const events: any[] = [];
    const t0 = Date.now();
    const r = await stack.up({ color: "never", onEvent: (e) => events.push(e) });
    const wall = (Date.now() - t0) / 1000;
    expect(r.summary.result).toBe("succeeded");
    const t = updateTimings(events);
    result.engine = { timeToMesh: t.timeToMesh, makespan: t.makespan, wall, resources: t.steps.length };
    log(`engine: ${JSON.stringify(result.engine)}`);
    for (const n of topology.names) await checks.expectClusterzSynced(istiod[n], n, topology.others(n), log);
    if (process.env.E2E_BENCH_WRITE_DOCS === "1") writeDocs();
}, 40 * MIN);

/** Replaces the bed-benchmark block of docs/benchmarks.md with this run's numbers and the simulation's prediction. */
function writeDocs(): void {
    const file = path.join(REPO, "docs/benchmarks.md");
    const doc = fs.readFileSync(file, "utf8");
    const s = result.seedOrder!;
    const e = result.engine!;
    const predicted = /\| existing \(2 clusters, 2 networks\) \|[^\n]*\| ×([\d.]+) \|/.exec(doc)?.[1] ?? "?";
    const block = [
        "<!-- bed-benchmark:begin -->",
        `<!-- written by test/e2e/benchmark.e2e.ts (E2E_BENCH_WRITE_DOCS=1) on ${new Date().toISOString().slice(0, 10)}; do not edit -->`,
        `Measured on the bed (real API servers, real Helm and charts of Istio ${VERSION}, a real istiod per cluster, kwok's pods;`,
        `${topology.names.length} clusters on ${topology.networks.length} network(s); 2 cores, load average ${result.loadAverage?.join(" / ")} before the run),`,
        "one run, the script first and then the engine:",
        "",
        "| | tutorials' order, scripted (s) | `pulumi up`, real engine (s) | ratio |",
        "| :--- | ---: | ---: | ---: |",
        `| time-to-mesh (Istio, gateways, remote secrets) | ${s["time-to-mesh"].toFixed(1)} | ${e.timeToMesh.toFixed(1)} | ×${(s["time-to-mesh"] / Math.max(e.timeToMesh, 1)).toFixed(1)} |`,
        `| with the samples | ${s.total.toFixed(1)} | ${e.makespan.toFixed(1)} | ×${(s.total / Math.max(e.makespan, 1)).toFixed(1)} |`,
        "",
        `The simulation above predicts ×${predicted} for two existing clusters on two networks (sequential against the engine's`,
        "parallel graph, with cloud-typical step times). On the bed every step is fast (no image pulls, no load balancers",
        "to provision), so the fixed costs of each run (the engine's plugins and state, Helm's client) weigh more there.",
        "<!-- bed-benchmark:end -->",
    ].join("\n");
    const re = /<!-- bed-benchmark:begin -->[\s\S]*<!-- bed-benchmark:end -->/;
    if (!re.test(doc)) throw new Error("docs/benchmarks.md has no bed-benchmark block");
    fs.writeFileSync(file, doc.replace(re, block));
}
