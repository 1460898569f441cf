/**
 * Existing-cluster mode: bring your own clusters (kind, on-premises, any cloud) as kubeconfigs.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { z } from "zod";
import { Cluster, kubeconfigForContext, kubeconfigServer } from "../components/core/cluster";
import { gatewayExposureAnnotations } from "../components/core/eastWestGateway";
import { networksOf } from "../components/core/mesh";
import { Platform } from "./platform";
import { ConfigError, clusterList, commonSettings, existingClusterSchema, formatPath } from "./config";
import { describeIssues } from "./validation";

export const existingSettingsSchema = z.strictObject({
    ...commonSettings,
    clusters: clusterList(existingClusterSchema),
});
export type ExistingSettings = z.output<typeof existingSettingsSchema>;

export interface ResolvedKubeconfig {
    clusterName: string;
    network: string;
    /** Only the chosen context, its cluster and its user (kubeconfigForContext). */
    kubeconfig: string;
    apiServerUrl: string;
    ipFamily: string;
    gatewayServiceAnnotations: Record<string, string>;
    gatewayServiceType: string;
    gatewayAddress?: string;
    gatewayNodePort?: number;
}

const expandHome = (p: string) => (p.startsWith("~/") ? path.join(os.homedir(), p.slice(2)) : p);

/** What resolving the kubeconfigs reads: entries the schema refused are undefined. */
interface KubeconfigSettings {
    eastWestLoadBalancer: ExistingSettings["eastWestLoadBalancer"];
    clusters: (ExistingSettings["clusters"][number] | undefined)[];
}

/**
 * Reads and checks every cluster's kubeconfig before anything is declared, so a wrong path or context
 * fails the program with the setting's name instead of a half-built mesh.
 */
export function resolveKubeconfigs(settings: KubeconfigSettings, readFile: (p: string) => string = (p) => fs.readFileSync(p, "utf8")): ResolvedKubeconfig[] {
    const problems: string[] = [];
    const resolved: ResolvedKubeconfig[] = [];
    settings.clusters.forEach((c, i) => {
        // An entry the schema refused (see existingPlatform.validate) is reported there.
        if (c === undefined) return;
        let kubeconfig = c.kubeconfig;
        if (c.kubeconfigPath !== undefined) {
            try {
                kubeconfig = readFile(expandHome(c.kubeconfigPath));
            } catch (e) {
                problems.push(`${formatPath(["clusters", i, "kubeconfigPath"])}: cannot read "${c.kubeconfigPath}": ${(e as Error).message}`);
                return;
            }
        }
        let minimal: string;
        try {
            minimal = kubeconfigForContext(kubeconfig!, c.kubeconfigContext);
        } catch (e) {
            const setting = c.kubeconfigContext !== undefined ? "kubeconfigContext" : c.kubeconfigPath !== undefined ? "kubeconfigPath" : "kubeconfig";
            problems.push(`${formatPath(["clusters", i, setting])}: not a usable kubeconfig (${(e as Error).message}); check it and "kubeconfigContext"`);
            return;
        }
        resolved.push({
            clusterName: c.name,
            network: c.network,
            kubeconfig: minimal,
            apiServerUrl: c.apiServerUrl ?? kubeconfigServer(minimal),
            ipFamily: c.ipFamily,
            // No cloud to say how "internal" is done: the user's annotations do (eastWestProblems insists on them).
            gatewayServiceAnnotations: { ...gatewayExposureAnnotations(settings.eastWestLoadBalancer, {}), ...c.eastWestServiceAnnotations },
            gatewayServiceType: c.eastWestServiceType,
            ...(c.eastWestServiceType === "NodePort" ? { gatewayAddress: c.eastWestGatewayAddress, gatewayNodePort: c.eastWestNodePort } : {}),
        });
    });
    if (problems.length > 0) throw new ConfigError(problems);
    return resolved;
}

/**
 * `eastWestLoadBalancer: internal` on clusters without a cloud: there is nothing to map it to but the user's own
 * load-balancer annotations, so a multi-network mesh needs them on every cluster whose gateway is a LoadBalancer
 * (or a NodePort gateway, or `public` said out loud). A setting must not mean nothing.
 */
export function eastWestProblems(settings: ExistingSettings): string[] {
    if (settings.eastWestLoadBalancer !== "internal" || networksOf(settings.clusters).length < 2) return [];
    return settings.clusters.flatMap((c, i) =>
        c.eastWestServiceType === "LoadBalancer" && Object.keys(c.eastWestServiceAnnotations ?? {}).length === 0
            ? [
                  `${formatPath(["clusters", i, "eastWestServiceAnnotations"])}: eastWestLoadBalancer is internal, but ${c.name} was not made by the program, so no cloud ` +
                      'makes its gateway\'s load balancer internal: give your load balancer\'s internal annotations here (e.g. {"networking.gke.io/load-balancer-type": "Internal"}), ' +
                      "or set eastWestServiceType: NodePort, or eastWestLoadBalancer: public",
              ]
            : [],
    );
}

type ValidatedExisting = ExistingSettings & { resolved: ResolvedKubeconfig[] };

export const existingPlatform: Platform<ValidatedExisting> = {
    schema: existingSettingsSchema,
    validate: (raw) => {
        const parsed = existingSettingsSchema.safeParse(raw);
        if (parsed.success) {
            // Every problem at once: the gateway settings' and the kubeconfigs'.
            const problems = eastWestProblems(parsed.data);
            let resolved: ResolvedKubeconfig[] = [];
            try {
                resolved = resolveKubeconfigs(parsed.data);
            } catch (e) {
                if (!(e instanceof ConfigError)) throw e;
                problems.push(...e.problems);
            }
            if (problems.length > 0) throw new ConfigError(problems);
            return { ...parsed.data, resolved };
        }
        // The kubeconfigs of the well-formed entries are still read, so that their problems come with the others.
        const problems = describeIssues(existingSettingsSchema, parsed.error.issues);
        const entries = (Array.isArray(raw.clusters) ? raw.clusters : []).map((c) => existingClusterSchema.safeParse(c).data);
        try {
            resolveKubeconfigs({ eastWestLoadBalancer: "internal", clusters: entries });
        } catch (e) {
            if (!(e instanceof ConfigError)) throw e;
            problems.push(...e.problems);
        }
        throw new ConfigError(problems);
    },
    build: (settings) => ({ clusters: existingClusters(settings.resolved), platformOutputs: {} }),
    // Clusters the program did not make: look for an Istio it does not own before changing anything.
    preflight: true,
    // Nothing public unless asked: the samples' ingress stays inside the cluster.
    samplesIngressServiceType: "ClusterIP",
};

export function existingClusters(resolved: ResolvedKubeconfig[]): Cluster[] {
    return resolved.map(
        (c) =>
            new Cluster(c.clusterName, {
                clusterName: c.clusterName,
                network: c.network,
                kubeconfig: c.kubeconfig,
                apiServerUrl: c.apiServerUrl,
                ipFamily: c.ipFamily,
                gatewayServiceAnnotations: c.gatewayServiceAnnotations,
                gatewayServiceType: c.gatewayServiceType,
                gatewayAddress: c.gatewayAddress,
                gatewayNodePort: c.gatewayNodePort,
            }),
    );
}
