/**
 * Accounting for every object on the bed's API servers against the stack's state, after a fault and its recovery:
 *
 * - declared: what the state says exists, per cluster: each plain Kubernetes resource (kind, namespace, name from its
 *   outputs) and every object in the manifest of each Helm release it holds (the release's latest revision);
 * - lost: declared but not on the API server, or a release whose latest revision is not `deployed`;
 * - orphaned: on the API server (census, lib/census.ts) but neither declared, nor there before the mesh (the
 *   baseline census), nor made at run time by Kubernetes or istiod (RUNTIME_MADE, each with its reason);
 * - duplicates: one thing held twice: two state resources for one object ("written twice"), two reader tokens of one
 *   pair, two remote secrets for one source cluster, a release with a pending or a second deployed revision.
 */
import { Stack } from "@pulumi/pulumi/automation";
import { parseAllDocuments } from "yaml";
import { census } from "./census";
import { ISTIO_NS } from "./istiod";
import { Kube } from "./kube";
import { helmReleaseRecords } from "./meshChecks";

/** Objects Kubernetes or istiod make at run time in any namespace, with why they are not the program's. */
const RUNTIME_MADE: [RegExp, string][] = [
    [/^core\/Pod /, "pods of Deployments and Jobs (kwok runs them)"],
    [/^apps\/ReplicaSet /, "ReplicaSets of Deployments"],
    [/^apps\/ControllerRevision /, "revisions of DaemonSets/StatefulSets"],
    [/^core\/Endpoints /, "the endpoints controller"],
    [/^discovery\.k8s\.io\/EndpointSlice /, "the endpoint-slice controller"],
    [/^core\/ServiceAccount [^/]+\/default$/, "every namespace's default ServiceAccount"],
    [/^core\/ConfigMap [^/]+\/kube-root-ca\.crt$/, "the root-CA publisher, in every namespace"],
    [/^core\/ConfigMap [^/]+\/istio-ca-root-cert$/, "istiod writes the mesh root into every namespace it serves"],
    [/^core\/Secret [^/]+\/sh\.helm\.release\.v1\./, "Helm's release records (checked revision by revision below)"],
    [/^networking\.k8s\.io\/IPAddress /, "the API server's record of each allocated ClusterIP"],
    [/^apiregistration\.k8s\.io\/APIService \/v[0-9a-z]+\.[a-z.]+\.istio\.io$/, "the API server's aggregator registers every CRD group (Istio's, from the base chart)"],
    [/^core\/ConfigMap [^/]+\/istio-ca-crl$/, "istiod writes the CA's revocation list into every namespace it serves"],
    [/^core\/ConfigMap istio-system\/(istio-leader|istio-namespace-controller-election|istio-gateway-status-leader|istio-gateway-deployment-leader|istio-ip-autoallocate)$/, "istiod's leader elections and address allocation"],
];

export interface ObjectAccount {
    lost: string[];
    orphaned: string[];
    duplicates: string[];
    /** Objects the state declares in the cluster, counted. */
    declared: number;
}

interface StateResource {
    urn: string;
    type: string;
    provider?: string;
    outputs?: any;
    inputs?: any;
}

/** The cluster a Kubernetes resource of the state is in: its provider is `<cluster>-k8s` (components/core/cluster.ts). */
export function clusterOfProvider(provider: string | undefined): string | undefined {
    return provider ? /::([^:]+)-k8s::[^:]+$/.exec(provider)?.[1] : undefined;
}

/** "<group>/<Kind>" of a Kubernetes apiVersion and kind, as the census writes it ("core" for the v1 group). */
const groupKind = (apiVersion: string, kind: string) => `${apiVersion.includes("/") ? apiVersion.split("/")[0] : "core"}/${kind}`;

/** Census keys of a plain Kubernetes resource in the state ("kubernetes:<group>/<version>:<Kind>"). */
function stateObjectKey(r: StateResource): string | undefined {
    const m = /^kubernetes:([^:]+)\/([^:/]+):([A-Za-z0-9]+)$/.exec(r.type);
    if (!m || m[1] === "helm.sh" || m[1] === "yaml" || !r.outputs?.metadata?.name) return undefined;
    return `${m[1]}/${m[3]} ${r.outputs.metadata.namespace ?? ""}/${r.outputs.metadata.name}`;
}

/** The objects of a Helm manifest, as census keys; a namespaced object without a namespace is in the release's. */
function manifestKeys(manifest: string, releaseNamespace: string): { key: string; alt: string }[] {
    const out: { key: string; alt: string }[] = [];
    for (const doc of parseAllDocuments(manifest)) {
        const o = doc.toJS();
        if (!o?.kind || !o?.metadata?.name) continue;
        const gk = groupKind(o.apiVersion, o.kind);
        // Cluster-scoped kinds carry no namespace in the census; namespaced ones default to the release's.
        out.push({ key: `${gk} ${o.metadata.namespace ?? releaseNamespace}/${o.metadata.name}`, alt: `${gk} /${o.metadata.name}` });
    }
    return out;
}

/** Every object of every cluster accounted for against the stack's state (see the file comment). */
export async function accountObjects(stack: Stack, kube: Record<string, Kube>, baseline: Record<string, Set<string>>): Promise<Record<string, ObjectAccount>> {
    const resources = ((await stack.exportStack()).deployment.resources ?? []) as StateResource[];
    const owners = new Map<string, string[]>();
    for (const r of resources) {
        const cluster = clusterOfProvider(r.provider);
        const key = stateObjectKey(r);
        if (cluster && key) owners.set(`${cluster} ${key}`, [...(owners.get(`${cluster} ${key}`) ?? []), r.urn.split("::").pop()!]);
    }
    const accountCluster = async (name: string, k: Kube): Promise<ObjectAccount> => {
        const live = await census(k);
        const mine = resources.filter((r) => clusterOfProvider(r.provider) === name);
        const declared = new Set<string>();
        const lost: string[] = [];
        const duplicates: string[] = [];
        for (const r of mine) {
            const key = stateObjectKey(r);
            if (key) declared.add(key);
        }
        const records = await helmReleaseRecords(k, "");
        for (const r of mine.filter((x) => x.type === "kubernetes:helm.sh/v3:Release")) {
            const relName = r.outputs?.status?.name ?? r.outputs?.name;
            const relNs = r.outputs?.status?.namespace ?? r.outputs?.namespace;
            const revisions = records.filter((x) => x.name === relName && x.namespace === relNs).sort((a, b) => b.revision - a.revision);
            if (revisions.length === 0) {
                lost.push(`helm release ${relNs}/${relName}`);
                continue;
            }
            if (revisions[0].status !== "deployed") lost.push(`helm release ${relNs}/${relName}: latest revision ${revisions[0].revision} is ${revisions[0].status}`);
            const pending = revisions.filter((x) => x.status.startsWith("pending"));
            if (pending.length) duplicates.push(`helm release ${relNs}/${relName}: revision(s) ${pending.map((x) => `${x.revision} ${x.status}`).join(", ")}`);
            if (revisions.filter((x) => x.status === "deployed").length > 1) duplicates.push(`helm release ${relNs}/${relName}: ${revisions.filter((x) => x.status === "deployed").length} deployed revisions`);
            for (const { key, alt } of manifestKeys(revisions[0].manifest, relNs)) {
                if (live.has(key)) declared.add(key);
                else if (live.has(alt)) declared.add(alt);
                else declared.add(key);
            }
        }
        for (const key of declared) if (!live.has(key)) lost.push(key);
        const orphaned = [...live].filter((x) => !declared.has(x) && !baseline[name]?.has(x) && !RUNTIME_MADE.some(([re]) => re.test(x))).sort();
        // Releases on the API server that the state does not hold.
        const stateReleases = new Set(mine.filter((x) => x.type === "kubernetes:helm.sh/v3:Release").map((r) => `${r.outputs?.status?.namespace ?? r.outputs?.namespace}/${r.outputs?.status?.name ?? r.outputs?.name}`));
        for (const rel of new Set(records.map((x) => `${x.namespace}/${x.name}`))) if (!stateReleases.has(rel)) orphaned.push(`helm release ${rel}`);
        duplicates.push(...(await credentialDuplicates(k)));
        for (const [key, urns] of owners) if (key.startsWith(`${name} `) && urns.length > 1) duplicates.push(`${key.slice(name.length + 1)} held by ${urns.length} state resources: ${urns.join(", ")}`);
        return { lost: lost.sort(), orphaned, duplicates, declared: declared.size };
    };
    const accounts = await Promise.all(Object.entries(kube).map(([name, k]) => accountCluster(name, k)));
    return Object.fromEntries(Object.keys(kube).map((name, i) => [name, accounts[i]]));
}

/** More than one reader token for one reading cluster, or more than one remote secret for one source cluster. */
async function credentialDuplicates(k: Kube): Promise<string[]> {
    const out: string[] = [];
    const secrets = await k.list(`/api/v1/namespaces/${ISTIO_NS}/secrets`);
    const tokensByTarget = new Map<string, string[]>();
    for (const s of secrets) {
        const m = /^istio-reader-token-(.+?)(-g\d+)?$/.exec(s.metadata.name);
        if (m && s.type === "kubernetes.io/service-account-token") tokensByTarget.set(m[1], [...(tokensByTarget.get(m[1]) ?? []), s.metadata.name]);
    }
    for (const [target, names] of tokensByTarget) if (names.length > 1) out.push(`reader tokens for ${target}: ${names.sort().join(", ")}`);
    const remoteBySource = new Map<string, string[]>();
    for (const s of secrets.filter((x) => x.metadata.labels?.["istio/multiCluster"] === "true")) {
        const source = s.metadata.annotations?.["networking.istio.io/cluster"] ?? Object.keys(s.data ?? {})[0];
        remoteBySource.set(source, [...(remoteBySource.get(source) ?? []), s.metadata.name]);
    }
    for (const [source, names] of remoteBySource) if (names.length > 1) out.push(`remote secrets for ${source}: ${names.sort().join(", ")}`);
    return out;
}

/** Every problem of an account, one line each ("<cluster>: lost ..."), empty when all is accounted for. */
export function accountProblems(account: Record<string, ObjectAccount>): string[] {
    return Object.entries(account).flatMap(([n, a]) => [
        ...a.lost.map((x) => `${n}: lost ${x}`),
        ...a.orphaned.map((x) => `${n}: orphaned ${x}`),
        ...a.duplicates.map((x) => `${n}: duplicate ${x}`),
    ]);
}
