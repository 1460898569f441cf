/**
 * From a recorded scenario to numbers: the dependency graph (what the engine would wait for), its schedule,
 * time-to-mesh, the chain that decides it, the unavoidable chain of each platform, and "what if" schedules
 * with the dependencies that lengthen the chain without being needed moved where they are needed.
 */
import { DURATIONS } from "./durations";
import { GraphNode, Schedule, chainTo, finishOf, schedule } from "./graph";
import type { RecordedResource, ScenarioResult } from "./scenario";
import type { Platform } from "./topology";

export interface Res {
    urn: string;
    type: string;
    name: string;
    key: string;
    minutes: number;
    provider: string;
    /** Everything the resource waits for: its dependencies, the resources its id comes from (reads), its explicit provider and its parent. */
    deps: string[];
    /** Part of the Mesh component (Istio, gateways, remote secrets). */
    mesh: boolean;
}

const MESH_TYPE = "istio-multicluster:index:Mesh";

/** The graph the engine would walk: dependencies, plus the provider and the parent a resource waits for. */
export function toGraph(recorded: RecordedResource[]): Res[] {
    const urns = new Set(recorded.map((r) => r.urn));
    const parentOf = new Map(recorded.map((r) => [r.urn, r.parent]));
    const typeOf = new Map(recorded.map((r) => [r.urn, r.type]));
    const inMesh = (urn: string) => {
        for (let u: string | undefined = urn; u; u = parentOf.get(u)) if (typeOf.get(u) === MESH_TYPE) return true;
        return false;
    };
    return recorded.map((r) => ({
        urn: r.urn,
        type: r.type,
        name: r.name,
        key: r.key,
        minutes: r.minutes,
        provider: r.provider,
        deps: [...new Set([...r.dependencies, ...r.idDependencies, r.provider, r.parent])].filter((d) => d && urns.has(d)),
        mesh: inMesh(r.urn) && r.type !== MESH_TYPE,
    }));
}

const nodesOf = (rs: Res[]): GraphNode[] => rs.map((r) => ({ id: r.urn, duration: r.minutes, deps: r.deps }));

export interface Timing {
    schedule: Schedule;
    /** Every resource of the Mesh component exists. */
    timeToMesh: number;
    /** Everything, samples and their verification included. */
    makespan: number;
    sequential: number;
    /** The chain that decides time-to-mesh, first to last. */
    meshChain: string[];
    /** The chain that decides the makespan. */
    critical: string[];
}

export function timing(rs: Res[]): Timing {
    const nodes = nodesOf(rs);
    const s = schedule(nodes);
    const meshIds = rs.filter((r) => r.mesh).map((r) => r.urn);
    const timeToMesh = finishOf(s, meshIds);
    const lastMesh = meshIds.reduce<string | undefined>((best, id) => (best === undefined || s.end.get(id)! > s.end.get(best)! ? id : best), undefined);
    return {
        schedule: s,
        timeToMesh,
        makespan: s.makespan,
        sequential: s.sequential,
        meshChain: lastMesh ? chainTo(nodes, s, lastMesh) : [],
        critical: s.critical,
    };
}

/** The makespan as the timed run measured it: start of simulated time to last answer, in simulated minutes. */
export function measured(result: ScenarioResult, rs: Res[]): { makespan: number; timeToMesh: number } {
    const byUrn = new Map(result.resources.map((r) => [r.urn, r]));
    const t0 = result.simulationStartMs;
    const lastAnswer = (rows: RecordedResource[]) => Math.max(...rows.map((r) => r.answered));
    const meshRows = rs.filter((r) => r.mesh).map((r) => byUrn.get(r.urn)!);
    return {
        makespan: (lastAnswer(result.resources) - t0) / result.msPerMinute,
        timeToMesh: (lastAnswer(meshRows) - t0) / result.msPerMinute,
    };
}

/**
 * How much later than the analytic schedule the timed run sent each resource (simulated minutes): small
 * everywhere means the graph holds every wait the SDK really makes (plus the mocks' own CPU time).
 */
export function startLag(result: ScenarioResult, t: Timing): { minutes: number; urn: string } {
    let worst = { minutes: 0, urn: "" };
    for (const r of result.resources) {
        const lag = (r.requested - result.simulationStartMs) / result.msPerMinute - (t.schedule.start.get(r.urn) ?? 0);
        if (lag > worst.minutes) worst = { minutes: lag, urn: r.urn };
    }
    return worst;
}

// ---- the unavoidable chain --------------------------------------------------------------------------

/**
 * What no program can avoid for one cluster of the platform: the steps the mesh needs, each waiting only for
 * what it truly needs (the remote secrets need only the source's `base` chart and the target's namespace;
 * a Load Balancer Controller only what makes a load balancer). Returns the schedule's length and its chain.
 */
export function unavoidable(platform: Platform, multiNetwork: boolean): { minutes: number; chain: { step: string; key: string; minutes: number }[] } {
    const steps: [string, string, string[]][] = []; // id, duration key, deps
    const add = (id: string, key: string, ...deps: string[]) => steps.push([id, key, deps]);
    let ready: string[] = [];
    if (platform === "azure") {
        add("rg", "azure-resource-group");
        add("vnet", "azure-vnet", "rg");
        add("subnet", "azure-subnet", "vnet");
        add("cluster", "aks-cluster", "subnet");
        add("lb-permission", "azure-role-assignment", "cluster");
        ready = ["cluster"];
    } else if (platform === "aws") {
        add("vpc", "aws-vpc");
        add("subnet", "aws-subnet", "vpc");
        add("security-group", "aws-security-group", "vpc");
        add("cluster", "eks-control-plane", "subnet", "security-group");
        add("igw", "aws-internet-gateway", "vpc");
        add("eip", "aws-eip", "igw");
        add("nat", "aws-nat-gateway", "eip", "subnet");
        add("route", "aws-route", "nat");
        add("launch-template", "aws-launch-template", "cluster");
        add("nodes", "eks-node-group", "launch-template", "route");
        // Pods need cluster DNS: istiod resolves the other clusters' API servers, gateways resolve istiod.
        add("cluster-dns", "eks-addon", "nodes");
        add("pod-identity-agent", "eks-addon", "nodes");
        add("pod-identity", "eks-pod-identity-association", "cluster");
        add("lb-permission", "helm-aws-lbc", "pod-identity-agent", "pod-identity", "cluster-dns");
        ready = ["nodes", "cluster-dns"];
    }
    add("namespace", "k8s-object", ...ready);
    add("cacerts", "k8s-object", "namespace");
    add("base", "helm-istio-base", "namespace");
    add("istiod", "helm-istiod", "base", "cacerts");
    add("reader-token", "k8s-sa-token", "base");
    add("remote-secret", "k8s-object", "reader-token", "namespace");
    if (multiNetwork) add("eastwest-gateway", "helm-eastwest-gateway", "istiod", ...(platform === "existing" ? [] : ["lb-permission"]));
    const nodes: GraphNode[] = steps.map(([id, key, deps]) => ({ id, duration: DURATIONS[key].minutes, deps }));
    // Only what the mesh needs counts: drop the AWS controller when no gateway needs a load balancer.
    const s = schedule(nodes.filter((n) => multiNetwork || !["lb-permission", "pod-identity-agent", "pod-identity"].includes(n.id)));
    const keyOf = new Map(steps.map(([id, key]) => [id, key]));
    return {
        minutes: s.makespan,
        chain: s.critical.map((id) => ({ step: id, key: keyOf.get(id)!, minutes: DURATIONS[keyOf.get(id)!].minutes })).filter((c) => c.minutes > 0),
    };
}

// ---- dependencies that lengthen the chain -------------------------------------------------------------

export interface Finding {
    id: string;
    title: string;
    /** Which resource waits for which, and why it need not. */
    detail: string;
    /** Where the dependency belongs instead. */
    fix: string;
    /** The graph with the dependency moved; undefined when the scenario has no such dependency. */
    apply(rs: Res[]): Res[] | undefined;
}

const clone = (rs: Res[]) => rs.map((r) => ({ ...r, deps: [...r.deps] }));
const LB_RELEASES = new Set(["helm-eastwest-gateway", "helm-ingress-gateway"]);

/**
 * Moves dependencies on `moved` resources away from the Kubernetes resources that have them, onto the
 * LoadBalancer-creating releases of the same cluster (same provider).
 */
function moveToLoadBalancers(rs: Res[], isMoved: (r: Res) => boolean): Res[] | undefined {
    const out = clone(rs);
    const byUrn = new Map(out.map((r) => [r.urn, r]));
    let changed = false;
    for (const r of out) {
        if (!r.type.startsWith("kubernetes:") || LB_RELEASES.has(r.key) || r.key === "helm-aws-lbc") continue;
        const movedDeps = r.deps.filter((d) => isMoved(byUrn.get(d)!));
        if (movedDeps.length === 0) continue;
        changed = true;
        r.deps = r.deps.filter((d) => !movedDeps.includes(d));
        for (const lb of out.filter((o) => LB_RELEASES.has(o.key) && o.provider === r.provider)) {
            lb.deps = [...new Set([...lb.deps, ...movedDeps])];
        }
    }
    return changed ? out : undefined;
}

export const FINDINGS: Finding[] = [
    {
        id: "eks-waits-for-egress",
        title: "EKS control planes wait for NAT routes and security-group rules",
        detail:
            "components/aws/eksCluster.ts gives the @pulumi/eks Cluster `dependsOn: args.networkDependencies`, which stacks/aws.ts fills with " +
            "AwsNetwork.egressReady: every route (including the private subnets' 0.0.0.0/0 route through the NAT gateway, which waits for " +
            "the internet gateway, an EIP and the NAT gateway itself) and every security-group rule. The control plane needs only its " +
            "subnets and security groups, which are already its inputs; the egress routes and rules matter to the nodes.",
        fix: "Put `dependsOn: args.networkDependencies` on the managed NodeGroup (and nothing on the eks.Cluster beyond its inputs).",
        apply(rs) {
            const out = clone(rs);
            const byUrn = new Map(out.map((r) => [r.urn, r]));
            const egress = (u: string) => ["aws-route", "aws-security-group-rule"].includes(byUrn.get(u)!.key);
            let moved: string[] = [];
            for (const r of out.filter((o) => o.key === "eks-control-plane")) {
                const m = r.deps.filter(egress);
                moved = [...moved, ...m];
                r.deps = r.deps.filter((d) => !egress(d));
            }
            if (moved.length === 0) return undefined;
            for (const r of out.filter((o) => o.key === "eks-node-group")) r.deps = [...new Set([...r.deps, ...moved])];
            return out;
        },
    },
    {
        id: "istio-waits-for-lbc",
        title: "Istio waits for the AWS Load Balancer Controller",
        detail:
            "components/aws/eksCluster.ts lists the Pod Identity agent add-on and the Load Balancer Controller release in the Cluster's " +
            "readyDependencies, and components/core/mesh.ts hands readyDependencies to IstioPrimary, whose istio-system Namespace depends on " +
            "them. So namespace → cacerts/base → istiod → everything else in the cluster waits for node group → Pod Identity agent → " +
            "Pod Identity association → controller release. Only resources that make a load balancer need the controller (the east-west " +
            "gateway release, the Bookinfo ingress gateway release); on the committed single-network AWS stack no mesh resource does. " +
            "(The CoreDNS add-on, also in readyDependencies, is kept before Istio: pods need cluster DNS.)",
        fix:
            "Keep the node group and CoreDNS in readyDependencies; give the controller release to the releases that create LoadBalancer " +
            "Services (EastWestGateway and the ingress gateway: a `loadBalancerDependencies` on Cluster, passed as their dependsOn). " +
            "Destroy order stays right: those releases still go before the controller. Caveat: once the controller chart has " +
            "registered its Service mutating webhook (failurePolicy Fail), Services created before its pods are ready are rejected, " +
            "and istiod's chart would now run alongside it. The gateway Services already carry `aws-load-balancer-type: external`, " +
            "so the webhook is not needed: set the chart value `enableServiceMutatorWebhook: false` (or order the controller after istiod).",
        apply: (rs) => moveToLoadBalancers(rs, (r) => r.key === "helm-aws-lbc" || (r.key === "eks-addon" && r.name.endsWith("-pod-identity-agent"))),
    },
    {
        id: "istio-waits-for-subnet-role",
        title: "Istio waits for the AKS subnet role assignment",
        detail:
            "components/azure/aksCluster.ts puts the subnet Network Contributor role assignment in the Cluster's readyDependencies, so the " +
            "istio-system Namespace (and base, istiod, … after it) waits for it. Only the internal load balancer of the east-west " +
            "gateway (and of any other LoadBalancer Service) needs that permission.",
        fix: "Keep the managed cluster in readyDependencies; make the LoadBalancer-creating releases depend on the role assignment.",
        apply: (rs) => moveToLoadBalancers(rs, (r) => r.key === "azure-role-assignment"),
    },
    {
        id: "azure-subnets-one-by-one",
        title: "Azure subnets are created one after another",
        detail:
            "components/azure/azureNetwork.ts chains each Subnet to the previous one (Azure rejects concurrent writes to one VNet with " +
            "AnotherOperationInProgress), so cluster i's AKS cluster starts i subnet creations after the VNet. Needed as the subnets are " +
            "declared today; it grows the chain by one subnet creation per cluster.",
        fix:
            "Declare the subnets inline in the VirtualNetwork (one ARM operation creates them all) and look them up by name, or accept " +
            "the serialisation: it costs (N−1) subnet creations, about 12 s each.",
        apply(rs) {
            const out = clone(rs);
            const byUrn = new Map(out.map((r) => [r.urn, r]));
            let changed = false;
            for (const r of out.filter((o) => o.key === "azure-subnet")) {
                const before = r.deps.length;
                r.deps = r.deps.filter((d) => byUrn.get(d)!.key !== "azure-subnet");
                changed ||= r.deps.length !== before;
            }
            return changed ? out : undefined;
        },
    },
];

export interface WhatIf {
    finding: Finding;
    timeToMesh: number;
    makespan: number;
}

/** Each applicable finding alone, then all of them together (id "all"). */
export function whatIfs(rs: Res[]): { each: WhatIf[]; all?: { timeToMesh: number; makespan: number } } {
    const each: WhatIf[] = [];
    let combined: Res[] | undefined;
    for (const f of FINDINGS) {
        const changed = f.apply(rs);
        if (!changed) continue;
        const t = timing(changed);
        each.push({ finding: f, timeToMesh: t.timeToMesh, makespan: t.makespan });
        combined = f.apply(combined ?? rs) ?? combined;
    }
    if (!combined) return { each };
    const t = timing(combined);
    return { each, all: { timeToMesh: t.timeToMesh, makespan: t.makespan } };
}
