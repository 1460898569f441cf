/**
 * Guardrails for a multi-cluster mesh, as Pulumi CrossGuard policies. Each is a plain object so that it can
 * be unit-tested without starting a policy server.
 */
import { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { PUBLIC_EXPOSURE_ANNOTATION } from "../components/core/eastWestGateway";
import {
    ISTIO_HELM_REPO,
    ISTIO_OCI_CHARTS,
    LEGACY_ISTIO_HELM_REPO,
    OLDEST_SUPPORTED_ISTIO_MINOR,
    compareVersions,
    parseVersion,
} from "../components/common/istioVersion";

/** Annotations that make a Service's load balancer internal, per cloud. */
export const INTERNAL_LB_ANNOTATIONS: Record<string, string> = {
    "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "networking.gke.io/load-balancer-type": "Internal",
};

const HELM_RELEASE = "kubernetes:helm.sh/v3:Release";
const HELM_CHARTS = ["kubernetes:helm.sh/v3:Chart", "kubernetes:helm.sh/v4:Chart", HELM_RELEASE];
const ISTIO_CHARTS = ["base", "istiod", "gateway", "cni", "ztunnel"];
const ISTIO_PORTS = [15012, 15017, 15443];
const WORLD = ["0.0.0.0/0", "::/0"];

/** Istio's own chart sources: its Helm repositories (current and retired) and its OCI registry. */
const ISTIO_REPOS = [ISTIO_HELM_REPO, LEGACY_ISTIO_HELM_REPO].map((r) => r.replace(/\/+$/, ""));
const ISTIO_OCI_PREFIX = `${ISTIO_OCI_CHARTS}/`;

/** The chart's own name, whatever the source: "gateway" for "gateway", "oci://…/gateway" or "/charts/1.31.1/gateway". */
export const chartName = (chart: unknown): string => String(chart ?? "").replace(/\/+$/, "").split("/").pop() ?? "";

/**
 * An Istio chart (base, istiod, gateway, …) from one of the sources the program installs from: Istio's Helm
 * repositories, its OCI registry, or a local directory (an absolute path, as the program resolves it).
 * Charts of the same name from other repositories are not taken for Istio's.
 */
export function isIstioChart(props: Record<string, any>): boolean {
    const chart = String(props.chart ?? "");
    if (!ISTIO_CHARTS.includes(chartName(chart))) return false;
    const repo = String(props.repositoryOpts?.repo ?? "").replace(/\/+$/, "");
    if (repo) return ISTIO_REPOS.includes(repo) && !chart.includes("/");
    return chart.startsWith(ISTIO_OCI_PREFIX) || chart.startsWith("/") || /^[A-Za-z]:[\\/]/.test(chart);
}

const isInternal = (annotations: Record<string, string> | undefined) =>
    Object.entries(INTERNAL_LB_ANNOTATIONS).some(([k, v]) => annotations?.[k]?.toLowerCase() === v.toLowerCase());
const isMarkedPublic = (annotations: Record<string, string> | undefined) => annotations?.[PUBLIC_EXPOSURE_ANNOTATION] === "public";

const policy = (p: ResourceValidationPolicy) => p;

export const loadBalancersOnlyForIstioGateways = policy({
    name: "loadbalancer-services-only-istio-gateways",
    description: "LoadBalancer Services are for Istio gateways only, and internal unless marked public.",
    enforcementLevel: "mandatory",
    validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
        if (args.type !== "kubernetes:core/v1:Service" || args.props.spec?.type !== "LoadBalancer") return;
        const labels = args.props.metadata?.labels ?? {};
        const annotations = args.props.metadata?.annotations;
        if (!labels.istio && !labels["gateway.istio.io/managed"]) {
            report(`Service ${args.name} is a LoadBalancer but not an Istio gateway; use ClusterIP behind the mesh's ingress gateway.`);
        } else if (!isInternal(annotations) && !isMarkedPublic(annotations)) {
            report(`Gateway Service ${args.name} gets a public load balancer; add an internal annotation or ${PUBLIC_EXPOSURE_ANNOTATION}: public.`);
        }
    },
});

export const gatewayChartsInternalUnlessPublic = policy({
    name: "gateway-charts-internal-unless-public",
    description: "Istio gateway charts (east-west, ingress) get internal load balancers unless marked public.",
    enforcementLevel: "mandatory",
    validateResource: (args, report) => {
        // Istio's gateway chart from any source (repository, OCI or a local directory).
        if (args.type !== HELM_RELEASE || chartName(args.props.chart) !== "gateway") return;
        const service = args.props.values?.service ?? {};
        if ((service.type ?? "LoadBalancer") !== "LoadBalancer") return;
        const annotations = { ...(args.props.values?.annotations ?? {}), ...(service.annotations ?? {}) };
        if (!isInternal(annotations) && !isMarkedPublic(annotations)) {
            report(`Gateway release ${args.props.name ?? args.name} would get a public load balancer; set an internal annotation or ${PUBLIC_EXPOSURE_ANNOTATION}: public in service.annotations.`);
        }
    },
});

export const cacertsHasFourKeys = policy({
    name: "cacerts-has-four-keys",
    description: "Istio's cacerts Secret holds ca-cert.pem, ca-key.pem, root-cert.pem and cert-chain.pem (istiod refuses a partial set).",
    enforcementLevel: "mandatory",
    validateResource: (args, report) => {
        if (args.type !== "kubernetes:core/v1:Secret" || args.props.metadata?.name !== "cacerts") return;
        const keys = new Set([...Object.keys(args.props.data ?? {}), ...Object.keys(args.props.stringData ?? {})]);
        const missing = ["ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"].filter((k) => !keys.has(k));
        if (missing.length) report(`cacerts lacks ${missing.join(", ")}: istiod would not start, or would mint its own root.`);
    },
});

export const helmChartsPinned = policy({
    name: "helm-chart-versions-pinned",
    description: "Helm charts are pinned to an exact version (a chart from a local directory is pinned by its files).",
    enforcementLevel: "mandatory",
    validateResource: (args, report) => {
        if (!HELM_CHARTS.includes(args.type)) return;
        // A directory on disk (the program's generated preflight chart, or Istio's charts from istioChartSource when
        // it is one) cannot move under the stack the way a repository's chart can.
        const chart = String(args.props.chart ?? "");
        if (/^(\/|\.\.?\/)/.test(chart) && !args.props.repositoryOpts?.repo) return;
        const version: unknown = args.props.version;
        if (typeof version !== "string" || !/^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/.test(version)) {
            report(`Chart ${args.props.chart ?? args.name} is not pinned to an exact version (got ${JSON.stringify(version)}).`);
        }
    },
});

/**
 * The Kubernetes SDK's components rendered in the program (helm.v3.Chart, yaml, kustomize): the engine registers them
 * without a provider (a component has none); each object they render is a resource of its own, with the provider.
 */
const SDK_COMPONENTS = ["kubernetes:helm.sh/v3:Chart", "kubernetes:yaml:ConfigFile", "kubernetes:yaml:ConfigGroup", "kubernetes:kustomize:Directory"];

export const kubernetesExplicitProvider = policy({
    name: "kubernetes-explicit-provider",
    description: "Every Kubernetes resource names its cluster's provider; the default provider deploys to whatever kubectl points at.",
    enforcementLevel: "mandatory",
    validateResource: (args, report) => {
        if (!args.type.startsWith("kubernetes:") || SDK_COMPONENTS.includes(args.type)) return;
        const provider = args.provider;
        if (!provider || provider.name.startsWith("default")) {
            report(`${args.type} ${args.name} uses the default Kubernetes provider; pass the cluster's provider.`);
        }
    },
});

/** The settings that close the API servers, named in the policy's messages (docs/safety.md says how to enforce it). */
const AKS_RANGES_SETTING = "istio-multicluster:azure.apiServerAuthorizedIpRanges";
const EKS_CIDRS_SETTING = "istio-multicluster:clusters[].publicAccessCidrs";

/**
 * Advisory: the ready-made stacks leave the API servers open (as AKS and EKS do by default) so that they run from
 * anywhere, CI's hosted runners included, and every preview says so. `policy/strict.json` makes it mandatory.
 */
export const apiServersNotOpenToTheWorld = policy({
    name: "api-servers-not-open-to-the-world",
    description: "AKS and EKS API endpoints are not reachable from 0.0.0.0/0 (advisory; mandatory with policy/strict.json).",
    enforcementLevel: "advisory",
    validateResource: (args, report) => {
        if (args.type === "azure-native:containerservice:ManagedCluster") {
            const profile = args.props.apiServerAccessProfile ?? {};
            const ranges: string[] = profile.authorizedIPRanges ?? [];
            if (ranges.some((r) => WORLD.includes(r))) report(`AKS ${args.name}: authorizedIPRanges includes the whole internet; list your own addresses in ${AKS_RANGES_SETTING}.`);
            if (!profile.enablePrivateCluster && ranges.length === 0) {
                report(`AKS ${args.name}: the API server is public with no authorized IP ranges; set ${AKS_RANGES_SETTING} or make the cluster private.`);
            }
        }
        const eks =
            args.type === "eks:index:Cluster"
                ? { publicAccess: args.props.endpointPublicAccess ?? true, cidrs: args.props.publicAccessCidrs as string[] | undefined }
                : args.type === "aws:eks/cluster:Cluster"
                  ? { publicAccess: args.props.vpcConfig?.endpointPublicAccess ?? true, cidrs: args.props.vpcConfig?.publicAccessCidrs as string[] | undefined }
                  : undefined;
        if (eks?.publicAccess && (!eks.cidrs || eks.cidrs.length === 0 || eks.cidrs.some((c) => WORLD.includes(c)))) {
            report(`EKS ${args.name}: the public API endpoint is open to 0.0.0.0/0; set ${EKS_CIDRS_SETTING} to your own addresses ([] keeps only the private endpoint).`);
        }
    },
});

interface Rule {
    fromPort?: number;
    toPort?: number;
    protocol?: string;
    ipProtocol?: string;
    cidrBlocks?: string[];
    ipv6CidrBlocks?: string[];
    cidrIpv4?: string;
    cidrIpv6?: string;
    type?: string;
}

const opensIstioPortToWorld = (rule: Rule) => {
    const protocol = rule.protocol ?? rule.ipProtocol;
    const allPorts = protocol === "-1" || protocol === "all";
    const sources = [...(rule.cidrBlocks ?? []), ...(rule.ipv6CidrBlocks ?? []), rule.cidrIpv4, rule.cidrIpv6].filter(Boolean) as string[];
    const covers = (port: number) => allPorts || ((rule.fromPort ?? 0) <= port && port <= (rule.toPort ?? rule.fromPort ?? 65535));
    return sources.some((s) => WORLD.includes(s)) && ISTIO_PORTS.some(covers);
};

export const istioPortsNotOpenToTheWorld = policy({
    name: "istio-ports-not-open-to-the-world",
    description: "Security groups never open istiod (15012), its webhook (15017) or mTLS passthrough (15443) to the internet.",
    enforcementLevel: "mandatory",
    validateResource: (args, report) => {
        let rules: Rule[] = [];
        if (args.type === "aws:ec2/securityGroupRule:SecurityGroupRule" && args.props.type === "ingress") rules = [args.props];
        else if (args.type === "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") rules = [args.props];
        else if (args.type === "aws:ec2/securityGroup:SecurityGroup") rules = args.props.ingress ?? [];
        if (rules.some(opensIstioPortToWorld)) report(`${args.name} opens ${ISTIO_PORTS.join("/")} to the internet.`);
    },
});

export const istioVersionSupported = policy({
    name: "istio-version-supported",
    description: `Istio charts are ${OLDEST_SUPPORTED_ISTIO_MINOR.major}.${OLDEST_SUPPORTED_ISTIO_MINOR.minor} or newer (older minors are end of life).`,
    enforcementLevel: "mandatory",
    validateResource: (args, report) => {
        if (!HELM_CHARTS.includes(args.type) || !isIstioChart(args.props)) return;
        const version = parseVersion(String(args.props.version ?? "").replace(/^v/, ""));
        if (!version || compareVersions(version, { ...OLDEST_SUPPORTED_ISTIO_MINOR, patch: 0 }) < 0) {
            report(`Istio chart ${chartName(args.props.chart)} ${args.props.version} (from ${args.props.repositoryOpts?.repo ?? args.props.chart}) is not supported; use ${OLDEST_SUPPORTED_ISTIO_MINOR.major}.${OLDEST_SUPPORTED_ISTIO_MINOR.minor}.0 or newer.`);
        }
        if (String(args.props.repositoryOpts?.repo ?? "").replace(/\/+$/, "") === LEGACY_ISTIO_HELM_REPO) {
            report(`Istio chart ${chartName(args.props.chart)} comes from ${LEGACY_ISTIO_HELM_REPO}, which Istio empties in December 2026; use ${ISTIO_HELM_REPO} or ${ISTIO_OCI_CHARTS}.`);
        }
    },
});

export const policies: ResourceValidationPolicy[] = [
    loadBalancersOnlyForIstioGateways,
    gatewayChartsInternalUnlessPublic,
    cacertsHasFourKeys,
    helmChartsPinned,
    kubernetesExplicitProvider,
    apiServersNotOpenToTheWorld,
    istioPortsNotOpenToTheWorld,
    istioVersionSupported,
];
