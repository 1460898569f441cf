/**
 * Smoke test of the bed runner (test/e2e/bed/clusters.ts): three clusters in the run's own network namespace.
 * Control planes listen on 127/8; pods, Services, load balancers and nodes are in 10/8, which only exists inside
 * the namespace. Run: npm run test:e2e -- test/e2e/bed.e2e.ts
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import { Bed, BedCluster, kube, kubeRequest, startBed, waitFor } from "./bed/clusters";

const LOOPBACK = /^127\.\d+\.\d+\.\d+$/;
const BED_RANGE = /^(127|10)\.\d+\.\d+\.\d+$/;

/** Listening and connected TCP sockets of the given pids: [{ pid, local, peer, state }]. */
function sockets(pids: Set<number>): { pid: number; state: string; local: string; peer: string }[] {
    const out = execFileSync("ss", ["-Htanp"], { encoding: "utf8" });
    const rows: { pid: number; state: string; local: string; peer: string }[] = [];
    for (const line of out.split("\n")) {
        const cols = line.trim().split(/\s+/);
        if (cols.length < 6) continue;
        for (const m of line.matchAll(/pid=(\d+)/g)) {
            const pid = Number(m[1]);
            if (pids.has(pid)) rows.push({ pid, state: cols[0], local: cols[3], peer: cols[4] });
        }
    }
    return rows;
}
const host = (addr: string) => addr.replace(/^\[?(::ffff:)?/, "").replace(/\]?:[^:]*$/, "");

describe("e2e bed: three clusters in the run's own network namespace", () => {
    let bed: Bed | undefined;
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "istio-mc-bed-smoke-"));

    beforeAll(async () => {
        bed = await startBed({ names: ["c1", "c2", "c3"], workDir, verbose: true });
        console.log(`bed started in ${bed.startSeconds.toFixed(1)} s (slot ${bed.slot})`);
    }, 600_000);

    afterAll(async () => {
        await bed?.stop();
    }, 60_000);

    const each = (fn: (c: BedCluster) => Promise<void>) => Promise.all(bed!.clusters.map(fn));

    test("control planes on loopback, cluster ranges in 10/8 and distinct per cluster; the kubeconfig's CA verifies the API server", async () => {
        const seen = new Set<string>();
        for (const c of bed!.clusters) {
            for (const cidr of [c.serviceCidr, c.podCidr, c.loadBalancerCidr]) {
                expect(cidr).toMatch(/^10\./);
                expect(seen.has(cidr)).toBe(false);
                seen.add(cidr);
            }
            expect(c.apiServerAddress).toMatch(LOOPBACK);
            c.nodeIps.forEach((ip) => expect(ip).toMatch(/^10\.4\./));
            const ca = Buffer.from(/certificate-authority-data: (\S+)/.exec(c.kubeconfig)![1], "base64").toString();
            const r = await kubeRequest({ ...c, caCertPath: writeTmp(ca) }, "GET", "/version");
            expect(r.status).toBe(200);
            expect(r.body.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
        }
    });

    test("the Service CIDR is the cluster's 10.1.x ServiceCIDR and the kubernetes Service has its first address", () =>
        each(async (c) => {
            const sc = await kube(c, "GET", "/apis/networking.k8s.io/v1/servicecidrs/kubernetes");
            expect(sc.spec.cidrs).toEqual([c.serviceCidr]);
            const svc = await kube(c, "GET", "/api/v1/namespaces/default/services/kubernetes");
            expect(svc.spec.clusterIP).toBe(c.kubernetesServiceIp);
        }));

    test("nodes are Ready with 10.4.x InternalIPs and no taints", () =>
        each(async (c) => {
            const nodes = (await kube(c, "GET", "/api/v1/nodes")).items as any[];
            expect(nodes.map((n) => n.metadata.name).sort()).toEqual(c.nodeNames);
            for (const n of nodes) {
                expect(n.spec.taints ?? []).toEqual([]);
                expect(c.nodeIps).toContain(n.status.addresses.find((a: any) => a.type === "InternalIP").address);
            }
        }));

    test("a Deployment becomes Available; its pods get 10.2.x pod IPs, which the Service's Endpoints and EndpointSlices list", () =>
        each(async (c) => {
            const labels = { app: "smoke" };
            await kube(c, "POST", "/apis/apps/v1/namespaces/default/deployments", {
                apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "smoke" },
                spec: { replicas: 2, selector: { matchLabels: labels },
                    template: { metadata: { labels }, spec: { containers: [{ name: "app", image: "example.invalid/app:1", ports: [{ containerPort: 8080 }] }] } } },
            });
            await kube(c, "POST", "/api/v1/namespaces/default/services", {
                apiVersion: "v1", kind: "Service", metadata: { name: "smoke" },
                spec: { selector: labels, ports: [{ port: 80, targetPort: 8080 }] },
            });
            await waitFor(`${c.name}: Deployment smoke Available`, async () => {
                const d = await kube(c, "GET", "/apis/apps/v1/namespaces/default/deployments/smoke");
                return (d.status?.conditions ?? []).some((x: any) => x.type === "Available" && x.status === "True") &&
                    d.status.availableReplicas === 2;
            });
            const pods = (await kube(c, "GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dsmoke")).items as any[];
            expect(pods).toHaveLength(2);
            for (const p of pods) {
                expect(p.status.phase).toBe("Running");
                expect(p.status.podIP).toMatch(new RegExp(`^10\\.2\\.${c.octet}\\.`));
                expect(c.nodeIps).toContain(p.status.hostIP);
            }
            // Outside 127/8, Kubernetes accepts pod addresses: both controllers list them, as on a real cluster (the
            // kubernetes provider's Service await watches Endpoints; istiod reads EndpointSlices).
            const podIps = pods.map((p) => p.status.podIP).sort();
            const sliceIps = await waitFor(`${c.name}: EndpointSlice of smoke lists both pods`, async () => {
                const slices = (await kube(c, "GET", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dsmoke")).items as any[];
                const ips = slices.flatMap((s) => (s.endpoints ?? []).filter((e: any) => e.conditions?.ready).flatMap((e: any) => e.addresses)).sort();
                return ips.length === 2 ? ips : undefined;
            });
            expect(sliceIps).toEqual(podIps);
            const endpoints = await kube(c, "GET", "/api/v1/namespaces/default/endpoints/smoke");
            expect((endpoints.subsets ?? []).flatMap((s: any) => (s.addresses ?? []).map((a: any) => a.ip)).sort()).toEqual(podIps);
        }));

    test("a Running pod marked not Ready, as the node lifecycle controller does after an outage, is Ready again (as its kubelet would report)", () =>
        each(async (c) => {
            const [pod] = (await kube(c, "GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dsmoke")).items as any[];
            const readyOf = async () => ((await kube(c, "GET", `/api/v1/namespaces/default/pods/${pod.metadata.name}`)).status.conditions ?? []).find((x: any) => x.type === "Ready")?.status;
            // What MarkPodsNotReady writes (the node lifecycle controller, once a node's lease went stale).
            const conditions = pod.status.conditions.map((x: any) => (x.type === "Ready" ? { ...x, status: "False", reason: "NodeNotReady" } : x));
            await kube(c, "PATCH", `/api/v1/namespaces/default/pods/${pod.metadata.name}/status`, { status: { conditions } }, { contentType: "application/strategic-merge-patch+json" });
            await waitFor(`${c.name}: pod ${pod.metadata.name} Ready again`, async () => (await readyOf()) === "True", 30000);
            const after = await kube(c, "GET", `/api/v1/namespaces/default/pods/${pod.metadata.name}`);
            expect([after.status.phase, after.status.podIP]).toEqual(["Running", pod.status.podIP]);
        }));

    test("a Job's pod completes", () =>
        each(async (c) => {
            await kube(c, "POST", "/apis/batch/v1/namespaces/default/jobs", {
                apiVersion: "batch/v1", kind: "Job", metadata: { name: "smoke" },
                spec: { backoffLimit: 0, template: { spec: { restartPolicy: "Never", containers: [{ name: "x", image: "example.invalid/x:1" }] } } },
            });
            await waitFor(`${c.name}: Job smoke Complete`, async () => {
                const j = await kube(c, "GET", "/apis/batch/v1/namespaces/default/jobs/smoke");
                return (j.status?.conditions ?? []).some((x: any) => x.type === "Complete" && x.status === "True");
            });
        }));

    test("a service-account-token Secret gets its token and ca.crt, and the token authenticates", () =>
        each(async (c) => {
            await kube(c, "POST", "/api/v1/namespaces/default/serviceaccounts", { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "reader" } });
            await kube(c, "POST", "/api/v1/namespaces/default/secrets", {
                apiVersion: "v1", kind: "Secret", type: "kubernetes.io/service-account-token",
                metadata: { name: "reader-token", annotations: { "kubernetes.io/service-account.name": "reader" } },
            });
            const s = await waitFor(`${c.name}: token in reader-token`, async () => {
                const s = await kube(c, "GET", "/api/v1/namespaces/default/secrets/reader-token");
                return s.data?.token && s.data?.["ca.crt"] ? s : undefined;
            });
            expect(Buffer.from(s.data["ca.crt"], "base64").toString()).toBe(c.caCert);
            const token = Buffer.from(s.data.token, "base64").toString();
            const review = await kubeRequest(c, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" }, { token });
            expect(review.status).toBe(201);
            expect(review.body.status.userInfo.username).toBe("system:serviceaccount:default:reader");
        }));

    test("a LoadBalancer Service gets an ingress IP from the cluster's 10.3.x LB range", () =>
        each(async (c) => {
            const svc = await kube(c, "POST", "/api/v1/namespaces/default/services", {
                apiVersion: "v1", kind: "Service", metadata: { name: "smoke-lb" },
                spec: { type: "LoadBalancer", selector: { app: "smoke" }, ports: [{ port: 15443, targetPort: 15443 }] },
            });
            expect(svc.spec.clusterIP).toMatch(new RegExp(`^10\\.1\\.${c.octet}\\.`));
            const ip = await waitFor(`${c.name}: LB ingress`, async () => {
                const s = await kube(c, "GET", "/api/v1/namespaces/default/services/smoke-lb");
                return s.status?.loadBalancer?.ingress?.[0]?.ip as string | undefined;
            });
            expect(ip).toBe(svc.spec.clusterIP.replace(/^10\.1\./, "10.3."));
        }));

    test("the API server calls a webhook on its Service's 10.1.x ClusterIP (no aggregator routing)", async () => {
        const c = bed!.clusters[0];
        const svc = await kube(c, "POST", "/api/v1/namespaces/default/services", {
            apiVersion: "v1", kind: "Service", metadata: { name: "hook" }, spec: { ports: [{ port: 443, targetPort: 9443 }] },
        });
        const ip: string = svc.spec.clusterIP;
        expect(ip).toMatch(new RegExp(`^10\\.1\\.${c.octet}\\.`));
        // A serving certificate for hook.default.svc signed by the cluster CA; the server listens on the ClusterIP.
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bed-hook-"));
        fs.writeFileSync(path.join(dir, "ext"), "subjectAltName=DNS:hook.default.svc\n");
        execFileSync("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "k", "-out", "csr", "-subj", "/CN=hook.default.svc"], { cwd: dir, stdio: "ignore" });
        execFileSync("openssl", ["x509", "-req", "-in", "csr", "-CA", c.caCertPath, "-CAkey", c.caKeyPath, "-CAcreateserial", "-out", "crt", "-days", "1", "-extfile", "ext"], { cwd: dir, stdio: "ignore" });
        const calls: string[] = [];
        const server = https.createServer({ cert: fs.readFileSync(path.join(dir, "crt")), key: fs.readFileSync(path.join(dir, "k")) }, (req, res) => {
            let body = "";
            req.on("data", (d) => (body += d));
            req.on("end", () => {
                const review = JSON.parse(body);
                calls.push(`${req.socket.remoteAddress} ${review.request.name}`);
                res.setHeader("Content-Type", "application/json");
                res.end(JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview",
                    response: { uid: review.request.uid, allowed: false, status: { code: 403, message: "denied by the bed's webhook" } } }));
            });
        });
        await new Promise<void>((r) => server.listen(443, ip, r));
        try {
            await kube(c, "POST", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", {
                apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingWebhookConfiguration", metadata: { name: "bed-hook" },
                webhooks: [{
                    name: "hook.bed.test", admissionReviewVersions: ["v1"], sideEffects: "None", failurePolicy: "Fail",
                    clientConfig: { service: { namespace: "default", name: "hook", port: 443 }, caBundle: Buffer.from(c.caCert).toString("base64") },
                    rules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["configmaps"] }],
                    objectSelector: { matchLabels: { "bed-hook": "yes" } },
                }],
            });
            const r = await waitFor("webhook denial", async () => {
                const r = await kubeRequest(c, "POST", "/api/v1/namespaces/default/configmaps",
                    { apiVersion: "v1", kind: "ConfigMap", metadata: { name: `probe-${Date.now()}`, labels: { "bed-hook": "yes" } } });
                return r.status === 403 || r.status === 400 ? r : undefined;
            }, 30000, 500);
            expect(r.text).toContain("denied by the bed's webhook");
            expect(calls.length).toBeGreaterThan(0);
            console.log(`webhook calls: ${calls.join("; ")}`);
        } finally {
            await kubeRequest(c, "DELETE", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/bed-hook");
            server.close();
        }
    });

    test("every listener of the bed is on a bed address (127/8, 10/8) and every connection goes to one", () => {
        const pids = new Set(bed!.processes().map((p) => p.pid));
        pids.add(process.pid);
        const rows = sockets(pids);
        const listeners = rows.filter((r) => r.state === "LISTEN");
        console.log(`bed sockets: ${rows.length} (${listeners.length} listening): ` +
            [...new Set(listeners.map((r) => `${bed!.processes().find((p) => p.pid === r.pid)?.name ?? "test"} ${r.local}`))].join(", "));
        expect(listeners.length).toBeGreaterThan(0);
        for (const r of rows) {
            expect(host(r.local)).toMatch(BED_RANGE);
            if (r.state !== "LISTEN") expect(host(r.peer)).toMatch(BED_RANGE);
        }
    });

    test("stop() ends every process of the bed", async () => {
        const procs = bed!.processes();
        const t = Date.now();
        await bed!.stop();
        console.log(`bed stopped in ${((Date.now() - t) / 1000).toFixed(1)} s`);
        for (const p of procs) expect(fs.existsSync(`/proc/${p.pid}`) ? `${p.name} still running` : "gone").toBe("gone");
        bed = undefined;
    }, 60_000);
});

function writeTmp(content: string): string {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "bed-ca-")), "ca.crt");
    fs.writeFileSync(f, content);
    return f;
}
