/**
 * From stack config to a mesh. First every setting is checked — the platform's, the CA's, the samples' —
 * and only then is anything declared, so bad input never leaves a half-built stack.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { MeshClusterFields } from "../components/core/cluster";
import { Mesh, MeshArgs } from "../components/core/mesh";
import { MeshRevisions } from "../components/core/revisions";
import {
    ConfigError,
    PLATFORMS,
    checkChartSource,
    checkCrossSettings,
    commonSettings,
    formatPath,
    rawSettings,
    readPlatform,
    Platform as PlatformName,
} from "./config";
import { allowedKeysAt, describeIssues } from "./validation";
import { Platform, PlatformSettings } from "./platform";
import { deploySamples, planSamples, SampleOutputs, SamplesPlan } from "./samples";
import { clusterRevisionFields, planRevisions, revisionSettings, revisionWarnings } from "./revisions";
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
    const { platform, settings, revisions, samplesPlan } = checkSettings(rawSettings(allConfig));
    for (const warning of [...rotationWarnings(settings.ca), ...revisionWarnings(settings)]) pulumi.log.warn(warning);

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

interface CheckedSettings {
    platform: Platform<any>;
    settings: PlatformSettings;
    revisions: MeshRevisions | undefined;
    samplesPlan: SamplesPlan;
}

/**
 * Every check, before anything is declared, and one ConfigError listing every problem they found. A check that needs
 * settings which are wrong on their own still runs when the part it reads is right: it reads that part from the raw
 * settings, so that a bad key in one place does not hide a bad value in another.
 */
export function checkSettings(raw: Record<string, unknown>): CheckedSettings {
    const problems: string[] = [];
    const collect = <T>(check: () => T): T | undefined => {
        try {
            return check();
        } catch (e) {
            if (!(e instanceof ConfigError)) throw e;
            problems.push(...e.problems);
            return undefined;
        }
    };
    const platformName = collect(() => readPlatform(raw));
    const cloudKeys = platformName === "existing" ? cloudSettingsOnExisting(raw) : undefined;
    if (cloudKeys) problems.push(cloudKeys.problem);
    collect(() => checkCrossSettings(raw));
    const platform = platformName ? platforms[platformName]() : undefined;
    // An unknown platform has no schema of its own: the settings every platform has are still checked.
    if (!platform) problems.push(...commonSettingsProblems(raw));
    const settings: PlatformSettings | undefined = platform ? collect(() => platform.validate(cloudKeys?.rest ?? raw)) : undefined;

    const revisionInput = settings ?? revisionInputs.safeParse(raw).data;
    const revisions = revisionInput ? collect(() => planRevisions(revisionInput)) : undefined;
    // With revisions, each revision's charts are checked against its own version instead of istioVersion.
    const usesRevisions = (settings ?? raw).revisions !== undefined;
    const chartInput = settings ?? chartInputs.safeParse(raw).data;
    if (!usesRevisions && chartInput) collect(() => checkChartSource(chartInput));
    const clusterNames = (settings ?? clusterNameInputs.safeParse(raw).data)?.clusters.map((c) => c.name);
    const imageHub = (settings ?? imageHubInput.safeParse(raw).data)?.istioImageHub;
    const samplesPlan = clusterNames && imageHub ? collect(() => planSamples((settings ?? raw).samples, clusterNames, imageHub, platform?.samplesIngressServiceType)) : undefined;

    if (problems.length > 0 || !platform || !settings || !samplesPlan) throw new ConfigError([...new Set(problems)]);
    return { platform, settings, revisions, samplesPlan };
}

/** The parts later checks read, for when the platform's schema refused the settings as a whole. */
const clusterNameInputs = z.object({ clusters: z.array(z.object({ name: z.string() })) });
const revisionInputs = z.object({
    ...revisionSettings,
    istioChartSource: commonSettings.istioChartSource,
    clusters: z.array(z.object({ name: z.string(), ...clusterRevisionFields })),
});
const chartInputs = z.object({ istioChartSource: commonSettings.istioChartSource, istioVersion: commonSettings.istioVersion });
const imageHubInput = z.object({ istioImageHub: commonSettings.istioImageHub });

const commonOnly = z.object(commonSettings);
function commonSettingsProblems(raw: Record<string, unknown>): string[] {
    const result = commonOnly.safeParse(raw);
    return result.success ? [] : describeIssues(commonOnly, result.error.issues);
}

/**
 * Settings of a cloud platform (`azure`, `clusters[0].subnetCidr`, …) on a stack whose platform is `existing`, the
 * default: most often a stack whose `platform` was never set. One problem naming the platform they belong to, and the
 * settings without them, so that they are not also reported one unknown setting each.
 */
export function cloudSettingsOnExisting(raw: Record<string, unknown>): { problem: string; rest: Record<string, unknown> } | undefined {
    const existing = platforms.existing().schema;
    const ownTop = new Set(allowedKeysAt(existing, []));
    const ownCluster = new Set(allowedKeysAt(existing, ["clusters", 0]));
    const clouds = PLATFORMS.filter((p) => p !== "existing");
    const found = new Map<string, PlatformName[]>();
    const rest: Record<string, unknown> = { ...raw };
    // The clouds' schemas (and so their SDKs) are loaded only when a key is not the existing platform's own.
    const owners = (key: string, where: PropertyKey[]) => clouds.filter((c) => allowedKeysAt(platforms[c]().schema, where).includes(key));
    for (const key of Object.keys(raw).filter((k) => !ownTop.has(k))) {
        const clouds = owners(key, []);
        if (clouds.length === 0) continue;
        found.set(formatPath([key]), clouds);
        delete rest[key];
    }
    if (Array.isArray(raw.clusters)) {
        rest.clusters = raw.clusters.map((entry: unknown, i) => {
            if (typeof entry !== "object" || entry === null || Array.isArray(entry)) return entry;
            const kept: Record<string, unknown> = { ...entry };
            for (const key of Object.keys(entry).filter((k) => !ownCluster.has(k))) {
                const clouds = owners(key, ["clusters", 0]);
                if (clouds.length === 0) continue;
                found.set(formatPath(["clusters", i, key]), clouds);
                delete kept[key];
            }
            return kept;
        });
    }
    if (found.size === 0) return undefined;
    // The cloud most of them belong to (kubernetesVersion, for example, is a setting of both).
    const votes = clouds.map((c) => [c, [...found.values()].filter((owners) => owners.includes(c)).length] as const);
    const best = Math.max(...votes.map(([, n]) => n));
    const likely = votes.filter(([, n]) => n === best).map(([c]) => c);
    const setting = raw.platform === undefined ? "is not set, so it is existing (clusters you already have)" : "is existing (clusters you already have)";
    return {
        problem:
            `${formatPath(["platform"])}: ${setting}, but ${[...found.keys()].join(", ")} ${found.size === 1 ? "is a setting" : "are settings"} of platform ${likely.join(" or ")}; ` +
            `did you mean ${likely.map((c) => `\`platform: ${c}\``).join(" or ")}? Set it with \`pulumi config set platform ${likely[0]}\``,
        rest,
    };
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
