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
    msPerMinute: number;
    sizes: number[];
    platforms: Platform[];
    timed: boolean;
    docs: boolean;
}

function parseOptions(argv: string[]): Options {
    const opts: Options = { msPerMinute: 100, sizes: [2, 4, 8, 16, 32], platforms: [...PLATFORMS], timed: true, docs: true };
    for (const arg of argv) {
        const [flag, value] = arg.split("=");
        if (flag === "--ms-per-minute") opts.msPerMinute = Number(value);
        else if (flag === "--sizes") opts.sizes = value.split(",").map(Number);
        else if (flag === "--platforms") opts.platforms = value.split(",") as Platform[];
        else if (flag === "--no-timed") opts.timed = false;
        else if (flag === "--no-docs") opts.docs = false;
        else throw new Error(`unknown option ${arg}`);
    }
    if (!(opts.msPerMinute > 0)) throw new Error("--ms-per-minute must be positive");
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

function measure(label: string, platform: Platform, config: FlatConfig, opts: Options): Measurement {
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
        const timedRun = runScenario({ label, stack: platform, config, msPerMinute: opts.msPerMinute, roots });
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

function table(header: string[], rows: (string | number)[][]): string {
    const lines = [`| ${header.join(" | ")} |`, `| ${header.map((h, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`];
    for (const row of rows) lines.push(`| ${row.join(" | ")} |`);
    return lines.join("\n");
}

function chainTable(m: Measurement, chain: string[]): string {
    const byUrn = new Map(m.graph.map((r) => [r.urn, r]));
    const rows = chain
        .map((urn) => byUrn.get(urn)!)
        .filter((r) => r.minutes > 0)
        .map((r) => [`\`${r.name}\``, r.key, f2(m.timing.schedule.start.get(r.urn)!), f2(r.minutes), f2(m.timing.schedule.end.get(r.urn)!)]);
    return table(["resource", "kind", "starts (min)", "takes (min)", "ends (min)"], rows);
}

/** Growth per doubling of N, and the exponent k of N^k it suggests (from the last two sizes). */
function growth(values: number[], sizes: number[]): string {
    if (values.length < 2) return "–";
    const n = values.length;
    const ratio = values[n - 1] / values[n - 2];
    const k = Math.log(ratio) / Math.log(sizes[n - 1] / sizes[n - 2]);
    return `×${ratio.toFixed(2)} (N^${k.toFixed(2)})`;
}

function gitDescription(): string {
    const git = (...args: string[]) => spawnSync("git", args, { cwd: ROOT, encoding: "utf8" }).stdout.trim();
    const head = git("rev-parse", "--short", "HEAD");
    const dirty = git("status", "--porcelain", "--", "index.ts", "components", "stacks");
    return dirty ? `${head} plus uncommitted changes to the program` : head;
}

function report(opts: Options, seeds: Measurement[], scale: Measurement[], startedAt: Date, elapsedS: number): string {
    const out: string[] = [];
    const cpus = os.cpus();
    out.push("# Benchmarks: time-to-mesh and scale");
    out.push("");
    out.push("Generated by `npm run bench` (bench/run.ts); do not edit by hand, run it again.");
    out.push("");
    out.push(`- Date: ${startedAt.toISOString().replace(/\.\d+Z$/, "Z")}; whole run ${Math.round(elapsedS)} s`);
    out.push(`- Machine: ${cpus.length} × ${cpus[0]?.model ?? "CPU"}, ${f1(os.totalmem() / 2 ** 30)} GiB memory, ${os.type()} ${os.release()}, node ${process.version}`);
    out.push(`- Program: ${gitDescription()}`);
    out.push(
        `- Command: \`npm run bench\` (compiles bench/ and the program with \`tsc -p bench/tsconfig.json\` into bin/bench, then ` +
            `\`node bin/bench/bench/run.js\`); time scale of the timed runs: 1 simulated minute = ${opts.msPerMinute} ms`,
    );
    out.push("");
    out.push("## How it is measured");
    out.push("");
    out.push(
        "Each stack's program runs under Pulumi's mocks (`pulumi.runtime.setMocks`), in a fresh node process per run. The mocks answer " +
            "like the providers (bench/mocks.ts). A wrapper on the mock monitor records every resource with the dependencies the SDK " +
            "sends to the engine (`dependencies`: inputs and dependsOn), its explicit provider and its parent — exactly what `pulumi up` " +
            "waits for. Each resource type gets a typical creation time (table at the end, with sources). Then:",
    );
    out.push("");
    out.push("- **analytic**: the recorded graph is scheduled with unlimited parallelism (`pulumi up` defaults to `--parallel` unbounded): a resource starts when its last dependency ends (bench/graph.ts).");
    out.push(
        `- **timed run**: the same program runs again with mocks that sleep for each resource's duration (1 min = ${opts.msPerMinute} ms) before answering. ` +
            "The SDK registers a resource only once its inputs and dependsOn have resolved, so the measured makespan is what the program's " +
            "declared dependencies really produce; it confirms the analytic one (the difference is the program's own CPU time under mocks).",
    );
    out.push("- **sequential**: the sum of every step, as the seeds' scripts run them (one after another).");
    out.push("- **time-to-mesh**: every resource of the `Mesh` component exists (Istio, east-west gateways, remote secrets); **makespan** adds the samples and their verification Jobs.");
    out.push(
        "- **unavoidable chain**: for one cluster, only the steps the mesh needs, each waiting only for what it truly needs " +
            "(network → cluster → nodes → namespace → base → istiod → east-west gateway; remote secrets need only `base` and the target namespace, so they run beside istiod).",
    );
    out.push("- Not modelled: cloud API rate limits and quotas, retries, Pulumi's own per-step overhead (seconds).");
    out.push("");

    out.push("## 1. Time-to-mesh of the committed stacks");
    out.push("");
    const rows = seeds.map((m) => {
        const u = unavoidable(m.platform, m.multiNetwork);
        return [
            m.label,
            m.resources,
            f1(m.timing.sequential),
            f2(m.timing.timeToMesh),
            m.timed ? f2(m.timed.timeToMesh) : "–",
            f2(m.timing.makespan),
            m.timed ? f2(m.timed.makespan) : "–",
            `×${f1(m.timing.sequential / m.timing.makespan)}`,
            f2(u.minutes),
            f2(m.timing.timeToMesh - u.minutes),
        ];
    });
    out.push(
        table(
            [
                "stack",
                "resources",
                "sequential (min)",
                "time-to-mesh (min)",
                "timed run",
                "makespan incl. samples (min)",
                "timed run",
                "speed-up vs sequential",
                "unavoidable chain (min)",
                "time-to-mesh − unavoidable",
            ],
            rows,
        ),
    );
    out.push("");
    for (const m of seeds) {
        const u = unavoidable(m.platform, m.multiNetwork);
        out.push(`### ${m.label}`);
        out.push("");
        out.push(`Unavoidable chain (${f2(u.minutes)} min): ${u.chain.map((c) => `${c.key} ${f2(c.minutes)}`).join(" → ")}.`);
        out.push("");
        out.push(`Chain that decides time-to-mesh (${f2(m.timing.timeToMesh)} min), steps that take time:`);
        out.push("");
        out.push(chainTable(m, m.timing.meshChain));
        out.push("");
        out.push(`Critical chain of the whole run, samples included (${f2(m.timing.makespan)} min):`);
        out.push("");
        out.push(chainTable(m, m.timing.critical));
        out.push("");
    }

    out.push("### Dependencies that lengthen the chain without being needed");
    out.push("");
    out.push(
        "Each is found in the recorded graph; \"what if\" moves the dependency to where it is needed and schedules the graph again " +
            "(the program itself is unchanged).",
    );
    out.push("");
    const findingRows: (string | number)[][] = [];
    const described = new Map<string, { title: string; detail: string; fix: string }>();
    for (const m of [...seeds, ...scale.filter((s) => s.clusters === Math.max(...opts.sizes))]) {
        const w = whatIfs(m.graph);
        for (const e of w.each) {
            described.set(e.finding.id, e.finding);
            findingRows.push([m.label, e.finding.title, `${f2(m.timing.timeToMesh)} → ${f2(e.timeToMesh)}`, `${f2(m.timing.makespan)} → ${f2(e.makespan)}`]);
        }
        if (w.all && w.each.length > 1) {
            findingRows.push([m.label, "all of the above", `${f2(m.timing.timeToMesh)} → ${f2(w.all.timeToMesh)}`, `${f2(m.timing.makespan)} → ${f2(w.all.makespan)}`]);
        }
    }
    out.push(table(["stack", "dependency", "time-to-mesh (min), what if", "makespan (min), what if"], findingRows));
    out.push("");
    for (const f of described.values()) {
        out.push(`- **${f.title}.** ${f.detail} *Fix:* ${f.fix}`);
    }
    out.push("");

    out.push("## 2. Scale");
    out.push("");
    out.push(
        "Generated topologies of N clusters (bench/topology.ts): existing — inline kubeconfigs, one network per cluster; azure — " +
            "Pulumi.azure.yaml's cluster repeated with its own subnet, pod and service ranges and network; aws — Pulumi.aws.yaml's " +
            "IPv4 and IPv6 clusters alternated in its VPC, one network. Samples as committed (on). Wall time and peak memory are the " +
            "untimed run's (program load to every output resolved; peak RSS of the process).",
    );
    out.push("");
    for (const platform of opts.platforms) {
        const ms = scale.filter((m) => m.platform === platform).sort((a, b) => a.clusters - b.clusters);
        if (ms.length === 0) continue;
        out.push(`### ${platform}`);
        out.push("");
        out.push(
            table(
                ["N", "resources", "remote secrets", "wall (s)", "peak RSS (MiB)", "sequential (min)", "time-to-mesh (min)", "makespan (min)", "timed run makespan (min)"],
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
                ]),
            ),
        );
        out.push("");
        const sizes = ms.map((m) => m.clusters);
        out.push(
            `Last doubling (N ${sizes[sizes.length - 2] ?? "–"} → ${sizes[sizes.length - 1]}): resources ${growth(ms.map((m) => m.resources), sizes)}, ` +
                `remote secrets ${growth(ms.map((m) => m.remoteSecrets), sizes)}, wall ${growth(ms.map((m) => m.wallMs), sizes)}, ` +
                `peak RSS ${growth(ms.map((m) => m.maxRssMiB), sizes)}, sequential ${growth(ms.map((m) => m.timing.sequential), sizes)}, ` +
                `makespan ${growth(ms.map((m) => m.timing.makespan), sizes)}.`,
        );
        out.push("");
    }

    out.push("## Durations");
    out.push("");
    out.push(
        table(
            ["kind", "what", "minutes", "source"],
            Object.entries(DURATIONS).map(([key, d]) => [key, d.what, d.minutes, d.source.replace(/\|/g, "\\|")]),
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
    if (opts.platforms.includes("existing")) seeds.push(measure("existing (2 clusters, 2 networks)", "existing", generatedStack("existing", 2), opts));
    if (opts.platforms.includes("azure")) seeds.push(measure("azure (Pulumi.azure.yaml)", "azure", committedStack("azure"), opts));
    if (opts.platforms.includes("aws")) seeds.push(measure("aws (Pulumi.aws.yaml)", "aws", committedStack("aws"), opts));

    process.stderr.write("scale\n");
    const scale: Measurement[] = [];
    for (const platform of opts.platforms) {
        for (const n of opts.sizes) scale.push(measure(`${platform} N=${n}`, platform, generatedStack(platform, n), opts));
    }

    const text = report(opts, seeds, scale, startedAt, (Date.now() - t0) / 1000);
    process.stdout.write(`${text}\n`);
    if (opts.docs) {
        const file = path.join(ROOT, "docs", "benchmarks.md");
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, `${text}\n`);
        process.stderr.write(`wrote ${path.relative(ROOT, file)}\n`);
    }
}

main().catch((e) => {
    console.error(e instanceof Error ? e.stack ?? e.message : e);
    process.exit(1);
});
