/**
 * Pods as processes. kwok runs no container; for a pod that the real istiod injected with Istio's `grpc-agent`
 * template (annotation `inject.istio.io/templates: grpc-agent`), this runs its containers as processes on this
 * machine, inside the run's network namespace, as a kubelet would run them:
 *
 * - the pod's filesystem is a directory of its own (`root`); every volume a container mounts is the directory
 *   `root + mountPath`, filled as the kubelet fills it: a projected service-account token (TokenRequest with the
 *   volume's audience and expiry, bound to the pod), ConfigMap keys, downward-API labels and annotations, emptyDir;
 * - every process runs with `cwd = root`, so pilot-agent's relative defaults (./var/run/secrets/tokens/istio-token,
 *   ./var/run/secrets/istio/root-cert.pem, ./etc/istio/pod/labels, ./etc/istio/proxy/grpc-bootstrap.json) land there;
 * - env and args are the container's as injected: fieldRefs resolved (lib/istiod.ts `resolveEnv`), `$(VAR)`
 *   expanded, and an absolute path under a mount moved under `root` (OUTPUT_CERTS, the app's GRPC_XDS_BOOTSTRAP);
 * - the pod's address is `status.podIP` as kwok set it (10.2.<g>.x): 10.0.0.0/8 is local on `lo` in the run's
 *   namespace (test/e2e/run.sh), so the app binds it as is.
 *
 * The only other differences from the injected `istio-proxy` container, and why:
 * - PROXY_CONFIG `discoveryAddress`: the istiod Service's ClusterIP instead of its DNS name (the bed has no DNS),
 *   and ISTIOD_SAN = that name, so the agent's TLS to istiod still checks it (pilot/pkg/grpc/tls.go);
 * - CA_ADDR unset: the CSR then goes to `discoveryAddress` and its TLS check uses ISTIOD_SAN as well (with
 *   CA_ADDR=<ip>:15012 it would check the IP; options/security.go);
 * - PROXY_CONFIG `configPath`: absolute under `root`. The agent writes the bootstrap's `server_uri` as
 *   `unix:///<configPath>/XDS`, which grpc-go reads as an absolute path; the default `./etc/istio/proxy` would name
 *   /etc/istio/proxy/XDS;
 * - PROXY_CONFIG `statusPort`: one per pod (the agent's status server binds `:<port>` on every address);
 * - CLOUD_PLATFORM=none: no cloud metadata-server probe.
 * Each pod's processes are one pilot-agent and its app: one xDS client per process (istio/istio#53202 was
 * several xDS servers in one process).
 */
import { ChildProcess, execFile, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ISTIO_NS, resolveEnv } from "./istiod";
import { Kube, eventually, isBedAddress } from "./kube";

/** The unix socket path limit (sun_path, 108 bytes with the NUL). */
const MAX_SOCKET_PATH = 107;

/** Kubernetes' `$(VAR)` expansion of args and env values (`$$` escapes). */
export function expandVars(text: string, env: Record<string, string>): string {
    return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name?: string) => (name === undefined ? "$" : env[name] ?? m));
}

/** `<service>.<namespace>.svc[.<domain>][:port]` → the Service's ClusterIP (the bed has no DNS). */
export async function serviceAddress(kube: Kube, hostPort: string): Promise<{ ip: string; host: string; port: string }> {
    const m = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.[a-z0-9.-]+)?(?::(\d+))?$/.exec(hostPort);
    if (!m) throw new Error(`cannot resolve ${hostPort}: not a Service name`);
    const svc = await kube.get(`/api/v1/namespaces/${m[2]}/services/${m[1]}`);
    const ip: string = svc.spec.clusterIP;
    if (!isBedAddress(ip)) throw new Error(`${hostPort} resolves to ${ip}: not an address of the bed`);
    return { ip, host: hostPort.replace(/:\d+$/, ""), port: m[3] ?? "" };
}

/** The downward API's file format: `key="value"` lines, sorted. */
const downwardFile = (m: Record<string, string> = {}) => Object.keys(m).sort().map((k) => `${k}=${JSON.stringify(m[k])}`).join("\n");

export interface PodProcessesOptions {
    kube: Kube;
    cluster: string;
    namespace: string;
    pod: string;
    /** The pod's root directory; keep it short (the XDS socket lives under it). */
    root: string;
    /** Directory of pilot-agent. */
    binDir: string;
    /** The agent's status port, unique in the run's namespace. */
    statusPort: number;
    logsDir: string;
    log: (msg: string) => void;
}

export interface ExecResult {
    code: number;
    stdout: string;
    stderr: string;
}

const setpriv = (() => {
    const r = spawnSync("sh", ["-c", "command -v setpriv"], { encoding: "utf8" });
    return r.status === 0 ? r.stdout.trim() : undefined;
})();

/** One kwok pod's containers as processes: its pilot-agent, then the apps a test starts. */
export class PodProcesses {
    private readonly children: { name: string; child: ChildProcess }[] = [];
    private constructor(
        private readonly o: PodProcessesOptions,
        public readonly podObject: any,
        public readonly ip: string,
        private readonly mounts: string[],
    ) {}

    /** Waits for the pod to be Ready with an IP, lays out its volumes, starts its pilot-agent, waits for its files. */
    static async start(o: PodProcessesOptions): Promise<PodProcesses> {
        const podPath = `/api/v1/namespaces/${o.namespace}/pods/${o.pod}`;
        const pod = await eventually(`${o.cluster}/${o.namespace}/${o.pod} Ready with an IP`, async () => {
            const p = await o.kube.get(podPath);
            const ready = (p.status?.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True");
            return ready && p.status?.podIP ? p : undefined;
        }, 60_000, 500);
        const ip: string = pod.status.podIP;
        if (!isBedAddress(ip)) throw new Error(`${o.pod}: pod IP ${ip} is not an address of the bed`);
        const proxy = (pod.spec.containers ?? []).find((c: any) => c.name === "istio-proxy");
        if (!proxy) throw new Error(`${o.cluster}/${o.namespace}/${o.pod} was not injected (no istio-proxy container)`);
        fs.rmSync(o.root, { recursive: true, force: true });
        const mounts = await layOutVolumes(o.kube, pod, o.root);
        const self = new PodProcesses(o, pod, ip, mounts);
        const socket = path.join(o.root, "etc/istio/proxy/XDS");
        if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) throw new Error(`${socket} is longer than a unix socket path may be (${MAX_SOCKET_PATH} bytes): use a shorter pod root`);
        const env = self.containerEnv(proxy);
        // The injected PROXY_CONFIG and CA_ADDR, with the overrides this file's header explains.
        const proxyConfig = JSON.parse(env.PROXY_CONFIG || "{}");
        const istiod = await serviceAddress(o.kube, proxyConfig.discoveryAddress ?? `istiod.${ISTIO_NS}.svc:15012`);
        delete env.CA_ADDR;
        Object.assign(proxyConfig, { discoveryAddress: `${istiod.ip}:${istiod.port || "15012"}`, configPath: path.join(o.root, "etc/istio/proxy"), statusPort: o.statusPort });
        Object.assign(env, { PROXY_CONFIG: JSON.stringify(proxyConfig), ISTIOD_SAN: istiod.host, CLOUD_PLATFORM: "none" });
        const args = (proxy.args ?? []).map((a: string) => expandVars(a, env));
        self.spawn("istio-proxy", path.join(o.binDir, "pilot-agent"), args, env);
        const files = [self.bootstrapPath, socket, ...Object.values(self.certFiles)];
        await eventually(`${o.pod}: pilot-agent's bootstrap, XDS socket and certificates (${files.join(", ")})`, async () => {
            self.assertRunning();
            return files.every((f) => fs.existsSync(f));
        }, 60_000, 250);
        o.log(`${o.cluster}/${o.pod} (${ip}): pilot-agent up, certificates in ${self.certDir}`);
        return self;
    }

    /** The pod's root directory (its processes' cwd). */
    get root(): string {
        return this.o.root;
    }

    /** The injected env of a container of this pod, resolved for a process rooted at `root`. */
    containerEnv(container: any): Record<string, string> {
        const spec = this.podObject.spec;
        const env = resolveEnv(container, spec, this.o.pod, this.ip, { namespace: this.o.namespace, hostIP: this.podObject.status?.hostIP, nodeName: spec.nodeName });
        for (const [k, v] of Object.entries(env)) {
            const expanded = expandVars(v, env);
            env[k] = this.mounts.some((m) => expanded === m || expanded.startsWith(`${m}/`)) ? path.join(this.o.root, expanded) : expanded;
        }
        return { PATH: "/usr/bin:/bin", HOME: this.o.root, ...env };
    }

    /** A container of the pod, by name. */
    container(name: string): any {
        const c = (this.podObject.spec.containers ?? []).find((x: any) => x.name === name);
        if (!c) throw new Error(`${this.o.pod} has no container ${name}`);
        return c;
    }

    get certDir(): string {
        const env = this.containerEnv(this.container("istio-proxy"));
        return env.OUTPUT_CERTS ?? path.join(this.o.root, "var/lib/istio/data");
    }

    /** Where the agent writes the workload key, chain and root (OUTPUT_CERTS; security/pkg/nodeagent/util). */
    get certFiles(): { chain: string; key: string; root: string } {
        const d = this.certDir;
        return { chain: path.join(d, "cert-chain.pem"), key: path.join(d, "key.pem"), root: path.join(d, "root-cert.pem") };
    }

    /** The gRPC xDS bootstrap the agent writes (its GRPC_XDS_BOOTSTRAP default, relative to the pod's root). */
    get bootstrapPath(): string {
        return path.join(this.o.root, "etc/istio/proxy/grpc-bootstrap.json");
    }

    /** Starts a long-running app process as container `container` of the pod (its injected env plus `extraEnv`). */
    startApp(container: string, bin: string, args: string[], extraEnv: Record<string, string> = {}): void {
        this.spawn(container, bin, args, { ...this.containerEnv(this.container(container)), ...extraEnv });
    }

    /** Runs a one-shot command as container `container` of the pod; resolves with its exit code and output. */
    exec(container: string, bin: string, args: string[], extraEnv: Record<string, string> = {}, timeoutMs = 60_000): Promise<ExecResult> {
        const env = { ...this.containerEnv(this.container(container)), ...extraEnv };
        return new Promise((resolve) => {
            execFile(bin, args, { cwd: this.o.root, env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
                const code = err ? (typeof (err as any).code === "number" ? (err as any).code : -1) : 0;
                resolve({ code, stdout: String(stdout), stderr: String(stderr) });
            });
        });
    }

    logFile(container: string): string {
        return path.join(this.o.logsDir, `${this.o.cluster}-${this.o.pod}-${container}.log`);
    }

    private spawn(container: string, bin: string, args: string[], env: Record<string, string>): void {
        if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: run test/e2e/bed/build.sh`);
        fs.mkdirSync(this.o.logsDir, { recursive: true });
        const out = fs.openSync(this.logFile(container), "a");
        fs.writeSync(out, `# ${bin} ${args.join(" ")}\n# cwd ${this.o.root}\n# env ${JSON.stringify(env)}\n`);
        // setpriv --pdeathsig: the process dies with this one, as the bed's own processes do.
        const [cmd, argv] = setpriv ? [setpriv, ["--pdeathsig", "KILL", "--", bin, ...args]] : [bin, args];
        const child = spawn(cmd, argv, { cwd: this.o.root, env, stdio: ["ignore", out, out] });
        fs.closeSync(out);
        this.children.push({ name: container, child });
    }

    /** Throws, with the log's tail, if a process of this pod has exited. */
    assertRunning(): void {
        for (const { name, child } of this.children) {
            if (child.exitCode !== null || child.signalCode !== null) {
                const tail = fs.readFileSync(this.logFile(name), "utf8").split("\n").slice(-30).join("\n");
                // inotify instances are counted per user on the whole machine (fs.inotify.max_user_instances, often 128);
                // every API server, controller-manager and agent of every bed running as the same user takes some.
                const hint = /inotify: too many open files/.test(tail)
                    ? `\nThe machine's inotify instances for this user are used up (fs.inotify.max_user_instances = ${fs.readFileSync("/proc/sys/fs/inotify/max_user_instances", "utf8").trim()}): other beds running as the same user hold them; run fewer at once or raise the limit.`
                    : "";
                throw new Error(`${this.o.pod}/${name} exited (${child.signalCode ?? child.exitCode}); last lines of ${this.logFile(name)}:\n${tail}${hint}`);
            }
        }
    }

    /** Stops the pod's processes, apps first (SIGTERM, SIGKILL after 5 s). */
    async stop(): Promise<void> {
        for (const { child } of [...this.children].reverse()) {
            if (child.exitCode !== null || child.signalCode !== null) continue;
            const exited = new Promise<void>((r) => child.once("exit", () => r()));
            child.kill("SIGTERM");
            const t = setTimeout(() => child.kill("SIGKILL"), 5_000);
            await exited;
            clearTimeout(t);
        }
    }
}

/**
 * Creates `root + mountPath` for every volume any container of `pod` mounts and fills it as the kubelet would
 * (emptyDir, configMap, downwardAPI, projected service-account token / configMap / downwardAPI). Returns the mount paths.
 */
async function layOutVolumes(kube: Kube, pod: any, root: string): Promise<string[]> {
    const ns: string = pod.metadata.namespace;
    const volumes = new Map<string, any>((pod.spec.volumes ?? []).map((v: any) => [v.name, v]));
    const mounts = new Map<string, string>();
    for (const c of pod.spec.containers ?? []) for (const m of c.volumeMounts ?? []) mounts.set(m.mountPath, m.name);
    const what = (name: string) => `${pod.metadata.name}: volume ${name}`;

    // The kubelet holds the pod until a ConfigMap exists (istiod writes istio-ca-root-cert into new namespaces).
    const configMap = async (dir: string, ref: { name: string; items?: { key: string; path: string }[] }) => {
        const cm: any = await eventually<any>(`ConfigMap ${ns}/${ref.name}`, () => kube.getOrUndefined(`/api/v1/namespaces/${ns}/configmaps/${ref.name}`), 60_000, 500);
        const items = ref.items ?? Object.keys(cm.data ?? {}).map((key) => ({ key, path: key }));
        for (const { key, path: p } of items) fs.writeFileSync(path.join(dir, p), cm.data?.[key] ?? "");
    };
    const downwardAPI = (dir: string, name: string, items: { path: string; fieldRef?: { fieldPath: string } }[]) => {
        const fields: Record<string, string> = {
            "metadata.labels": downwardFile(pod.metadata.labels),
            "metadata.annotations": downwardFile(pod.metadata.annotations),
            "metadata.namespace": ns,
            "metadata.name": pod.metadata.name,
        };
        for (const item of items) {
            const value = fields[item.fieldRef?.fieldPath ?? ""];
            if (value === undefined) throw new Error(`${what(name)}: downward API item ${JSON.stringify(item)} is not emulated`);
            fs.writeFileSync(path.join(dir, item.path), value);
        }
    };
    const token = async (dir: string, t: { audience?: string; expirationSeconds?: number; path: string }) => {
        const tr = await kube.create(`/api/v1/namespaces/${ns}/serviceaccounts/${pod.spec.serviceAccountName ?? "default"}/token`, {
            apiVersion: "authentication.k8s.io/v1",
            kind: "TokenRequest",
            spec: {
                audiences: t.audience ? [t.audience] : undefined,
                expirationSeconds: t.expirationSeconds ?? 3600,
                boundObjectRef: { apiVersion: "v1", kind: "Pod", name: pod.metadata.name, uid: pod.metadata.uid },
            },
        });
        fs.writeFileSync(path.join(dir, t.path), tr.status.token, { mode: 0o600 });
    };

    for (const [mountPath, name] of mounts) {
        const dir = path.join(root, mountPath);
        fs.mkdirSync(dir, { recursive: true });
        const v = volumes.get(name);
        if (!v) throw new Error(`${what(name)} mounted at ${mountPath} is not declared`);
        if (v.emptyDir !== undefined) continue;
        if (v.configMap) await configMap(dir, v.configMap);
        else if (v.downwardAPI) downwardAPI(dir, name, v.downwardAPI.items ?? []);
        else if (v.projected) {
            for (const src of v.projected.sources ?? []) {
                if (src.serviceAccountToken) await token(dir, src.serviceAccountToken);
                else if (src.configMap) await configMap(dir, src.configMap);
                else if (src.downwardAPI) downwardAPI(dir, name, src.downwardAPI.items ?? []);
                else throw new Error(`${what(name)}: projected source ${Object.keys(src)} is not emulated`);
            }
        } else throw new Error(`${what(name)} (${Object.keys(v).filter((k) => k !== "name")}) is not emulated`);
    }
    return [...mounts.keys()];
}
