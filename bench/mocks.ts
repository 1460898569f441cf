/**
 * Pulumi mocks for the benchmark: they answer like the providers would (outputs the program reads, invokes it
 * makes) and, when asked, take the resource type's typical creation time (durations.ts), scaled, before
 * answering. The SDK sends a resource to the engine only once its inputs and dependsOn have resolved, so the
 * delays add up along the dependencies the program declares, and only along them.
 */
import type * as pulumiType from "@pulumi/pulumi";
import { stringify } from "yaml";
import { classify, minutesOf } from "./durations";
import { coreProviderOutputs, unwrapSecrets as unwrap } from "../test/support/providerOutputs";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

const REGION = "us-west-2";
const ACCOUNT = "123456789012";
const ZONES = ["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"];
const RESOURCE_GROUP = "rg-bench";

function kubeconfigFor(name: string, server: string): string {
    return stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name, cluster: { server, "certificate-authority-data": b64(`ca of ${name}`) } }],
        contexts: [{ name, context: { cluster: name, user: name } }],
        "current-context": name,
        users: [{ name, user: { token: `admin-token-of-${name}` } }],
    });
}

/** What the mocks learnt about one resource: its duration key. */
export interface Classified {
    key: string;
    minutes: number;
}

export class BenchMocks implements pulumiType.runtime.Mocks {
    /** Duration key by `read|type|name`. */
    public readonly classified = new Map<string, Classified>();
    private count = 0;
    private openGate!: () => void;
    /**
     * Simulated time starts once the program has declared what it declares up front: until then the mocks
     * hold their answers, so that the program's start-up CPU time (seconds in a real deployment, next to
     * minutes of provisioning) does not count as provisioning time.
     */
    private readonly gate = new Promise<void>((resolve) => (this.openGate = resolve));
    /** performance.now() when simulated time started. */
    public startedAt = -1;

    /** @param msPerMinute real milliseconds per simulated minute; 0 answers at once. */
    constructor(private readonly msPerMinute: number) {}

    /** Starts simulated time. */
    start(now: number): void {
        this.startedAt = now;
        this.openGate();
    }

    static keyOf(read: boolean, type: string, name: string): string {
        return `${read ? "read" : "register"}|${type}|${name}`;
    }

    async newResource(args: pulumiType.runtime.MockResourceArgs): Promise<{ id: string | undefined; state: Record<string, any> }> {
        const read = args.id !== undefined && args.id !== "";
        const key = classify({ type: args.type, name: args.name, inputs: args.inputs, custom: args.custom ?? true, read });
        const minutes = minutesOf(key);
        this.classified.set(BenchMocks.keyOf(read, args.type, args.name), { key, minutes });
        await this.gate;
        if (this.msPerMinute > 0 && minutes > 0) await new Promise((r) => setTimeout(r, minutes * this.msPerMinute));
        this.count++;
        const id = read ? args.id : `${args.name}-id`;
        return { id, state: { ...args.inputs, ...this.outputsFor(args, read) } };
    }

    call(args: pulumiType.runtime.MockCallArgs): Record<string, any> {
        const inputs = unwrap(args.inputs);
        switch (args.token) {
            case "azure-native:containerservice:listManagedClusterUserCredentials": {
                const name = String(inputs.resourceName);
                return { kubeconfigs: [{ name: "clusterUser", value: b64(kubeconfigFor(name, `https://${name}.hcp.eastus.azmk8s.io:443`)) }] };
            }
            case "azure-native:authorization:getClientConfig":
                return { subscriptionId: "11111111-2222-3333-4444-555555555555", tenantId: "tenant", clientId: "client", objectId: "me" };
            case "aws:index/getPartition:getPartition":
                return { id: "aws", partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws" };
            case "aws:index/getRegion:getRegion":
                return { id: REGION, name: REGION, region: REGION, endpoint: `ec2.${REGION}.amazonaws.com`, description: "US West (Oregon)" };
            case "aws:index/getAvailabilityZones:getAvailabilityZones":
                return { id: REGION, region: REGION, names: ZONES, zoneIds: ZONES.map((_, i) => `usw2-az${i + 1}`), groupNames: ZONES.map(() => REGION) };
            default:
                throw new Error(`bench mocks: no answer for invoke ${args.token}`);
        }
    }

    private outputsFor(args: pulumiType.runtime.MockResourceArgs, read: boolean): Record<string, unknown> {
        const name = args.name;
        switch (args.type) {
            // ---- Azure ----
            case "azure-native:resources:ResourceGroup":
                return { name: RESOURCE_GROUP };
            case "azure-native:network:VirtualNetwork":
                return { name: `${name}0a0b0c0d` };
            case "azure-native:network:Subnet":
                return { name: unwrap(args.inputs).subnetName };
            case "azure-native:network:PublicIPAddress":
                return { name, ipAddress: `20.0.${this.count % 250}.${(this.count * 7) % 250}` };
            case "azure-native:containerservice:ManagedCluster":
                return {
                    name: `${name}a1b2c3d4`,
                    fqdn: `${name}-dns.hcp.eastus.azmk8s.io`,
                    identity: { type: "SystemAssigned", principalId: `principal-of-${name}`, tenantId: "tenant" },
                    identityProfile: { kubeletidentity: { objectId: `kubelet-of-${name}`, clientId: "c", resourceId: "r" } },
                };
            case "azure-native:containerregistry:Registry": {
                const registryName = unwrap(args.inputs).registryName;
                return { name: registryName, loginServer: `${registryName}.azurecr.io` };
            }
            // ---- AWS ----
            case "eks:index:Cluster": {
                const clusterName = unwrap(args.inputs).name as string;
                const endpoint = `https://${b64(clusterName).replace(/=/g, "")}.gr7.${REGION}.eks.amazonaws.com`;
                const kubeconfig = {
                    apiVersion: "v1",
                    kind: "Config",
                    clusters: [{ name: "kubernetes", cluster: { server: endpoint, "certificate-authority-data": b64(`eks ca of ${clusterName}`) } }],
                    contexts: [{ name: "aws", context: { cluster: "kubernetes", user: "aws" } }],
                    "current-context": "aws",
                    users: [{ name: "aws", user: { exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "aws", args: ["eks", "get-token", "--cluster-name", clusterName] } } }],
                };
                return {
                    eksCluster: {
                        name: clusterName,
                        arn: `arn:aws:eks:${REGION}:${ACCOUNT}:cluster/${clusterName}`,
                        endpoint,
                        createdAt: "2026-11-21T08:00:00Z",
                        vpcConfig: { clusterSecurityGroupId: `sg-eks-${clusterName}` },
                    },
                    kubeconfigJson: JSON.stringify(kubeconfig),
                    kubeconfig,
                };
            }
            case "aws:ec2/vpc:Vpc":
                return { ipv6CidrBlock: "2600:1f14:abc:de00::/56", arn: `arn:aws:ec2:${REGION}:${ACCOUNT}:vpc/vpc-bench` };
            case "aws:ec2/launchTemplate:LaunchTemplate":
                return { latestVersion: 1 };
            case "aws:iam/role:Role":
                return { arn: `arn:aws:iam::${ACCOUNT}:role/${name}`, name };
            case "aws:iam/policy:Policy":
                return { arn: `arn:aws:iam::${ACCOUNT}:policy/${name}` };
            default:
                // Kubernetes and TLS: what the test mocks answer too.
                return coreProviderOutputs({ type: args.type, name, inputs: unwrap(args.inputs), provider: args.provider, read, count: this.count }) ?? {};
        }
    }
}
