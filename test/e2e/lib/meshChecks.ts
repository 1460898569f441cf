/**
 * What the two end-to-end suites share: helpers (log, timings, Helm release read-back, clusterz) and the bodies of
 * the checks both make against the bed's API servers and the real istiod. Each check takes what it needs (the
 * Kube clients, the istiod operators, cluster names, networks, the mesh root) and makes jest expectations; the
 * suites keep their test names, timeouts and the assertions that are their own around these calls.
 */
import { execFileSync } from "child_process";
import { X509Certificate, createPrivateKey } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { gunzipSync } from "zlib";
import { parse as parseYaml } from "yaml";
import { Bed, BedCluster, chartsDir, pilotDiscovery } from "./bed";
import { ISTIO_NS, IstiodOperator } from "./istiod";
import { Kube, KubeError, b64, eventually, isBedAddress } from "./kube";

const MIN = 60_000;

// ---- helpers -------------------------------------------------------------------------------------------

/** A log line on stderr: `[<prefix> hh:mm:ss] msg`. */
export const makeLog = (prefix: string) => (msg: string) => process.stderr.write(`[${prefix} ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** `timed(what, fn)`: runs fn, records its seconds in `timings[what]` and logs them. */
export function makeTimed(timings: Record<string, number>, log: (msg: string) => void) {
    return async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
        const t0 = Date.now();
        try {
            return await fn();
        } finally {
            timings[what] = Math.round((Date.now() - t0) / 100) / 10;
            log(`${what}: ${timings[what]} s`);
        }
    };
}

export const normPem = (s: string) => s.replace(/\r/g, "").trim();

/** The names in `names` other than `name`. */
export const othersOf = (names: string[], name: string) => names.filter((n) => n !== name);

export interface ReleaseInfo {
    revision: number;
    status: string;
    chartVersion: string;
}

export interface ReleaseRecord extends ReleaseInfo {
    name: string;
    namespace: string;
    /** The objects Helm applied for this revision (YAML documents). */
    manifest: string;
}

/** Every Helm release Secret (owner=helm) of a namespace (default istio-system, "" for all), every revision, decoded. */
export async function helmReleaseRecords(k: Kube, namespace = ISTIO_NS): Promise<ReleaseRecord[]> {
    const secrets = await k.list(namespace ? `/api/v1/namespaces/${namespace}/secrets` : "/api/v1/secrets", "labelSelector=owner%3Dhelm");
    return secrets.map((s) => {
        const release = JSON.parse(gunzipSync(Buffer.from(Buffer.from(s.data.release, "base64").toString("utf8"), "base64")).toString("utf8"));
        return {
            name: s.metadata.labels.name,
            namespace: s.metadata.namespace,
            revision: Number(s.metadata.labels.version),
            status: s.metadata.labels.status,
            chartVersion: release.chart.metadata.version,
            manifest: release.manifest ?? "",
        };
    });
}

/** Helm release Secrets (owner=helm) of istio-system, latest revision per release, decoded. */
export async function helmReleases(k: Kube): Promise<Record<string, ReleaseInfo>> {
    const out: Record<string, ReleaseInfo> = {};
    for (const r of await helmReleaseRecords(k)) {
        if (out[r.name] && out[r.name].revision > r.revision) continue;
        out[r.name] = { revision: r.revision, status: r.status, chartVersion: r.chartVersion };
    }
    return out;
}

/** istiod's /debug/clusterz when it lists every one of `others` as synced, else false (for `eventually`). */
export async function clusterzSynced(istiod: IstiodOperator, others: string[]): Promise<any[] | false> {
    const list = (await istiod.debug("/debug/clusterz")) as { id: string; syncStatus: string }[];
    return others.every((o) => list.some((c) => c.id === o && c.syncStatus === "synced")) ? list : false;
}

/**
 * The stack config both suites start from: existing clusters (name, network, kubeconfig), mesh1, the Istio version
 * and its chart directory, no default kubernetes provider. Each suite adds its samples (and the CA settings).
 */
export function clustersConfig(o: { istioVersion: string; chartSource: string; clusters: { name: string; network: string; kubeconfigPath: string }[] }): Record<string, unknown> {
    const p = (k: string) => `istio-multicluster:${k}`;
    return {
        "pulumi:disable-default-providers": ["kubernetes"],
        [p("platform")]: "existing",
        [p("meshId")]: "mesh1",
        [p("istioVersion")]: o.istioVersion,
        [p("istioChartSource")]: o.chartSource,
        // Clusters the program did not make get no cloud's internal load balancer; the bed's LB Stage serves either.
        [p("eastWestLoadBalancer")]: "public",
        [p("clusters")]: o.clusters.map((c) => ({ name: c.name, network: c.network, kubeconfigPath: c.kubeconfigPath })),
    };
}

// ---- the bed and the real istiods ------------------------------------------------------------------------

/** Throws unless the bed cache holds pilot-discovery and the istiod chart of every version (and `extra` files). */
export function requireBedFiles(versions: string[], extra: string[] = []): void {
    for (const v of versions) {
        for (const p of [pilotDiscovery(v), path.join(chartsDir(v), "istiod", "Chart.yaml"), ...extra]) {
            if (!fs.existsSync(p)) throw new Error(`the bed lacks ${p}: run test/e2e/bed/build.sh`);
        }
    }
}

/** The bed's clusters in the order of `names`, each with an API server at an address of the bed. */
export function bedClusters(bed: Bed, names: string[]): BedCluster[] {
    return names.map((n) => {
        const c = bed.clusters.find((x) => x.name === n);
        if (!c) throw new Error(`bed has no cluster ${n}`);
        if (!isBedAddress(new URL(c.apiServerUrl).hostname)) throw new Error(`${n}: API server ${c.apiServerUrl} is not an address of the bed`);
        return c;
    });
}

/** For every cluster, an admin Kube client in `kube` and a started real istiod in `istiod` (work dir under `root`). */
export function startIstiods(
    clusters: BedCluster[],
    o: { root: string; log: (msg: string) => void; gatePodReadiness: boolean; keepRunningWithoutCacerts?: boolean },
    kube: Record<string, Kube>,
    istiod: Record<string, IstiodOperator>,
): void {
    for (const c of clusters) {
        kube[c.name] = Kube.fromKubeconfig(fs.readFileSync(c.kubeconfigPath, "utf8"), c.name);
        istiod[c.name] = new IstiodOperator({
            clusterName: c.name,
            kube: kube[c.name],
            kubeconfigPath: c.kubeconfigPath,
            workDir: path.join(o.root, "istiod", c.name),
            binaryFor: pilotDiscovery,
            log: o.log,
            gatePodReadiness: o.gatePodReadiness,
            keepRunningWithoutCacerts: o.keepRunningWithoutCacerts,
        });
        istiod[c.name].start();
    }
}

/** Stops every istiod, then the bed; failures are logged, not thrown. */
export async function stopIstiodsAndBed(istiod: Record<string, IstiodOperator>, bed: Bed | undefined, log: (msg: string) => void): Promise<void> {
    await Promise.all(Object.values(istiod).map((o) => o.stop().catch((e) => log(`istiod stop: ${e}`))));
    if (bed) await Promise.resolve(bed.stop()).catch((e) => log(`bed stop: ${e}`));
}

/** Each istiod's starts (version, ClusterIP), for the timings summary. */
export const istiodStarts = (istiod: Record<string, IstiodOperator>) => Object.fromEntries(Object.entries(istiod).map(([n, o]) => [n, o.starts.map((s) => ({ version: s.version, clusterIP: s.clusterIP }))]));

// ---- read-backs from the API servers -------------------------------------------------------------------

export async function expectDeploymentAvailable(k: Kube, name: string): Promise<void> {
    const dep = await k.get(`/apis/apps/v1/namespaces/${ISTIO_NS}/deployments/${name}`);
    expect(dep.status.conditions.find((c: any) => c.type === "Available")?.status).toBe("True");
}

/** cacerts of cluster `n` holds the mesh CA's files: the root, an intermediate of `n` signed by it, its key, the chain. */
export async function expectCacertsOfMeshCa(k: Kube, n: string, meshRoot: string): Promise<Record<string, string>> {
    const root = normPem(meshRoot);
    const s = await k.get(`/api/v1/namespaces/${ISTIO_NS}/secrets/cacerts`);
    const files = Object.fromEntries(Object.entries<string>(s.data).map(([key, v]) => [key, b64(v)]));
    expect(Object.keys(files).sort()).toEqual(["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]);
    expect(normPem(files["root-cert.pem"])).toBe(root);
    const rootCert = new X509Certificate(root);
    const ca = new X509Certificate(files["ca-cert.pem"]);
    expect(ca.verify(rootCert.publicKey)).toBe(true);
    expect(ca.ca).toBe(true);
    expect(ca.subject).toContain(`L=${n}`);
    expect(ca.checkPrivateKey(createPrivateKey(files["ca-key.pem"]))).toBe(true);
    expect(normPem(files["cert-chain.pem"])).toBe(normPem(`${normPem(files["ca-cert.pem"])}\n${root}`));
    return files;
}

/** Cluster `n` holds a remote secret, in Istio's format, for every one of `others` (a kubeconfig with a token). */
export async function expectRemoteSecrets(k: Kube, others: string[], serverOf: (name: string) => string, o: { tokenPresent?: boolean } = {}): Promise<void> {
    for (const src of others) {
        const s = await k.get(`/api/v1/namespaces/${ISTIO_NS}/secrets/istio-remote-secret-${src}`);
        expect(s.metadata.labels["istio/multiCluster"]).toBe("true");
        expect(s.metadata.annotations["networking.istio.io/cluster"]).toBe(src);
        const kc = parseYaml(b64(s.data[src]));
        expect(kc.clusters[0].cluster.server).toBe(serverOf(src));
        if (o.tokenPresent) expect(kc.users[0].user.token).toBeTruthy();
        expect(Object.keys(kc.users[0].user)).toEqual(["token"]);
    }
}

/** The east-west gateway's Service is labelled with `network` and has an address of its cluster's LB range: returns it. */
export async function expectEastWestService(k: Kube, network: string, loadBalancerCidr: string): Promise<string> {
    const svc = await k.get(`/api/v1/namespaces/${ISTIO_NS}/services/istio-eastwestgateway`);
    expect(svc.metadata.labels["topology.istio.io/network"]).toBe(network);
    const ip: string = svc.status?.loadBalancer?.ingress?.[0]?.ip;
    expect(ip).toMatch(new RegExp(`^${loadBalancerCidr.replace(/\.0\/24$/, "").replace(/\./g, "\\.")}\\.\\d+$`));
    return ip;
}

/** The east-west gateway's Deployment is Available and has pods: returns them. */
export async function expectEastWestPods(k: Kube): Promise<any[]> {
    await expectDeploymentAvailable(k, "istio-eastwestgateway");
    const pods = await k.list(`/api/v1/namespaces/${ISTIO_NS}/pods`, "labelSelector=istio%3Deastwestgateway");
    expect(pods.length).toBeGreaterThan(0);
    return pods;
}

/** The cross-network Gateway passes TLS through (AUTO_PASSTHROUGH): returns it. */
export async function expectCrossNetworkGateway(k: Kube): Promise<any> {
    const gw = await k.get(`/apis/networking.istio.io/v1/namespaces/${ISTIO_NS}/gateways/cross-network-gateway`);
    expect(gw.spec.servers[0].tls.mode).toBe("AUTO_PASSTHROUGH");
    return gw;
}

export interface ReaderTokenCheck {
    /** Verbs the reader must be allowed on what istiod reads. */
    readVerbs: string[];
    /** Also create a Service as the reader and expect a 403. */
    writeRefused?: boolean;
}

/**
 * The reader token of `src`, as every other cluster's remote secret holds it, authenticates on `src` as
 * istio-reader-service-account (TokenReview), may `readVerbs` but not create/delete what istiod reads
 * (SelfSubjectAccessReview), and lists Services.
 */
export async function expectReaderToken(kube: Record<string, Kube>, src: { name: string; apiServerUrl: string; kubeconfig: string }, others: string[], o: ReaderTokenCheck): Promise<void> {
    for (const target of others) {
        const s = await kube[target].get(`/api/v1/namespaces/${ISTIO_NS}/secrets/istio-remote-secret-${src.name}`);
        const token: string = parseYaml(b64(s.data[src.name])).users[0].user.token;
        const review = await kube[src.name].create("/apis/authentication.k8s.io/v1/tokenreviews", { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } });
        expect(review.status.authenticated).toBe(true);
        expect(review.status.user.username).toBe("system:serviceaccount:istio-system:istio-reader-service-account");
        const asReader = new Kube({ server: src.apiServerUrl, ca: Kube.fromKubeconfig(src.kubeconfig).creds.ca, token }, `${src.name} as reader`);
        const can = async (verb: string, resource: string, group = "") =>
            (
                await asReader.create("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
                    apiVersion: "authorization.k8s.io/v1",
                    kind: "SelfSubjectAccessReview",
                    spec: { resourceAttributes: { verb, resource, group } },
                })
            ).status.allowed;
        for (const [resource, group] of [["services", ""], ["endpointslices", "discovery.k8s.io"], ["pods", ""], ["nodes", ""]]) {
            for (const verb of o.readVerbs) expect([resource, verb, await can(verb, resource, group)]).toEqual([resource, verb, true]);
            for (const verb of ["create", "delete"]) expect([resource, verb, await can(verb, resource, group)]).toEqual([resource, verb, false]);
        }
        expect((await asReader.list("/api/v1/services")).length).toBeGreaterThan(0);
        if (o.writeRefused) {
            const denied = await asReader.create("/api/v1/namespaces/sample/services", { apiVersion: "v1", kind: "Service", metadata: { name: "e2e-denied" }, spec: { ports: [{ port: 1 }] } }, true).then(() => undefined, (e) => e);
            expect(denied).toBeInstanceOf(KubeError);
            expect((denied as KubeError).status).toBe(403);
        }
    }
}

/** The `sample` namespace is labelled for injection and has the helloworld Service. */
export async function expectSampleNamespace(k: Kube): Promise<void> {
    const ns = await k.get("/api/v1/namespaces/sample");
    expect(ns.metadata.labels["istio-injection"]).toBe("enabled");
    expect(await k.get("/api/v1/namespaces/sample/services/helloworld")).toBeDefined();
}

/** Every istio-system release is deployed at `version`, past its first revision. */
export async function expectReleasesUpgraded(k: Kube, version: string): Promise<void> {
    const releases = await helmReleases(k);
    for (const [name, r] of Object.entries(releases)) {
        expect([name, r.status, r.chartVersion]).toEqual([name, "deployed", version]);
        expect(r.revision).toBeGreaterThan(1);
    }
}

// ---- the real istiod -----------------------------------------------------------------------------------

/** istiod of `n` runs `version`, writes the mesh root into istio-ca-root-cert and never logged a self-signed CA. */
export async function expectServesMeshRoot(k: Kube, istiod: IstiodOperator, n: string, version: string, meshRoot: string, timeoutMs: number): Promise<void> {
    expect(istiod.running?.version).toBe(version);
    // istiod writes its root into istio-ca-root-cert in every namespace it serves.
    for (const ns of [ISTIO_NS, "sample"]) {
        const cm: any = await eventually<any>(`istio-ca-root-cert in ${n}/${ns}`, () => k.getOrUndefined(`/api/v1/namespaces/${ns}/configmaps/istio-ca-root-cert`), timeoutMs);
        expect(normPem(cm.data["root-cert.pem"])).toBe(meshRoot);
    }
    expect(fs.readFileSync(istiod.logFile, "utf8")).not.toMatch(/Use self-signed certificate as the CA certificate/i);
}

/** Waits for istiod of `n` to list every one of `others` as synced in /debug/clusterz, and logs the list. */
export async function expectClusterzSynced(istiod: IstiodOperator, n: string, others: string[], log: (msg: string) => void): Promise<void> {
    const list = await eventually(`${n} clusterz synced`, () => clusterzSynced(istiod, others), 5 * MIN, 2000);
    log(`${n} clusterz ${JSON.stringify(list)}`);
}

/**
 * istiod's `/debug/endpointShardz` for one Service: the endpoint IPs of each shard (`<provider>/<cluster ID>`, e.g.
 * `Kubernetes/cluster2`), sorted; {} when istiod holds none.
 */
export async function endpointShardIps(istiod: IstiodOperator, service: string, namespace: string): Promise<Record<string, string[]>> {
    const all = (await istiod.debug("/debug/endpointShardz")) as any;
    const shards = all?.[`${service}.${namespace}.svc.cluster.local`]?.[namespace]?.Shards ?? {};
    return Object.fromEntries(Object.entries<any[]>(shards).map(([k, eps]) => [k, eps.flatMap((e) => e.addresses ?? e.Addresses ?? [e.address ?? e.Address]).filter(Boolean).sort()]));
}

/** istiod of `n` knows helloworld.sample with the ClusterIP of every one of `names`, by cluster ID. */
export async function expectRegistryHasHelloworld(kube: Record<string, Kube>, istiod: IstiodOperator, n: string, names: string[]): Promise<void> {
    const expected: Record<string, string> = {};
    for (const c of names) expected[c] = (await kube[c].get("/api/v1/namespaces/sample/services/helloworld")).spec.clusterIP;
    const svc = await eventually(
        `${n} registry has helloworld from every cluster`,
        async () => {
            const all = (await istiod.debug("/debug/registryz")) as any[];
            const s = all.find((x) => x.hostname === "helloworld.sample.svc.cluster.local");
            return s && names.every((c) => s.clusterVIPs?.Addresses?.[c]?.includes(expected[c])) ? s : undefined;
        },
        3 * MIN,
        2000,
    );
    expect(Object.keys(svc.clusterVIPs.Addresses).sort()).toEqual([...names].sort());
}

/** The sidecar injector's caBundle is the mesh root. */
export async function expectInjectorCaBundle(k: Kube, meshRoot: string): Promise<void> {
    const m = await k.get("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/istio-sidecar-injector");
    for (const w of m.webhooks) expect(normPem(b64(w.clientConfig.caBundle ?? ""))).toBe(meshRoot);
}

/** Every Istio webhook's caBundle is the mesh root, and every validating one fails closed. */
export async function expectWebhooksCaBundle(k: Kube, meshRoot: string): Promise<void> {
    await expectInjectorCaBundle(k, meshRoot);
    const validators = (await k.list("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations")).filter((v) => /istio/.test(v.metadata.name));
    expect(validators.length).toBeGreaterThan(0);
    for (const v of validators) {
        for (const w of v.webhooks) {
            expect([v.metadata.name, w.failurePolicy]).toEqual([v.metadata.name, "Fail"]);
            expect(normPem(b64(w.clientConfig.caBundle ?? ""))).toBe(meshRoot);
        }
    }
}

/** Creates a Pod in `sample` (for the injector to fill in) and returns it as the API server stored it. */
export function createSamplePod(k: Kube): Promise<any> {
    return k.create(
        "/api/v1/namespaces/sample/pods",
        { apiVersion: "v1", kind: "Pod", metadata: { name: "e2e-injected", labels: { app: "e2e" } }, spec: { containers: [{ name: "app", image: "docker.io/curlimages/curl:8.16.0", command: ["sleep", "3600"] }] } },
        true,
    );
}

export const VIRTUAL_SERVICES = "/apis/networking.istio.io/v1/namespaces/sample/virtualservices";
/** A VirtualService for helloworld in `sample`. */
export const virtualService = (name: string, http: unknown) => ({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name, namespace: "sample" }, spec: { hosts: ["helloworld"], http } });

/** The validating webhook of `k` denies an invalid VirtualService (a route and a redirect in one HTTP route). */
export async function expectInvalidIstioObjectDenied(k: Kube): Promise<void> {
    // A route and a redirect in one HTTP route: the CRD schema takes it, istiod's validation does not.
    const invalid = await k.create(VIRTUAL_SERVICES, virtualService("e2e-invalid", [{ route: [{ destination: { host: "helloworld" } }], redirect: { uri: "/x" } }]), true).then(() => undefined, (e) => e);
    expect(invalid).toBeInstanceOf(KubeError);
    expect(String((invalid as Error).message)).toMatch(/admission webhook "[^"]*validation\.istio\.io" denied the request/);
}

/** With istiod of `n` paused, `valid` is refused (failurePolicy Fail); once resumed, it is accepted again. */
export async function expectValidationFailsClosed(k: Kube, istiod: IstiodOperator, n: string, valid: unknown, intervalMs: number): Promise<void> {
    await istiod.pause();
    try {
        const refused = await k.create(VIRTUAL_SERVICES, valid, true).then(() => undefined, (e) => e);
        expect(refused).toBeInstanceOf(KubeError);
        expect(String((refused as Error).message)).toMatch(/failed calling webhook/);
    } finally {
        istiod.resume();
    }
    await eventually(`${n} istiod back`, () => k.create(VIRTUAL_SERVICES, valid, true), 2 * MIN, intervalMs);
}

const BED_PROCESSES = /^(pilot-discovery|etcd|kube-apiserver|kube-controller|kube-scheduler|kwok|pulumi|node)/;

/** TCP/UDP sockets as `ss` sees them: `args` e.g. ["-ltnpH"]; `hostNamespace` runs it in the machine's namespace. */
function sockets(args: string[], hostNamespace = false): { state: string; local: string; peer: string; proc?: string }[] {
    // E2E_HOST_NETNS is run.sh's fd 9, as /proc/self/fd/9: this process holds it, nsenter (a child) does not.
    const hostNs = String(process.env.E2E_HOST_NETNS).replace("/proc/self/", `/proc/${process.pid}/`);
    const out = hostNamespace
        ? execFileSync("nsenter", [`--net=${hostNs}`, "ss", ...args], { encoding: "utf8" })
        : execFileSync("ss", args, { encoding: "utf8" });
    return out.split("\n").filter(Boolean).map((l) => {
        const f = l.trim().split(/\s+/);
        // With -H and without -t/-u alone, the first column is the protocol (tcp/udp).
        const [state, local, peer] = /^(tcp|udp)$/.test(f[0]) ? [f[1], f[4], f[5]] : [f[0], f[3], f[4]];
        return { state, local, peer, proc: /users:\(\("([^"]+)"/.exec(l)?.[1] };
    });
}

/** Listening sockets of pilot-discovery and the bed's processes in the run's namespace (`ss -ltnp`). */
export function bedListeners(): { local: string; proc: string }[] {
    return sockets(["-ltnpH"]).filter((r) => r.proc && BED_PROCESSES.test(r.proc)).map((r) => ({ local: r.local, proc: r.proc! }));
}

/** Established TCP connections of pilot-discovery and the bed's processes in the run's namespace (`ss -tnp`). */
export function bedConnections(): { local: string; peer: string; proc: string }[] {
    return sockets(["-tnpH"]).filter((r) => r.proc && BED_PROCESSES.test(r.proc)).map((r) => ({ local: r.local, peer: r.peer, proc: r.proc! }));
}

/**
 * The run is sealed in its own network namespace: at least `minPilot` listeners are pilot-discovery's and every
 * listener of the bed is on a bed address (127/8, 10/8) inside it; and in the machine's own namespace (`ss` through
 * nsenter on E2E_HOST_NETNS) no TCP or UDP socket, listening or connected, belongs to any process of the run.
 * (The run has a PID namespace of its own too, so every process `ss -p` can name there would be the run's.)
 */
export function expectRunSealedInItsNamespace(minPilot: number): { inside: string[]; outsideOfRun: string[] } {
    const ours = bedListeners();
    expect(ours.filter((r) => r.proc.startsWith("pilot-discovery")).length).toBeGreaterThanOrEqual(minPilot);
    for (const r of ours) {
        const host = r.local.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
        expect([r.proc, r.local, isBedAddress(host)]).toEqual([r.proc, r.local, true]);
    }
    const outside = sockets(["-tuanpH"], true).filter((r) => r.proc).map((r) => `${r.proc} ${r.state} ${r.local} ${r.peer}`);
    expect(outside).toEqual([]);
    return { inside: ours.map((r) => `${r.proc} ${r.local}`), outsideOfRun: outside };
}

/** After an upgrade: istiod of `n` runs `to` (and ran `from`), re-syncs with `others`, and the injector still has the mesh root. */
export async function expectIstiodUpgraded(k: Kube, istiod: IstiodOperator, n: string, o: { from: string; to: string; others: string[]; meshRoot: () => string | Promise<string> }): Promise<void> {
    await eventually(`${n} istiod on ${o.to}`, async () => istiod.running?.version === o.to, 3 * MIN);
    expect(istiod.starts.map((s) => s.version)).toContain(o.from);
    await eventually(`${n} clusterz synced after upgrade`, () => clusterzSynced(istiod, o.others), 5 * MIN, 2000);
    await expectInjectorCaBundle(k, normPem(await o.meshRoot()));
}
