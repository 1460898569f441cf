/**
 * From stack config to a mesh. First every setting is checked — the platform's, the CA's, the samples' —
 * and only then is anything declared, so bad input never leaves a half-built stack.
 */
import * as pulumi from "@pulumi/pulumi";
import { MeshClusterFields } from "../components/core/cluster";
import { Mesh, MeshArgs } from "../components/core/mesh";
import { checkChartSource, checkCrossSettings, rawSettings, readPlatform, Platform as PlatformName } from "./config";
import { Platform, PlatformSettings } from "./platform";
import { deploySamples, planSamples, SampleOutputs } from "./samples";
import { planRevisions } from "./revisions";
import { TrustRotation, rotationWarnings } from "./rotation";
import { readerTokenGeneration } from "../components/core/caRotation";

export interface Deployment {
    clusters: MeshClusterFields[];
    mesh: Mesh;
    platformOutputs: Record<string, pulumi.Output<unknown>>;
    sampleOutputs: SampleOutputs;
    /** Where the stack stands in its rotations (docs/rotation.md): check it before the next stage. */
    trustRotation: TrustRotation;
}

/**
 * Each platform is loaded when a stack uses it: an existing-clusters stack never loads @pulumi/azure-native,
 * @pulumi/aws or @pulumi/eks (measured in docs/benchmarks.md, "Program start").
 */
const platforms: Record<PlatformName, () => Platform<any>> = {
    existing: () => (require("./existing") as typeof import("./existing")).existingPlatform,
    azure: () => (require("./azure") as typeof import("./azure")).azurePlatform,
    aws: () => (require("./aws") as typeof import("./aws")).awsPlatform,
};

export function deploy(allConfig: Record<string, string>): Deployment {
    // 1. Check everything.
    const raw = rawSettings(allConfig);
    const platform = platforms[readPlatform(raw)]();
    checkCrossSettings(raw);
    const settings: PlatformSettings = platform.validate(raw);
    // With revisions, each revision's charts are checked against its own version instead of istioVersion.
    const revisions = planRevisions(settings);
    if (!revisions) checkChartSource(settings);
    for (const warning of rotationWarnings(settings.ca)) pulumi.log.warn(warning);
    const samplesPlan = planSamples(settings.samples, settings.clusters.map((c) => c.name), settings.istioImageHub, platform.samplesIngressServiceType);

    // 2. Declare: clusters, the mesh on them, the samples on the mesh.
    const { clusters, platformOutputs, ingressServiceAnnotations } = platform.build(settings);
    const istio = { istioVersion: settings.istioVersion, istioChartSource: settings.istioChartSource, istioImageHub: settings.istioImageHub };
    const readerTokenGenerationNow = readerTokenGeneration(settings.readerTokens ?? {}, new Date());
    const mesh = new Mesh("mesh", {
        meshId: settings.meshId,
        ...istio,
        clusters,
        ca: settings.ca,
        strictMtls: settings.strictMtls,
        ...(revisions ? { revisions } : {}),
        // From the clock when a schedule is set (docs/rotation.md): a due rotation shows in a plain preview.
        readerTokenGeneration: readerTokenGenerationNow,
        ...istioValuesOf(settings),
        ...(platform.preflight ? { preflight: true } : {}),
    });
    const sampleOutputs = deploySamples(samplesPlan, mesh, clusters, istio, ingressServiceAnnotations, revisions);
    const trustRotation = { rootGeneration: settings.ca.rootGeneration ?? 1, rootRotation: settings.ca.rootRotation ?? "none", readerTokenGeneration: readerTokenGenerationNow };
    return { clusters, mesh, platformOutputs, sampleOutputs, trustRotation };
}

/** The mesh-wide and per-cluster Helm values overlays, when any is set (so a stack without them declares what it did). */
function istioValuesOf(settings: PlatformSettings): Pick<MeshArgs, "istioValues" | "clusterIstioValues"> {
    const perCluster = settings.clusters.filter((c) => c.istioValues).map((c) => [c.name, c.istioValues!] as const);
    return {
        ...(settings.istioValues ? { istioValues: settings.istioValues } : {}),
        ...(perCluster.length > 0 ? { clusterIstioValues: Object.fromEntries(perCluster) } : {}),
    };
}

/**
 * The stack outputs (`pulumi stack output`), from what `deploy` built. index.ts exports exactly these; tests call
 * it the same way without importing index.ts again for every run.
 */
export function stackOutputs({ clusters, mesh, platformOutputs, sampleOutputs, trustRotation }: Deployment) {
    return {
        clusterNames: clusters.map((c) => c.clusterName),
        apiServerUrls: Object.fromEntries(clusters.map((c) => [c.clusterName, c.apiServerUrl])),
        /** Secret: `pulumi stack output kubeconfigs --show-secrets`. */
        kubeconfigs: pulumi.secret(Object.fromEntries(clusters.map((c) => [c.clusterName, c.kubeconfig]))),
        eastWestGatewayAddresses: mesh.eastWestGatewayAddresses,
        rootCertPem: mesh.rootCertPem,
        /** Days left on the mesh root(s) and each cluster's intermediate CA. */
        caValidityDays: mesh.caValidityDays,
        /** The root generation and stage, and the reader-token generation, this stack last applied. */
        trustRotation,
        platform: platformOutputs,
        samples: sampleOutputs,
    };
}
