/**
 * Azure: AKS clusters with Azure CNI Overlay, each on its own subnet of one shared VNet, optionally an ACR
 * the clusters can pull from. Every setting is validated (types, CIDR arithmetic, versions) before any
 * resource is declared.
 */
import { createHash } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as containerregistry from "@pulumi/azure-native/containerregistry";
import { z } from "zod";
import { AksCluster, BUILT_IN_ROLES, roleDefinitionId } from "../components/azure/aksCluster";
import { AzureNetwork, parseVnetId, subnetOfVnet } from "../components/azure/azureNetwork";
import { gatewayExposureAnnotations } from "../components/core/eastWestGateway";
import { Cidr, CidrError, cidrContains, cidrSize, cidrsOverlap, formatAddress, parseAddress, parseCidr } from "../components/common/cidr";
import { ConfigError, clusterList, commonClusterFields, commonSettings, formatPath, fromText, kubernetesVersionProblems, validate } from "./config";
import { Platform, PlatformClusters } from "./platform";

export const AZURE_DEFAULTS = {
    namePrefix: "multicluster",
    vnetCidr: "10.1.0.0/16",
    kubernetesVersion: "1.35",
    nodeCount: 3,
    vmSize: "Standard_D2s_v5",
    skuTier: "Free",
    containerRegistrySku: "Basic",
} as const;

export const INTERNAL_LB_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-internal";
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ranges AKS reserves: pod and service CIDRs must stay clear of them. */
export const AKS_RESERVED_RANGES = ["169.254.0.0/16", "172.30.0.0/16", "172.31.0.0/16", "192.0.2.0/24"];

/** Addresses Azure keeps in every subnet (network, broadcast and three for the platform). */
const AZURE_RESERVED_PER_SUBNET = 5;

// ---- settings --------------------------------------------------------------------------------------

const ipv4Cidr = (example: string) =>
    z.string({ error: (iss) => (iss.input === undefined ? `is required: an IPv4 CIDR block such as ${example}` : `must be an IPv4 CIDR block such as ${example}`) }).superRefine((value, ctx) => {
        try {
            const cidr = parseCidr(value);
            if (cidr.family !== 4) ctx.addIssue({ code: "custom", message: `must be an IPv4 CIDR block such as ${example}; these AKS clusters are IPv4 only` });
        } catch (e) {
            ctx.addIssue({ code: "custom", message: e instanceof CidrError ? e.message : String(e) });
        }
    });

const ipv4Address = z.string({ error: "must be an IPv4 address such as 10.100.0.10" }).superRefine((value, ctx) => {
    try {
        if (parseAddress(value).family !== 4) ctx.addIssue({ code: "custom", message: "must be an IPv4 address such as 10.100.0.10" });
    } catch (e) {
        ctx.addIssue({ code: "custom", message: e instanceof CidrError ? e.message : String(e) });
    }
});

const integer = (min: number, max: number, what: string) =>
    fromText(
        z
            .number({ error: `must be a whole number from ${min} to ${max} (${what})` })
            .int({ error: `must be a whole number from ${min} to ${max} (${what})` })
            .min(min, { error: `must be at least ${min} (${what})` })
            .max(max, { error: `must be at most ${max} (${what})` }),
    );

const boolean = fromText(z.boolean({ error: "must be true or false" }));

export const kubernetesVersion = z
    .string({ error: `must be a Kubernetes version such as "${AZURE_DEFAULTS.kubernetesVersion}" (text, in quotes)` })
    .superRefine((v, ctx) => {
        const m = /^1\.(\d+)(\.\d+)?$/.exec(v);
        if (!m) {
            ctx.addIssue({ code: "custom", message: `must be a Kubernetes version "1.<minor>" (AKS picks the newest patch) or "1.<minor>.<patch>", such as "${AZURE_DEFAULTS.kubernetesVersion}"; got "${v}"` });
        }
        // Which minors are allowed depends on istioVersion: see validateAzureSettings.
    });

const vmSize = z
    .string({ error: `must be an Azure VM size such as ${AZURE_DEFAULTS.vmSize}` })
    .regex(/^(Standard|Basic)_[A-Za-z0-9_-]+$/, { error: `must be an Azure VM size such as ${AZURE_DEFAULTS.vmSize} (Standard_<family><vCPUs>…)` });

/** One AKS cluster (`istio-multicluster:clusters[i]`). */
export const azureClusterSchema = z.strictObject({
    ...commonClusterFields,
    /** Node subnet made by the program, inside `azure.vnetCidr` (or the VNet of `azure.vnetId`). */
    subnetCidr: ipv4Cidr("10.1.1.0/24").optional(),
    /** With `azure.vnetId`: an existing subnet of that VNet, instead of `subnetCidr`. */
    subnetId: z
        .string({ error: "must be a subnet's resource ID" })
        .regex(/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Network\/virtualNetworks\/[^/]+\/subnets\/[^/]+$/i, {
            error: "must be a subnet's resource ID: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>",
        })
        .optional(),
    /** Overlay pod range: outside the VNet, distinct per cluster. */
    podCidr: ipv4Cidr("10.244.0.0/16"),
    /** Kubernetes service range: outside the VNet, distinct per cluster. */
    serviceCidr: ipv4Cidr("10.100.0.0/16"),
    /** Cluster DNS service IP; default the 10th address of serviceCidr. */
    dnsServiceIp: ipv4Address.optional(),
    nodeCount: integer(1, 1000, "nodes in the system node pool").default(AZURE_DEFAULTS.nodeCount),
    vmSize: vmSize.default(AZURE_DEFAULTS.vmSize),
    kubernetesVersion: kubernetesVersion.default(AZURE_DEFAULTS.kubernetesVersion),
});

/** `istio-multicluster:azure`. */
export const azureSectionSchema = z
    .strictObject({
        /** Readable part of Azure resource names. */
        namePrefix: z
            .string({ error: "must be a string" })
            .regex(/^[a-z][a-z0-9-]{0,18}[a-z0-9]$/, { error: "must be 2 to 20 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit" })
            .default(AZURE_DEFAULTS.namePrefix),
        /** VNet address space; every cluster's subnetCidr lies inside it. */
        vnetCidr: ipv4Cidr(AZURE_DEFAULTS.vnetCidr).default(AZURE_DEFAULTS.vnetCidr),
        /** An existing VNet (its resource ID): no VNet is made; clusters use a subnetId of it or get a subnetCidr in it. */
        vnetId: z
            .string({ error: "must be a VNet's resource ID" })
            .refine((v) => parseVnetId(v) !== undefined, {
                error: "must be a VNet's resource ID: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<vnet>",
            })
            .optional(),
        /** Entra ID groups given cluster admin (AKS-managed Entra integration); local accounts are then disabled. */
        adminGroupObjectIds: z
            .array(z.string({ error: "must be a group's object ID (a GUID)" }).regex(GUID, { error: "must be a group's object ID, a GUID such as 00000000-0000-0000-0000-000000000000" }), {
                error: "must be a list of Entra ID group object IDs",
            })
            .optional(),
        /** Who may reach the API servers; empty means anyone (the AKS default). */
        apiServerAuthorizedIpRanges: z
            .array(ipv4Cidr("203.0.113.0/24"), { error: "must be a list of IPv4 CIDR blocks such as [203.0.113.0/24]" })
            .max(190, { error: "must list at most 190 ranges (AKS allows 200, the clusters' egress IPs are added)" })
            .default([]),
        /** AKS pricing tier. */
        skuTier: z.enum(["Free", "Standard"], { error: "must be Free or Standard (Standard adds the uptime SLA)" }).default(AZURE_DEFAULTS.skuTier),
        /** Azure Container Registry the clusters may pull from (the AKS walkthrough's `acr<app><id>`). */
        containerRegistry: z
            .strictObject({
                enabled: boolean.default(true),
                sku: z.enum(["Basic", "Standard", "Premium"], { error: "must be Basic, Standard or Premium" }).default(AZURE_DEFAULTS.containerRegistrySku),
            })
            .prefault({}),
    })
    .prefault({});

export const azureSettingsSchema = z.strictObject({
    ...commonSettings,
    azure: azureSectionSchema,
    clusters: clusterList(azureClusterSchema),
});
export type AzureSettings = z.output<typeof azureSettingsSchema>;
export type AzureClusterSettings = AzureSettings["clusters"][number];

// ---- address plan ----------------------------------------------------------------------------------

export interface AddressPlanCluster {
    name: string;
    subnetCidr: Cidr;
    podCidr: Cidr;
    serviceCidr: Cidr;
    dnsServiceIp: string;
}

/** Nodes AKS may add during an upgrade (max surge 10%, at least one). */
export const surgeNodes = (nodeCount: number) => Math.max(1, Math.ceil(nodeCount / 10));

/**
 * Checks the CIDR arithmetic of validated settings: subnets inside the VNet and big enough, pod and
 * service ranges outside the VNet and AKS's reserved ranges, nothing overlapping anything else, DNS
 * service IPs usable, each cluster its own Istio network. Returns the problems (empty when fine).
 */
export function addressPlanProblems(settings: Pick<AzureSettings, "azure" | "clusters">): string[] {
    const problems: string[] = [];
    const at = (i: number, key: string) => formatPath(["clusters", i, key]);
    const vnetPath = formatPath(["azure", "vnetCidr"]);
    // An existing VNet's address space is Azure's to know: subnets and overlay ranges are checked against it there.
    const vnet = settings.azure.vnetId ? undefined : parseCidr(settings.azure.vnetCidr);
    const reserved = AKS_RESERVED_RANGES.map(parseCidr);

    interface Range {
        path: string;
        cidr: Cidr;
    }
    const subnets: Range[] = [];
    const overlayRanges: Range[] = []; // pod and service ranges: must stay out of the VNet

    settings.clusters.forEach((c, i) => {
        const pods = parseCidr(c.podCidr);
        const services = parseCidr(c.serviceCidr);
        overlayRanges.push({ path: at(i, "podCidr"), cidr: pods }, { path: at(i, "serviceCidr"), cidr: services });

        // A subnetId names a subnet Azure already sized; only subnets the program makes are checked here.
        if (c.subnetCidr !== undefined) {
            const subnet = parseCidr(c.subnetCidr);
            subnets.push({ path: at(i, "subnetCidr"), cidr: subnet });
            if (vnet && !cidrContains(vnet, subnet)) {
                problems.push(`${at(i, "subnetCidr")}: ${subnet.text} is not inside ${vnetPath} ${vnet.text}; pick a subnet of the VNet`);
            }
            const nodesNeeded = c.nodeCount + surgeNodes(c.nodeCount) + 1;
            const usable = Number(cidrSize(subnet)) - AZURE_RESERVED_PER_SUBNET;
            if (subnet.prefix > 29) {
                problems.push(`${at(i, "subnetCidr")}: ${subnet.text} is smaller than /29, the smallest subnet Azure allows`);
            } else if (usable < nodesNeeded) {
                problems.push(
                    `${at(i, "subnetCidr")}: ${subnet.text} has ${usable} usable addresses but ${c.nodeCount} nodes need ${nodesNeeded} ` +
                        `(nodes, ${surgeNodes(c.nodeCount)} upgrade surge, the internal load balancer); use a larger subnet such as a /24`,
                );
            }
        }
        // Azure CNI Overlay gives every node a /24 of the pod range.
        if (pods.prefix > 24) {
            problems.push(`${at(i, "podCidr")}: ${pods.text} is smaller than /24; Azure CNI Overlay gives each node a /24 of it`);
        } else if (2 ** (24 - pods.prefix) < c.nodeCount + surgeNodes(c.nodeCount)) {
            problems.push(`${at(i, "podCidr")}: ${pods.text} holds ${2 ** (24 - pods.prefix)} node ranges (/24 each) but ${c.nodeCount} nodes and their upgrade surge need ${c.nodeCount + surgeNodes(c.nodeCount)}`);
        }
        if (services.prefix < 12) {
            problems.push(`${at(i, "serviceCidr")}: ${services.text} is larger than /12, the most Kubernetes allows for IPv4 services`);
        } else if (services.prefix > 28) {
            problems.push(`${at(i, "serviceCidr")}: ${services.text} is smaller than /28; use a /16 such as 10.100.0.0/16`);
        }
        for (const [key, range] of [["podCidr", pods], ["serviceCidr", services]] as const) {
            for (const r of reserved) {
                if (cidrsOverlap(range, r)) problems.push(`${at(i, key)}: ${range.text} overlaps ${r.text}, which AKS reserves (${AKS_RESERVED_RANGES.join(", ")})`);
            }
        }
        if (c.dnsServiceIp !== undefined && services.prefix <= 28) {
            const ip = parseAddress(c.dnsServiceIp);
            if (!cidrContains(services, ip)) {
                problems.push(`${at(i, "dnsServiceIp")}: ${c.dnsServiceIp} is not inside serviceCidr ${services.text}`);
            } else if (ip.value === services.network || ip.value === services.network + 1n || ip.value === services.network + cidrSize(services) - 1n) {
                problems.push(`${at(i, "dnsServiceIp")}: ${c.dnsServiceIp} is reserved (network address, the kubernetes Service's .1, or broadcast); the usual choice is ${defaultDnsServiceIp(services)}`);
            }
        }
    });

    // Pod and service ranges live outside the VNet (overlay), and no two ranges may overlap.
    for (const r of overlayRanges) {
        if (vnet && cidrsOverlap(r.cidr, vnet)) problems.push(`${r.path}: ${r.cidr.text} overlaps ${vnetPath} ${vnet.text}; pod and service ranges must be outside the VNet`);
    }
    const pairs = (list: Range[]) => list.flatMap((a, i) => list.slice(i + 1).map((b) => [a, b] as const));
    const outsideVnetSubnets = vnet ? subnets.filter((s) => !cidrContains(vnet, s.cidr)) : subnets;
    for (const [a, b] of [...pairs(subnets), ...pairs(overlayRanges), ...outsideVnetSubnets.flatMap((s) => overlayRanges.map((r) => [s, r] as const))]) {
        if (cidrsOverlap(a.cidr, b.cidr)) problems.push(`${b.path}: ${b.cidr.text} overlaps ${a.path.replace(/^istio-multicluster:/, "")} ${a.cidr.text}; every subnet, pod and service range must be distinct`);
    }

    // With Azure CNI Overlay pods are not routable between clusters: each cluster is its own Istio network.
    const networkOwner = new Map<string, number>();
    settings.clusters.forEach((c, i) => {
        const first = networkOwner.get(c.network);
        if (first === undefined) networkOwner.set(c.network, i);
        else {
            problems.push(
                `${at(i, "network")}: "${c.network}" is also the network of clusters[${first}] (${settings.clusters[first].name}); ` +
                    "with Azure CNI Overlay pod IPs are not routable between clusters, so each AKS cluster must be its own Istio network",
            );
        }
    });
    return problems;
}

/**
 * Where each cluster's nodes go: without `azure.vnetId` a subnetCidr in the VNet the program makes; with it, exactly one
 * of an existing subnetId (of that VNet) and a subnetCidr made in it.
 */
export function subnetChoiceProblems(raw: Record<string, unknown>): string[] {
    const problems: string[] = [];
    // On the raw settings, so that this is reported with every other problem; malformed values are the schema's.
    const vnetId = (raw.azure as { vnetId?: unknown } | undefined)?.vnetId;
    const clusters = Array.isArray(raw.clusters) ? (raw.clusters as ({ subnetId?: unknown; subnetCidr?: unknown } | null)[]) : [];
    clusters.forEach((c, i) => {
        if (!c || typeof c !== "object") return;
        const at = (key: string) => formatPath(["clusters", i, key]);
        if (!vnetId) {
            if (c.subnetId !== undefined) problems.push(`${at("subnetId")}: an existing subnet needs its VNet: set azure.vnetId too (or give a subnetCidr for the VNet the program makes)`);
            else if (c.subnetCidr === undefined) problems.push(`${at("subnetCidr")}: is required: an IPv4 CIDR block such as 10.1.1.0/24`);
        } else if ((c.subnetId === undefined) === (c.subnetCidr === undefined)) {
            problems.push(`${formatPath(["clusters", i])}: set exactly one of subnetId (an existing subnet of azure.vnetId) and subnetCidr (a subnet made in it)`);
        } else if (typeof c.subnetId === "string" && typeof vnetId === "string" && !subnetOfVnet(c.subnetId, vnetId)) {
            problems.push(`${at("subnetId")}: is not a subnet of azure.vnetId ${vnetId}`);
        }
    });
    return problems;
}

/** The 10th address of the service range, as `az aks create` picks it. */
export function defaultDnsServiceIp(serviceCidr: Cidr): string {
    return formatAddress(serviceCidr.family, serviceCidr.network + 10n);
}

/** East-west gateway Service annotations for `eastWestLoadBalancer`: Azure's internal load balancer, or the public mark. */
export function gatewayAnnotationsFor(mode: "internal" | "public"): Record<string, string> {
    return gatewayExposureAnnotations(mode, { [INTERNAL_LB_ANNOTATION]: "true" });
}

// ---- names -----------------------------------------------------------------------------------------

/** An AKS DNS prefix: 1-54 letters, digits and '-', starting and ending with a letter or digit. */
export function dnsPrefixFor(stack: string, clusterName: string): string {
    const cleaned = `${stack}-${clusterName}`
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, "-")
        .replace(/-+/g, "-")
        .replace(/^[^a-z0-9]+/, "");
    return cleaned.slice(0, 54).replace(/[^a-z0-9]+$/, "") || clusterName;
}

/**
 * An ACR name: globally unique, 5-50 letters and digits. `seed` identifies the deployment (subscription and
 * auto-named resource group, whose suffix is chosen once and kept in state), so the name is the same on
 * every run and differs between stacks, also between users of a local backend with the same stack name.
 */
export function registryNameFor(namePrefix: string, seed: string): string {
    const hash = createHash("sha256").update(seed).digest("hex").slice(0, 10);
    return `acr${namePrefix.replace(/[^a-z0-9]/g, "").slice(0, 30)}${hash}`;
}

// ---- platform --------------------------------------------------------------------------------------

/** Validates every setting (and `azure-native:location`), then reports all problems at once. */
export function validateAzureSettings(raw: Record<string, unknown>, location: string | undefined): AzureSettings {
    // Where each cluster's nodes go (subnetCidr, or subnetId with vnetId) first, as the schema listed it before.
    const problems: string[] = subnetChoiceProblems(raw);
    let settings: AzureSettings | undefined;
    try {
        settings = validate(azureSettingsSchema, raw);
    } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        problems.push(...e.problems);
    }
    if (settings) problems.push(...addressPlanProblems(settings));
    if (settings?.azure.vnetId && (raw.azure as Record<string, unknown> | undefined)?.vnetCidr !== undefined) {
        problems.push(`${formatPath(["azure", "vnetCidr"])}: not used with azure.vnetId (the VNet exists; its address space is Azure's); remove it`);
    }
    // Which Kubernetes versions are allowed depends on istioVersion (checked on the raw settings, so always reported).
    problems.push(...kubernetesVersionProblems(raw, AZURE_DEFAULTS.kubernetesVersion));
    if (!location) {
        problems.push(
            "azure-native:location: is required: the Azure region for every resource; set it with `pulumi config set azure-native:location <region>`, such as eastus (or set ARM_LOCATION)",
        );
    }
    if (problems.length > 0 || !settings) throw new ConfigError(problems);
    return settings;
}

/** Where the azure-native provider looks too: its config, else ARM_LOCATION (what CI sets). */
const azureLocation = () => new pulumi.Config("azure-native").get("location") ?? (process.env.ARM_LOCATION || undefined);

export const azurePlatform: Platform<AzureSettings> = {
    schema: azureSettingsSchema,
    validate: (raw) => validateAzureSettings(raw, azureLocation()),
    build: buildAzure,
};

function buildAzure(settings: AzureSettings): PlatformClusters {
    const location = azureLocation();
    const { azure } = settings;
    const stack = pulumi.getStack();
    const project = pulumi.getProject();
    const tags = { "managed-by": "pulumi", "pulumi-project": project, "pulumi-stack": stack };
    const restrictApiServer = azure.apiServerAuthorizedIpRanges.length > 0;
    // Open API servers are allowed (the AKS default, and what hosted CI runners need), just not silently.
    if (!restrictApiServer) {
        pulumi.log.warn(
            `${formatPath(["azure", "apiServerAuthorizedIpRanges"])}: empty, so the API servers of ${settings.clusters.map((c) => c.name).join(", ")} accept any address; list your own (docs/safety.md)`,
        );
    }

    const net = new AzureNetwork("network", {
        location: location!,
        namePrefix: azure.namePrefix,
        vnetCidr: azure.vnetCidr,
        ...(azure.vnetId ? { vnetId: azure.vnetId } : {}),
        // Restricted API servers must let the other clusters' istiod in: give each cluster an egress IP known up front.
        subnets: settings.clusters.map((c) => ({ name: c.name, ...(c.subnetId ? { id: c.subnetId } : { cidr: c.subnetCidr }), egressIp: restrictApiServer })),
        tags,
    });

    const egressCidrs = Object.values(net.egressIps).map((ip) => pulumi.interpolate`${ip.ipAddress}/32`);
    const authorizedIpRanges = restrictApiServer ? [...azure.apiServerAuthorizedIpRanges, ...egressCidrs] : undefined;
    const { subscriptionId } = authorization.getClientConfigOutput();
    const annotations = gatewayAnnotationsFor(settings.eastWestLoadBalancer);

    const aksClusters = settings.clusters.map(
        (c) =>
            new AksCluster(`aks-${c.name}`, {
                clusterName: c.name,
                network: c.network,
                resourceGroupName: net.resourceGroupName,
                location: location!,
                subscriptionId,
                subnetId: net.subnetIds[c.name],
                kubernetesVersion: c.kubernetesVersion,
                nodeCount: c.nodeCount,
                vmSize: c.vmSize,
                podCidr: c.podCidr,
                serviceCidr: c.serviceCidr,
                dnsServiceIp: c.dnsServiceIp ?? defaultDnsServiceIp(parseCidr(c.serviceCidr)),
                dnsPrefix: dnsPrefixFor(stack, c.name),
                skuTier: azure.skuTier,
                authorizedIpRanges,
                egressIpId: net.egressIps[c.name]?.id,
                gatewayServiceAnnotations: annotations,
                ...(azure.adminGroupObjectIds?.length ? { adminGroupObjectIds: azure.adminGroupObjectIds } : {}),
                tags,
            }),
    );

    const platformOutputs: Record<string, pulumi.Output<unknown>> = {
        resourceGroupName: net.resourceGroupName,
        virtualNetworkName: net.virtualNetworkName,
        aksClusterNames: pulumi.output(Object.fromEntries(aksClusters.map((a) => [a.clusterName, a.aksName]))),
    };
    if (restrictApiServer) {
        platformOutputs.egressIps = pulumi.output(Object.fromEntries(Object.entries(net.egressIps).map(([k, ip]) => [k, ip.ipAddress])));
    }

    if (azure.containerRegistry.enabled) {
        const registry = new containerregistry.Registry("acr", {
            resourceGroupName: net.resourceGroupName,
            location: location!,
            registryName: pulumi
                .all([subscriptionId, net.resourceGroupName])
                .apply(([subscription, group]) => registryNameFor(azure.namePrefix, `${subscription}/${group}`)),
            sku: { name: azure.containerRegistry.sku },
            adminUserEnabled: false,
            tags,
        });
        for (const aks of aksClusters) {
            new authorization.RoleAssignment(`acr-pull-${aks.clusterName}`, {
                principalId: aks.kubeletObjectId,
                principalType: authorization.PrincipalType.ServicePrincipal,
                roleDefinitionId: roleDefinitionId(subscriptionId, BUILT_IN_ROLES.acrPull),
                scope: registry.id,
            });
        }
        platformOutputs.containerRegistryLoginServer = registry.loginServer;
    }

    return {
        clusters: aksClusters,
        platformOutputs,
    };
}
