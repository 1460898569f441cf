/**
 * From stack config to a mesh: validate the topology, let the platform make (or adopt) the clusters, then
 * build the same mesh on top whatever the platform.
 */
import * as pulumi from "@pulumi/pulumi";
import { Cluster } from "../components/cluster";
import { Mesh } from "../components/mesh";
import { rawSettings, readPlatform } from "./config";
import { existingClusters, existingSettings } from "./existing";

export interface Deployment {
    clusters: Cluster[];
    mesh: Mesh;
    /** Platform-specific stack outputs (resource group, VPC id, …). */
    platformOutputs: Record<string, pulumi.Output<unknown>>;
}

interface PlatformClusters {
    settings: { meshId: string; istioVersion: string };
    clusters: Cluster[];
    platformOutputs: Record<string, pulumi.Output<unknown>>;
}

/** Validates everything for the platform first; only then are resources declared. */
function platformClusters(raw: Record<string, unknown>): PlatformClusters {
    const platform = readPlatform(raw);
    switch (platform) {
        case "existing": {
            const settings = existingSettings(raw);
            return { settings, clusters: existingClusters(settings), platformOutputs: {} };
        }
        default:
            throw new Error(`istio-multicluster:platform "${platform}" is not available in this build yet`);
    }
}

export function deploy(allConfig: Record<string, string>): Deployment {
    const { settings, clusters, platformOutputs } = platformClusters(rawSettings(allConfig));
    const mesh = new Mesh("mesh", { meshId: settings.meshId, istioVersion: settings.istioVersion, clusters });
    return { clusters, mesh, platformOutputs };
}
