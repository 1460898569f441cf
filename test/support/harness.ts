/**
 * Runs the Pulumi program (or any component code) under Pulumi's mocks and records what it declares:
 * every resource with its inputs, provider, parent and dependencies, as the engine would receive them.
 *
 * Modules are loaded once per test file: a run sets new mocks and config (`setMocks` resets the SDK's runtime
 * state, which lives in a global store) and then calls the program as index.ts does, `stackOutputs(deploy(config))`.
 * Nothing in the project keeps state at module level, so no run sees another's. Importing the program, the SDKs and
 * their lazily loaded modules again for every run (after `jest.resetModules()`) was most of each run's time.
 */
import type * as pulumiType from "@pulumi/pulumi";
import { MeshMocks, MockOptions } from "./mocks";
import { SECRET_SIG, SECRET_VALUE, unwrapSecrets as plain } from "./providerOutputs";

export const PROJECT = "istio-multicluster";

export interface Declared {
    urn: string;
    type: string;
    name: string;
    /** Inputs as the engine sees them (secrets still wrapped: see `plain` and `isSecret`). */
    inputs: Record<string, any>;
    /** "urn::id" of the explicit provider, if any. */
    provider: string;
    parent: string;
    /** URNs this resource waits for (explicit dependsOn and everything its inputs came from). */
    dependencies: string[];
    custom: boolean;
    /** Read (`.get`) rather than created. */
    read: boolean;
    protect: boolean;
    ignoreChanges: string[];
    /** Property paths whose change replaces the resource instead of updating it. */
    replaceOnChanges: string[];
    deleteBeforeReplace: boolean;
}

export interface RunResult {
    resources: Declared[];
    /** The program's exports, resolved (secrets wrapped as in the engine: see `isSecret`). */
    outputs: Record<string, unknown>;
    mocks: MeshMocks;
    pulumi: typeof pulumiType;
}

export { isSecret, unwrapSecrets as plain } from "./providerOutputs";

/** `config` keys without a namespace get the project's; objects are passed as JSON, as the engine does. */
export function fullConfig(config: Record<string, unknown>): Record<string, string> {
    return Object.fromEntries(
        Object.entries(config).map(([k, v]) => [k.includes(":") ? k : `${PROJECT}:${k}`, typeof v === "string" ? v : JSON.stringify(v)]),
    );
}

/**
 * The SDK keeps its runtime state on a global shared by every copy of the module, so a new run must not
 * start while the previous one still has operations in flight.
 */
let previous: typeof pulumiType | undefined;

async function drain(pulumi: typeof pulumiType) {
    for (let i = 0; i < 3; i++) {
        await (pulumi.runtime as any).waitForRPCs();
        await new Promise((r) => setTimeout(r, 20));
    }
}

async function setUp(config: Record<string, unknown>, options: MockOptions, preview: boolean) {
    if (previous) await drain(previous);
    const pulumi: typeof pulumiType = await import("@pulumi/pulumi");
    const mocks = new MeshMocks(options);
    await pulumi.runtime.setMocks(mocks, PROJECT, "test", preview);
    previous = pulumi;
    pulumi.runtime.setAllConfig(fullConfig(config), options.secretKeys ?? []);

    const declared: Declared[] = [];
    const monitor = pulumi.runtime.getMonitor() as any;
    const stack = "test";
    const record = (req: any, read: boolean) => {
        const type: string = req.getType();
        const name: string = req.getName();
        const parent: string = req.getParent();
        let qualified = type;
        if (parent) {
            // As the mock monitor names URNs: only the parent's own type, not its whole chain.
            const parentType = parent.split("::")[2].split("$").pop();
            qualified = `${parentType}$${type}`;
        }
        declared.push({
            urn: `urn:pulumi:${stack}::${PROJECT}::${qualified}::${name}`,
            type,
            name,
            inputs: {},
            provider: req.getProvider(),
            parent,
            dependencies: req.getDependenciesList(),
            custom: read ? true : req.getCustom(),
            read,
            protect: read ? false : Boolean(req.getProtect?.()),
            ignoreChanges: read ? [] : req.getIgnorechangesList?.() ?? [],
            replaceOnChanges: read ? [] : req.getReplaceonchangesList?.() ?? [],
            deleteBeforeReplace: read ? false : Boolean(req.getDeletebeforereplace?.()),
        });
        return declared[declared.length - 1];
    };
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: any, cb: any) => {
        record(req, false);
        return register(req, cb);
    };
    const read = monitor.readResource.bind(monitor);
    monitor.readResource = (req: any, cb: any) => {
        record(req, true);
        return read(req, cb);
    };
    return { pulumi, mocks, declared };
}

/** What an output the engine does not know (in a preview) settles to, wherever it sits in a stack output. */
export const UNKNOWN_OUTPUT = "<unknown>";

/** `value` with the SDK's unknown markers replaced by UNKNOWN_OUTPUT. */
function markUnknowns(pulumi: typeof pulumiType, value: unknown): unknown {
    if (pulumi.isUnknown(value)) return UNKNOWN_OUTPUT;
    if (Array.isArray(value)) return value.map((v) => markUnknowns(pulumi, v));
    if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, markUnknowns(pulumi, v)]));
    return value;
}

async function settle(pulumi: typeof pulumiType, outputs: Record<string, unknown>) {
    const resolved: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(outputs)) {
        // pulumi.output lifts outputs nested in objects and arrays, as the engine does for stack outputs.
        const output = pulumi.output(value as any) as pulumiType.Output<unknown>;
        const secret = await (output as any).isSecret;
        let v: unknown;
        if (await (output as any).isKnown) {
            v = await new Promise((r) => output.apply(r));
        } else {
            // A preview: an apply would never run. What is known is kept, every unknown part is marked (a value
            // computed by a skipped apply is unknown as a whole).
            const partial = await (output as any).promise(/* withUnknowns */ true);
            v = partial === undefined ? UNKNOWN_OUTPUT : markUnknowns(pulumi, partial);
        }
        resolved[key] = secret ? { [SECRET_SIG]: SECRET_VALUE, value: v } : v;
    }
    await (pulumi.runtime as any).waitForRPCs();
    return resolved;
}

/**
 * The SDK records a stack trace on every promise it makes (`debuggablePromise`, for its leak report), and
 * under jest each trace is 100 frames mapped through source maps: most of a program run's time. A run keeps
 * traces off; errors keep their messages, and traces are back for the test's own assertions.
 */
async function withoutPromiseTraces<T>(run: () => Promise<T>): Promise<T> {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
        return await run();
    } finally {
        Error.stackTraceLimit = limit;
    }
}

/** What index.ts does, with the config the run has set: validate, declare, and return the stack outputs. */
async function runStackProgram(pulumi: typeof pulumiType): Promise<Record<string, unknown>> {
    const { deploy, stackOutputs } = await import("../../stacks/deploy");
    return stackOutputs(deploy(pulumi.runtime.allConfig()));
}

/** Runs the program (index.ts's `stackOutputs(deploy(config))`) with this stack config. */
export async function runProgram(config: Record<string, unknown>, options: MockOptions = {}, preview = false): Promise<RunResult> {
    return withoutPromiseTraces(async () => {
        const { pulumi, mocks, declared } = await setUp(config, options, preview);
        const outputs = await settle(pulumi, await runStackProgram(pulumi));
        return { resources: attachInputs(declared, mocks), outputs, mocks, pulumi };
    });
}

/**
 * Runs the program as the first `pulumi preview` of a stack that was never deployed: the engine is in preview
 * mode and every provider answers as it does for a create it only previews (test/support/previewModel.ts), so that
 * whatever the cloud computes is unknown. Resolves once the program has declared everything and its stack
 * outputs have settled, unknown parts as UNKNOWN_OUTPUT; rejects if the program fails.
 */
export async function runFirstPreview(config: Record<string, unknown>, options: MockOptions = {}): Promise<RunResult> {
    return runProgram(config, { ...options, firstPreview: true }, true);
}

/**
 * Starts the program and hands back what it has declared so far (by type and name) without waiting for the rest, for
 * tests that hold a resource back (a mock answering late) and look at what waits for it. `finish` settles the run once
 * the test let the held resources through.
 */
export async function startProgram(config: Record<string, unknown>, options: MockOptions = {}): Promise<{ declaredSoFar: () => { type: string; name: string }[]; finish: () => Promise<RunResult> }> {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    const { pulumi, mocks, declared } = await setUp(config, options, false);
    const outputs = await runStackProgram(pulumi);
    return {
        declaredSoFar: () => mocks.seen.map(({ type, name }) => ({ type, name })),
        finish: async () => {
            try {
                return { resources: attachInputs(declared, mocks), outputs: await settle(pulumi, outputs), mocks, pulumi };
            } finally {
                Error.stackTraceLimit = limit;
            }
        },
    };
}

/** Runs arbitrary component code (imported statically or dynamically: modules are shared by every run of a file). */
export async function runComponents<T extends Record<string, unknown>>(
    build: () => Promise<T>,
    options: MockOptions = {},
    config: Record<string, unknown> = {},
): Promise<RunResult & { built: T }> {
    return withoutPromiseTraces(async () => {
        // With `firstPreview` mocks the run is a preview too, as in runFirstPreview.
        const { pulumi, mocks, declared } = await setUp(config, options, Boolean(options.firstPreview));
        const built = await build();
        const outputs = await settle(pulumi, built);
        return { resources: attachInputs(declared, mocks), outputs, mocks, pulumi, built };
    });
}

/** Runs the program expecting it to fail; returns the error and whatever was declared before it. */
export async function runProgramExpectingError(config: Record<string, unknown>, options: MockOptions = {}): Promise<{ error: Error; resources: Declared[] }> {
    const failure = await withoutPromiseTraces(async () => {
        const { pulumi, mocks, declared } = await setUp(config, options, false);
        try {
            await runStackProgram(pulumi);
        } catch (error) {
            return { error: error as Error, resources: attachInputs(declared, mocks) };
        }
        return undefined;
    });
    if (!failure) throw new Error("the program was expected to fail, but it did not");
    return failure;
}

function attachInputs(declared: Declared[], mocks: MeshMocks): Declared[] {
    for (const d of declared) {
        const seen = mocks.seen.find((s) => s.type === d.type && s.name === d.name && s.read === d.read);
        if (!seen) throw new Error(`resource ${d.type}::${d.name} was declared but never reached the mocks`);
        d.inputs = seen.inputs;
    }
    return declared;
}

// ---- queries over what was declared -------------------------------------------------------------

export const ofType = (resources: Declared[], type: string) => resources.filter((r) => r.type === type);

export function one(resources: Declared[], predicate: (r: Declared) => boolean, what: string): Declared {
    const found = resources.filter(predicate);
    if (found.length !== 1) throw new Error(`expected exactly one ${what}, found ${found.length}`);
    return found[0];
}

export const byUrn = (resources: Declared[]) => new Map(resources.map((r) => [r.urn, r]));

/** Every URN `r` waits for, directly or through other resources. */
export function transitiveDependencies(resources: Declared[], r: Declared): Set<string> {
    const index = byUrn(resources);
    const seen = new Set<string>();
    const stack = [...r.dependencies];
    while (stack.length > 0) {
        const urn = stack.pop()!;
        if (seen.has(urn)) continue;
        seen.add(urn);
        const dep = index.get(urn);
        if (dep) stack.push(...dep.dependencies);
    }
    return seen;
}

export function dependsOn(resources: Declared[], r: Declared, on: Declared): boolean {
    return transitiveDependencies(resources, r).has(on.urn);
}

/** The provider URN of a declared resource ("urn::id" → "urn"). */
export const providerUrn = (r: Declared) => r.provider.split("::").slice(0, -1).join("::");

/** The Kubernetes object a resource declares (apiVersion, kind, metadata, and the rest of its inputs). */
export function kubernetesObject(r: Declared): Record<string, any> {
    const [, groupVersion, kind] = r.type.split(":");
    return { apiVersion: groupVersion.replace(/^core\//, ""), kind, ...plain(r.inputs) };
}

/** A plain object as if the program had declared it (nothing else set), for checks that take a `Declared`. */
export function asDeclared(type: string, name: string, inputs: Record<string, any>): Declared {
    return {
        urn: `urn:${type}::${name}`,
        type,
        name,
        inputs,
        provider: "",
        parent: "",
        dependencies: [],
        custom: true,
        read: false,
        protect: false,
        ignoreChanges: [],
        replaceOnChanges: [],
        deleteBeforeReplace: false,
    };
}
