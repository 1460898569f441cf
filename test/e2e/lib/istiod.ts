/**
 * The "istiod operator" of the bed. Under kwok, the istiod pod the chart creates is fake: nothing runs in it.
 * This runs the real `pilot-discovery` of the same Istio version for each cluster, OUTSIDE the cluster, as
 * the Deployment describes it:
 *
 * - it waits for the Secret `cacerts`, the Service `istiod` and the Deployment `istiod` in istio-system;
 * - writes the cacerts files into a directory of its own and points `ROOT_CA_DIR` at it (istiod's plug-in CA
 *   directory, pilot/pkg/bootstrap/istio_ca.go; default ./etc/cacerts, the Secret's mount in the pod);
 * - takes the env of the Deployment's `discovery` container as the chart rendered it (CLUSTER_ID, REVISION,
 *   INJECTION_WEBHOOK_CONFIG_NAME, …), resolving fieldRefs as the kubelet would;
 * - starts pilot-discovery with `--kubeconfig` (the bed's admin kubeconfig, in place of the pod's service
 *   account) and every listener on the Service's ClusterIP, which lies in the bed's Service range (10.1.<g>.0/24, inside the run's own network namespace): the
 *   API server (no aggregator routing) calls webhooks at ClusterIP:443, so `--httpsAddr <ClusterIP>:443`;
 * - runs in an empty working directory, so the relative defaults (./etc/istio/config/mesh,
 *   ./var/lib/istio/inject/config) are absent and istiod reads mesh config and injection template from the
 *   ConfigMaps `istio` and `istio-sidecar-injector`, as in a cluster without those mounts;
 * - restarts it when the Deployment's pod template changes (a Helm upgrade), with that template's version.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { Kube, isBedAddress, sleep } from "./kube";

export const ISTIO_NS = "istio-system";

/**
 * istiod serves its /debug endpoints without authentication only to loopback peers (xds/debug.go
 * allowAuthenticatedOrLocalhost; "istiod talking to itself"). Its listeners are on the istiod Service's ClusterIP
 * (10.1.<g>.x in the run's namespace), so the suites call them from 127.0.0.1, as istiod's own container would.
 */
const DEBUG_CLIENT_ADDRESS = "127.0.0.1";

/** True when host:port accepts a TCP connection. */
export function tcpOpen(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
    return new Promise((resolve) => {
        const sock = net.connect({ host, port, timeout: timeoutMs }, () => {
            sock.destroy();
            resolve(true);
        });
        sock.on("error", () => resolve(false));
        sock.on("timeout", () => {
            sock.destroy();
            resolve(false);
        });
    });
}

export interface IstiodStart {
    version: string;
    clusterIP: string;
    pid: number;
    startedAt: number;
    templateHash: string;
}

export interface IstiodOperatorOptions {
    clusterName: string;
    kube: Kube;
    kubeconfigPath: string;
    workDir: string;
    /** The pilot-discovery binary for an Istio version, e.g. <cache>/istio-1.31.1/bin/pilot-discovery. */
    binaryFor: (version: string) => string;
    log?: (msg: string) => void;
    /**
     * Emulate istiod's readiness probe: kwok marks the chart's istiod pod Ready at once, whatever the real process
     * does, so Helm's --wait (and everything Pulumi orders after the istiod release) could run before the real
     * pilot-discovery serves its webhooks. With this on, the operator keeps the pods of the istiod Deployment
     * NotReady until its process answers /ready and has patched the webhooks' caBundle, as the real pod's
     * readiness probe (GET :8080/ready) would.
     */
    gatePodReadiness?: boolean;
    /**
     * The control-plane revision this operator runs (the istiod chart's `revision`): it then follows the Service and
     * Deployment `istiod-<revision>` and the webhook `istio-sidecar-injector-<revision>`, so several operators can run
     * one real pilot-discovery per revision in one cluster. Unset: the unrevisioned `istiod`.
     */
    revision?: string;
    /**
     * Keep a running istiod while `cacerts` is absent, on the files it last had (what a pod does: deleting a Secret
     * it mounts does not restart it), and write the new files once the Secret is back. Off: the operator stops
     * istiod when `cacerts` is gone. On for suites that measure a delete-then-create replacement of `cacerts`, so
     * the bed does not add a restart that no cluster would make.
     */
    keepRunningWithoutCacerts?: boolean;
}

/** Listener flags of pilot-discovery (pilot/cmd/pilot-discovery/app/cmd.go, pkg/ctrlz/options.go). */
export const LISTENER_FLAGS = ["httpAddr", "httpsAddr", "grpcAddr", "secureGRPCAddr", "monitoringAddr", "ctrlz_address", "ctrlz_port"];

export function listenerArgs(ip: string): string[] {
    return [
        `--httpAddr=${ip}:8080`,
        `--httpsAddr=${ip}:443`,
        `--grpcAddr=${ip}:15010`,
        `--secureGRPCAddr=${ip}:15012`,
        `--monitoringAddr=${ip}:15014`,
        `--ctrlz_address=${ip}`,
        "--ctrlz_port=9876",
    ];
}

/** The Istio version of a Deployment's pilot image (`<hub>/pilot:1.31.1`). */
export function imageVersion(image: string): string {
    // The tag is the Istio version the program pinned (global.tag = istioVersion), which names the bed's directory.
    const m = /:(\d+\.\d+\.\d+(?:-[A-Za-z0-9.]+)?)(?:@.*)?$/.exec(image);
    if (!m) throw new Error(`cannot tell the Istio version of image ${image}`);
    return m[1];
}

/**
 * The container's env as the kubelet would give it, with fieldRefs resolved for an out-of-cluster process. `pod` names
 * the pod's namespace, host IP and node when they are not istiod's (istio-system, its own IP, a made-up node).
 */
export function resolveEnv(container: any, podSpec: any, podName: string, podIP: string, pod: { namespace?: string; hostIP?: string; nodeName?: string } = {}): Record<string, string> {
    const env: Record<string, string> = {};
    for (const e of container.env ?? []) {
        if (e.value !== undefined) env[e.name] = String(e.value);
        else if (e.valueFrom?.fieldRef) {
            const f = e.valueFrom.fieldRef.fieldPath as string;
            const v: Record<string, string> = {
                "metadata.name": podName,
                "metadata.namespace": pod.namespace ?? ISTIO_NS,
                "spec.serviceAccountName": podSpec.serviceAccountName ?? "default",
                "status.podIP": podIP,
                "status.hostIP": pod.hostIP ?? podIP,
                "spec.nodeName": pod.nodeName ?? "bed-node",
            };
            if (v[f] !== undefined) env[e.name] = v[f];
        } else if (e.valueFrom?.resourceFieldRef) {
            // GOMAXPROCS from limits.cpu: one core on this 2-core machine; GOMEMLIMIT left to Go.
            if (e.name === "GOMAXPROCS") env[e.name] = "1";
        }
        // secretKeyRef/configMapKeyRef: the chart's default env has none.
    }
    return env;
}

/** The container args without listener flags (ours bind to the ClusterIP). */
export function withoutListenerArgs(args: string[]): string[] {
    const out: string[] = [];
    for (let i = 0; i < args.length; i++) {
        const m = /^--?([A-Za-z_]+)(=.*)?$/.exec(args[i]);
        if (m && LISTENER_FLAGS.includes(m[1])) {
            if (m[2] === undefined) i++; // "--flag value"
            continue;
        }
        out.push(args[i]);
    }
    return out;
}

export class IstiodOperator {
    private proc?: ChildProcess;
    private current?: IstiodStart;
    private stopped = false;
    private paused = false;
    private loop?: Promise<void>;
    public readonly starts: IstiodStart[] = [];
    public lastError?: string;

    constructor(private readonly o: IstiodOperatorOptions) {
        fs.mkdirSync(o.workDir, { recursive: true });
    }

    /** Name of the Service and Deployment this operator follows. */
    get istiodName(): string {
        return this.o.revision ? `istiod-${this.o.revision}` : "istiod";
    }

    get clusterIP(): string | undefined {
        return this.current?.clusterIP;
    }
    get running(): IstiodStart | undefined {
        return this.proc && this.proc.exitCode === null ? this.current : undefined;
    }
    get logFile(): string {
        return path.join(this.o.workDir, "pilot-discovery.log");
    }

    start(): void {
        this.loop = this.run();
    }

    private log(msg: string) {
        (this.o.log ?? ((m: string) => process.stderr.write(m + "\n")))(`[istiod ${this.o.clusterName}${this.o.revision ? ` ${this.o.revision}` : ""}] ${msg}`);
    }

    private async run(): Promise<void> {
        while (!this.stopped) {
            try {
                await this.reconcile();
                this.lastError = undefined;
            } catch (e) {
                this.lastError = (e as Error).message;
            }
            await sleep(250);
        }
    }

    private async reconcile(): Promise<void> {
        if (this.paused) return;
        const k = this.o.kube;
        const [secret, svc, dep] = await Promise.all([
            k.getOrUndefined(`/api/v1/namespaces/${ISTIO_NS}/secrets/cacerts`),
            k.getOrUndefined(`/api/v1/namespaces/${ISTIO_NS}/services/${this.istiodName}`),
            k.getOrUndefined(`/apis/apps/v1/namespaces/${ISTIO_NS}/deployments/${this.istiodName}`),
        ]);
        if (!secret && svc && dep && this.o.keepRunningWithoutCacerts && this.running) return;
        if (!secret || !svc || !dep) {
            if (this.proc) await this.kill("istiod objects gone");
            return;
        }
        const clusterIP: string = svc.spec.clusterIP;
        if (!isBedAddress(clusterIP)) throw new Error(`istiod ClusterIP ${clusterIP} is not an address of the bed: refusing to bind`);
        const caDir = path.join(this.o.workDir, "cacerts");
        fs.mkdirSync(caDir, { recursive: true });
        for (const [file, data] of Object.entries<string>(secret.data ?? {})) {
            const target = path.join(caDir, file);
            const content = Buffer.from(data, "base64");
            if (!fs.existsSync(target) || !fs.readFileSync(target).equals(content)) fs.writeFileSync(target, content, { mode: 0o600 });
        }
        const template = dep.spec.template;
        const templateHash = JSON.stringify({ template, clusterIP });
        if (this.proc && this.proc.exitCode === null && this.current?.templateHash === templateHash) {
            if (this.o.gatePodReadiness) await this.gateReadiness(dep);
            return;
        }
        if (this.o.gatePodReadiness) await this.gateReadiness(dep, false);
        if (this.proc && this.proc.exitCode !== null && this.current && Date.now() - this.current.startedAt < 5000) return; // crash-loop backoff
        if (this.proc) await this.kill(this.proc.exitCode === null ? "pod template changed" : `exited with ${this.proc.exitCode}`);
        this.spawn(template, clusterIP, caDir, templateHash);
    }

    /** Ready = the real process serves (see gatePodReadiness); sets the pods' Ready condition to match. */
    private async gateReadiness(dep: any, serving?: boolean): Promise<void> {
        const k = this.o.kube;
        if (serving === undefined) {
            serving = false;
            try {
                const ready = await this.debugRaw("/ready");
                const mwc = await k.getOrUndefined(`/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/istio-sidecar-injector${this.o.revision ? `-${this.o.revision}` : ""}`);
                // /ready turns 200 before the webhook server listens (seen on the bed: "connection refused" on
                // :443 right after), so the gate also waits for :443 to accept connections.
                serving = ready.status === 200 && !!mwc?.webhooks?.every((w: any) => w.clientConfig?.caBundle) && (await tcpOpen(this.running!.clusterIP, 443));
            } catch {
                serving = false;
            }
        }
        const selector = Object.entries<string>(dep.spec.selector?.matchLabels ?? { app: "istiod" }).map(([a, b]) => `${a}=${b}`).join(",");
        const pods = await k.list(`/api/v1/namespaces/${ISTIO_NS}/pods`, `labelSelector=${encodeURIComponent(selector)}`);
        const want = serving ? "True" : "False";
        for (const pod of pods) {
            if (pod.status?.phase !== "Running") continue;
            const ready = (pod.status.conditions ?? []).find((c: any) => c.type === "Ready")?.status;
            if (ready === want) continue;
            const now = new Date().toISOString();
            await k.request("PATCH", `/api/v1/namespaces/${ISTIO_NS}/pods/${pod.metadata.name}/status`, {
                status: { conditions: ["Ready", "ContainersReady"].map((type) => ({ type, status: want, lastTransitionTime: now, reason: serving ? "BedIstiodServing" : "BedIstiodNotServing" })) },
            }, "application/strategic-merge-patch+json");
            this.log(`pod ${pod.metadata.name} Ready=${want}`);
        }
    }

    private debugRaw(pathAndQuery: string): Promise<{ status: number; text: string }> {
        const ip = this.running?.clusterIP;
        if (!ip) return Promise.reject(new Error("not running"));
        return new Promise((resolve, reject) => {
            const req = http.get({ host: ip, port: 8080, path: pathAndQuery, localAddress: DEBUG_CLIENT_ADDRESS, timeout: 5_000 }, (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c) => chunks.push(c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
            });
            req.on("timeout", () => req.destroy(new Error("timeout")));
            req.on("error", reject);
        });
    }

    private spawn(template: any, clusterIP: string, caDir: string, templateHash: string) {
        const container = template.spec.containers.find((c: any) => c.name === "discovery") ?? template.spec.containers[0];
        const version = imageVersion(container.image);
        const binary = this.o.binaryFor(version);
        if (!fs.existsSync(binary)) throw new Error(`no pilot-discovery for Istio ${version} at ${binary}`);
        const podName = `istiod-bed-${this.o.clusterName}${this.o.revision ? `-${this.o.revision}` : ""}`;
        const env: Record<string, string> = {
            PATH: process.env.PATH ?? "/usr/bin:/bin",
            HOME: this.o.workDir,
            ...resolveEnv(container, template.spec, podName, clusterIP),
            KUBECONFIG: this.o.kubeconfigPath,
            ROOT_CA_DIR: caDir,
        };
        const cwd = path.join(this.o.workDir, `run-${version}`);
        fs.rmSync(cwd, { recursive: true, force: true });
        fs.mkdirSync(cwd, { recursive: true });
        const args = [...withoutListenerArgs(container.args ?? ["discovery"]), `--kubeconfig=${this.o.kubeconfigPath}`, ...listenerArgs(clusterIP)];
        if (env.CLUSTER_ID) args.push(`--clusterID=${env.CLUSTER_ID}`);
        const out = fs.openSync(this.logFile, "a");
        fs.writeSync(out, `\n==== ${new Date().toISOString()} start ${binary} ${args.join(" ")}\n==== env ${JSON.stringify(env)}\n`);
        const proc = spawn(binary, args, { cwd, env, stdio: ["ignore", out, out] });
        fs.closeSync(out);
        this.proc = proc;
        this.current = { version, clusterIP, pid: proc.pid ?? -1, startedAt: Date.now(), templateHash };
        this.starts.push(this.current);
        this.log(`started pilot-discovery ${version} pid ${proc.pid} on ${clusterIP}`);
    }

    private async kill(why: string): Promise<void> {
        const p = this.proc;
        this.proc = undefined;
        if (!p) return;
        if (p.exitCode === null && p.signalCode === null) {
            this.log(`stopping pid ${p.pid}: ${why}`);
            const exited = new Promise<void>((r) => p.once("exit", () => r()));
            p.kill("SIGTERM");
            const t = setTimeout(() => p.kill("SIGKILL"), 15_000);
            await exited;
            clearTimeout(t);
        } else this.log(`pid ${p.pid} ${why}`);
    }

    /** Stops pilot-discovery and keeps it stopped until resume() (to show the webhooks fail closed). */
    async pause(): Promise<void> {
        this.paused = true;
        await sleep(600); // let a running reconcile finish
        await this.kill("paused by the test");
    }

    resume(): void {
        this.paused = false;
    }

    async stop(): Promise<void> {
        this.stopped = true;
        await this.loop?.catch(() => undefined);
        await this.kill("stop");
    }

    /** GET on istiod's HTTP debug port (ClusterIP:8080). */
    async debug(pathAndQuery: string): Promise<any> {
        const ip = this.running?.clusterIP;
        if (!ip) throw new Error(`istiod of ${this.o.clusterName} is not running (${this.lastError ?? "no error"})`);
        return new Promise((resolve, reject) => {
            const req = http.get({ host: ip, port: 8080, path: pathAndQuery, localAddress: DEBUG_CLIENT_ADDRESS, timeout: 10_000 }, (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c) => chunks.push(c));
                res.on("end", () => {
                    const text = Buffer.concat(chunks).toString("utf8");
                    if ((res.statusCode ?? 0) >= 300) return reject(new Error(`${pathAndQuery}: ${res.statusCode} ${text.slice(0, 300)}`));
                    try {
                        resolve(JSON.parse(text));
                    } catch {
                        resolve(text);
                    }
                });
            });
            req.on("timeout", () => req.destroy(new Error(`${pathAndQuery}: timeout`)));
            req.on("error", reject);
        });
    }
}
