/**
 * Mocks that answer like Azure and like AWS for the azure and aws stacks (shared by their tests and the
 * first-preview test). The created state they describe is also what the first-preview model turns unknown.
 */
import { MockOptions } from "./mocks";
import { kubeconfigFor } from "./fixtures";

// ---- Azure ------------------------------------------------------------------------------------------

export const LOCATION = "eastus";
export const SUBSCRIPTION = "11111111-2222-3333-4444-555555555555";
export const CREDENTIALS_TOKEN = "azure-native:containerservice:listManagedClusterUserCredentials";
export const CLIENT_CONFIG_TOKEN = "azure-native:authorization:getClientConfig";

export const T = {
    resourceGroup: "azure-native:resources:ResourceGroup",
    vnet: "azure-native:network:VirtualNetwork",
    subnet: "azure-native:network:Subnet",
    publicIp: "azure-native:network:PublicIPAddress",
    aks: "azure-native:containerservice:ManagedCluster",
    roleAssignment: "azure-native:authorization:RoleAssignment",
    registry: "azure-native:containerregistry:Registry",
    k8sProvider: "pulumi:providers:kubernetes",
    release: "kubernetes:helm.sh/v3:Release",
    secret: "kubernetes:core/v1:Secret",
    namespace: "kubernetes:core/v1:Namespace",
} as const;

/** What Azure would call the auto-named managed cluster with this logical name. */
export const aksAzureName = (logicalName: string) => `${logicalName}a1b2c3d4`;
export const aksFqdn = (logicalName: string) => `${logicalName}-dns-5f3e.hcp.${LOCATION}.azmk8s.io`;
export const RESOURCE_GROUP = "rg-multicluster9f8e7d6c";

export interface AzureMockRecord {
    /** Inputs of every credentials invoke, in order. */
    credentialCalls: Record<string, unknown>[];
    clientConfigCalls: number;
}

export function azureMocks(record: AzureMockRecord): MockOptions {
    return {
        calls: {
            [CREDENTIALS_TOKEN]: (inputs) => {
                record.credentialCalls.push(inputs);
                // Answer only for clusters that exist, by the name Azure gave them.
                const logical = String(inputs.resourceName).replace(/a1b2c3d4$/, "");
                if (inputs.resourceGroupName !== RESOURCE_GROUP || aksAzureName(logical) !== inputs.resourceName) {
                    throw new Error(`ResourceNotFound: ${inputs.resourceGroupName}/${inputs.resourceName}`);
                }
                const kubeconfig = kubeconfigFor(String(inputs.resourceName), `https://${aksFqdn(logical)}:443`);
                return { kubeconfigs: [{ name: "clusterUser", value: Buffer.from(kubeconfig).toString("base64") }] };
            },
            [CLIENT_CONFIG_TOKEN]: () => {
                record.clientConfigCalls++;
                return { subscriptionId: SUBSCRIPTION, tenantId: "tenant", clientId: "client", objectId: "me" };
            },
        },
        outputs: {
            [T.resourceGroup]: () => ({ name: RESOURCE_GROUP }),
            [T.vnet]: (_inputs, name) => ({ name: `${name}0a0b0c0d` }),
            [T.subnet]: (inputs) => ({ name: inputs.subnetName }),
            [T.publicIp]: (_inputs, name) => ({ name, ipAddress: name.endsWith("cluster1") ? "20.1.1.1" : "20.2.2.2" }),
            [T.aks]: (_inputs, name) => ({
                name: aksAzureName(name),
                fqdn: aksFqdn(name),
                identity: { type: "SystemAssigned", principalId: `principal-of-${name}`, tenantId: "tenant" },
                identityProfile: { kubeletidentity: { objectId: `kubelet-of-${name}`, clientId: "c", resourceId: "r" } },
            }),
            [T.registry]: (inputs) => ({ name: inputs.registryName, loginServer: `${inputs.registryName}.azurecr.io` }),
        },
    };
}

export const newRecord = (): AzureMockRecord => ({ credentialCalls: [], clientConfigCalls: 0 });

// ---- AWS --------------------------------------------------------------------------------------------

export const REGION = "us-west-2";
export const ACCOUNT = "123456789012";
export const VPC_IPV6 = "2600:1f14:abc:de00::/56";
export const ZONES = ["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"];

export const endpointOf = (clusterName: string) => `https://${Buffer.from(clusterName).toString("hex").toUpperCase()}.gr7.${REGION}.eks.amazonaws.com`;

/** What `@pulumi/eks` writes: an exec (`aws eks get-token`) kubeconfig. */
export function eksKubeconfig(clusterName: string): Record<string, unknown> {
    return {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "kubernetes", cluster: { server: endpointOf(clusterName), "certificate-authority-data": Buffer.from(`eks ca of ${clusterName}`).toString("base64") } }],
        contexts: [{ name: "aws", context: { cluster: "kubernetes", user: "aws" } }],
        "current-context": "aws",
        users: [
            {
                name: "aws",
                user: {
                    exec: {
                        apiVersion: "client.authentication.k8s.io/v1beta1",
                        command: "aws",
                        args: ["--region", REGION, "eks", "get-token", "--cluster-name", clusterName, "--output", "json"],
                    },
                },
            },
        ],
    };
}

export function awsMocks(): MockOptions {
    return {
        calls: {
            "aws:index/getPartition:getPartition": () => ({ id: "aws", partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws" }),
            "aws:index/getRegion:getRegion": () => ({ id: REGION, name: REGION, region: REGION, endpoint: `ec2.${REGION}.amazonaws.com`, description: "US West (Oregon)" }),
            "aws:index/getAvailabilityZones:getAvailabilityZones": (inputs) => {
                // Only regular zones are wanted (no Local Zones).
                expect(inputs.filters).toEqual([{ name: "opt-in-status", values: ["opt-in-not-required"] }]);
                return { id: REGION, region: REGION, names: ZONES, zoneIds: ZONES.map((_, i) => `usw2-az${i + 1}`), groupNames: ZONES.map(() => REGION) };
            },
        },
        outputs: {
            // A remote component: under mocks its outputs are only what is returned here.
            "eks:index:Cluster": (inputs) => ({
                eksCluster: {
                    name: inputs.name,
                    arn: `arn:aws:eks:${REGION}:${ACCOUNT}:cluster/${inputs.name}`,
                    endpoint: endpointOf(inputs.name),
                    createdAt: "2026-11-21T08:00:00Z",
                    vpcConfig: { clusterSecurityGroupId: `sg-eks-${inputs.name}` },
                },
                kubeconfigJson: JSON.stringify(eksKubeconfig(inputs.name)),
                kubeconfig: eksKubeconfig(inputs.name),
            }),
            "aws:ec2/vpc:Vpc": () => ({ ipv6CidrBlock: VPC_IPV6, arn: `arn:aws:ec2:${REGION}:${ACCOUNT}:vpc/vpc-mock` }),
            "aws:ec2/launchTemplate:LaunchTemplate": () => ({ latestVersion: 1 }),
            "aws:iam/role:Role": (_inputs, name) => ({ arn: `arn:aws:iam::${ACCOUNT}:role/${name}`, name }),
            "aws:iam/policy:Policy": (_inputs, name) => ({ arn: `arn:aws:iam::${ACCOUNT}:policy/${name}` }),
        },
    };
}
