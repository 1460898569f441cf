/**
 * Azure settings: every bad input fails before anything is declared, with the setting named and what is
 * allowed. The base case is Pulumi.azure.yaml itself.
 */
import { ConfigError, rawSettings } from "../../stacks/config";
import {
    addressPlanProblems,
    AZURE_DEFAULTS,
    defaultDnsServiceIp,
    dnsPrefixFor,
    gatewayAnnotationsFor,
    registryNameFor,
    surgeNodes,
    validateAzureSettings,
} from "../../stacks/azure";
import { parseCidr } from "../../components/common/cidr";
import { kubeconfigFromCredentials, roleDefinitionId } from "../../components/azure/aksCluster";
import { loadStackConfig } from "../support/stackConfig";

type Raw = Record<string, any>;

const seed = (): Raw => rawSettings(loadStackConfig("azure") as Record<string, string>);

/** The problems reported for the seed config changed by `change`. */
/** `location` null: not set. */
function problems(change: (raw: Raw) => void, location: string | null = "eastus"): string[] {
    const raw = seed();
    change(raw);
    try {
        validateAzureSettings(raw, location ?? undefined);
    } catch (e) {
        if (e instanceof ConfigError) return e.problems;
        throw e;
    }
    throw new Error("expected the configuration to be rejected");
}

const c = (i: number, key: string) => `istio-multicluster:clusters[${i}].${key}`;

describe("the committed stack validates, with defaults filled in", () => {
    test("Pulumi.azure.yaml", () => {
        const s = validateAzureSettings(seed(), "eastus");
        expect(s.platform).toBe("azure");
        expect(s.meshId).toBe("mesh1");
        expect(s.eastWestLoadBalancer).toBe("internal");
        expect(s.istioVersion).toBe("1.31.1");
        expect(s.istioChartSource).toBe("https://blob.istio.io/istio-release/charts");
        expect(s.istioImageHub).toBe("docker.io/istio");
        expect(s.azure).toEqual({
            namePrefix: "multicluster",
            vnetCidr: "10.1.0.0/16",
            skuTier: "Free",
            apiServerAuthorizedIpRanges: [],
            containerRegistry: { enabled: true, sku: "Basic" },
        });
        expect(s.clusters.map((x) => [x.name, x.network, x.subnetCidr, x.podCidr, x.serviceCidr, x.nodeCount, x.vmSize, x.kubernetesVersion])).toEqual([
            ["cluster1", "network1", "10.1.1.0/24", "10.244.0.0/16", "10.100.0.0/16", 3, "Standard_D2s_v5", "1.35"],
            ["cluster2", "network2", "10.1.2.0/24", "10.245.0.0/16", "10.101.0.0/16", 3, "Standard_D2s_v5", "1.35"],
        ]);
    });

    test("a minimal config: only the required per-cluster ranges, every other azure setting defaulted", () => {
        const raw = seed();
        delete raw.azure;
        delete raw.eastWestLoadBalancer;
        raw.clusters = raw.clusters.map(({ name, network, subnetCidr, podCidr, serviceCidr }: Raw) => ({ name, network, subnetCidr, podCidr, serviceCidr }));
        const s = validateAzureSettings(raw, "westeurope");
        expect(s.azure).toEqual({
            namePrefix: AZURE_DEFAULTS.namePrefix,
            vnetCidr: AZURE_DEFAULTS.vnetCidr,
            skuTier: "Free",
            apiServerAuthorizedIpRanges: [],
            containerRegistry: { enabled: true, sku: "Basic" },
        });
        expect(s.eastWestLoadBalancer).toBe("internal");
        expect(s.clusters[0]).toMatchObject({ nodeCount: 3, vmSize: AZURE_DEFAULTS.vmSize, kubernetesVersion: AZURE_DEFAULTS.kubernetesVersion });
        expect(s.clusters[0].dnsServiceIp).toBeUndefined();
    });

    test("numbers and booleans given as text (pulumi config set --path) are accepted", () => {
        const raw = seed();
        raw.clusters[0].nodeCount = "4";
        raw.azure.containerRegistry.enabled = "false";
        const s = validateAzureSettings(raw, "eastus");
        expect(s.clusters[0].nodeCount).toBe(4);
        expect(s.azure.containerRegistry.enabled).toBe(false);
    });
});

describe("bad CIDRs fail with clear messages", () => {
    test("a subnet outside the VNet", () => {
        expect(problems((r) => (r.clusters[1].subnetCidr = "10.2.2.0/24"))).toEqual([
            `${c(1, "subnetCidr")}: 10.2.2.0/24 is not inside istio-multicluster:azure.vnetCidr 10.1.0.0/16; pick a subnet of the VNet`,
        ]);
    });

    test("overlapping subnets", () => {
        expect(problems((r) => (r.clusters[1].subnetCidr = "10.1.1.128/25"))).toEqual([
            `${c(1, "subnetCidr")}: 10.1.1.128/25 overlaps clusters[0].subnetCidr 10.1.1.0/24; every subnet, pod and service range must be distinct`,
        ]);
    });

    test("the same pod range in both clusters", () => {
        expect(problems((r) => (r.clusters[1].podCidr = "10.244.0.0/16"))).toEqual([
            `${c(1, "podCidr")}: 10.244.0.0/16 overlaps clusters[0].podCidr 10.244.0.0/16; every subnet, pod and service range must be distinct`,
        ]);
    });

    test("a pod range overlapping the other cluster's service range", () => {
        expect(problems((r) => (r.clusters[1].podCidr = "10.100.0.0/15"))).toEqual([
            `${c(1, "podCidr")}: 10.100.0.0/15 overlaps clusters[0].serviceCidr 10.100.0.0/16; every subnet, pod and service range must be distinct`,
            `${c(1, "serviceCidr")}: 10.101.0.0/16 overlaps clusters[1].podCidr 10.100.0.0/15; every subnet, pod and service range must be distinct`,
        ]);
    });

    test("a cluster's own pod and service ranges overlapping", () => {
        expect(problems((r) => (r.clusters[0].serviceCidr = "10.244.128.0/20"))).toEqual([
            `${c(0, "serviceCidr")}: 10.244.128.0/20 overlaps clusters[0].podCidr 10.244.0.0/16; every subnet, pod and service range must be distinct`,
        ]);
    });

    test("pod and service ranges inside the VNet", () => {
        expect(
            problems((r) => {
                r.clusters[0].podCidr = "10.1.0.0/20";
                r.clusters[1].serviceCidr = "10.1.200.0/24";
            }),
        ).toEqual([
            `${c(0, "podCidr")}: 10.1.0.0/20 overlaps istio-multicluster:azure.vnetCidr 10.1.0.0/16; pod and service ranges must be outside the VNet`,
            `${c(1, "serviceCidr")}: 10.1.200.0/24 overlaps istio-multicluster:azure.vnetCidr 10.1.0.0/16; pod and service ranges must be outside the VNet`,
        ]);
    });

    test("ranges AKS reserves", () => {
        expect(
            problems((r) => {
                r.clusters[0].serviceCidr = "172.30.0.0/16";
                r.clusters[1].podCidr = "169.254.0.0/16";
            }),
        ).toEqual([
            `${c(0, "serviceCidr")}: 172.30.0.0/16 overlaps 172.30.0.0/16, which AKS reserves (169.254.0.0/16, 172.30.0.0/16, 172.31.0.0/16, 192.0.2.0/24)`,
            `${c(1, "podCidr")}: 169.254.0.0/16 overlaps 169.254.0.0/16, which AKS reserves (169.254.0.0/16, 172.30.0.0/16, 172.31.0.0/16, 192.0.2.0/24)`,
        ]);
    });

    test("host bits set, with the block that was meant", () => {
        expect(problems((r) => (r.clusters[0].subnetCidr = "10.1.1.1/24"))).toEqual([`${c(0, "subnetCidr")}: "10.1.1.1/24" has host bits set; did you mean 10.1.1.0/24?`]);
    });

    test("not CIDR notation, a bad address, IPv6, a number", () => {
        expect(
            problems((r) => {
                r.azure.vnetCidr = "10.1.0.0";
                r.clusters[0].subnetCidr = "10.1.1.300/24";
                r.clusters[0].podCidr = "fd00:10:244::/48";
                r.clusters[1].serviceCidr = 10;
            }),
        ).toEqual([
            'istio-multicluster:azure.vnetCidr: "10.1.0.0" is not a CIDR block; write address/prefix-length, such as 10.1.0.0/16',
            `${c(0, "subnetCidr")}: "10.1.1.300" is not a valid IPv4 address (four numbers 0-255 without leading zeros, such as 10.0.0.10)`,
            `${c(0, "podCidr")}: must be an IPv4 CIDR block such as 10.244.0.0/16; these AKS clusters are IPv4 only`,
            `${c(1, "serviceCidr")}: must be an IPv4 CIDR block such as 10.100.0.0/16`,
        ]);
    });

    test("required ranges missing", () => {
        expect(
            problems((r) => {
                delete r.clusters[0].subnetCidr;
                delete r.clusters[1].podCidr;
            }),
        ).toEqual([`${c(0, "subnetCidr")}: is required: an IPv4 CIDR block such as 10.1.1.0/24`, `${c(1, "podCidr")}: is required: an IPv4 CIDR block such as 10.244.0.0/16`]);
    });

    test("a subnet too small for the nodes, or smaller than Azure allows", () => {
        expect(
            problems((r) => {
                r.clusters[0].subnetCidr = "10.1.1.0/29";
                r.clusters[1].subnetCidr = "10.1.2.0/30";
            }),
        ).toEqual([
            `${c(0, "subnetCidr")}: 10.1.1.0/29 has 3 usable addresses but 3 nodes need 5 (nodes, 1 upgrade surge, the internal load balancer); use a larger subnet such as a /24`,
            `${c(1, "subnetCidr")}: 10.1.2.0/30 is smaller than /29, the smallest subnet Azure allows`,
        ]);
        // 11 usable addresses: fine for 3 nodes, too few for 9.
        expect(() => validateAzureSettings({ ...seed(), clusters: seed().clusters.map((x: Raw, i: number) => ({ ...x, subnetCidr: `10.1.${i + 1}.0/28` })) }, "eastus")).not.toThrow();
        expect(
            problems((r) => {
                r.clusters[0].subnetCidr = "10.1.1.0/28";
                r.clusters[0].nodeCount = 10;
            }),
        ).toEqual([`${c(0, "subnetCidr")}: 10.1.1.0/28 has 11 usable addresses but 10 nodes need 12 (nodes, 1 upgrade surge, the internal load balancer); use a larger subnet such as a /24`]);
    });

    test("a pod range too small for Azure CNI Overlay's /24 per node", () => {
        expect(
            problems((r) => {
                r.clusters[0].podCidr = "10.244.0.0/25";
                r.clusters[1].podCidr = "10.245.0.0/23";
            }),
        ).toEqual([
            `${c(0, "podCidr")}: 10.244.0.0/25 is smaller than /24; Azure CNI Overlay gives each node a /24 of it`,
            `${c(1, "podCidr")}: 10.245.0.0/23 holds 2 node ranges (/24 each) but 3 nodes and their upgrade surge need 4`,
        ]);
    });

    test("service ranges too large or too small", () => {
        expect(
            problems((r) => {
                r.clusters[0].serviceCidr = "10.64.0.0/11";
                r.clusters[1].serviceCidr = "10.101.0.0/29";
            }),
        ).toEqual([
            `${c(0, "serviceCidr")}: 10.64.0.0/11 is larger than /12, the most Kubernetes allows for IPv4 services`,
            `${c(1, "serviceCidr")}: 10.101.0.0/29 is smaller than /28; use a /16 such as 10.100.0.0/16`,
        ]);
    });

    test("DNS service IP outside the service range, or reserved", () => {
        expect(
            problems((r) => {
                r.clusters[0].dnsServiceIp = "10.101.0.10";
                r.clusters[1].dnsServiceIp = "10.101.0.1";
            }),
        ).toEqual([
            `${c(0, "dnsServiceIp")}: 10.101.0.10 is not inside serviceCidr 10.100.0.0/16`,
            `${c(1, "dnsServiceIp")}: 10.101.0.1 is reserved (network address, the kubernetes Service's .1, or broadcast); the usual choice is 10.101.0.10`,
        ]);
        expect(problems((r) => (r.clusters[0].dnsServiceIp = "10.100.0"))).toEqual([
            `${c(0, "dnsServiceIp")}: "10.100.0" is not a valid IPv4 address (four numbers 0-255 without leading zeros, such as 10.0.0.10)`,
        ]);
    });

    test("authorized IP ranges must be IPv4 CIDR blocks", () => {
        expect(
            problems((r) => {
                r.azure.apiServerAuthorizedIpRanges = ["203.0.113.0/24", "203.0.113.7/24", "any"];
            }),
        ).toEqual([
            'istio-multicluster:azure.apiServerAuthorizedIpRanges[1]: "203.0.113.7/24" has host bits set; did you mean 203.0.113.0/24?',
            'istio-multicluster:azure.apiServerAuthorizedIpRanges[2]: "any" is not a CIDR block; write address/prefix-length, such as 10.1.0.0/16',
        ]);
        expect(problems((r) => (r.azure.apiServerAuthorizedIpRanges = "203.0.113.0/24"))).toEqual([
            "istio-multicluster:azure.apiServerAuthorizedIpRanges: must be a list of IPv4 CIDR blocks such as [203.0.113.0/24]",
        ]);
    });
});

describe("other bad settings", () => {
    test("both clusters on one Istio network: overlay pods are not routable between clusters", () => {
        expect(problems((r) => (r.clusters[1].network = "network1"))).toEqual([
            `${c(1, "network")}: "network1" is also the network of clusters[0] (cluster1); with Azure CNI Overlay pod IPs are not routable between clusters, so each AKS cluster must be its own Istio network`,
        ]);
    });

    test("Kubernetes versions: too old, malformed, or a YAML number", () => {
        expect(
            problems((r) => {
                r.clusters[0].kubernetesVersion = "1.31";
                r.clusters[1].kubernetesVersion = "latest";
            }),
        ).toEqual([
            `${c(1, "kubernetesVersion")}: must be a Kubernetes version "1.<minor>" (AKS picks the newest patch) or "1.<minor>.<patch>", such as "1.35"; got "latest"`,
            `${c(0, "kubernetesVersion")}: Kubernetes 1.31 is too old for Istio 1.31.1 (istio-multicluster:istioVersion), which supports Kubernetes 1.32 to 1.36; use one of those, such as "1.35"`,
        ]);
        expect(problems((r) => (r.clusters[1].kubernetesVersion = "1.37.1"))).toEqual([
            `${c(1, "kubernetesVersion")}: Kubernetes 1.37.1 is too new for Istio 1.31.1 (istio-multicluster:istioVersion), which supports Kubernetes 1.32 to 1.36; use one of those, such as "1.35"`,
        ]);
        expect(
            problems((r) => {
                r.istioVersion = "1.30.5";
                r.clusters[0].kubernetesVersion = "1.31.9";
            }),
        ).toEqual([
            `${c(0, "kubernetesVersion")}: Kubernetes 1.31.9 is too old for Istio 1.30.5 (istio-multicluster:istioVersion), which supports Kubernetes 1.32 to 1.36; use one of those, such as "1.35"`,
        ]);
        expect(problems((r) => (r.clusters[0].kubernetesVersion = 1.35))).toEqual([`${c(0, "kubernetesVersion")}: must be a Kubernetes version such as "1.35" (text, in quotes)`]);
        expect(() => validateAzureSettings({ ...seed(), clusters: seed().clusters.map((x: Raw) => ({ ...x, kubernetesVersion: "1.32.7" })) }, "eastus")).not.toThrow();
    });

    test("node counts and VM sizes", () => {
        expect(
            problems((r) => {
                r.clusters[0].nodeCount = 0;
                r.clusters[1].nodeCount = 2.5;
            }),
        ).toEqual([`${c(0, "nodeCount")}: must be at least 1 (nodes in the system node pool)`, `${c(1, "nodeCount")}: must be a whole number from 1 to 1000 (nodes in the system node pool)`]);
        expect(problems((r) => (r.clusters[0].nodeCount = "three"))).toEqual([`${c(0, "nodeCount")}: must be a whole number from 1 to 1000 (nodes in the system node pool)`]);
        expect(problems((r) => (r.clusters[0].vmSize = "D4s_v5"))).toEqual([`${c(0, "vmSize")}: must be an Azure VM size such as Standard_D2s_v5 (Standard_<family><vCPUs>…)`]);
    });

    test("unknown keys get a did-you-mean, in clusters and in the azure section", () => {
        expect(
            problems((r) => {
                r.clusters[0].subnetCIDR = r.clusters[0].subnetCidr;
                delete r.clusters[0].subnetCidr;
                r.azure.vnetCidrs = "10.1.0.0/16";
                r.azure.containerRegistry.skus = "Basic";
            }),
        ).toEqual(
            expect.arrayContaining([
                'istio-multicluster:azure.vnetCidrs: unknown setting; did you mean "vnetCidr"? Allowed here: namePrefix, vnetCidr, vnetId, adminGroupObjectIds, apiServerAuthorizedIpRanges, skuTier, containerRegistry.',
                'istio-multicluster:azure.containerRegistry.skus: unknown setting; did you mean "sku"? Allowed here: enabled, sku.',
                'istio-multicluster:clusters[0].subnetCIDR: unknown setting; did you mean "subnetCidr"? Allowed here: name, network, revisionTags, istioValues, subnetCidr, subnetId, podCidr, serviceCidr, dnsServiceIp, nodeCount, vmSize, kubernetesVersion.',
            ]),
        );
    });

    test("enumerations and names", () => {
        expect(
            problems((r) => {
                r.azure.skuTier = "Premium";
                r.azure.containerRegistry.sku = "Free";
                r.azure.containerRegistry.enabled = "yes";
                r.azure.namePrefix = "Multi_Cluster";
                r.eastWestLoadBalancer = "private";
            }),
        ).toEqual(
            expect.arrayContaining([
                "istio-multicluster:eastWestLoadBalancer: must be internal or public",
                "istio-multicluster:azure.skuTier: must be Free or Standard (Standard adds the uptime SLA)",
                "istio-multicluster:azure.containerRegistry.sku: must be Basic, Standard or Premium",
                "istio-multicluster:azure.containerRegistry.enabled: must be true or false",
                "istio-multicluster:azure.namePrefix: must be 2 to 20 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit",
            ]),
        );
    });

    test("azure-native:location is required, reported with every other problem", () => {
        expect(problems((r) => (r.clusters[0].nodeCount = 0), null)).toEqual([
            `${c(0, "nodeCount")}: must be at least 1 (nodes in the system node pool)`,
            "azure-native:location: is required: the Azure region for every resource; set it with `pulumi config set azure-native:location <region>`, such as eastus (or set ARM_LOCATION)",
        ]);
    });

    test("the AKS-specific checks report every problem at once", () => {
        const found = problems((r) => {
            r.clusters[0].subnetCidr = "10.9.0.0/24";
            r.clusters[1].podCidr = "10.244.0.0/16";
            r.clusters[1].network = "network1";
        });
        expect(found).toHaveLength(3);
    });
});

describe("helpers", () => {
    test("gateway annotations", () => {
        expect(gatewayAnnotationsFor("internal")).toEqual({ "service.beta.kubernetes.io/azure-load-balancer-internal": "true" });
        // Azure's default for a LoadBalancer Service is public; the mark tells policy it is intended.
        expect(gatewayAnnotationsFor("public")).toEqual({ "istio-multicluster/exposure": "public" });
    });
    test("default DNS service IP is the 10th address", () => {
        expect(defaultDnsServiceIp(parseCidr("10.100.0.0/16"))).toBe("10.100.0.10");
        expect(defaultDnsServiceIp(parseCidr("192.168.4.0/22"))).toBe("192.168.4.10");
    });
    test("upgrade surge: 10%, at least one node", () => {
        expect([1, 3, 10, 11, 25].map(surgeNodes)).toEqual([1, 1, 1, 2, 3]);
    });
    test("DNS prefixes: 1-54 letters, digits and '-', from stack and cluster", () => {
        expect(dnsPrefixFor("azure", "cluster1")).toBe("azure-cluster1");
        expect(dnsPrefixFor("Team.Prod_EU", "cluster1")).toBe("team-prod-eu-cluster1");
        const long = dnsPrefixFor("x".repeat(60), "cluster1");
        expect(long).toMatch(/^[a-z0-9][a-z0-9-]{0,52}[a-z0-9]$/);
        expect(dnsPrefixFor("_", "cluster1")).toBe("cluster1");
    });
    test("registry names: alphanumeric, 5-50 characters, stable per deployment, different between deployments", () => {
        const a = registryNameFor("multicluster", "sub/rg-multicluster1234");
        expect(a).toMatch(/^[a-z0-9]{5,50}$/);
        expect(registryNameFor("multicluster", "sub/rg-multicluster1234")).toBe(a);
        expect(registryNameFor("multicluster", "sub/rg-multiclusterabcd")).not.toBe(a);
        expect(registryNameFor("a-very-long-name-prefix", "s")).toMatch(/^acraverylongnameprefix[0-9a-f]{10}$/);
    });
    test("role definition IDs carry the subscription", async () => {
        const id = await new Promise((r) => roleDefinitionId("sub-1", "abc").apply(r));
        expect(id).toBe("/subscriptions/sub-1/providers/Microsoft.Authorization/roleDefinitions/abc");
    });
    test("kubeconfig from AKS credentials", () => {
        expect(kubeconfigFromCredentials({ kubeconfigs: [{ name: "clusterUser", value: Buffer.from("apiVersion: v1\n").toString("base64") }] })).toBe("apiVersion: v1\n");
        expect(() => kubeconfigFromCredentials({ kubeconfigs: [] })).toThrow("AKS returned no kubeconfig");
    });
    test("addressPlanProblems is empty for the seed", () => {
        expect(addressPlanProblems(validateAzureSettings(seed(), "eastus"))).toEqual([]);
    });
});
