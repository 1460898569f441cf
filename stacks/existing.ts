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
    kubeconfig: string;
    context?: string;
    apiServerUrl: string;
    gatewayServiceAnnotations?: Record<string, string>;
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
    schema: existingSettingsSchema,
    validate: (raw) => {
        const parsed = existingSettingsSchema.safeParse(raw);
        if (parsed.success) return { ...parsed.data, resolved: resolveKubeconfigs(parsed.data) };
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
