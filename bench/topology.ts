/**
 * Stack configs the benchmark runs: the committed `Pulumi.<stack>.yaml` files as they are, and topologies of
 * N clusters generated from them (same per-cluster settings, N names, non-overlapping address ranges).
 */
import * as fs from "fs";
import * as path from "path";
import { parse, stringify } from "yaml";

export type Platform = "existing" | "azure" | "aws";
export const PLATFORMS: Platform[] = ["existing", "azure", "aws"];

/** The config map as the Pulumi engine hands it to the program: every value a string, objects as JSON. */
export type FlatConfig = Record<string, string>;

/** The project root (the directory with Pulumi.yaml), wherever the compiled benchmark runs from. */
export function projectRoot(from = __dirname): string {
    let dir = from;
    for (;;) {
        if (fs.existsSync(path.join(dir, "Pulumi.yaml")) && fs.existsSync(path.join(dir, "package.json"))) return dir;
        const up = path.dirname(dir);
        if (up === dir) throw new Error(`no Pulumi.yaml above ${from}`);
        dir = up;
    }
}

/** Region settings the clouds' stack files leave to the user. */
const REGION: Record<Platform, FlatConfig> = {
    existing: {},
    azure: { "azure-native:location": "eastus" },
    aws: { "aws:region": "us-west-2" },
};

function flatten(config: Record<string, unknown>): FlatConfig {
    return Object.fromEntries(
        Object.entries(config).map(([k, v]) => [k, typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)]),
    );
}

/** A committed stack file, flattened, plus the region it needs. */
export function committedStack(platform: "azure" | "aws"): FlatConfig {
    const file = path.join(projectRoot(), `Pulumi.${platform}.yaml`);
    const doc = parse(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> };
    return { ...flatten(doc.config ?? {}), ...REGION[platform] };
}

function kubeconfigFor(name: string): string {
    return stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name, cluster: { server: `https://${name}.example.internal:6443`, "certificate-authority-data": Buffer.from(`ca of ${name}`).toString("base64") } }],
        contexts: [{ name, context: { cluster: name, user: name } }],
        "current-context": name,
        users: [{ name, user: { token: `admin-token-of-${name}` } }],
    });
}

/**
 * N clusters of one platform.
 * - existing: kubeconfigs given inline, each cluster its own network (east-west gateways everywhere).
 * - azure: Pulumi.azure.yaml's first cluster repeated: subnet 10.1.i.0/24 in the committed VNet, pods
 *   10.(127+i).0.0/16, services 10.(63+i).0.0/16, each cluster its own network (Azure CNI Overlay).
 * - aws: Pulumi.aws.yaml's two clusters alternated (IPv4, IPv6, IPv4, …) in the committed VPC, one network.
 */
export function generatedStack(platform: Platform, n: number): FlatConfig {
    if (n < 1 || n > 64) throw new Error(`cluster count ${n} out of range 1..64`);
    const index = Array.from({ length: n }, (_, k) => k + 1);
    if (platform === "existing") {
        return flatten({
            "istio-multicluster:platform": "existing",
            "istio-multicluster:meshId": "mesh1",
            // Clusters the program did not make have no cloud to make a gateway internal (stacks/existing.ts).
            "istio-multicluster:eastWestLoadBalancer": "public",
            "pulumi:disable-default-providers": ["kubernetes"],
            "istio-multicluster:clusters": index.map((i) => ({ name: `cluster${i}`, network: `network${i}`, kubeconfig: kubeconfigFor(`cluster${i}`) })),
        });
    }
    const base = committedStack(platform);
    const committed = JSON.parse(base["istio-multicluster:clusters"]) as Record<string, unknown>[];
    let clusters: Record<string, unknown>[];
    if (platform === "azure") {
        clusters = index.map((i) => ({
            ...committed[0],
            name: `cluster${i}`,
            network: `network${i}`,
            subnetCidr: `10.1.${i}.0/24`,
            podCidr: `10.${127 + i}.0.0/16`,
            serviceCidr: `10.${63 + i}.0.0/16`,
        }));
    } else {
        clusters = index.map((i) => ({ ...committed[(i - 1) % committed.length], name: `cluster-${i}`, network: "network1" }));
    }
    return { ...base, "istio-multicluster:clusters": JSON.stringify(clusters) };
}
