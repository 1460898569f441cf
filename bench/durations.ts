/**
 * How long each kind of resource typically takes to create, in minutes, with where the figure comes from.
 *
 * The benchmark replays the program's resource graph with these durations (see graph.ts and scenario.ts).
 * Figures that no public source states are marked "estimate": they are round numbers for what the
 * provider waits for (API call, cloud-side provisioning, or Kubernetes readiness). Change a figure here and
 * every number in docs/benchmarks.md follows on the next `npm run bench`.
 */

export interface DurationEntry {
    /** What the key covers. */
    what: string;
    /** Typical creation time, minutes. */
    minutes: number;
    /** Where the figure comes from ("estimate: …" when no source states it). */
    source: string;
}

const SEED_AKS = "the AKS walkthrough this project replaces (README), step 2: bootstrapping \"may take between 5-10 minutes\" for both clusters";
const EKS_ROADMAP =
    "AWS containers roadmap, https://github.com/aws/containers-roadmap/issues/1227: \"EKS cluster control plane provisioning time currently averages 15 minutes\"";
const NODEGROUP = "https://alchemy.run/providers/aws/eks/nodegroup: \"Creation is asynchronous (CREATING → ACTIVE, ~2–5 min)\"";
const HELM_WAIT =
    "helm.v3.Release waits for every rendered resource to be ready unless skipAwait (https://www.pulumi.com/registry/packages/kubernetes/api-docs/helm/v3/release/); Helm's wait covers Pods, Deployments and Services";
const LB_WAIT =
    "a LoadBalancer Service is ready once the cloud assigns its address; for Azure a public install script notes it \"can take upto 5 minutes\" (PowerShell Gallery, DosInstallUtilities.Kube, GetLoadBalancerIPs.ps1)";

export const DURATIONS: Record<string, DurationEntry> = {
    // ---- no time ----------------------------------------------------------------------------------
    component: { what: "component resource (grouping only)", minutes: 0, source: "nothing is created" },
    provider: { what: "explicit provider (pulumi:providers:*)", minutes: 0, source: "configuration only" },
    "k8s-read": { what: "read of an existing Kubernetes object (Service.get)", minutes: 0, source: "one GET; estimate" },

    // ---- Azure --------------------------------------------------------------------------------------
    "azure-resource-group": { what: "resource group", minutes: 0.1, source: "estimate: one synchronous ARM call (seconds)" },
    "azure-vnet": { what: "virtual network", minutes: 0.25, source: "estimate: ARM long-running operation, ~15 s" },
    "azure-subnet": { what: "subnet (one at a time per VNet)", minutes: 0.2, source: "estimate: ARM long-running operation, ~10 s" },
    "azure-public-ip": { what: "static public IP", minutes: 0.2, source: "estimate: ~10 s" },
    "aks-cluster": {
        what: "AKS managed cluster with its system node pool (3 × D2s_v5)",
        minutes: 7.5,
        source: `${SEED_AKS}; middle of that range, per cluster (conservative: the walkthrough's figure covers two)`,
    },
    "azure-role-assignment": { what: "role assignment", minutes: 0.25, source: "estimate: ~15 s (principal replication retries)" },
    "azure-container-registry": { what: "container registry (Basic)", minutes: 1, source: "estimate" },

    // ---- AWS ----------------------------------------------------------------------------------------
    "aws-vpc": { what: "VPC (dual-stack)", minutes: 0.2, source: "estimate: ~10 s incl. the Amazon IPv6 block" },
    "aws-subnet": { what: "subnet", minutes: 0.1, source: "estimate" },
    "aws-internet-gateway": { what: "internet / egress-only gateway", minutes: 0.1, source: "estimate" },
    "aws-eip": { what: "elastic IP", minutes: 0.05, source: "estimate" },
    "aws-nat-gateway": {
        what: "NAT gateway (pending → available)",
        minutes: 2,
        source: "estimate; Terraform's default create timeout for aws_nat_gateway is 10 min, an upper bound (https://oneuptime.com/blog/post/2026-02-23-how-to-fix-terraform-apply-times-out/view)",
    },
    "aws-route": { what: "route table, route or association", minutes: 0.05, source: "estimate" },
    "aws-security-group": { what: "security group", minutes: 0.1, source: "estimate" },
    "aws-security-group-rule": { what: "security group rule", minutes: 0.05, source: "estimate" },
    "aws-iam": { what: "IAM role, policy or attachment", minutes: 0.1, source: "estimate" },
    "aws-launch-template": { what: "EC2 launch template", minutes: 0.05, source: "estimate" },
    "eks-control-plane": {
        what: "EKS control plane (@pulumi/eks Cluster: cluster, its IAM role and security group, VPC CNI add-on)",
        minutes: 15,
        source: EKS_ROADMAP,
    },
    "eks-node-group": { what: "EKS managed node group (2 × m5.large)", minutes: 3.5, source: NODEGROUP },
    "eks-addon": { what: "EKS add-on (Pod Identity agent, CoreDNS): a DaemonSet or Deployment rolled out", minutes: 1, source: "estimate" },
    "eks-pod-identity-association": { what: "EKS Pod Identity association", minutes: 0.1, source: "estimate" },
    "helm-aws-lbc": {
        what: "Helm release: AWS Load Balancer Controller (2 replicas, webhooks)",
        minutes: 1.5,
        source: `estimate; ${HELM_WAIT}`,
    },

    // ---- mesh ---------------------------------------------------------------------------------------
    "tls-private-key": { what: "RSA 4096 key, generated locally", minutes: 0.05, source: "estimate: a few seconds of CPU" },
    "tls-cert": { what: "certificate or CSR, signed locally", minutes: 0, source: "milliseconds" },
    "k8s-object": {
        what: "plain Kubernetes object (Namespace, Secret, ServiceAccount, custom resource, DNS-only Service)",
        minutes: 0.02,
        source: "estimate: one server-side apply (~1 s)",
    },
    "k8s-sa-token": {
        what: "service-account token Secret (the provider waits for Kubernetes to fill in the token)",
        minutes: 0.05,
        source: "estimate: ~3 s",
    },
    "helm-istio-base": { what: "Helm release: Istio base (CRDs, reader service account, webhook)", minutes: 0.5, source: `estimate; no pods to wait for` },
    "helm-istiod": { what: "Helm release: istiod (image pull, readiness)", minutes: 1.5, source: `estimate; ${HELM_WAIT}` },
    "helm-eastwest-gateway": {
        what: "Helm release: east-west gateway, waiting for its load balancer",
        minutes: 2.5,
        source: `estimate; ${HELM_WAIT}; ${LB_WAIT}`,
    },
    "helm-ingress-gateway": {
        what: "Helm release: Bookinfo ingress gateway, waiting for its load balancer",
        minutes: 2.5,
        source: `estimate; same as the east-west gateway`,
    },

    // ---- samples ------------------------------------------------------------------------------------
    "k8s-deployment": { what: "Deployment rolled out (image pull, sidecar, readiness)", minutes: 1, source: "estimate; Pulumi awaits the rollout" },
    "k8s-service-endpoints": {
        what: "Service with a selector (Pulumi waits for a ready endpoint, i.e. for its pods)",
        minutes: 1,
        source: "estimate: as long as its Deployment; Pulumi's Service await logic waits for endpoints",
    },
    "k8s-job": { what: "verification Job until it completes", minutes: 1.5, source: "estimate: pod start, sidecar, first passing round" },
    "helm-preflight": {
        what: "preflight on a cluster you already had (helm.v4.Chart rendered with lookups, no object)",
        minutes: 0.1,
        source: "estimate: four list/get calls to the API server",
    },
};

export interface ResourceFacts {
    type: string;
    name: string;
    inputs: Record<string, any>;
    custom: boolean;
    /** A read (`.get`) rather than a create. */
    read: boolean;
}

const TYPE_KEYS: Record<string, string> = {
    "azure-native:resources:ResourceGroup": "azure-resource-group",
    "azure-native:network:VirtualNetwork": "azure-vnet",
    "azure-native:network:Subnet": "azure-subnet",
    "azure-native:network:PublicIPAddress": "azure-public-ip",
    "azure-native:containerservice:ManagedCluster": "aks-cluster",
    "azure-native:authorization:RoleAssignment": "azure-role-assignment",
    "azure-native:containerregistry:Registry": "azure-container-registry",
    "aws:ec2/vpc:Vpc": "aws-vpc",
    "aws:ec2/subnet:Subnet": "aws-subnet",
    "aws:ec2/internetGateway:InternetGateway": "aws-internet-gateway",
    "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway": "aws-internet-gateway",
    "aws:ec2/eip:Eip": "aws-eip",
    "aws:ec2/natGateway:NatGateway": "aws-nat-gateway",
    "aws:ec2/routeTable:RouteTable": "aws-route",
    "aws:ec2/route:Route": "aws-route",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "aws-route",
    "aws:ec2/securityGroup:SecurityGroup": "aws-security-group",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "aws-security-group-rule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "aws-security-group-rule",
    "aws:iam/role:Role": "aws-iam",
    "aws:iam/policy:Policy": "aws-iam",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "aws-iam",
    "aws:ec2/launchTemplate:LaunchTemplate": "aws-launch-template",
    "eks:index:Cluster": "eks-control-plane",
    "aws:eks/nodeGroup:NodeGroup": "eks-node-group",
    "aws:eks/addon:Addon": "eks-addon",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": "eks-pod-identity-association",
    "tls:index/privateKey:PrivateKey": "tls-private-key",
    "tls:index/selfSignedCert:SelfSignedCert": "tls-cert",
    "tls:index/certRequest:CertRequest": "tls-cert",
    "tls:index/locallySignedCert:LocallySignedCert": "tls-cert",
    "kubernetes:apps/v1:Deployment": "k8s-deployment",
    "kubernetes:batch/v1:Job": "k8s-job",
    "kubernetes:helm.sh/v4:Chart": "helm-preflight",
};

/** Plain values of an input tree (secrets unwrapped), as a provider would see them. */
function unwrap(value: any): any {
    if (typeof value === "object" && value !== null && value["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270") {
        return unwrap(value.value);
    }
    return value;
}

/** The duration key of one declared resource; throws for a type this table does not know. */
export function classify(r: ResourceFacts): string {
    if (r.read) return "k8s-read";
    if (r.type.startsWith("pulumi:providers:")) return "provider";
    const byType = TYPE_KEYS[r.type];
    if (byType) return byType;
    if (!r.custom) {
        if (r.type.startsWith("istio-multicluster:index:")) return "component";
        throw new Error(`bench/durations.ts: no duration for component type ${r.type} (${r.name}); add one`);
    }
    if (r.type === "kubernetes:helm.sh/v3:Release") {
        const chart = unwrap(r.inputs.chart);
        const release = unwrap(r.inputs.name);
        if (chart === "base") return "helm-istio-base";
        if (chart === "istiod") return "helm-istiod";
        if (chart === "aws-load-balancer-controller") return "helm-aws-lbc";
        if (chart === "gateway") return release === "istio-eastwestgateway" ? "helm-eastwest-gateway" : "helm-ingress-gateway";
        throw new Error(`bench/durations.ts: no duration for Helm chart ${chart} (${r.name}); add one`);
    }
    if (r.type === "kubernetes:core/v1:Secret") {
        return unwrap(r.inputs.type) === "kubernetes.io/service-account-token" ? "k8s-sa-token" : "k8s-object";
    }
    if (r.type === "kubernetes:core/v1:Service") {
        const metadata = unwrap(r.inputs.metadata) ?? {};
        const skipAwait = unwrap(metadata.annotations)?.["pulumi.com/skipAwait"] === "true";
        const selector = unwrap(unwrap(r.inputs.spec)?.selector);
        return !skipAwait && selector && Object.keys(selector).length > 0 ? "k8s-service-endpoints" : "k8s-object";
    }
    if (r.type.startsWith("kubernetes:")) return "k8s-object";
    throw new Error(`bench/durations.ts: no duration for resource type ${r.type} (${r.name}); add one`);
}

export function minutesOf(key: string): number {
    const entry = DURATIONS[key];
    if (!entry) throw new Error(`bench/durations.ts: unknown duration key ${key}`);
    return entry.minutes;
}
