/**
 * What the day-two suites (canary.e2e.ts, rotation.e2e.ts) read from the real engine, beyond lib/stack.ts:
 * - a runbook step as the docs write it: ONE `up`, then `preview({ expectNoChanges: true })`;
 * - the engine's own operations in a step, in the order it reported them (its events through `onEvent`): what it
 *   created, updated in place, replaced (and how: create-before-delete or delete-before-replace) and deleted;
 * - the program as it was before the kubernetes providers set `enableSecretMutable` (a resource transform on the
 *   providers), to measure what the provider's default does to Secrets and to move a stack from it.
 */
import * as pulumi from "@pulumi/pulumi";
import { EngineEvent, PreviewResult, PulumiFn, Stack, UpResult } from "@pulumi/pulumi/automation";
import { NO_CHANGE_OPS, meshProgram, stateResources } from "./stack";

export const PROVIDER_TYPE = "pulumi:providers:kubernetes";

/**
 * The program before b4e22a9: the kubernetes providers without `enableSecretMutable`, so the provider's default
 * applies (false: a Secret whose data changes is replaced). A transform on the provider resources, registered
 * before the program declares anything, drops the input, so the rest of the program is the current one. (Setting it
 * to `false` instead would store a boolean where the SDK stores provider inputs as strings, and an input the old
 * program never had: dropping it is the old program's provider exactly.)
 */
export const programWithoutSecretMutable: PulumiFn = async () => {
    pulumi.runtime.registerResourceTransform((a) => {
        if (a.type !== PROVIDER_TYPE) return undefined;
        const props = { ...a.props };
        delete props.enableSecretMutable;
        return { props, opts: a.opts };
    });
    return meshProgram();
};

/** One operation of the engine on one resource, as its events reported it. */
export interface EngineOp {
    /** Position in the step's event stream. */
    seq: number;
    /** When this process received the event (ms; the engine's own timestamps are whole seconds). */
    at: number;
    /** "pre" when the engine starts the step, "done" when it reports the outputs, "failed" on failure. */
    phase: "pre" | "done" | "failed";
    op: string;
    type: string;
    name: string;
    urn: string;
}

/** The engine's operations of one step, from its events. */
export class StepLog {
    readonly ops: EngineOp[] = [];
    private seq = 0;
    /** When the step began (this log is made right before the operation starts). */
    private readonly began = Date.now();
    readonly onEvent = (e: EngineEvent) => {
        const at = Date.now();
        const add = (phase: EngineOp["phase"], m: { op: string; type: string; urn: string } | undefined) => {
            if (m) this.ops.push({ seq: this.seq, at, phase, op: m.op, type: m.type, urn: m.urn, name: m.urn.split("::").pop()! });
        };
        add("pre", e.resourcePreEvent?.metadata);
        add("done", e.resOutputsEvent?.metadata);
        add("failed", e.resOpFailedEvent?.metadata);
        this.seq++;
    };

    /** Every finished operation that changes something (`ops` narrows it), in order. */
    finished(ops?: string[]): EngineOp[] {
        return this.ops.filter((o) => o.phase === "done" && !NO_CHANGE_OPS.includes(o.op) && (!ops || ops.includes(o.op)));
    }

    /** "<op> <type> <name>" of every finished operation that changes something (`ops` narrows it), in order. */
    done(ops?: string[]): string[] {
        return this.finished(ops).map((o) => `${o.op} ${o.type} ${o.name}`);
    }

    /** The finished operations that change something on the resources named `name`, in the order they finished. */
    on(name: string): string[] {
        return this.ops.filter((o) => o.phase === "done" && o.name === name && !NO_CHANGE_OPS.includes(o.op)).map((o) => o.op);
    }

    /** True when the engine started `first` on resource `name` before it started `then` on it. */
    startedBefore(name: string, first: string, then: string): boolean {
        const at = (op: string) => this.first((o) => o.phase === "pre" && o.name === name && o.op === op);
        return at(first) >= 0 && at(then) > at(first);
    }

    /** Position of the first/last event matching `pred` (-1 when none). */
    first(pred: (o: EngineOp) => boolean): number {
        return this.ops.find(pred)?.seq ?? -1;
    }
    last(pred: (o: EngineOp) => boolean): number {
        const all = this.ops.filter(pred);
        return all.length ? all[all.length - 1].seq : -1;
    }

    /**
     * Where the step's time went: each operation of a provider's resource other than same/read (`withSame`: same
     * too, where a "same" is a diff the provider computed), "<seconds> <op> <type> <name>", from the engine starting
     * it to its outputs, longest first (`limit` of them).
     */
    durations(limit = 10, withSame = false): string[] {
        const open = new Map<string, number>();
        const out: { s: number; what: string }[] = [];
        for (const o of this.ops) {
            const key = `${o.op} ${o.urn}`;
            if (o.phase === "pre") open.set(key, o.at);
            // Components (the program's own types, the stack) only span their children's time: left out.
            else if (open.has(key) && !/^(istio-multicluster:|pulumi:pulumi:Stack)/.test(o.type) && (withSame || !NO_CHANGE_OPS.includes(o.op))) out.push({ s: (o.at - open.get(key)!) / 1000, what: `${o.op} ${o.type.split(":").pop()} ${o.name}${o.phase === "failed" ? " (failed)" : ""}` });
        }
        return out.sort((a, b) => b.s - a.s).slice(0, limit).map((x) => `${x.s.toFixed(1)} s ${x.what}`);
    }

    /**
     * The step's time outside the providers' operations: seconds from the start to the engine's first resource event
     * (the CLI starting, the program's first registration), the longest stretch without any resource event and what
     * it followed, and from the last resource event to `end` (the engine finishing: state written, summary).
     */
    quiet(end = Date.now()): { beforeFirstS: number; longestGapS: number; gapAfter: string; afterLastS: number } {
        const s = (ms: number) => Math.round(ms / 100) / 10;
        let longest = 0;
        let after = "";
        for (let i = 1; i < this.ops.length; i++) {
            const gap = this.ops[i].at - this.ops[i - 1].at;
            if (gap > longest) [longest, after] = [gap, `${this.ops[i - 1].phase} ${this.ops[i - 1].op} ${this.ops[i - 1].name}`];
        }
        const first = this.ops[0]?.at ?? end;
        const last = this.ops[this.ops.length - 1]?.at ?? end;
        return { beforeFirstS: s(first - this.began), longestGapS: s(longest), gapAfter: after, afterLastS: s(end - last) };
    }

    /** Resource changes by kind of operation, for the report: {"update": [...names], ...}. */
    byOp(): Record<string, string[]> {
        const out: Record<string, string[]> = {};
        for (const o of this.ops.filter((x) => x.phase === "done" && !NO_CHANGE_OPS.includes(x.op))) (out[o.op] ??= []).push(`${o.type.split(":").pop()} ${o.name}`);
        return out;
    }
}

export interface StepResult {
    up: UpResult;
    log: StepLog;
    /** The up's and the preview's time outside the providers' operations (StepLog.quiet). */
    quiet: { up: ReturnType<StepLog["quiet"]>; preview: ReturnType<StepLog["quiet"]> };
    /** The preview right after the `up`, run with expectNoChanges (the engine fails it on any change). */
    preview: PreviewResult;
    /** The preview's operations (all "same" when it passes), for where its time went. */
    previewLog: StepLog;
    upSeconds: number;
    previewSeconds: number;
}

/** A runbook step: one `up` (it must succeed), then a preview that the engine itself fails on any change. */
export async function upThenNoChanges(stack: Stack): Promise<StepResult> {
    const log = new StepLog();
    const t0 = Date.now();
    const up = await stack.up({ onEvent: log.onEvent, color: "never" });
    if (up.summary.result !== "succeeded") throw new Error(`up: ${up.summary.result}`);
    const t1 = Date.now();
    const previewLog = new StepLog();
    const preview = await stack.preview({ expectNoChanges: true, color: "never", onEvent: previewLog.onEvent });
    const t2 = Date.now();
    return { up, log, preview, previewLog, quiet: { up: log.quiet(t1), preview: previewLog.quiet(t2) }, upSeconds: (t1 - t0) / 1000, previewSeconds: (t2 - t1) / 1000 };
}


/** Each kubernetes provider's `enableSecretMutable` input as the state holds it, by provider name. */
export async function providerSecretMutable(s: Stack): Promise<Record<string, unknown>> {
    return Object.fromEntries((await stateResources(s)).filter((r) => r.type === PROVIDER_TYPE && !r.urn.endsWith("::default")).map((r) => [r.urn.split("::").pop(), r.inputs?.enableSecretMutable]));
}
