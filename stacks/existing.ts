/**
 * Existing-cluster mode: bring your own clusters (kind, on-premises, any cloud) as kubeconfigs.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { z } from "zod";
import { Cluster } from "../components/core/cluster";
import { kubeconfigServer } from "../components/core/cluster";
import { gatewayExposureAnnotations } from "../components/core/eastWestGateway";
import { Platform } from "./platform";
import { ConfigError, clusterList, commonSettings, existingClusterSchema, formatPath, validate } from "./config";

export const existingSettingsSchema = z.strictObject({
    ...commonSettings,
    clusters: clusterList(existingClusterSchema),
});
export type ExistingSettings = z.output<typeof existingSettingsSchema>;

export interface ResolvedKubeconfig {
    clusterName: string;
    network: string;
    kubeconfig: string;
    context?: string;
    apiServerUrl: string;
    gatewayServiceAnnotations?: Record<string, string>;
}

const expandHome = (p: string) => (p.startsWith("~/") ? path.join(os.homedir(), p.slice(2)) : p);

/**
 * Reads and checks every cluster's kubeconfig before anything is declared, so a wrong path or context
 * fails the program with the setting's name instead of a half-built mesh.
 */
export function resolveKubeconfigs(settings: ExistingSettings, readFile: (p: string) => string = (p) => fs.readFileSync(p, "utf8")): ResolvedKubeconfig[] {
    const problems: string[] = [];
    const resolved: ResolvedKubeconfig[] = [];
    settings.clusters.forEach((c, i) => {
        let kubeconfig = c.kubeconfig;
        if (c.kubeconfigPath !== undefined) {
            try {
                kubeconfig = readFile(expandHome(c.kubeconfigPath));
            } catch (e) {
                problems.push(`${formatPath(["clusters", i, "kubeconfigPath"])}: cannot read "${c.kubeconfigPath}": ${(e as Error).message}`);
                return;
            }
        }
        let server: string;
        try {
            server = kubeconfigServer(kubeconfig!, c.context);
        } catch (e) {
            const setting = c.kubeconfigPath !== undefined ? "kubeconfigPath" : "kubeconfig";
            problems.push(`${formatPath(["clusters", i, setting])}: not a usable kubeconfig (${(e as Error).message}); check it and "context"`);
            return;
        }
        resolved.push({
            clusterName: c.name,
            network: c.network,
            kubeconfig: kubeconfig!,
            context: c.context,
            apiServerUrl: c.apiServerUrl ?? server,
            // No cloud to say how "internal" is done: users give their own annotations for that.
            gatewayServiceAnnotations: { ...gatewayExposureAnnotations(settings.eastWestLoadBalancer, {}), ...c.gatewayServiceAnnotations },
        });
    });
    if (problems.length > 0) throw new ConfigError(problems);
    return resolved;
}

type ValidatedExisting = ExistingSettings & { resolved: ResolvedKubeconfig[] };

export const existingPlatform: Platform<ValidatedExisting> = {
    validate: (raw) => {
        const settings = validate(existingSettingsSchema, raw);
        return { ...settings, resolved: resolveKubeconfigs(settings) };
    },
    build: (settings) => ({ clusters: existingClusters(settings.resolved), platformOutputs: {} }),
};

export function existingClusters(resolved: ResolvedKubeconfig[]): Cluster[] {
    return resolved.map(
        (c) =>
            new Cluster(c.clusterName, {
                clusterName: c.clusterName,
                network: c.network,
                kubeconfig: c.kubeconfig,
                context: c.context,
                apiServerUrl: c.apiServerUrl,
                gatewayServiceAnnotations: c.gatewayServiceAnnotations,
            }),
    );
}
