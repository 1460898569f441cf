/**
 * Interrupting the Pulumi CLI at a chosen point of an update, as a user's Ctrl-C (SIGINT) or a dead machine or job
 * (SIGKILL) would, and what such a run leaves behind: pending operations in the state, stale lock files of the local
 * backend, and the plugins the CLI started.
 *
 * The Automation API runs the CLI as a child of this process (execa). The CLI starts every plugin in a process group
 * of its own (sdk/go/common/util/cmdutil: Setpgid), so a Ctrl-C in a terminal reaches the CLI alone, and a SIGKILL of
 * the CLI leaves its plugins running until their health check of the dead engine fails (every 5 minutes,
 * sdk/go/pulumi/provider/main.go). The run has a PID namespace of its own (test/e2e/run.sh), so /proc lists only
 * the run's processes.
 */
import * as fs from "fs";
import * as path from "path";
import { EngineEvent, Stack } from "@pulumi/pulumi/automation";
import { sleep } from "./kube";
import { errorOf } from "./stack";

export type CliSignal = "SIGINT" | "SIGKILL";

export interface Proc {
    pid: number;
    ppid: number;
    argv: string[];
}

/** Every process /proc lists, with its parent and command line. */
export function processes(): Proc[] {
    const out: Proc[] = [];
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        try {
            const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
            // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
            const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
            const argv = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean);
            out.push({ pid: Number(entry), ppid, argv });
        } catch {
            /* gone meanwhile */
        }
    }
    return out;
}

/** The processes below `pid` (children, grandchildren, ...). */
export function descendants(pid: number, all = processes()): Proc[] {
    const found: Proc[] = [];
    let frontier = [pid];
    while (frontier.length) {
        const next = all.filter((p) => frontier.includes(p.ppid));
        found.push(...next);
        frontier = next.map((p) => p.pid);
    }
    return found;
}

/** The Pulumi CLI processes this process started (children whose program is a `pulumi` binary). */
export function cliProcesses(): Proc[] {
    return processes().filter((p) => p.ppid === process.pid && path.basename(p.argv[0] ?? "") === "pulumi");
}

/** Plugin processes (pulumi-resource-*, pulumi-language-*) whatever their parent: after a SIGKILL of the CLI they are orphans. */
export function pluginProcesses(): Proc[] {
    return processes().filter((p) => p.argv.some((a) => /(^|\/)pulumi-(resource|language|analyzer)-[a-z0-9-]+$/.test(a)));
}

const isAlive = (pid: number) => {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
};

export interface Interruption {
    /** The event that triggered the signal: "<op> <type> <name>". */
    at?: string;
    signal: CliSignal;
    /** The CLI process signalled. */
    cliPid?: number;
    /** Plugins the CLI had started (pids, program names), taken just before the signal. */
    plugins: { pid: number; name: string }[];
    /** Plugins still alive after the CLI exited. */
    orphans: { pid: number; name: string }[];
    /** The update's error (undefined if the update finished before the signal mattered). */
    error?: Error;
    /** Milliseconds from the signal to the CLI's exit. */
    exitMs?: number;
    events: EngineEvent[];
}

/** "<op> <type> <name>" of a resource event, or undefined. */
export function describeStep(e: EngineEvent): string | undefined {
    const m = e.resourcePreEvent?.metadata ?? e.resOutputsEvent?.metadata ?? e.resOpFailedEvent?.metadata;
    return m ? `${m.op} ${m.type} ${m.urn.split("::").pop()}` : undefined;
}

/**
 * Runs `up` and sends `signal` to the CLI when `when` first matches an engine event (e.g. the resourcePreEvent of a
 * resource: the engine has started that step) and then `until` holds (polled: e.g. the step's object appeared on its
 * API server, so the signal lands while the provider is at work, not before it began). SIGINT is sent once, as one
 * Ctrl-C is: the CLI then cancels, lets the steps in flight finish, and exits. Resolves when the CLI has exited.
 */
export async function interruptUp(
    stack: Stack,
    signal: CliSignal,
    when: (e: EngineEvent) => boolean,
    extra: { until?: () => Promise<boolean>; onEvent?: (e: EngineEvent) => void } = {},
): Promise<Interruption> {
    const result: Interruption = { signal, plugins: [], orphans: [], events: [] };
    let signalledAt = 0;
    let matched = false;
    let pending: Promise<void> = Promise.resolve();
    const fire = (e: EngineEvent) => {
        const cli = cliProcesses();
        if (cli.length !== 1) throw new Error(`expected one pulumi CLI child of this process, found ${cli.map((p) => `${p.pid} ${p.argv.join(" ")}`).join("; ") || "none"}`);
        const all = processes();
        result.plugins = descendants(cli[0].pid, all).map((p) => ({ pid: p.pid, name: path.basename(p.argv[0] ?? "?") }));
        result.at = describeStep(e) ?? JSON.stringify(e).slice(0, 200);
        result.cliPid = cli[0].pid;
        signalledAt = Date.now();
        process.kill(cli[0].pid, signal);
    };
    const onEvent = (e: EngineEvent) => {
        result.events.push(e);
        extra.onEvent?.(e);
        if (matched || !when(e)) return;
        matched = true;
        const until = extra.until;
        if (!until) return fire(e);
        pending = (async () => {
            const deadline = Date.now() + 120_000;
            while (!(await until().catch(() => false))) {
                if (Date.now() > deadline || cliProcesses().length === 0) return;
                await sleep(100);
            }
            fire(e);
        })();
    };
    result.error = await errorOf(stack.up({ onEvent, color: "never" }));
    await pending;
    if (signalledAt) result.exitMs = Date.now() - signalledAt;
    // Plugins the CLI started have their own process group: see which outlived it.
    await sleep(500);
    result.orphans = result.plugins.filter((p) => isAlive(p.pid));
    return result;
}

/** Kills processes by pid (SIGKILL) and waits until they are gone. */
export async function killPids(pids: number[]): Promise<void> {
    for (const pid of pids) {
        try {
            process.kill(pid, "SIGKILL");
        } catch {
            /* gone */
        }
    }
    const t = Date.now();
    while (pids.some(isAlive) && Date.now() - t < 10_000) await sleep(100);
}

/** Waits until none of `pids` is alive, up to `timeoutMs`; returns the ones still alive. */
export async function waitGone(pids: number[], timeoutMs: number): Promise<number[]> {
    const t = Date.now();
    while (pids.some(isAlive) && Date.now() - t < timeoutMs) await sleep(250);
    return pids.filter(isAlive);
}

export interface PendingOperation {
    type: string;
    urn: string;
}

/** The state's pending operations (what a killed CLI left "in flight"). */
export async function pendingOperations(stack: Stack): Promise<PendingOperation[]> {
    const d = (await stack.exportStack()).deployment;
    return ((d.pending_operations ?? []) as any[]).map((op) => ({ type: op.type, urn: op.resource?.urn }));
}

/** Lock files of a stack in a local (file://) backend: .pulumi/locks/<org>/<project>/<stack>/<id>.json. */
export function lockFiles(stateDir: string, stackName: string): string[] {
    const root = path.join(stateDir, ".pulumi", "locks");
    if (!fs.existsSync(root)) return [];
    return (fs.readdirSync(root, { recursive: true }) as string[])
        .map((f) => path.join(root, f))
        .filter((f) => f.endsWith(".json") && path.basename(path.dirname(f)) === stackName);
}

/** What the SDK's calls to a dead or finished engine fail with (gRPC UNAVAILABLE or CANCELLED; see engineEnvironment.js). */
const DEAD_ENGINE = /\b14 UNAVAILABLE: (Connection dropped|resource monitor shut down)|^Resource monitor is terminating/;
const GRPC_UNAVAILABLE = 14;
const GRPC_CANCELLED = 1;

/**
 * Keeps from jest what the Pulumi SDK handles itself outside jest, and hands every other uncaught error to jest as
 * before (needs engineEnvironment.js; returns the function that undoes it):
 * - its calls to an engine that is gone (a killed CLI, a finished update): gRPC UNAVAILABLE or CANCELLED, which the
 *   SDK renames "Resource monitor is terminating" (runtime/resource.ts) and lets go;
 * - errors of the program's run inside the SDK (their stack passes through @pulumi): while the program runs, the SDK's
 *   own handler catches them too and reports them to the engine as the update's errors (e.g. every resource waiting
 *   on one whose registration failed: "error serializing property …"); after the update, they belong to a run that is
 *   over. Errors of the suite's own code reject its awaited calls instead, and fail the test as ever.
 */
export function ignoreDeadEngineCalls(log: (msg: string) => void): () => void {
    // Typed as a plain emitter: the error events are all this touches.
    const g = globalThis as { __testProcess?: NodeJS.EventEmitter; __sandboxErrorListeners?: Set<unknown> };
    const real = g.__testProcess;
    const sdkListeners = g.__sandboxErrorListeners;
    if (!real || !sdkListeners) throw new Error("ignoreDeadEngineCalls needs the test environment test/e2e/lib/engineEnvironment.js");
    const events = ["uncaughtException", "unhandledRejection"] as const;
    const saved = Object.fromEntries(events.map((ev) => [ev, (real.listeners(ev) as ((...a: unknown[]) => void)[]).filter((l) => !sdkListeners.has(l))]));
    const seen = new Map<string, number>();
    const jestHandlers: Record<string, (...a: unknown[]) => void> = {};
    for (const ev of events) {
        for (const l of saved[ev]) real.removeListener(ev, l);
        jestHandlers[ev] = (err: unknown, ...rest: unknown[]) => {
            const e = err as { message?: string; stack?: string; code?: number };
            const text = `${e?.message ?? err}\n${e?.stack ?? ""}`;
            const deadEngine = e?.code === GRPC_UNAVAILABLE || e?.code === GRPC_CANCELLED || DEAD_ENGINE.test(String(e?.message ?? "")) || DEAD_ENGINE.test(String(e?.stack ?? ""));
            const handledBySdk = /node_modules\/@pulumi\//.test(text);
            if (deadEngine || handledBySdk) {
                const key = `${deadEngine ? "call to a gone engine" : sdkListeners.size > 0 ? "reported to the engine by the SDK" : "the program's, after its update"}: ${String(e?.message ?? err).split("\n")[0].slice(0, 160)}`;
                if (!seen.has(key)) log(`not failing the test for ${key}`);
                seen.set(key, (seen.get(key) ?? 0) + 1);
                return;
            }
            for (const l of saved[ev]) l(err, ...rest);
        };
        real.on(ev, jestHandlers[ev]);
    }
    return () => {
        for (const ev of events) {
            real.removeListener(ev, jestHandlers[ev]);
            for (const l of saved[ev]) real.on(ev, l);
        }
        log(`errors kept from jest: ${JSON.stringify(Object.fromEntries(seen))}`);
    };
}
