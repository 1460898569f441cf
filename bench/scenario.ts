/**
 * One benchmark scenario, in a process of its own: `node scenario.js <spec.json> <result.json>`.
 *
 * Sets up Pulumi's mocks (bench/mocks.ts) and the stack config, runs the compiled program (index.js), waits
 * for every stack output, and writes what was declared — each resource with its dependencies, provider,
 * parent, duration key and, in timed runs, when the mock monitor received it and when it answered — plus
 * the program's wall time and the process's peak resident memory.
 */
import * as fs from "fs";
import * as path from "path";
import { performance } from "perf_hooks";
import * as pulumi from "@pulumi/pulumi";
import { BenchMocks } from "./mocks";

export interface ScenarioSpec {
    label: string;
    stack: string;
    config: Record<string, string>;
    /** Real milliseconds per simulated minute; 0 for an untimed run. */
    msPerMinute: number;
    /** URNs of the resources that wait for nothing; simulated time starts once all have been sent. */
    roots?: string[];
}

export interface RecordedResource {
    urn: string;
    type: string;
    name: string;
    custom: boolean;
    read: boolean;
    parent: string;
    /** URN of the explicit provider, "" without one. */
    provider: string;
    /** URNs this resource's inputs and dependsOn come from, as sent to the engine. */
    dependencies: string[];
    key: string;
    minutes: number;
    /** Resources a read's id comes from (the SDK waits for them but does not send them with the read). */
    idDependencies: string[];
    /** ms since the program started: request received by the mock monitor, and answered. */
    requested: number;
    answered: number;
}

export interface ScenarioResult {
    label: string;
    resources: RecordedResource[];
    /** From loading the program to every output resolved, ms. */
    wallMs: number;
    /** ms since the program started when simulated time started (mocks.ts). */
    simulationStartMs: number;
    /** Peak resident set size of this process, KiB. */
    maxRssKiB: number;
    heapUsedMiB: number;
    msPerMinute: number;
}

const PROJECT = "istio-multicluster";
/** Simulated time starts at the latest this long after the program was loaded (ms). */
const ROOTS_TIMEOUT_MS = 10_000;

async function main() {
    const [specFile, resultFile] = process.argv.slice(2);
    const spec = JSON.parse(fs.readFileSync(specFile, "utf8")) as ScenarioSpec;

    const mocks = new BenchMocks(spec.msPerMinute);
    await pulumi.runtime.setMocks(mocks, PROJECT, spec.stack, false);
    pulumi.runtime.setAllConfig(spec.config, []);

    const monitor = pulumi.runtime.getMonitor() as any;
    const recorded: RecordedResource[] = [];
    let t0 = 0;
    const pendingRoots = new Set(spec.roots ?? []);
    const startSimulation = () => {
        if (mocks.startedAt < 0) mocks.start(performance.now() - t0);
    };
    const urnOf = (parent: string, type: string, name: string) => {
        // As the mock monitor names URNs: the parent's own type, not its whole chain.
        const qualified = parent ? `${parent.split("::")[2].split("$").pop()}$${type}` : type;
        return `urn:pulumi:${spec.stack}::${PROJECT}::${qualified}::${name}`;
    };
    const wrap = (method: "registerResource" | "readResource", read: boolean) => {
        const original = monitor[method].bind(monitor);
        monitor[method] = (req: any, callback: any) => {
            const type: string = req.getType();
            const name: string = req.getName();
            const parent: string = req.getParent();
            const r: RecordedResource = {
                urn: urnOf(parent, type, name),
                type,
                name,
                custom: read ? true : req.getCustom(),
                read,
                parent,
                provider: (req.getProvider() as string).split("::").slice(0, -1).join("::"),
                dependencies: req.getDependenciesList(),
                idDependencies: [],
                key: "",
                minutes: 0,
                requested: performance.now() - t0,
                answered: -1,
            };
            recorded.push(r);
            if (pendingRoots.delete(r.urn) && pendingRoots.size === 0) startSimulation();
            return original(req, (err: unknown, resp: unknown) => {
                r.answered = performance.now() - t0;
                callback(err, resp);
            });
        };
    };
    wrap("registerResource", false);
    wrap("readResource", true);

    // A read (`Service.get`) waits for its id, but the SDK does not list the id's resources among the read's
    // dependencies: note them here, so that the graph has every wait the program really makes.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const runtimeResource = require("@pulumi/pulumi/runtime/resource");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { getAllResources } = require("@pulumi/pulumi/output");
    const readIds = new Map<string, Promise<string[]>>();
    const readResource = runtimeResource.readResource;
    runtimeResource.readResource = (res: unknown, parent: unknown, t: string, name: string, props: unknown, opts: any, ...rest: unknown[]) => {
        const resources: Promise<Set<any>> = getAllResources(pulumi.output(opts.id));
        readIds.set(`${t}::${name}`, resources.then((rs) => Promise.all([...rs].map((r) => r.urn.promise() as Promise<string>))));
        return readResource(res, parent, t, name, props, opts, ...rest);
    };

    t0 = performance.now();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require(path.join(__dirname, "..", "index"));
    // Simulated time starts once the SDK has sent every resource that waits for nothing (known from the
    // untimed run): the program's start-up CPU time is not provisioning time.
    if (pendingRoots.size === 0) startSimulation();
    setTimeout(startSimulation, ROOTS_TIMEOUT_MS).unref();
    for (const value of Object.values(program)) {
        const output = pulumi.output(value as any) as pulumi.Output<unknown>;
        await new Promise((resolve) => output.apply(resolve));
    }
    for (let i = 0; i < 3; i++) {
        await (pulumi.runtime as any).waitForRPCs();
        await new Promise((r) => setTimeout(r, 5));
    }
    const wallMs = performance.now() - t0;

    for (const r of recorded) {
        const c = mocks.classified.get(BenchMocks.keyOf(r.read, r.type, r.name));
        if (!c) throw new Error(`${r.type}::${r.name} was declared but never reached the mocks`);
        r.key = c.key;
        r.minutes = c.minutes;
        if (r.read) r.idDependencies = await (readIds.get(`${r.type}::${r.name}`) ?? Promise.resolve([]));
    }
    const result: ScenarioResult = {
        label: spec.label,
        resources: recorded,
        wallMs,
        simulationStartMs: mocks.startedAt,
        maxRssKiB: process.resourceUsage().maxRSS,
        heapUsedMiB: process.memoryUsage().heapUsed / 2 ** 20,
        msPerMinute: spec.msPerMinute,
    };
    fs.writeFileSync(resultFile, JSON.stringify(result));
}

main().then(
    () => process.exit(0),
    (e) => {
        console.error(e instanceof Error ? e.stack ?? e.message : e);
        process.exit(1);
    },
);
