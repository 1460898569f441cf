/**
 * `npm run bench`: time-to-mesh and scale of the program under Pulumi mocks.
 *
 *   node bin/bench/bench/run.js [--ms-per-minute=100] [--sizes=2,4,8,16,32] [--platforms=existing,azure,aws]
 *                               [--no-timed] [--no-docs]
 *
 * Every scenario runs in a fresh node process (bench/scenario.ts), twice: untimed (mocks answer at once:
 * the program's own wall time, peak memory and resource graph) and timed (mocks take each resource type's
 * duration, scaled: the makespan the SDK's real waiting produces). The graph's schedule (bench/graph.ts)
 * gives the same makespan analytically. Prints the tables and writes them to docs/benchmarks.md.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DURATIONS } from "./durations";
import { Res, Timing, measured, startLag, timing, toGraph, unavoidable, whatIfs } from "./analysis";
import type { ScenarioResult, ScenarioSpec } from "./scenario";
import { FlatConfig, PLATFORMS, Platform, committedStack, generatedStack, projectRoot } from "./topology";

interface Options {
    /** Time scale of the timed runs of the committed stacks (part 1). */
    msPerMinute: number;
    /** Time scale of the timed runs of the scale topologies (part 2). */
    scaleMsPerMinute: number;
    sizes: number[];
    platforms: Platform[];
    timed: boolean;
    docs: boolean;
}

function parseOptions(argv: string[]): Options {
    const opts: Options = { msPerMinute: 1000, scaleMsPerMinute: 250, sizes: [2, 4, 8, 16, 32], platforms: [...PLATFORMS], timed: true, docs: true };
    for (const arg of argv) {
        const [flag, value] = arg.split("=");
        if (flag === "--ms-per-minute") opts.msPerMinute = Number(value);
        else if (flag === "--scale-ms-per-minute") opts.scaleMsPerMinute = Number(value);
        else if (flag === "--sizes") opts.sizes = value.split(",").map(Number);
        else if (flag === "--platforms") opts.platforms = value.split(",") as Platform[];
        else if (flag === "--no-timed") opts.timed = false;
        else if (flag === "--no-docs") opts.docs = false;
        else throw new Error(`unknown option ${arg}`);
    }
    if (!(opts.msPerMinute > 0) || !(opts.scaleMsPerMinute > 0)) throw new Error("time scales must be positive");
    for (const p of opts.platforms) if (!PLATFORMS.includes(p)) throw new Error(`unknown platform ${p}`);
    return opts;
}

const ROOT = projectRoot();
const WORK = path.join(ROOT, "bin", "bench", "runs");

/** Runs one scenario in a fresh process and returns what it recorded. */
function runScenario(spec: ScenarioSpec): ScenarioResult {
    fs.mkdirSync(WORK, { recursive: true });
    const base = path.join(WORK, `${spec.label.replace(/[^a-z0-9-]+/gi, "_")}-${spec.msPerMinute}`);
    fs.writeFileSync(`${base}.spec.json`, JSON.stringify(spec));
    const child = spawnSync(process.execPath, [path.join(__dirname, "scenario.js"), `${base}.spec.json`, `${base}.result.json`], {
        cwd: ROOT,
        encoding: "utf8",
        maxBuffer: 64 * 2 ** 20,
    });
    if (child.status !== 0) {
        throw new Error(`scenario ${spec.label} failed (exit ${child.status}):\n${child.stderr}\n${child.stdout}`);
    }
    return JSON.parse(fs.readFileSync(`${base}.result.json`, "utf8")) as ScenarioResult;
}

interface Measurement {
    label: string;
    platform: Platform;
    clusters: number;
    multiNetwork: boolean;
    graph: Res[];
    timing: Timing;
    resources: number;
    remoteSecrets: number;
    wallMs: number;
    maxRssMiB: number;
    timed?: { makespan: number; timeToMesh: number; wallMs: number; lag: { minutes: number; name: string } };
}

function measure(label: string, platform: Platform, config: FlatConfig, opts: Options, msPerMinute: number): Measurement {
    const clusters = JSON.parse(config["istio-multicluster:clusters"]) as { network: string }[];
    const untimed = runScenario({ label, stack: platform, config, msPerMinute: 0 });
    const graph = toGraph(untimed.resources);
    const m: Measurement = {
        label,
        platform,
        clusters: clusters.length,
        multiNetwork: new Set(clusters.map((c) => c.network)).size > 1,
        graph,
        timing: timing(graph),
        resources: untimed.resources.length,
        remoteSecrets: untimed.resources.filter((r) => r.type === "kubernetes:core/v1:Secret" && r.name.endsWith("-remote-secret")).length,
        wallMs: untimed.wallMs,
        maxRssMiB: untimed.maxRssKiB / 1024,
    };
    if (opts.timed) {
        const roots = graph.filter((r) => r.deps.length === 0).map((r) => r.urn);
        const timedRun = runScenario({ label, stack: platform, config, msPerMinute, roots });
        const timedGraph = toGraph(timedRun.resources);
        if (timedGraph.length !== graph.length) throw new Error(`${label}: the timed run declared ${timedGraph.length} resources, the untimed ${graph.length}`);
        const lag = startLag(timedRun, timing(timedGraph));
        m.timed = { ...measured(timedRun, timedGraph), wallMs: timedRun.wallMs, lag: { minutes: lag.minutes, name: lag.urn.split("::").pop()! } };
    }
    process.stderr.write(
        `  ${label}: ${m.resources} resources, ${(m.wallMs / 1000).toFixed(1)} s, ${m.maxRssMiB.toFixed(0)} MiB, ` +
            `makespan ${m.timing.makespan.toFixed(2)} min` +
            (m.timed ? ` (timed run ${m.timed.makespan.toFixed(2)}, largest start lag ${m.timed.lag.minutes.toFixed(2)} at ${m.timed.lag.name})` : "") +
            "\n",
    );
    return m;
}

// ---- formatting -------------------------------------------------------------------------------------

const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);

/** A Markdown table; columns named in `left` are left-aligned, the others right-aligned. */
function table(header: string[], rows: (string | number)[][], left: number[] = [0]): string {
    const lines = [`| ${header.join(" | ")} |`, `| ${header.map((_, i) => (left.includes(i) ? ":---" : "---:")).join(" | ")} |`];
    for (const row of rows) lines.push(`| ${row.join(" | ")} |`);
    return lines.join("\n");
}

function chainTable(m: Measurement, chain: string[]): string {
    const byUrn = new Map(m.graph.map((r) => [r.urn, r]));
    const rows = chain
        .map((urn) => byUrn.get(urn)!)
        .filter((r) => r.minutes > 0)
        .map((r) => [`\`${r.name}\``, r.key, f2(m.timing.schedule.start.get(r.urn)!), f2(r.minutes), f2(m.timing.schedule.end.get(r.urn)!)]);
    return table(["resource", "kind", "starts (min)", "takes (min)", "ends (min)"], rows, [0, 1]);
}

/** Least squares y ≈ Σ c_j·f_j(x); returns the coefficients. */
function fit(xs: number[], ys: number[], basis: ((x: number) => number)[]): number[] {
    const k = basis.length;
    const a = Array.from({ length: k }, () => new Array(k + 1).fill(0));
    xs.forEach((x, i) => {
        const f = basis.map((b) => b(x));
        for (let r = 0; r < k; r++) {
            for (let c = 0; c < k; c++) a[r][c] += f[r] * f[c];
            a[r][k] += f[r] * ys[i];
        }
    });
    for (let col = 0; col < k; col++) {
        let pivot = col;
        for (let r = col + 1; r < k; r++) if (Math.abs(a[r][col]) > Math.abs(a[pivot][col])) pivot = r;
        [a[col], a[pivot]] = [a[pivot], a[col]];
        for (let r = 0; r < k; r++) {
            if (r === col || a[col][col] === 0) continue;
            const factor = a[r][col] / a[col][col];
            for (let c = col; c <= k; c++) a[r][c] -= factor * a[col][c];
        }
    }
    return a.map((row, i) => (row[i] === 0 ? 0 : row[k] / row[i]));
}

/** How each measure grows with N, in words, from the measurements of one platform. */
function growthText(ms: Measurement[]): string[] {
    const ns = ms.map((m) => m.clusters);
    const out: string[] = [];
    if (ms.length >= 3) {
        const [a, b, c] = fit(ns, ms.map((m) => m.resources), [() => 1, (n) => n, (n) => n * (n - 1)]).map((x) => Math.round(x * 100) / 100);
        const exact = ms.every((m) => Math.abs(a + b * m.clusters + c * m.clusters * (m.clusters - 1) - m.resources) < 0.5);
        out.push(
            `- **Resources** = ${a} + ${b}·N + ${c}·N·(N−1)${exact ? " exactly" : " (least squares)"}: a fixed part, ${b} per cluster` +
                (Number.isInteger(b) ? ", " : " on average (the generated clusters alternate between two kinds that differ by one resource), ") +
                `and ${c} per ordered pair of clusters (the remote-secret component, its reader token and the secret` +
                (c > 3 ? `, plus ${c - 3} security-group rules per pair` : "") +
                `). Quadratic: from N = ${ns[ns.length - 2]} to ${ns[ns.length - 1]} the count grows ×${f2(ms[ms.length - 1].resources / ms[ms.length - 2].resources)}.`,
        );
    }
    const pairs = ms.every((m) => m.remoteSecrets === m.clusters * (m.clusters - 1));
    out.push(`- **Remote secrets** = N·(N−1)${pairs ? "" : " (NOT matched!)"}: ${ms.map((m) => `${m.remoteSecrets} at N = ${m.clusters}`).join(", ")}.`);
    if (ms.length >= 2) {
        const first = ms[0];
        const last = ms[ms.length - 1];
        const perResourceMs = (last.wallMs - first.wallMs) / (last.resources - first.resources);
        const perResourceKiB = ((last.maxRssMiB - first.maxRssMiB) * 1024) / (last.resources - first.resources);
        out.push(
            `- **Wall time and peak memory** follow the resource count (so N² for large N): about ${f1(perResourceMs)} ms and ` +
                `${Math.round(perResourceKiB)} KiB per extra resource between N = ${first.clusters} and ${last.clusters} ` +
                `(${f1(first.wallMs / 1000)} → ${f1(last.wallMs / 1000)} s, ${Math.round(first.maxRssMiB)} → ${Math.round(last.maxRssMiB)} MiB).`,
        );
        const [, slope] = fit(ns, ms.map((m) => m.timing.makespan), [() => 1, (n) => n]);
        const seqSlope = fit(ns, ms.map((m) => m.timing.sequential), [() => 1, (n) => n, (n) => n * (n - 1)]);
        out.push(
            `- **Makespan** ${Math.abs(slope) < 0.005 ? `does not grow with N (${f2(first.timing.makespan)} min at every size: the clusters are built side by side)` : `grows by ${f2(slope)} min per cluster (${f2(first.timing.makespan)} → ${f2(last.timing.makespan)} min)`}, ` +
                `while the **sequential** sum grows ${f1(seqSlope[1])} min per cluster plus ${f2(seqSlope[2])} min per ordered pair ` +
                `(${f1(first.timing.sequential)} → ${f1(last.timing.sequential)} min): the speed-up of the graph over the walkthroughs' one-step-at-a-time order ` +
                `goes from ×${f1(first.timing.sequential / first.timing.makespan)} to ×${f1(last.timing.sequential / last.timing.makespan)}.`,
        );
        if (last.timed) {
            out.push(
                `- **Timed runs** agree with the schedule while the mocks are not CPU-bound; at N = ${last.clusters} the program's own ` +
                    `CPU time under mocks (${f1(last.wallMs / 1000)} s untimed) stretches the measured makespan to ${f2(last.timed.makespan)} min ` +
                    `(largest start lag ${f2(last.timed.lag.minutes)} min at \`${last.timed.lag.name}\`).`,
            );
        }
    }
    return out;
}

function gitDescription(): string {
    const git = (...args: string[]) => spawnSync("git", args, { cwd: ROOT, encoding: "utf8" }).stdout.trim();
    const head = git("rev-parse", "--short", "HEAD");
    const dirty = git("status", "--porcelain", "--", "index.ts", "components", "stacks");
    return dirty ? `commit ${head} plus uncommitted changes to the program in the working tree` : `commit ${head}`;
}

function report(opts: Options, seeds: Measurement[], scale: Measurement[], startedAt: Date, elapsedS: number): string {
    const out: string[] = [];
    const cpus = os.cpus();
    out.push("# Benchmarks: time-to-mesh and scale");
    out.push("");
    out.push("Generated by `npm run bench` (bench/run.ts): run it again rather than editing this file. The script prints the same text.");
    out.push("");
    out.push(`- Date: ${startedAt.toISOString().replace(/\.\d+Z$/, "Z")}; the whole run took ${Math.round(elapsedS)} s.`);
    out.push(`- Machine: ${cpus.length} × ${cpus[0]?.model ?? "CPU"}, ${f1(os.totalmem() / 2 ** 30)} GiB memory, ${os.type()} ${os.release()}, node ${process.version}.`);
    out.push(`- Program: ${gitDescription()}.`);
    out.push(
        `- Command: \`npm run bench\`, which compiles bench/ and the program with \`tsc -p bench/tsconfig.json\` into bin/bench and runs ` +
            `\`node bin/bench/bench/run.js\`. Time scale of the timed runs: 1 simulated minute = ${opts.msPerMinute} ms for the committed stacks, ` +
            `${opts.scaleMsPerMinute} ms for the scale runs (options \`--ms-per-minute\`, \`--scale-ms-per-minute\`, \`--sizes\`, \`--platforms\`, \`--no-timed\`, \`--no-docs\`).`,
    );
    out.push("");
    out.push("## How it is measured");
    out.push("");
    out.push(
        "Each stack's program (index.ts) runs under Pulumi's mocks (`pulumi.runtime.setMocks`) in a fresh node process per run; the mocks " +
            "answer like the providers (bench/mocks.ts). A wrapper on the mock monitor records every resource with what `pulumi up` would " +
            "make it wait for: the dependencies the SDK sends to the engine (its inputs and `dependsOn`), its explicit provider, its parent, " +
            "and for reads (`Service.get`) the resources its id comes from (the SDK waits for those without listing them). Each resource " +
            "kind gets a typical creation time (table at the end, with sources). Then:",
    );
    out.push("");
    out.push(
        "- **Analytic** (bench/graph.ts): the recorded graph scheduled with unlimited parallelism (`pulumi up` runs every ready step: " +
            "\"--parallel: Allow P resource operations to run in parallel at once (1 for no parallelism). Defaults to unbounded.\", " +
            "`pulumi up --help`): a resource starts when its last dependency has ended.",
    );
    out.push(
        "- **Timed run**: the same program again, with mocks that sleep for each resource's scaled duration before answering. The SDK " +
            "sends a resource only once its inputs and `dependsOn` have resolved, so the measured makespan is what the program's declared " +
            "dependencies really produce. Simulated time starts once the SDK has sent every resource that waits for nothing. The small " +
            "excess over the analytic figure is the program's own CPU time under mocks (a few ms per dependency hop, more when hundreds of " +
            "resources are released at once); the *largest start lag* (how much later than scheduled any resource was sent) stays small " +
            "and shrinks as the time scale grows, which shows that the graph holds every wait the SDK makes.",
    );
    out.push("- **Sequential**: the sum of every step, the walkthroughs' order (one step after another).");
    out.push(
        "- **Time-to-mesh**: every resource of the `Mesh` component exists (Istio, east-west gateways, remote secrets). **Makespan** adds " +
            "the samples and their verification Jobs.",
    );
    out.push(
        "- **Unavoidable chain** (bench/analysis.ts): one cluster's steps the mesh cannot do without, each waiting only for what it " +
            "needs: network → cluster → nodes (→ cluster DNS on EKS) → namespace → base → istiod → east-west gateway (multi-network). " +
            "Remote secrets need only the source's `base` (reader service account) and the target's namespace, so they run beside istiod " +
            "and are off the chain.",
    );
    out.push("- Not modelled: cloud API rate limits and quotas, retries, Pulumi's per-step overhead (seconds), image pull variance.");
    out.push("");

    out.push("## 1. Time-to-mesh of the committed stacks");
    out.push("");
    out.push(
        "Azure and AWS: the committed Pulumi.azure.yaml and Pulumi.aws.yaml as they are (region added). Existing clusters: two clusters " +
            "given as kubeconfigs, on two networks (east-west gateways), as the AKS walkthrough's topology.",
    );
    out.push("");
    out.push(
        table(
            [
                "stack",
                "resources",
                "sequential (min)",
                "time-to-mesh (min)",
                "timed run",
                "makespan with samples (min)",
                "timed run",
                "largest start lag (min)",
                "speed-up vs sequential",
                "unavoidable chain (min)",
                "time-to-mesh − unavoidable",
            ],
            seeds.map((m) => {
                const u = unavoidable(m.platform, m.multiNetwork);
                return [
                    m.label,
                    m.resources,
                    f1(m.timing.sequential),
                    f2(m.timing.timeToMesh),
                    m.timed ? f2(m.timed.timeToMesh) : "–",
                    f2(m.timing.makespan),
                    m.timed ? f2(m.timed.makespan) : "–",
                    m.timed ? f2(m.timed.lag.minutes) : "–",
                    `×${f1(m.timing.sequential / m.timing.makespan)}`,
                    f2(u.minutes),
                    f2(m.timing.timeToMesh - u.minutes),
                ];
            }),
        ),
    );
    out.push("");
    for (const m of seeds) {
        const u = unavoidable(m.platform, m.multiNetwork);
        out.push(`### ${m.label}`);
        out.push("");
        out.push(`Unavoidable chain, ${f2(u.minutes)} min: ${u.chain.map((c) => `${c.step} (${c.key}) ${f2(c.minutes)}`).join(" → ")}.`);
        out.push("");
        out.push(`The chain that decides time-to-mesh (${f2(m.timing.timeToMesh)} min), steps that take time:`);
        out.push("");
        out.push(chainTable(m, m.timing.meshChain));
        out.push("");
        out.push(`The critical chain of the whole run, samples included (${f2(m.timing.makespan)} min):`);
        out.push("");
        out.push(chainTable(m, m.timing.critical));
        out.push("");
    }

    out.push("### Dependencies that lengthen the chain without being needed");
    out.push("");
    out.push(
        "Found in the recorded graphs. *What if* moves the dependency to where it is needed and schedules the graph again; the program " +
            "itself is not changed by the benchmark.",
    );
    out.push("");
    const findingRows: (string | number)[][] = [];
    const described = new Map<string, { title: string; detail: string; fix: string }>();
    const largest = Math.max(...opts.sizes);
    for (const m of [...seeds, ...scale.filter((s) => s.clusters === largest)]) {
        const w = whatIfs(m.graph);
        for (const e of w.each) {
            described.set(e.finding.id, e.finding);
            findingRows.push([m.label, e.finding.title, `${f2(m.timing.timeToMesh)} → ${f2(e.timeToMesh)}`, `${f2(m.timing.makespan)} → ${f2(e.makespan)}`]);
        }
        if (w.all && w.each.length > 1) {
            findingRows.push([m.label, "all of the above", `${f2(m.timing.timeToMesh)} → ${f2(w.all.timeToMesh)}`, `${f2(m.timing.makespan)} → ${f2(w.all.makespan)}`]);
        }
    }
    if (findingRows.length === 0) {
        out.push("None found.");
    } else {
        out.push(table(["stack", "dependency", "time-to-mesh (min), what if", "makespan (min), what if"], findingRows, [0, 1]));
        out.push("");
        for (const f of described.values()) out.push(`- **${f.title}.** ${f.detail} *Fix:* ${f.fix}`);
    }
    out.push("");

    out.push("## 2. Scale");
    out.push("");
    out.push(
        "Generated topologies of N clusters (bench/topology.ts): *existing*, inline kubeconfigs, one network per cluster; *azure*, " +
            "Pulumi.azure.yaml's cluster repeated, each with its own subnet, pod and service ranges and network; *aws*, Pulumi.aws.yaml's " +
            "IPv4 and IPv6 clusters alternated in its VPC, one network. Samples on, as committed. Wall time and peak memory are the untimed " +
            "run's: from loading the program to every stack output resolved, and the process's peak resident set size.",
    );
    out.push("");
    for (const platform of opts.platforms) {
        const ms = scale.filter((m) => m.platform === platform).sort((a, b) => a.clusters - b.clusters);
        if (ms.length === 0) continue;
        out.push(`### ${platform}`);
        out.push("");
        out.push(
            table(
                ["N", "resources", "remote secrets", "wall (s)", "peak RSS (MiB)", "sequential (min)", "time-to-mesh (min)", "makespan (min)", "timed run (min)", "largest start lag (min)"],
                ms.map((m) => [
                    m.clusters,
                    m.resources,
                    m.remoteSecrets,
                    f1(m.wallMs / 1000),
                    Math.round(m.maxRssMiB),
                    f1(m.timing.sequential),
                    f2(m.timing.timeToMesh),
                    f2(m.timing.makespan),
                    m.timed ? f2(m.timed.makespan) : "–",
                    m.timed ? f2(m.timed.lag.minutes) : "–",
                ]),
                [],
            ),
        );
        out.push("");
        out.push(...growthText(ms));
        out.push("");
    }

    out.push("## Durations");
    out.push("");
    out.push(
        table(
            ["kind", "what", "minutes", "source"],
            Object.entries(DURATIONS).map(([key, d]) => [key, d.what, d.minutes, d.source.replace(/\|/g, "\\|")]),
            [0, 1, 3],
        ),
    );
    out.push("");
    return out.join("\n");
}

async function main() {
    const opts = parseOptions(process.argv.slice(2));
    const startedAt = new Date();
    const t0 = Date.now();

    process.stderr.write("time-to-mesh of the committed stacks\n");
    const seeds: Measurement[] = [];
    const ms = opts.msPerMinute;
    if (opts.platforms.includes("existing")) seeds.push(measure("existing (2 clusters, 2 networks)", "existing", generatedStack("existing", 2), opts, ms));
    if (opts.platforms.includes("azure")) seeds.push(measure("azure (Pulumi.azure.yaml)", "azure", committedStack("azure"), opts, ms));
    if (opts.platforms.includes("aws")) seeds.push(measure("aws (Pulumi.aws.yaml)", "aws", committedStack("aws"), opts, ms));

    process.stderr.write("scale\n");
    const scale: Measurement[] = [];
    for (const platform of opts.platforms) {
        for (const n of opts.sizes) scale.push(measure(`${platform} N=${n}`, platform, generatedStack(platform, n), opts, opts.scaleMsPerMinute));
    }

    const text = report(opts, seeds, scale, startedAt, (Date.now() - t0) / 1000);
    process.stdout.write(`${text}\n`);
    if (opts.docs) {
        const file = path.join(ROOT, "docs", "benchmarks.md");
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, `${withBedSection(text, fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "")}\n`);
        process.stderr.write(`wrote ${path.relative(ROOT, file)}\n`);
    }
}

/**
 * The section measured on the end-to-end bed (written by test/e2e/benchmark.e2e.ts, not by this script) is kept
 * from the previous file, before "## 2. Scale".
 */
export function withBedSection(text: string, previous: string): string {
    const section = /\n## Measured on the bed[\s\S]*?<!-- bed-benchmark:end -->\n/.exec(previous)?.[0];
    return section ? text.replace("\n## 2. Scale", `${section}\n## 2. Scale`) : text;
}

main().catch((e) => {
    console.error(e instanceof Error ? e.stack ?? e.message : e);
    process.exit(1);
});
