/**
 * The e2e bed runner: N real Kubernetes control planes in a network namespace of the run's own.
 *
 * Binaries come from `test/e2e/bed/build.sh` (cache `${ISTIO_MC_BED_CACHE:-~/.cache/istio-multicluster-bed}`).
 * `test/e2e/run.sh` (`npm run test:e2e`) builds them in the machine's namespace, then runs every suite inside
 * `unshare --net --pid`: a namespace with only `lo`, which holds 10.0.0.0/8 as well as 127.0.0.0/8 (an address
 * added to `lo` with a prefix makes the whole prefix local). It reaches nothing else and is gone with the run.
 * `startBed` refuses to start anywhere else (`inOwnNetworkNamespace`).
 *
 *   const bed = await startBed({ names: ["c1", "c2", "c3"], workDir: "/tmp/bed" });
 *   try { ... bed.clusters[0].kubeconfigPath ... await kubeRequest(bed.clusters[0], "GET", "/api/v1/nodes") }
 *   finally { await bed.stop(); }
 *
 * What runs: one etcd for the whole bed (one `--etcd-prefix` per cluster); per cluster a kube-apiserver, a
 * kube-controller-manager (service-account-token Secrets get `token` and `ca.crt`; endpoints and endpoint-slice
 * controllers write pod addresses as on a real cluster), a kube-scheduler and kwok (2 fake Ready nodes without
 * taints; pods go Running/Ready, Jobs' pods complete, with kwok's own "fast" stages; Stages of ours give
 * LoadBalancer Services an ingress IP and make a Running pod Ready again, as its kubelet would, after an API-server
 * outage made the node lifecycle controller mark it not Ready).
 *
 * Address plan. A bed takes a slot s (0..15, the first free one unless `slot` is given); cluster i (1-based) of
 * the bed gets g = 16*s + i and:
 *   API server        https://127.0.<g>.1:6443  (controller-manager :10257, scheduler :10259 on the same IP)
 *   Service CIDR      10.1.<g>.0/24    (`kubernetes` Service = 10.1.<g>.1)
 *   pod CIDR          10.2.<g>.0/24    (kwok's --cidr)
 *   LB CIDR           10.3.<g>.0/24    (a LoadBalancer Service with ClusterIP 10.1.<g>.d gets 10.3.<g>.d)
 *   node IPs          10.4.<g>.1, 10.4.<g>.2
 *   etcd              http://127.5.<s>.1:2379 (peer :2380)
 * Pods, Services, load balancers and nodes are outside 127/8, so Kubernetes accepts them in Endpoints and
 * EndpointSlices (it refuses loopback ones) and the kubernetes provider's Service await sees endpoints settle.
 * The API server still runs with `--endpoint-reconciler-type=none`: its own address is loopback.
 * No `--enable-aggregator-routing`: webhook calls go to the Service's ClusterIP (10.1.<g>.x), where a test
 * may run a real process listening on that address.
 *
 * Processes: each child runs in its own process group (and dies with this process through
 * `setpriv --pdeathsig KILL` where available); `stop()` ends them all (SIGTERM, then SIGKILL after 10 s). They
 * are also killed on SIGINT/SIGTERM and on exit of this process. A previous bed's processes left in the same
 * workDir (pids.json) are killed before a start. Logs: `<workDir>/logs/<cluster>-<component>.log`.
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as net from "net";
import * as os from "os";
import * as path from "path";

export interface BedCluster {
    name: string;
    /** 1-based index in the bed. */
    index: number;
    /** The third octet that identifies this cluster's addresses (16*slot + index). */
    octet: number;
    kubeconfigPath: string;
    /** The kubeconfig's YAML (cluster-admin through a client certificate; context = cluster name). */
    kubeconfig: string;
    apiServerUrl: string;
    apiServerAddress: string;
    apiServerPort: number;
    /**
     * A second address of this cluster (127.0.<g>.2) that the API server's certificate also covers. Nothing listens
     * there: a test may put a TCP proxy on it to move the cluster's endpoint (kube-apiserver binds one address).
     */
    apiServerAlternateAddress: string;
    serviceCidr: string;
    /** The `kubernetes` Service's ClusterIP (first address of the Service CIDR). */
    kubernetesServiceIp: string;
    podCidr: string;
    loadBalancerCidr: string;
    nodeNames: string[];
    nodeIps: string[];
    /** PEM of the cluster CA (signs the API server's certificate and the client certificates). */
    caCert: string;
    caCertPath: string;
    caKeyPath: string;
    /** Admin client certificate and key (PEM files), as in the kubeconfig. */
    clientCertPath: string;
    clientKeyPath: string;
    /** Service-account signing key pair (PEM files) the API server and controller-manager use. */
    serviceAccountKeyPath: string;
    serviceAccountPublicKeyPath: string;
    /** `https://kubernetes.default.svc.cluster.local` */
    serviceAccountIssuer: string;
    /** This cluster's directory under workDir (PKI, kubeconfig, kwok config). */
    dir: string;
}

export interface BedProcess {
    name: string;
    pid: number;
    logPath: string;
}

export interface Bed {
    clusters: BedCluster[];
    workDir: string;
    logsDir: string;
    slot: number;
    etcdUrl: string;
    /** The bed's bin directory (kubectl, etcd, kube-*, kwok, pilot-discovery lives under <cacheDir>/istio-<v>/bin). */
    binDir: string;
    cacheDir: string;
    processes(): BedProcess[];
    /** Stops one cluster's kube-apiserver (SIGTERM, then SIGKILL after 10 s): the cluster is down, all else runs. */
    stopApiServer(name: string): Promise<void>;
    /** Starts that kube-apiserver again with the same flags (same etcd prefix and PKI) and waits for /readyz. */
    startApiServer(name: string): Promise<void>;
    /** Seconds startBed took. */
    startSeconds: number;
    stop(): Promise<void>;
}

export interface StartBedOptions {
    names: string[];
    workDir: string;
    cacheDir?: string;
    /**
     * 0..15; default env ISTIO_MC_BED_SLOT, else the first slot whose API server addresses are free. Two beds
     * started at the same moment can both find a slot free: give each its own slot when they run side by side.
     */
    slot?: number;
    /** Per-step timeout in ms (default 90 s). */
    timeoutMs?: number;
    /** Print progress to stderr (default: env ISTIO_MC_BED_VERBOSE=1). */
    verbose?: boolean;
}

const BED_DIR = __dirname;

function envSlot(): number | undefined {
    const text = process.env.ISTIO_MC_BED_SLOT;
    if (text === undefined || text === "") return undefined;
    const slot = Number(text);
    if (!Number.isInteger(slot) || slot < 0 || slot > 15) throw new Error(`ISTIO_MC_BED_SLOT must be a whole number 0..15; got "${text}"`);
    return slot;
}

/** KEY=VALUE pairs of versions.env (quotes removed). */
export function bedVersions(file = path.join(BED_DIR, "versions.env")): Record<string, string> {
    const out: Record<string, string> = {};
    for (const raw of fs.readFileSync(file, "utf8").split("\n")) {
        const line = raw.trim();
        if (!line || line.startsWith("#")) continue;
        const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
        if (!m) continue;
        out[m[1]] = m[2].replace(/^"(.*)"$/, "$1").replace(/^'(.*)'$/, "$1");
    }
    return out;
}

export function defaultCacheDir(): string {
    return process.env.ISTIO_MC_BED_CACHE || path.join(os.homedir(), ".cache", "istio-multicluster-bed");
}

/** Where build.sh put pilot-discovery and the charts (base/, istiod/, gateway/) of an Istio version. */
export function istioDir(version: string, cacheDir = defaultCacheDir()): { pilotDiscovery: string; charts: string } {
    const dir = path.join(cacheDir, `istio-${version}`);
    return { pilotDiscovery: path.join(dir, "bin", "pilot-discovery"), charts: path.join(dir, "charts") };
}

/**
 * True when this process runs in a network namespace other than the machine's (pid 1's of the host): the one
 * `test/e2e/run.sh` creates. Only there may the bed use addresses outside 127.0.0.0/8.
 */
export function inOwnNetworkNamespace(): boolean {
    const hostNs = process.env.E2E_HOST_NETNS;
    if (!hostNs) return false;
    try {
        return fs.statSync("/proc/self/ns/net").ino !== fs.statSync(hostNs).ino;
    } catch {
        return false;
    }
}

/** An address the bed's clients may dial: 127.0.0.0/8 anywhere; 10.0.0.0/8 only inside the run's own namespace. */
export function isBedAddress(host: string): boolean {
    if (host === "localhost" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return true;
    return /^10\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) && inOwnNetworkNamespace();
}

/** Environment for child processes: no proxies, the bed's addresses never proxied. */
export function bedChildEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"]) delete env[k];
    env.NO_PROXY = env.no_proxy = "127.0.0.0/8,10.0.0.0/8,localhost";
    return { ...env, ...extra };
}

// ------------------------------------------------------------------------------------------------ API client

export interface KubeResponse<T = any> {
    status: number;
    body: T;
    text: string;
}

/** TLS material and bearer token for one API server request. */
export interface KubeAuth {
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
    token?: string;
}

/** One JSON request to a Kubernetes API server (the bed's clients all go through here). */
export function kubeHttps<T = any>(
    url: URL,
    method: string,
    body: unknown,
    auth: KubeAuth,
    opts: { contentType?: string; timeoutMs?: number } = {},
): Promise<KubeResponse<T>> {
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
        const req = https.request(
            url,
            {
                method,
                ca: auth.ca,
                // A bearer token is the identity when given; the client certificate otherwise.
                ...(auth.token ? {} : { cert: auth.cert, key: auth.key }),
                headers: {
                    Accept: "application/json",
                    ...(auth.token ? { Authorization: `Bearer ${auth.token}` } : {}),
                    ...(payload !== undefined
                        ? { "Content-Type": opts.contentType ?? "application/json", "Content-Length": Buffer.byteLength(payload) }
                        : {}),
                },
                timeout: opts.timeoutMs ?? 30000,
                agent: false,
            },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () => {
                    const text = Buffer.concat(chunks).toString("utf8");
                    let parsed: any = text;
                    try {
                        parsed = text ? JSON.parse(text) : undefined;
                    } catch {
                        /* not JSON */
                    }
                    resolve({ status: res.statusCode ?? 0, body: parsed, text });
                });
            },
        );
        req.on("timeout", () => req.destroy(new Error(`${method} ${url} timed out`)));
        req.on("error", reject);
        if (payload !== undefined) req.write(payload);
        req.end();
    });
}

/** A request to a bed cluster's API server as cluster-admin (JSON in and out). */
export function kubeRequest<T = any>(
    cluster: Pick<BedCluster, "apiServerUrl" | "caCertPath" | "clientCertPath" | "clientKeyPath">,
    method: string,
    urlPath: string,
    body?: unknown,
    opts: { contentType?: string; timeoutMs?: number; token?: string } = {},
): Promise<KubeResponse<T>> {
    const auth: KubeAuth = opts.token
        ? { ca: fs.readFileSync(cluster.caCertPath), token: opts.token }
        : { ca: fs.readFileSync(cluster.caCertPath), cert: fs.readFileSync(cluster.clientCertPath), key: fs.readFileSync(cluster.clientKeyPath) };
    return kubeHttps<T>(new URL(urlPath, cluster.apiServerUrl), method, body, auth, opts);
}

/** kubeRequest that throws unless the status is 2xx. */
export async function kube<T = any>(
    cluster: BedCluster,
    method: string,
    urlPath: string,
    body?: unknown,
    opts: { contentType?: string } = {},
): Promise<T> {
    const r = await kubeRequest<T>(cluster, method, urlPath, body, opts);
    if (r.status < 200 || r.status >= 300) {
        throw new Error(`${cluster.name}: ${method} ${urlPath} -> ${r.status}: ${r.text.slice(0, 500)}`);
    }
    return r.body;
}

/** Polls `check` every `intervalMs` until it returns a truthy value; throws `what` after timeoutMs. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 90000, intervalMs = 250): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
        try {
            const v = await check();
            if (v) return v;
        } catch (e) {
            last = e;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
        }
        await sleep(intervalMs);
    }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------------ helpers

function openssl(args: string[], cwd: string): void {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
}

function makePki(dir: string, apiIp: string, kubernetesServiceIp: string, name: string, alternateApiIp: string): void {
    fs.mkdirSync(dir, { recursive: true });
    const ext = (file: string, lines: string[]) => fs.writeFileSync(path.join(dir, file), lines.join("\n") + "\n");
    openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
        "-subj", `/CN=bed-${name}-ca`, "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"], dir);
    ext("server.ext", [
        "basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment", "extendedKeyUsage=serverAuth",
        `subjectAltName=IP:${apiIp},IP:${alternateApiIp},IP:${kubernetesServiceIp},DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local`,
    ]);
    ext("client.ext", ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment", "extendedKeyUsage=clientAuth"]);
    const sign = (base: string, subj: string, extFile: string) => {
        openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", subj], dir);
        openssl(["x509", "-req", "-in", `${base}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", `${base}.crt`, "-days", "3650", "-extfile", extFile], dir);
    };
    sign("apiserver", "/CN=kube-apiserver", "server.ext");
    sign("admin", "/O=system:masters/CN=bed-admin", "client.ext");
    openssl(["genrsa", "-out", "sa.key", "2048"], dir);
    openssl(["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
}

function kubeconfigYaml(name: string, server: string, ca: string, cert: string, key: string): string {
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    return [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        `- name: ${name}`,
        "  cluster:",
        `    server: ${server}`,
        `    certificate-authority-data: ${b64(ca)}`,
        "users:",
        `- name: ${name}-admin`,
        "  user:",
        `    client-certificate-data: ${b64(cert)}`,
        `    client-key-data: ${b64(key)}`,
        "contexts:",
        `- name: ${name}`,
        "  context:",
        `    cluster: ${name}`,
        `    user: ${name}-admin`,
        `current-context: ${name}`,
        "",
    ].join("\n");
}

/** True when nothing listens on ip:port (we can bind it). */
function portFree(ip: string, port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const s = net.createServer();
        s.once("error", () => resolve(false));
        s.listen({ host: ip, port, exclusive: true }, () => s.close(() => resolve(true)));
    });
}

function tail(file: string, lines = 30): string {
    try {
        const all = fs.readFileSync(file, "utf8").split("\n");
        return all.slice(-lines).join("\n");
    } catch {
        return "(no log)";
    }
}

function which(cmd: string): string | undefined {
    for (const d of (process.env.PATH ?? "").split(":")) {
        const p = path.join(d, cmd);
        try {
            fs.accessSync(p, fs.constants.X_OK);
            return p;
        } catch {
            /* next */
        }
    }
    return undefined;
}

/**
 * kwok's "fast" pod-ready stage, split in two: every pod but istiod's goes Running and Ready at once, as before;
 * istiod's pods (label app=istiod, any revision) go Running but not Ready, and the istiod operator (lib/istiod.ts,
 * gatePodReadiness) makes them Ready once the real pilot-discovery serves, as its readiness probe would. With kwok
 * marking them Ready at once, the operator's correction came a moment later, and a Helm install waiting for istiod
 * could return in between: the next Istio object then met the validation webhook before istiod listened
 * ("connection refused"; seen on the bed in the faults suite under load).
 */
export function istiodPodStages(podReady: string): string {
    const text = podReady.trim();
    const selector = "  selector:\n    matchExpressions:\n";
    if (!text.includes(selector) || !text.includes("name: pod-ready\n")) throw new Error("bed: kwok's pod-ready stage changed shape");
    const app = (op: "In" | "NotIn") => `${selector}    - key: '.metadata.labels.app'\n      operator: '${op}'\n      values:\n      - 'istiod'\n`;
    const others = text.replace(selector, app("NotIn"));
    let istiod = text.replace("name: pod-ready\n", "name: bed-istiod-pod-running\n").replace(selector, app("In"));
    for (const type of ["Ready", "ContainersReady"]) istiod = istiod.replace(`status: "True"\n        type: ${type}\n`, `status: "False"\n        type: ${type}\n`);
    // The containers run but are not ready; the init containers keep kwok's own status.
    istiod = istiod.replace(/(containerStatuses:\n\s*\{\{ range \.spec\.containers \}\}[\s\S]*?)ready: true/, "$1ready: false");
    if (!istiod.includes('status: "False"\n        type: Ready') || istiod === text) throw new Error("bed: could not make the istiod pod stage from kwok's pod-ready");
    return `${others}\n---\n${istiod}`;
}

/**
 * What a kubelet does after its node was out of touch: it reports its running pods Ready again. When a cluster's API
 * server is stopped for a while (the faults suite), kwok's node leases go stale, the node lifecycle controller marks
 * the nodes NotReady and their pods not Ready, and kwok's own stages never make a Running pod Ready again: the
 * samples' Services then had no ready endpoint and the next `up` waited the provider's 10 minutes on them (seen in
 * CI). istiod's pods are left to the istiod operator, which gates their readiness on the real pilot-discovery.
 */
const POD_READY_AGAIN_STAGE = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: bed-pod-ready-again
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values:
      - 'True'
    - key: '.metadata.labels.app'
      operator: 'NotIn'
      values:
      - 'istiod'
  next:
    statusTemplate: |
      {{ $now := Now }}

      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: PodScheduled
      {{ range .spec.readinessGates }}
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: {{ .conditionType | Quote }}
      {{ end }}

      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
`;

const LB_STAGE = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: bed-service-loadbalancer
spec:
  resourceRef:
    apiGroup: v1
    kind: Service
  selector:
    matchExpressions:
    - key: '.spec.type'
      operator: 'In'
      values:
      - 'LoadBalancer'
    - key: '.status.loadBalancer.ingress'
      operator: 'DoesNotExist'
  next:
    statusTemplate: |
      {{ $ip := splitList "." .spec.clusterIP }}
      loadBalancer:
        ingress:
        - ip: {{ printf "10.3.%s.%s" (index $ip 2) (index $ip 3) | Quote }}
          ipMode: VIP
`;

// ------------------------------------------------------------------------------------------------ startBed

/** Processes of every bed started by this process, killed synchronously on exit. */
const live = new Set<ChildProcess>();
let exitHooksInstalled = false;

function killGroupSync(child: ChildProcess, signal: NodeJS.Signals): void {
    if (child.pid === undefined) return;
    try {
        process.kill(-child.pid, signal);
    } catch {
        try {
            process.kill(child.pid, signal);
        } catch {
            /* gone */
        }
    }
}

function installExitHooks(): void {
    if (exitHooksInstalled) return;
    exitHooksInstalled = true;
    process.on("exit", () => {
        for (const c of live) killGroupSync(c, "SIGKILL");
    });
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
        process.once(sig, () => {
            for (const c of live) killGroupSync(c, "SIGKILL");
            process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGTERM" ? 15 : 1));
        });
    }
}

function killStale(workDir: string): void {
    const f = path.join(workDir, "pids.json");
    if (!fs.existsSync(f)) return;
    try {
        const pids: BedProcess[] = JSON.parse(fs.readFileSync(f, "utf8"));
        for (const p of pids) {
            // Only if it still is the same program (its command line names the bed's workDir).
            try {
                const cmd = fs.readFileSync(`/proc/${p.pid}/cmdline`, "utf8");
                if (!cmd.includes(workDir)) continue;
                process.kill(-p.pid, "SIGKILL");
            } catch {
                /* gone */
            }
        }
    } catch {
        /* unreadable */
    }
    fs.rmSync(f, { force: true });
}

export async function startBed(opts: StartBedOptions): Promise<Bed> {
    const t0 = Date.now();
    const names = opts.names;
    if (names.length < 1 || names.length > 15) throw new Error("startBed: 1..15 clusters");
    if (new Set(names).size !== names.length) throw new Error("startBed: cluster names must be unique");
    const verbose = opts.verbose ?? process.env.ISTIO_MC_BED_VERBOSE === "1";
    const log = (m: string) => {
        if (verbose) process.stderr.write(`[bed +${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}\n`);
    };
    const timeoutMs = opts.timeoutMs ?? 90000;
    const cacheDir = path.resolve(opts.cacheDir ?? defaultCacheDir());
    const binDir = path.join(cacheDir, "bin");
    const versions = bedVersions();
    const stagesDir = path.join(cacheDir, `kwok-${versions.KWOK_VERSION}`, "stages");
    for (const b of ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]) {
        if (!fs.existsSync(path.join(binDir, b))) {
            throw new Error(`startBed: ${path.join(binDir, b)} is missing: run \`npm run bed:build\` (test/e2e/bed/build.sh) first`);
        }
    }
    if (!inOwnNetworkNamespace()) {
        throw new Error("startBed: not inside the run's own network namespace. Run the suites with `npm run test:e2e` " +
            "(test/e2e/run.sh), or a bed by hand with `bash test/e2e/run.sh node test/e2e/bed/cli.js start`.");
    }
    const workDir = path.resolve(opts.workDir);
    fs.mkdirSync(workDir, { recursive: true });
    killStale(workDir);
    const logsDir = path.join(workDir, "logs");
    fs.mkdirSync(logsDir, { recursive: true });

    // Slot: the one asked for, else the first whose API server and etcd addresses are free.
    let slot = opts.slot ?? envSlot();
    if (slot === undefined) {
        for (let s = 0; s < 16 && slot === undefined; s++) {
            if (16 * s + names.length > 255) break;
            const checks = [portFree(`127.5.${s}.1`, 2379)];
            for (let i = 1; i <= names.length; i++) checks.push(portFree(`127.0.${16 * s + i}.1`, 6443));
            if ((await Promise.all(checks)).every(Boolean)) slot = s;
        }
        if (slot === undefined) throw new Error("startBed: no free slot (127.0.<16s+i>.1:6443 all taken)");
    }
    log(`slot ${slot}, workDir ${workDir}`);

    const pdeath = which("setpriv");
    const procs: { name: string; child: ChildProcess; logPath: string; exited?: string }[] = [];
    installExitHooks();
    const writePids = () =>
        fs.writeFileSync(path.join(workDir, "pids.json"),
            JSON.stringify(procs.map((p) => ({ name: p.name, pid: p.child.pid, logPath: p.logPath })), null, 1));

    const startProc = (name: string, bin: string, args: string[]) => {
        const logPath = path.join(logsDir, `${name}.log`);
        const fd = fs.openSync(logPath, "a");
        const cmd = pdeath ? pdeath : path.join(binDir, bin);
        const argv = pdeath ? ["--pdeathsig", "KILL", "--", path.join(binDir, bin), ...args] : args;
        fs.writeSync(fd, `# ${path.join(binDir, bin)} ${args.join(" ")}\n`);
        const child = spawn(cmd, argv, { cwd: workDir, env: bedChildEnv(), detached: true, stdio: ["ignore", fd, fd] });
        fs.closeSync(fd);
        const entry: { name: string; child: ChildProcess; logPath: string; exited?: string } = { name, child, logPath };
        child.on("exit", (code, sig) => {
            entry.exited = `exited (${sig ?? code})`;
            live.delete(child);
        });
        child.on("error", (e) => (entry.exited = `failed to start: ${e.message}`));
        live.add(child);
        procs.push(entry);
        writePids();
        return entry;
    };
    const assertRunning = () => {
        for (const p of procs) {
            if (p.exited) throw new Error(`bed: ${p.name} ${p.exited}; last lines of ${p.logPath}:\n${tail(p.logPath)}`);
        }
    };
    // Like waitFor, but a process of the bed that exits fails the wait at once (naming it, with its log's tail).
    const waitAlive = async <T>(what: string, check: () => Promise<T | undefined | false>) => {
        let dead: Error | undefined;
        try {
            return await waitFor(what, async () => {
                try {
                    assertRunning();
                } catch (e) {
                    dead = e as Error;
                    return true as unknown as T;
                }
                return check();
            }, timeoutMs);
        } finally {
            if (dead) throw dead;
        }
    };

    /** Each cluster's kube-apiserver flags, so that startApiServer starts it again as it was. */
    const apiServerArgs: Record<string, string[]> = {};
    const clusterByName: Record<string, BedCluster> = {};
    const apiServerEntry = (name: string) => {
        if (!(name in apiServerArgs)) throw new Error(`bed: no cluster ${name}`);
        return procs.find((p) => p.name === `${name}-kube-apiserver`)!;
    };
    const isRunning = (p: { child: ChildProcess; exited?: string }) => !p.exited && p.child.exitCode === null && p.child.signalCode === null;
    const stopApiServer = async (name: string) => {
        const entry = apiServerEntry(name);
        if (!isRunning(entry)) return;
        const t = Date.now();
        killGroupSync(entry.child, "SIGTERM");
        while (isRunning(entry) && Date.now() - t < 10000) await sleep(100);
        if (isRunning(entry)) killGroupSync(entry.child, "SIGKILL");
        while (isRunning(entry)) await sleep(100);
        live.delete(entry.child);
        log(`${name} kube-apiserver stopped`);
    };
    const startApiServer = async (name: string) => {
        const old = apiServerEntry(name);
        if (isRunning(old)) throw new Error(`bed: ${name}'s kube-apiserver is running (pid ${old.child.pid})`);
        procs.splice(procs.indexOf(old), 1);
        const entry = startProc(`${name}-kube-apiserver`, "kube-apiserver", apiServerArgs[name]);
        const c = clusterByName[name];
        await waitFor(`${name} kube-apiserver /readyz after a restart`, async () => {
            if (entry.exited) throw new Error(`${name} kube-apiserver ${entry.exited}; last lines of ${entry.logPath}:\n${tail(entry.logPath)}`);
            return (await kubeRequest(c, "GET", "/readyz", undefined, { timeoutMs: 5000 })).status === 200;
        }, timeoutMs);
        log(`${name} kube-apiserver started again (pid ${entry.child.pid})`);
    };

    let stopped = false;
    const stop = async () => {
        if (stopped) return;
        stopped = true;
        const t = Date.now();
        const running = () => procs.filter((p) => !p.exited && p.child.exitCode === null && p.child.signalCode === null);
        // Controllers first, etcd last.
        for (const p of [...procs].reverse()) if (!p.exited) killGroupSync(p.child, "SIGTERM");
        while (running().length && Date.now() - t < 10000) await sleep(100);
        for (const p of running()) killGroupSync(p.child, "SIGKILL");
        while (running().length && Date.now() - t < 15000) await sleep(100);
        for (const p of procs) live.delete(p.child);
        fs.rmSync(path.join(workDir, "pids.json"), { force: true });
        log(`stopped in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    };

    try {
        // ---- etcd
        const etcdIp = `127.5.${slot}.1`;
        const etcdUrl = `http://${etcdIp}:2379`;
        const etcdData = path.join(workDir, "etcd");
        fs.rmSync(etcdData, { recursive: true, force: true });
        startProc("etcd", "etcd", [
            "--name", "bed", "--data-dir", etcdData,
            "--listen-client-urls", etcdUrl, "--advertise-client-urls", etcdUrl,
            "--listen-peer-urls", `http://${etcdIp}:2380`, "--initial-advertise-peer-urls", `http://${etcdIp}:2380`,
            "--initial-cluster", `bed=http://${etcdIp}:2380`, "--initial-cluster-state", "new",
            "--unsafe-no-fsync", "--quota-backend-bytes", String(4 * 1024 ** 3), "--log-level", "warn",
        ]);

        // ---- per cluster: PKI, kubeconfig, kwok config
        const clusters: BedCluster[] = names.map((name, k) => {
            const index = k + 1;
            const g = 16 * slot! + index;
            const dir = path.join(workDir, name);
            fs.rmSync(dir, { recursive: true, force: true });
            const apiIp = `127.0.${g}.1`;
            const alternateApiIp = `127.0.${g}.2`;
            const kubernetesServiceIp = `10.1.${g}.1`;
            makePki(path.join(dir, "pki"), apiIp, kubernetesServiceIp, name, alternateApiIp);
            const pki = (f: string) => path.join(dir, "pki", f);
            const caCert = fs.readFileSync(pki("ca.crt"), "utf8");
            const apiServerUrl = `https://${apiIp}:6443`;
            const kubeconfig = kubeconfigYaml(name, apiServerUrl, caCert, fs.readFileSync(pki("admin.crt"), "utf8"),
                fs.readFileSync(pki("admin.key"), "utf8"));
            const kubeconfigPath = path.join(dir, "kubeconfig");
            fs.writeFileSync(kubeconfigPath, kubeconfig, { mode: 0o600 });
            return {
                name, index, octet: g, kubeconfigPath, kubeconfig, apiServerUrl, apiServerAddress: apiIp, apiServerPort: 6443,
                apiServerAlternateAddress: alternateApiIp,
                serviceCidr: `10.1.${g}.0/24`, kubernetesServiceIp, podCidr: `10.2.${g}.0/24`,
                loadBalancerCidr: `10.3.${g}.0/24`,
                nodeNames: [`${name}-node-1`, `${name}-node-2`], nodeIps: [`10.4.${g}.1`, `10.4.${g}.2`],
                caCert, caCertPath: pki("ca.crt"), caKeyPath: pki("ca.key"),
                clientCertPath: pki("admin.crt"), clientKeyPath: pki("admin.key"),
                serviceAccountKeyPath: pki("sa.key"), serviceAccountPublicKeyPath: pki("sa.pub"),
                serviceAccountIssuer: "https://kubernetes.default.svc.cluster.local", dir,
            };
        });
        log("PKI written");

        await waitAlive("etcd", async () => {
            const r = await fetch(`${etcdUrl}/health`).catch(() => undefined);
            return r?.ok;
        });
        log("etcd ready");

        for (const c of clusters) {
            clusterByName[c.name] = c;
            apiServerArgs[c.name] = [
                `--etcd-servers=${etcdUrl}`, `--etcd-prefix=/bed/${c.name}`,
                `--bind-address=${c.apiServerAddress}`, `--advertise-address=${c.apiServerAddress}`, "--secure-port=6443",
                `--service-cluster-ip-range=${c.serviceCidr}`, "--endpoint-reconciler-type=none",
                `--tls-cert-file=${path.join(c.dir, "pki", "apiserver.crt")}`,
                `--tls-private-key-file=${path.join(c.dir, "pki", "apiserver.key")}`,
                `--client-ca-file=${c.caCertPath}`,
                `--service-account-key-file=${c.serviceAccountPublicKeyPath}`,
                `--service-account-signing-key-file=${c.serviceAccountKeyPath}`,
                `--service-account-issuer=${c.serviceAccountIssuer}`,
                "--authorization-mode=Node,RBAC", "--allow-privileged=true", "--profiling=false",
                "--enable-priority-and-fairness=false", "--v=1",
            ];
            startProc(`${c.name}-kube-apiserver`, "kube-apiserver", apiServerArgs[c.name]);
        }
        for (const c of clusters) {
            await waitAlive(`${c.name} kube-apiserver /readyz`, async () => (await kubeRequest(c, "GET", "/readyz", undefined, { timeoutMs: 5000 })).status === 200);
        }
        log("API servers ready");

        for (const c of clusters) {
            startProc(`${c.name}-kube-controller-manager`, "kube-controller-manager", [
                `--kubeconfig=${c.kubeconfigPath}`, `--authentication-kubeconfig=${c.kubeconfigPath}`,
                `--authorization-kubeconfig=${c.kubeconfigPath}`,
                `--bind-address=${c.apiServerAddress}`, "--secure-port=10257",
                `--service-account-private-key-file=${c.serviceAccountKeyPath}`, `--root-ca-file=${c.caCertPath}`,
                `--cluster-signing-cert-file=${c.caCertPath}`, `--cluster-signing-key-file=${c.caKeyPath}`,
                `--service-cluster-ip-range=${c.serviceCidr}`, "--leader-elect=false", "--controllers=*",
                "--profiling=false", "--v=1",
            ]);
            startProc(`${c.name}-kube-scheduler`, "kube-scheduler", [
                `--kubeconfig=${c.kubeconfigPath}`, `--authentication-kubeconfig=${c.kubeconfigPath}`,
                `--authorization-kubeconfig=${c.kubeconfigPath}`,
                `--bind-address=${c.apiServerAddress}`, "--secure-port=10259", "--leader-elect=false",
                "--profiling=false", "--v=1",
            ]);
            // kwok: its "fast" stages (node initialize + heartbeat with lease, pod ready/complete/delete) + our LB stage.
            const stageFiles = [
                "node/fast/node-initialize.yaml", "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
                "pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml",
            ].map((f) => path.join(stagesDir, f));
            for (const f of stageFiles) if (!fs.existsSync(f)) throw new Error(`bed: kwok stage ${f} missing: rerun build.sh`);
            const stages = stageFiles.map((f) => (f.endsWith("pod/fast/pod-ready.yaml") ? istiodPodStages(fs.readFileSync(f, "utf8")) : fs.readFileSync(f, "utf8").trim()));
            const kwokConfig = [
                "apiVersion: config.kwok.x-k8s.io/v1alpha1",
                "kind: KwokConfiguration",
                "options:",
                `  cidr: ${c.podCidr}`,
                `  nodeIP: ${c.nodeIps[0]}`,
                "  manageNodesWithAnnotationSelector: kwok.x-k8s.io/node=fake",
                "  nodeLeaseDurationSeconds: 40",
                // A config file's options are not defaulted like the flags: kwok 0.8 refuses 0 parallelism.
                "  nodeLeaseParallelism: 4",
                "  podPlayStageParallelism: 4",
                "  nodePlayStageParallelism: 4",
                "  podsOnNodeSyncParallelism: 1",
                "  enablePodsOnNodeSyncListPager: true",
                "  enablePodsOnNodeSyncStreamWatch: false",
                "  enableDebuggingHandlers: false",
                "  enableProfilingHandler: false",
                ...stages.map((text) => "---\n" + text),
                "---\n" + LB_STAGE.trim(),
                "---\n" + POD_READY_AGAIN_STAGE.trim(),
                "",
            ].join("\n");
            const kwokConfigPath = path.join(c.dir, "kwok.yaml");
            fs.writeFileSync(kwokConfigPath, kwokConfig);
            startProc(`${c.name}-kwok`, "kwok", [`--kubeconfig=${c.kubeconfigPath}`, `--config=${kwokConfigPath}`, "--v=INFO"]);
        }

        // Fake nodes, no taints; their InternalIP is set at create (Node status may be set on create).
        for (const c of clusters) {
            for (let n = 0; n < c.nodeNames.length; n++) {
                const node = {
                    apiVersion: "v1", kind: "Node",
                    metadata: {
                        name: c.nodeNames[n],
                        annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
                        labels: {
                            "kubernetes.io/hostname": c.nodeNames[n], "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                            "type": "kwok", "topology.kubernetes.io/region": `bed-${c.name}`,
                            "topology.kubernetes.io/zone": `bed-${c.name}-${n + 1}`,
                        },
                    },
                    spec: {},
                    status: {
                        addresses: [{ type: "InternalIP", address: c.nodeIps[n] }, { type: "Hostname", address: c.nodeNames[n] }],
                        allocatable: { cpu: "32", memory: "256Gi", pods: "110" },
                        capacity: { cpu: "32", memory: "256Gi", pods: "110" },
                    },
                };
                await kube(c, "POST", "/api/v1/nodes", node);
            }
        }
        for (const c of clusters) {
            await waitAlive(`${c.name}: nodes Ready`, async () => {
                const list = await kube(c, "GET", "/api/v1/nodes");
                // Ready, and the node lifecycle controller's not-ready taints gone.
                const ready = (list.items as any[]).filter((n) =>
                    (n.status?.conditions ?? []).some((x: any) => x.type === "Ready" && x.status === "True") &&
                    (n.spec?.taints ?? []).length === 0);
                return ready.length === c.nodeNames.length;
            });
            await waitAlive(`${c.name}: default ServiceAccount`, async () =>
                (await kubeRequest(c, "GET", "/api/v1/namespaces/default/serviceaccounts/default")).status === 200);
        }
        log("nodes Ready");

        const startSeconds = (Date.now() - t0) / 1000;
        log(`bed up in ${startSeconds.toFixed(1)} s`);
        return {
            clusters, workDir, logsDir, slot, etcdUrl, binDir, cacheDir, startSeconds, stop, stopApiServer, startApiServer,
            processes: () => procs.map((p) => ({ name: p.name, pid: p.child.pid ?? -1, logPath: p.logPath })),
        };
    } catch (e) {
        await stop();
        throw e;
    }
}
