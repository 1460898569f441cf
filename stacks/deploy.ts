/**
 * From stack config to a mesh: validate the topology, let the platform make (or adopt) the clusters, then
 * build the same mesh on top whatever the platform.
 */
import * as pulumi from "@pulumi/pulumi";
import { Cluster } from "../components/cluster";
import { Mesh } from "../components/mesh";
import { checkCrossSettings, rawSettings, readPlatform } from "./config";
import { existingPlatform } from "./existing";
import { azurePlatform } from "./azure";
import { awsPlatform } from "./aws";
import { PlatformClusters } from "./platform";
import { deploySamples, SampleOutputs } from "./samples";

export interface Deployment {
    clusters: Cluster[];
    mesh: Mesh;
    platformOutputs: Record<string, pulumi.Output<unknown>>;
    sampleOutputs: SampleOutputs;
}

/** Each platform validates all of its settings before it declares anything. */
const platforms: Record<ReturnType<typeof readPlatform>, (raw: Record<string, unknown>) => PlatformClusters> = {
    existing: existingPlatform,
    azure: azurePlatform,
    aws: awsPlatform,
};

export function deploy(allConfig: Record<string, string>): Deployment {
    const raw = rawSettings(allConfig);
    const platform = platforms[readPlatform(raw)];
    checkCrossSettings(raw);
    const { settings, clusters, platformOutputs } = platform(raw);
    const mesh = new Mesh("mesh", {
        meshId: settings.meshId,
        istioVersion: settings.istioVersion,
        clusters,
        ca: settings.ca,
        strictMtls: settings.strictMtls,
    });
    const sampleOutputs = deploySamples(settings.samples, mesh, clusters);
    return { clusters, mesh, platformOutputs, sampleOutputs };
}
