/**
 * "Live mocks": the program, unchanged, under Pulumi's own mock runtime (`pulumi.runtime.setMocks`), with a
 * mocks implementation whose `newResource` really performs each Kubernetes operation on the bed's API servers
 * and returns the live object as the resource's outputs.
 *
 * This is an HONEST, LIMITED STAND-IN for the kubernetes provider, used because the real engine cannot be
 * built here (the Go module proxy answers 403 for github.com/pulumi/pulumi-kubernetes/provider/v4,
 * github.com/pulumi/pulumi-tls/provider/v5 and the Node.js language host module). What it does:
 *
 * - `pulumi:providers:kubernetes`: keeps the provider's kubeconfig (and context), by provider id, in a file of
 *   its own (mode 0600); resources name their provider as `urn::id` (`args.provider`). A Kubernetes resource
 *   without an explicit provider fails, as `pulumi:disable-default-providers: ["kubernetes"]` makes the engine do.
 * - plain objects (`kubernetes:<group>/<version>:<Kind>`, `kubernetes:apiextensions.k8s.io:CustomResource`):
 *   `kubectl apply --server-side --force-conflicts --field-manager=pulumi-e2e` of the object as JSON, then
 *   `kubectl get -o json`, returned as the outputs. Awaits, modelled on the provider's (not its code):
 *   a `kubernetes.io/service-account-token` Secret until `data.token` is filled; a Deployment until its rollout
 *   is Available (`kubectl rollout status`; kwok makes pods Ready) unless `pulumi.com/skipAwait`. NOT awaited:
 *   Jobs (the program's verification Jobs carry create timeouts the real provider would await; under kwok their
 *   completion means nothing), Services (the provider waits for endpoints, which the bed cannot have: pod IPs are
 *   in 127/8), Namespaces, CustomResources.
 * - reads (`k8s.core.v1.Service.get`): `kubectl get` of `namespace/name`.
 * - `kubernetes:helm.sh/v3:Release`: real Helm v3 (the version pulumi-kubernetes embeds, built by bed/build.sh):
 *   `helm upgrade --install <name> <chart> --namespace <ns> --version <v> -f values.json --wait --timeout 5m`,
 *   outputs the inputs plus `status` as the provider reports it (name, namespace, chart, version, appVersion,
 *   revision, status) from `helm status -o json`.
 * - `tls:index/...`: real keys and certificates from the inputs (test/support/realTls.ts, as the unit tests' mocks).
 *   The engine keeps a resource's outputs while its inputs do not change; `LiveState` does the same across runs
 *   (keyed by type, name and inputs), so a second run does not mint a new CA.
 * - components: recorded, no outputs. Anything else: fails with its type.
 *
 * Secret inputs arrive wrapped (the mock monitor's secret signature) and are unwrapped before use. No secret
 * material is ever logged: logs name objects (kind, namespace/name, cluster) only.
 *
 * What this cannot show: the engine's diff and plan (what `up` would update or replace), `expectNoChanges`,
 * refresh, destroy, protect, delete-before-replace, the real provider's await logic and its error handling,
 * Pulumi.yaml config defaults (the engine applies them; here every key is given).
 */
import { execFile } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import type * as pulumiType from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { PROJECT, fullConfig } from "../../support/harness";
import { RealTls } from "../../support/realTls";
import { unwrapSecrets } from "../../support/providerOutputs";
import { isBedAddress } from "./kube";

export const FIELD_MANAGER = "pulumi-e2e";

export interface ExecResult {
    stdout: string;
    stderr: string;
}

/** Runs a command; on failure the error names `what` and carries stderr (never stdin, which may hold secrets). */
export function run(cmd: string, args: string[], what: string, input?: string, timeoutMs = 10 * 60_000): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
        const child = execFile(cmd, args, { maxBuffer: 256 * 1024 * 1024, timeout: timeoutMs, env: loopbackEnv() }, (err, stdout, stderr) => {
            if (err) reject(new Error(`${what}: ${cmd} ${args.filter((a) => !a.startsWith("--kubeconfig")).join(" ")} failed: ${String(stderr || err.message).trim().slice(0, 2000)}`));
            else resolve({ stdout: String(stdout), stderr: String(stderr) });
        });
        if (input !== undefined) child.stdin!.end(input);
    });
}

function loopbackEnv(): NodeJS.ProcessEnv {
    const env = { ...process.env };
    for (const k of ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"]) delete env[k];
    env.NO_PROXY = env.no_proxy = "127.0.0.0/8,localhost";
    return env;
}

/** What the engine would keep between runs: outputs of unchanged resources (used for tls only). */
export class LiveState {
    readonly tls = new Map<string, Record<string, unknown>>();
    /** The last inputs applied per (server, type, name): what the engine diffs the next inputs against. */
    readonly inputs = new Map<string, Record<string, any>>();
    /** Helm releases: the last inputs (JSON) and outputs, so an unchanged release is not upgraded again. */
    readonly releases = new Map<string, { inputs: string; state: Record<string, any> }>();
}

/**
 * Fields whose change makes the kubernetes provider replace an object instead of updating it (a subset of
 * pulumi-kubernetes provider/pkg/provider/diff.go `forceNew`: the kinds this program declares). A Secret's type,
 * data and stringData are replace-only unless the provider's enableSecretMutable is set (this program does not).
 */
export const FORCE_NEW: Record<string, string[]> = {
    Job: ["spec.completions", "spec.parallelism", "spec.selector", "spec.template"],
    Secret: ["type", "stringData", "data"],
    Deployment: ["spec.selector"],
};

const at = (o: any, dotted: string) => dotted.split(".").reduce((v, k) => (v === undefined || v === null ? undefined : v[k]), o);

export interface ReleaseDone {
    name: string;
    namespace: string;
    /** The kubeconfig's API server URL (identifies the bed cluster). */
    server: string;
    kubeconfigPath: string;
    status: Record<string, unknown>;
}

export interface LiveMocksOptions {
    workDir: string;
    /** Directory holding `kubectl` and `helm`. */
    binDir: string;
    state?: LiveState;
    /**
     * Called after a Helm release is deployed, before the release's resource completes (and so before anything
     * that depends on it starts). The bed uses it for what kwok cannot give: a ready istiod.
     */
    afterRelease?: (r: ReleaseDone) => Promise<void>;
    log?: (msg: string) => void;
    /** Answers for invokes, by token (e.g. `kubernetes:helm:template` with real Helm); anything else still fails. */
    calls?: Record<string, (inputs: Record<string, any>) => Promise<Record<string, any>>>;
    /**
     * Model the kubernetes provider's `enableSecretMutable` (or PULUMI_K8S_ENABLE_SECRET_MUTABLE=true): a Secret whose
     * data changes is updated in place instead of replaced. Default off, as the provider's default.
     */
    secretMutable?: boolean;
}

/** An object the engine would delete at the end of the run: replaced create-before-delete under a new name. */
export interface ReplacedObject {
    ref: string;
    kubeArgs: string[];
    stub: string;
}

export interface Operation {
    type: string;
    name: string;
    /** kind namespace/name @ cluster, or the release. */
    object: string;
    op: "apply" | "read" | "helm" | "tls" | "provider" | "component";
    /** Inputs differ from the previous run's (what the engine would show as an update or replace). */
    changed?: boolean;
    /** Replace-only fields that changed (the object was deleted and created again). */
    replaced?: string[];
    startedAt: number;
    seconds: number;
    error?: string;
}

interface ProviderInfo {
    kubeconfigPath: string;
    context?: string;
    server: string;
}

const KUBE_PREFIX = "kubernetes:";

/** apiVersion and kind of a `kubernetes:<group>/<version>:<Kind>` type (core group → "v1"). */
export function kubeApiVersionKind(type: string, inputs: Record<string, any>): { apiVersion: string; kind: string } {
    if (type === "kubernetes:apiextensions.k8s.io:CustomResource") {
        if (!inputs.apiVersion || !inputs.kind) throw new Error(`${type}: apiVersion and kind are required`);
        return { apiVersion: inputs.apiVersion, kind: inputs.kind };
    }
    const m = /^kubernetes:([^:]+)\/([^/:]+):([A-Za-z0-9]+)$/.exec(type);
    if (!m) throw new Error(`not a plain Kubernetes type: ${type}`);
    const [, group, version, kind] = m;
    return { apiVersion: group === "core" ? version : `${group}/${version}`, kind };
}

function kubeconfigServerOf(text: string, context?: string): string {
    const doc: any = parseYaml(text);
    const ctxName = context ?? doc?.["current-context"];
    const ctx = doc?.contexts?.find((c: any) => c.name === ctxName) ?? doc?.contexts?.[0];
    const cluster = doc?.clusters?.find((c: any) => c.name === ctx?.context?.cluster) ?? doc?.clusters?.[0];
    const server = cluster?.cluster?.server;
    if (!server) throw new Error("kubeconfig has no server");
    return server;
}

/** `kubectl get -f -` answers a List even for one object. */
function single(o: any): any {
    if (o?.kind === "List") {
        if (o.items?.length !== 1) throw new Error(`expected one object, got ${o.items?.length}`);
        return o.items[0];
    }
    return o;
}

const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "Node", "PersistentVolume", "StorageClass"]);

export class LiveMocks implements pulumiType.runtime.Mocks {
    readonly operations: Operation[] = [];
    readonly failures: Operation[] = [];
    /** What kubectl and Helm printed on stderr when they succeeded (API server warnings, Helm warnings), by object. */
    readonly warnings: string[] = [];
    /** Every resource the program registered (type and name), components included. */
    readonly registered: { type: string; name: string; custom: boolean; read: boolean }[] = [];
    private readonly providers = new Map<string, ProviderInfo>();
    private readonly tls = new RealTls();
    readonly state: LiveState;
    /**
     * Objects whose metadata.name changed under the same resource: the provider replaced them create-before-delete,
     * and the engine deletes the old ones only after every registration of the run (`deleteReplaced`).
     */
    readonly replacedObjects: ReplacedObject[] = [];

    constructor(private readonly o: LiveMocksOptions) {
        this.state = o.state ?? new LiveState();
        fs.mkdirSync(path.join(o.workDir, "providers"), { recursive: true, mode: 0o700 });
        fs.mkdirSync(path.join(o.workDir, "values"), { recursive: true, mode: 0o700 });
    }

    private log(msg: string) {
        (this.o.log ?? ((m: string) => process.stderr.write(`${m}\n`)))(`[live] ${msg}`);
    }

    /** `run`, keeping what a successful command printed on stderr (no command prints secret material there). */
    private async exec(cmd: string, args: string[], what: string, input?: string): Promise<ExecResult> {
        const r = await run(cmd, args, what, input);
        const text = r.stderr.trim();
        if (text) this.warnings.push(`${what}: ${text.slice(0, 1000)}`);
        return r;
    }

    private bin(tool: string) {
        return path.join(this.o.binDir, tool);
    }

    async newResource(args: pulumiType.runtime.MockResourceArgs): Promise<{ id: string | undefined; state: Record<string, any> }> {
        const read = args.id !== undefined && args.id !== "";
        this.registered.push({ type: args.type, name: args.name, custom: args.custom !== false, read });
        if (args.custom === false) {
            this.operations.push({ type: args.type, name: args.name, object: args.name, op: "component", startedAt: Date.now(), seconds: 0 });
            return { id: undefined, state: {} };
        }
        const op: Operation = { type: args.type, name: args.name, object: `${args.type}::${args.name}`, op: "apply", startedAt: Date.now(), seconds: 0 };
        this.operations.push(op);
        try {
            const inputs = unwrapSecrets(args.inputs ?? {});
            let result: { id: string | undefined; state: Record<string, any> };
            if (args.type === "pulumi:providers:kubernetes") {
                op.op = "provider";
                result = this.provider(args.name, inputs);
            } else if (args.type.startsWith("tls:index/")) {
                op.op = "tls";
                result = await this.tlsResource(args.type, args.name, inputs);
            } else if (args.type === "kubernetes:helm.sh/v3:Release") {
                op.op = "helm";
                result = await this.release(args, inputs, op);
            } else if (args.type === "kubernetes:helm.sh/v4:Chart") {
                op.op = "helm";
                result = await this.renderChart(args, inputs, op);
            } else if (args.type.startsWith(KUBE_PREFIX)) {
                result = read ? await this.readObject(args, op) : await this.applyObject(args, inputs, op);
            } else {
                throw new Error(`live mocks do not handle resource type ${args.type} (resource "${args.name}")`);
            }
            return result;
        } catch (e) {
            op.error = (e as Error).message;
            this.failures.push(op);
            this.log(`FAILED ${op.object}: ${op.error.slice(0, 500)}`);
            throw new Error(`${op.object}: ${op.error}`);
        } finally {
            op.seconds = Math.round((Date.now() - op.startedAt) / 100) / 10;
        }
    }

    call(args: pulumiType.runtime.MockCallArgs): Record<string, any> | Promise<Record<string, any>> {
        const answer = this.o.calls?.[args.token];
        if (answer) return answer(unwrapSecrets(args.inputs ?? {}));
        throw new Error(`live mocks do not handle invoke ${args.token}`);
    }

    // ---- providers ------------------------------------------------------------------------------------

    private provider(name: string, inputs: Record<string, any>) {
        const kubeconfig: string | undefined = inputs.kubeconfig;
        if (!kubeconfig) throw new Error(`provider ${name} has no kubeconfig (the bed never uses ambient credentials)`);
        const server = kubeconfigServerOf(kubeconfig, inputs.context);
        if (!isBedAddress(new URL(server).hostname)) throw new Error(`provider ${name}: server ${server} is not an address of the bed`);
        const id = `${name}-${crypto.randomBytes(4).toString("hex")}`;
        const file = path.join(this.o.workDir, "providers", `${id}.kubeconfig`);
        fs.writeFileSync(file, kubeconfig, { mode: 0o600 });
        this.providers.set(id, { kubeconfigPath: file, context: inputs.context, server });
        // The real provider's outputs are its inputs (the kubeconfig stays secret in the engine).
        return { id, state: { ...inputs } };
    }

    private providerOf(args: pulumiType.runtime.MockResourceArgs): ProviderInfo {
        if (!args.provider) throw new Error(`no explicit kubernetes provider (default providers are disabled)`);
        const id = args.provider.split("::").pop()!;
        const p = this.providers.get(id);
        if (!p) throw new Error(`unknown provider reference ${args.provider}`);
        return p;
    }

    private kubeArgs(p: ProviderInfo): string[] {
        return [`--kubeconfig=${p.kubeconfigPath}`, ...(p.context ? [`--context=${p.context}`] : [])];
    }

    private cluster(p: ProviderInfo) {
        return new URL(p.server).host;
    }

    // ---- tls ------------------------------------------------------------------------------------------

    private async tlsResource(type: string, name: string, inputs: Record<string, any>) {
        const key = `${type}::${name}::${JSON.stringify(inputs)}`;
        let out = this.state.tls.get(key);
        if (!out) {
            switch (type) {
                case "tls:index/privateKey:PrivateKey":
                    out = await this.tls.privateKey(name, inputs as any);
                    break;
                case "tls:index/selfSignedCert:SelfSignedCert":
                    out = { certPem: await this.tls.selfSigned(inputs) };
                    break;
                case "tls:index/certRequest:CertRequest":
                    out = { certRequestPem: await this.tls.certRequest(inputs) };
                    break;
                case "tls:index/locallySignedCert:LocallySignedCert":
                    out = { certPem: await this.tls.locallySigned(inputs) };
                    break;
                default:
                    throw new Error(`live mocks do not handle resource type ${type}`);
            }
            this.state.tls.set(key, out);
        }
        return { id: `${name}-id`, state: { ...inputs, ...out } };
    }

    // ---- plain Kubernetes objects -------------------------------------------------------------------

    private async applyObject(args: pulumiType.runtime.MockResourceArgs, inputs: Record<string, any>, op: Operation) {
        const p = this.providerOf(args);
        const { apiVersion, kind } = kubeApiVersionKind(args.type, inputs);
        const obj: Record<string, any> = { ...inputs, apiVersion, kind };
        delete obj.status;
        obj.metadata = { ...(obj.metadata ?? {}) };
        // The provider auto-names an object without a name (logical name + random suffix).
        if (!obj.metadata.name) obj.metadata.name = `${args.name}-${crypto.randomBytes(4).toString("hex")}`;
        if (!CLUSTER_SCOPED.has(kind) && !obj.metadata.namespace) obj.metadata.namespace = "default";
        const ref = `${kind} ${obj.metadata.namespace ? `${obj.metadata.namespace}/` : ""}${obj.metadata.name} @ ${this.cluster(p)}`;
        op.object = ref;
        const json = JSON.stringify(obj);
        const key = `${p.server}|${args.type}|${args.name}`;
        const prev = this.state.inputs.get(key);
        if (prev) {
            op.changed = JSON.stringify(prev) !== json;
            const forceNew = (FORCE_NEW[kind] ?? []).filter((f) => !(this.o.secretMutable && kind === "Secret" && (f === "data" || f === "stringData")));
            const replaced = forceNew.filter((f) => JSON.stringify(at(prev, f)) !== JSON.stringify(at(obj, f)));
            if (prev.metadata?.name !== obj.metadata.name || prev.metadata?.namespace !== obj.metadata.namespace) {
                // A new name: the provider creates the new object first; the old one goes at the end of the run.
                const old = { apiVersion, kind, metadata: { name: prev.metadata?.name, namespace: prev.metadata?.namespace } };
                this.replacedObjects.push({ ref: `${kind} ${old.metadata.namespace ? `${old.metadata.namespace}/` : ""}${old.metadata.name} @ ${this.cluster(p)}`, kubeArgs: this.kubeArgs(p), stub: JSON.stringify(old) });
            }
            if (replaced.length > 0 && prev.metadata?.name === obj.metadata.name) {
                // The engine would replace it; with a fixed name only delete-then-create can work (the program
                // declares deleteBeforeReplace where it expects this: its Jobs).
                op.replaced = replaced;
                this.log(`replacing ${ref}: replace-only field(s) ${replaced.join(", ")} changed`);
                await this.exec(this.bin("kubectl"), [...this.kubeArgs(p), "delete", "-f", "-", "--wait=true", "--ignore-not-found", "--cascade=foreground"], `delete (replace) ${ref}`, JSON.stringify({ apiVersion, kind, metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace } }));
            }
        }
        await this.exec(this.bin("kubectl"), [...this.kubeArgs(p), "apply", "--server-side", "--force-conflicts", `--field-manager=${FIELD_MANAGER}`, "-f", "-"], `apply ${ref}`, json);
        const skipAwait = obj.metadata.annotations?.["pulumi.com/skipAwait"] === "true";
        const stub = JSON.stringify({ apiVersion, kind, metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace } });
        const get = async () => single(JSON.parse((await this.exec(this.bin("kubectl"), [...this.kubeArgs(p), "get", "-f", "-", "-o", "json"], `get ${ref}`, stub)).stdout));
        if (!skipAwait && kind === "Secret" && obj.type === "kubernetes.io/service-account-token") {
            const deadline = Date.now() + 5 * 60_000;
            for (;;) {
                const live = await get();
                if (live.data?.token) break;
                if (Date.now() > deadline) throw new Error(`${ref}: data.token not filled in after 5 min`);
                await new Promise((r) => setTimeout(r, 250));
            }
        }
        if (!skipAwait && kind === "Deployment") {
            await this.exec(this.bin("kubectl"), [...this.kubeArgs(p), "rollout", "status", `deployment/${obj.metadata.name}`, "-n", obj.metadata.namespace, "--timeout=300s"], `await ${ref}`);
        }
        this.state.inputs.set(key, obj);
        const live = await get();
        this.log(`applied ${ref} (${((Date.now() - op.startedAt) / 1000).toFixed(1)} s)`);
        const id = live.metadata.namespace ? `${live.metadata.namespace}/${live.metadata.name}` : live.metadata.name;
        return { id, state: live };
    }

    private async readObject(args: pulumiType.runtime.MockResourceArgs, op: Operation) {
        op.op = "read";
        const p = this.providerOf(args);
        const { apiVersion, kind } = kubeApiVersionKind(args.type, unwrapSecrets(args.inputs ?? {}));
        const [ns, name] = args.id!.includes("/") ? args.id!.split("/") : [undefined, args.id!];
        const ref = `${kind} ${ns ? `${ns}/` : ""}${name} @ ${this.cluster(p)} (read)`;
        op.object = ref;
        const stub = JSON.stringify({ apiVersion, kind, metadata: { name, namespace: ns } });
        const live = single(JSON.parse((await this.exec(this.bin("kubectl"), [...this.kubeArgs(p), "get", "-f", "-", "-o", "json"], `read ${ref}`, stub)).stdout));
        return { id: args.id, state: live };
    }

    /**
     * What the engine does once the program has registered everything (pulumi/pulumi pkg/resource/deploy:
     * deploymentExecutor.performDeletes after the source ends; step_generator: "the delete step is generated later
     * on, after all creates/updates finish"): delete the objects replaced under a new name. Returns their refs.
     */
    async deleteReplaced(): Promise<string[]> {
        const done: string[] = [];
        for (const r of this.replacedObjects.splice(0)) {
            await this.exec(this.bin("kubectl"), [...r.kubeArgs, "delete", "-f", "-", "--wait=true", "--ignore-not-found"], `delete (replaced) ${r.ref}`, r.stub);
            this.log(`deleted replaced ${r.ref}`);
            done.push(r.ref);
        }
        return done;
    }

    // ---- Helm ---------------------------------------------------------------------------------------

    /**
     * A `helm.v4.Chart` as the provider renders it: Helm's template with a server-side dry run, so the chart's
     * `lookup`s read the live cluster (the program's preflight chart fails there when it finds a foreign Istio).
     * The preflight renders no object; a chart that renders some is refused here rather than applied half-way.
     */
    private async renderChart(args: pulumiType.runtime.MockResourceArgs, inputs: Record<string, any>, op: Operation) {
        const p = this.providerOf(args);
        const ref = `helm chart ${args.name} @ ${this.cluster(p)}`;
        op.object = ref;
        const kube = this.kubeArgs(p).map((a) => a.replace("--context=", "--kube-context="));
        const out = await this.exec(this.bin("helm"), ["template", args.name, String(inputs.chart), "--namespace", String(inputs.namespace ?? "default"), "--dry-run=server", ...kube], ref);
        if (/^kind:/m.test(out.stdout)) throw new Error(`${ref}: live mocks render only charts without objects (the preflight); this one renders objects`);
        return { id: args.name, state: { ...inputs, resources: [] } };
    }

    private async release(args: pulumiType.runtime.MockResourceArgs, inputs: Record<string, any>, op: Operation) {
        const p = this.providerOf(args);
        const name: string = inputs.name ?? args.name;
        const namespace: string = inputs.namespace ?? "default";
        const ref = `helm release ${namespace}/${name} @ ${this.cluster(p)}`;
        op.object = ref;
        if (!inputs.chart) throw new Error(`${ref}: no chart`);
        // The engine calls the provider only for a release whose inputs changed (no diff, no `helm upgrade`).
        const key = `${p.server}|${args.type}|${args.name}`;
        const prev = this.state.releases.get(key);
        const inputsJson = JSON.stringify(inputs);
        if (prev) op.changed = prev.inputs !== inputsJson;
        if (prev && !op.changed) {
            this.log(`${ref}: inputs unchanged, not upgraded (revision ${prev.state.status?.revision})`);
            return { id: `${namespace}/${name}`, state: prev.state };
        }
        const valuesFile = path.join(this.o.workDir, "values", `${this.cluster(p).replace(/[^A-Za-z0-9.-]/g, "_")}-${namespace}-${name}.json`);
        fs.writeFileSync(valuesFile, JSON.stringify(inputs.values ?? {}), { mode: 0o600 });
        const timeout = `${inputs.timeout ?? 300}s`;
        const helmArgs = [
            "upgrade",
            "--install",
            name,
            inputs.chart,
            "--namespace",
            namespace,
            ...this.kubeArgs(p).map((a) => a.replace("--context=", "--kube-context=")),
            "-f",
            valuesFile,
            ...(inputs.version ? ["--version", inputs.version] : []),
            ...(inputs.repositoryOpts?.repo ? ["--repo", inputs.repositoryOpts.repo] : []),
            ...(inputs.skipAwait ? [] : ["--wait", "--timeout", timeout]),
            ...(inputs.createNamespace ? ["--create-namespace"] : []),
            ...(inputs.atomic ? ["--atomic"] : []),
            ...(inputs.maxHistory ? ["--history-max", String(inputs.maxHistory)] : []),
        ];
        await this.exec(this.bin("helm"), helmArgs, ref);
        // `helm get metadata`: what the provider's `status` holds (name, namespace, chart, version, appVersion, revision, status).
        const s = JSON.parse((await this.exec(this.bin("helm"), ["get", "metadata", name, "--namespace", namespace, ...this.kubeArgs(p).map((a) => a.replace("--context=", "--kube-context=")), "-o", "json"], `status of ${ref}`)).stdout);
        const status = { name: s.name, namespace: s.namespace, chart: s.chart, version: s.version, appVersion: s.appVersion, revision: s.revision, status: s.status };
        if (status.status !== "deployed") throw new Error(`${ref}: status ${status.status}`);
        this.log(`${ref}: revision ${status.revision} chart ${status.chart}-${status.version} deployed (${((Date.now() - op.startedAt) / 1000).toFixed(1)} s)`);
        if (this.o.afterRelease) await this.o.afterRelease({ name, namespace, server: p.server, kubeconfigPath: p.kubeconfigPath, status });
        const out = { ...inputs, status };
        this.state.releases.set(key, { inputs: inputsJson, state: out });
        return { id: `${namespace}/${name}`, state: out };
    }
}

// ---- running the program under live mocks ------------------------------------------------------------

export interface LiveRun {
    outputs: Record<string, unknown>;
    mocks: LiveMocks;
    seconds: number;
}

/**
 * Runs index.ts with this stack config under `mocks` (a fresh module registry, so config and mocks apply before
 * the program is imported). Resolves with the stack outputs once every registration has finished; rejects if
 * the program throws or any resource failed (naming the objects).
 */
export async function runLive(config: Record<string, unknown>, mocks: LiveMocks, stack = "e2e"): Promise<LiveRun> {
    const t0 = Date.now();
    jest.resetModules();
    const pulumi: typeof pulumiType = await import("@pulumi/pulumi");
    await pulumi.runtime.setMocks(mocks, PROJECT, stack, false);
    pulumi.runtime.setAllConfig(fullConfig(config), []);
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on("unhandledRejection", onUnhandled);
    try {
        const program = await import("../../../index");
        const outputs: Record<string, unknown> = {};
        const errors: string[] = [];
        // index.ts assigns module.exports; the import's interop adds a `default` holding the same object.
        for (const [k, v] of Object.entries(program).filter(([key]) => key !== "default")) {
            const out = pulumi.output(v as any) as pulumiType.Output<unknown>;
            try {
                outputs[k] = await new Promise((resolve, reject) => {
                    (out as any).promise().then(resolve, reject);
                });
            } catch (e) {
                errors.push(`output ${k}: ${(e as Error).message}`);
            }
        }
        // Every registration (and so every newResource) has finished.
        for (let i = 0; i < 3; i++) {
            await (pulumi.runtime as any).waitForRPCs().catch((e: Error) => errors.push(`registration: ${e.message}`));
            await new Promise((r) => setTimeout(r, 50));
        }
        if (mocks.failures.length > 0) errors.unshift(...mocks.failures.map((f) => `${f.object}: ${f.error}`));
        for (const u of unhandled) errors.push(`unhandled: ${(u as Error)?.message ?? String(u)}`);
        if (errors.length > 0) throw new Error(`the program failed:\n- ${[...new Set(errors)].join("\n- ")}`);
        return { outputs: unwrapSecrets(outputs), mocks, seconds: Math.round((Date.now() - t0) / 100) / 10 };
    } finally {
        process.off("unhandledRejection", onUnhandled);
    }
}
