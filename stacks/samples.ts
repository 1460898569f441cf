/**
 * Sample apps and the cross-cluster check (issue: samples): the `istio-multicluster:samples` settings, their
 * cross-checks against the topology, and the components they turn into.
 *
 * `config.ts` imports this module to build `commonSettings`, so `config.ts` is only used inside functions.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { MeshClusterArgs } from "../components/core/cluster";
import { Mesh } from "../components/core/mesh";
import { SampleApps } from "../components/samples/sampleApps";
import { MeshVerification, VerificationCheck, VerificationTiming } from "../components/samples/meshVerification";
import { clusterRevisions, DEFAULT_TAG, MeshRevisions, workloadRevision } from "../components/core/revisions";
import {
    BOOKINFO_NAMESPACE,
    DEFAULT_CLIENT_IMAGE,
    DEFAULT_IMAGE_HUB,
    HELLOWORLD_PORT,
    INGRESS_PRODUCTPAGE_URL,
    SAMPLE_NAMESPACE,
    isPinnedImage,
} from "../components/samples/sampleManifests";
import { ConfigError, closest, formatPath, fromText, validate } from "./validation";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const INGRESS_SERVICE_TYPES = ["LoadBalancer", "NodePort", "ClusterIP"] as const;
export type IngressServiceType = (typeof INGRESS_SERVICE_TYPES)[number];

const flag = (defaultValue: boolean) => fromText(z.boolean({ error: "must be true or false" })).default(defaultValue);

const wholeNumber = (min: number, max: number, defaultValue: number) =>
    fromText(
        z
            .number({ error: `must be a whole number from ${min} to ${max}` })
            .int({ error: `must be a whole number from ${min} to ${max}` })
            .min(min, { error: `must be at least ${min}` })
            .max(max, { error: `must be at most ${max}` }),
    ).default(defaultValue);

const clusterRef = z
    .string({ error: "must be a cluster name (a string)" })
    .regex(DNS_LABEL, { error: "must be a cluster name: lowercase letters, digits and '-'" });

const versionLabel = z
    .string({ error: 'must be a version label such as "v1"' })
    .max(50, { error: "must be at most 50 characters" })
    .regex(DNS_LABEL, { error: 'must be a version label such as "v1": lowercase letters, digits and \'-\'' });

const pinnedImage = z
    .string({ error: "must be an image reference" })
    .refine(isPinnedImage, { error: 'must name an exact tag or digest, not "latest" (e.g. docker.io/curlimages/curl:8.16.0)' });

/** `istio-multicluster:samples`. `{}` (or nothing) means every sample and the verification are on. */
export const samplesSettingsSchema = z
    .strictObject({
        /** Everything below at once. */
        enabled: flag(true),
        /** Registry/repository of Istio's sample images; default `istioImageHub` (docker.io/istio). */
        imageHub: z
            .string({ error: "must be an image registry path such as docker.io/istio" })
            .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?(\/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$/, {
                error: "must be an image registry path such as docker.io/istio",
            })
            .optional(),
        /** The client (curl) image, also used by the verification Jobs. */
        clientImage: pinnedImage.default(DEFAULT_CLIENT_IMAGE),
        helloworld: z
            .strictObject({
                enabled: flag(true),
                /** Versions by cluster: {"cluster1": "v1", "cluster2": ["v2", "v3"]}. Default v1, v2, v3… in cluster order. */
                versions: z
                    .record(clusterRef, z.union([versionLabel, z.array(versionLabel)], { error: 'must be a version label such as "v1" or a list of them' }), {
                        error: 'must map cluster names to versions, e.g. {"cluster1": "v1", "cluster2": "v2"}',
                    })
                    .optional(),
            })
            .prefault({}),
        clusterLocalRouting: z
            .strictObject({
                /** Off by default: with it on, a cluster no longer proves that it reaches the others. */
                enabled: flag(false),
                /** Clusters that get the DestinationRule and VirtualService; default the first cluster (as the AKS walkthrough). */
                clusters: z.array(clusterRef, { error: "must be a list of cluster names" }).optional(),
            })
            .prefault({}),
        bookinfo: z
            .strictObject({
                enabled: flag(true),
                /** productpage, details, ratings and the ingress gateway; default the first cluster. */
                frontCluster: clusterRef.optional(),
                /** reviews v1–v3; default the second cluster (the first when there is only one). */
                reviewsClusters: z
                    .array(clusterRef, { error: "must be a list of cluster names" })
                    .min(1, { error: "must list at least one cluster" })
                    .optional(),
                /** Default: the platform's (LoadBalancer on clusters the program made, ClusterIP on clusters you had). */
                ingressServiceType: z.enum(INGRESS_SERVICE_TYPES, { error: "must be LoadBalancer, NodePort or ClusterIP" }).optional(),
                ingressServiceAnnotations: z.record(z.string(), z.string({ error: "must be a string" })).default({}),
            })
            .prefault({}),
        verification: z
            .strictObject({
                enabled: flag(true),
                /** Rounds of requests before a check gives up. */
                rounds: wholeNumber(1, 1000, 30),
                requestsPerRound: wholeNumber(1, 1000, 10),
                /** Pause between rounds. */
                intervalSeconds: wholeNumber(0, 600, 10),
                requestTimeoutSeconds: wholeNumber(1, 120, 3),
                /** Change it to run the checks again on the next `pulumi up`. */
                runId: z.union([z.string(), z.number()], { error: "must be a string" }).transform(String).default("1"),
            })
            .prefault({}),
    })
    .prefault({});
export type SamplesSettings = z.output<typeof samplesSettingsSchema>;

export type SampleOutputs = Record<string, pulumi.Output<unknown>>;

/** The samples resolved against the topology: every default filled in, every cluster reference checked. */
export interface SamplesPlan {
    enabled: boolean;
    imageHub: string;
    clientImage: string;
    /** Versions by cluster (clusters without a version are absent). */
    helloworld?: { versions: Record<string, string[]> };
    /** Clusters with cluster-local routing for helloworld. */
    clusterLocalRouting: string[];
    bookinfo?: { frontCluster: string; reviewsClusters: string[]; ingressServiceType: string; ingressServiceAnnotations: Record<string, string> };
    verification?: { timing: VerificationTiming; runId: string; checks: Omit<VerificationCheck, "provider">[] };
}

/** helloworld versions expected to answer from `clusterName`: its own with cluster-local routing, else all. */
export function expectedVersions(versions: Record<string, string[]>, clusterOrder: string[], clusterName: string, clusterLocal: string[]): string[] {
    if (clusterLocal.includes(clusterName)) return [...(versions[clusterName] ?? [])];
    return clusterOrder.flatMap((c) => versions[c] ?? []);
}

/**
 * Fills in defaults that depend on the topology and checks every cluster reference, throwing one
 * ConfigError naming each bad setting. Called before anything is declared.
 */
export function resolveSamplesPlan(
    settings: SamplesSettings,
    clusterNames: string[],
    istioImageHub: string = DEFAULT_IMAGE_HUB,
    defaultIngressServiceType: IngressServiceType = "LoadBalancer",
): SamplesPlan {
    const problems: string[] = [];
    const at = (...path: PropertyKey[]) => formatPath(["samples", ...path]);
    const known = new Set(clusterNames);
    const unknownCluster = (name: string, ...path: PropertyKey[]) => {
        if (known.has(name)) return false;
        const guess = closest(name, clusterNames);
        problems.push(
            `${at(...path)}: "${name}" is not a cluster of this stack` + (guess ? `; did you mean "${guess}"?` : ".") + ` Clusters: ${clusterNames.join(", ")}.`,
        );
        return true;
    };
    const duplicates = (names: string[], ...path: PropertyKey[]) => {
        names.forEach((n, i) => {
            if (names.indexOf(n) !== i) problems.push(`${at(...path, i)}: "${n}" is listed twice`);
        });
    };

    const plan: SamplesPlan = {
        enabled: settings.enabled,
        imageHub: settings.imageHub ?? istioImageHub,
        clientImage: settings.clientImage,
        clusterLocalRouting: [],
    };
    if (!settings.enabled) return plan;

    // helloworld
    const hw = settings.helloworld;
    if (hw.enabled) {
        const versions: Record<string, string[]> = {};
        if (hw.versions === undefined) {
            clusterNames.forEach((c, i) => (versions[c] = [`v${i + 1}`]));
        } else {
            const owner = new Map<string, string>();
            for (const [cluster, value] of Object.entries(hw.versions)) {
                if (unknownCluster(cluster, "helloworld", "versions", cluster)) continue;
                const list = Array.isArray(value) ? value : [value];
                for (const v of list) {
                    const other = owner.get(v);
                    if (other !== undefined) {
                        problems.push(
                            `${at("helloworld", "versions", cluster)}: version "${v}" is also given to ${other}; each version runs in one cluster so answers tell where they came from`,
                        );
                    } else owner.set(v, cluster);
                }
                if (list.length > 0) versions[cluster] = [...new Set(list)];
            }
            if (Object.keys(versions).length === 0 && problems.length === 0) {
                problems.push(`${at("helloworld", "versions")}: no cluster runs a helloworld version; name at least one, or set helloworld.enabled to false`);
            }
        }
        plan.helloworld = { versions };
    }

    // cluster-local routing
    const clr = settings.clusterLocalRouting;
    if (clr.enabled) {
        if (!plan.helloworld) {
            problems.push(`${at("clusterLocalRouting", "enabled")}: cluster-local routing applies to helloworld, which is disabled`);
        } else {
            const clusters = clr.clusters ?? clusterNames.slice(0, 1);
            duplicates(clusters, "clusterLocalRouting", "clusters");
            clusters.forEach((c, i) => {
                if (unknownCluster(c, "clusterLocalRouting", "clusters", i)) return;
                if ((plan.helloworld!.versions[c] ?? []).length === 0) {
                    problems.push(`${at("clusterLocalRouting", "clusters", i)}: "${c}" runs no helloworld version, so its cluster-local calls would find no endpoint`);
                }
            });
            plan.clusterLocalRouting = [...new Set(clusters)];
        }
    }

    // Bookinfo
    const bi = settings.bookinfo;
    if (bi.enabled) {
        const frontCluster = bi.frontCluster ?? clusterNames[0];
        const reviewsClusters = bi.reviewsClusters ?? [clusterNames.length > 1 ? clusterNames[1] : clusterNames[0]];
        if (bi.frontCluster !== undefined) unknownCluster(bi.frontCluster, "bookinfo", "frontCluster");
        duplicates(reviewsClusters, "bookinfo", "reviewsClusters");
        if (bi.reviewsClusters !== undefined) bi.reviewsClusters.forEach((c, i) => unknownCluster(c, "bookinfo", "reviewsClusters", i));
        plan.bookinfo = {
            frontCluster,
            reviewsClusters: [...new Set(reviewsClusters)],
            ingressServiceType: bi.ingressServiceType ?? defaultIngressServiceType,
            ingressServiceAnnotations: bi.ingressServiceAnnotations,
        };
    }

    if (problems.length > 0) throw new ConfigError(problems);

    // Verification
    const vf = settings.verification;
    if (vf.enabled && (plan.helloworld || plan.bookinfo)) {
        const checks: Omit<VerificationCheck, "provider">[] = [];
        if (plan.helloworld) {
            for (const c of clusterNames) {
                checks.push({
                    check: "helloworld",
                    clusterName: c,
                    namespace: SAMPLE_NAMESPACE,
                    url: `http://helloworld.${SAMPLE_NAMESPACE}:${HELLOWORLD_PORT}/hello`,
                    expected: expectedVersions(plan.helloworld.versions, clusterNames, c, plan.clusterLocalRouting),
                });
            }
        }
        if (plan.bookinfo) {
            checks.push({
                check: "bookinfo",
                clusterName: plan.bookinfo.frontCluster,
                namespace: BOOKINFO_NAMESPACE,
                url: INGRESS_PRODUCTPAGE_URL,
                expected: clusterNames.filter((c) => plan.bookinfo!.reviewsClusters.includes(c)),
            });
        }
        plan.verification = {
            timing: {
                rounds: vf.rounds,
                requestsPerRound: vf.requestsPerRound,
                intervalSeconds: vf.intervalSeconds,
                requestTimeoutSeconds: vf.requestTimeoutSeconds,
            },
            runId: vf.runId,
            checks,
        };
    }
    return plan;
}

/** Validates raw or already-parsed samples settings, naming problems as `istio-multicluster:samples…`. */
export function parseSamplesSettings(settings: unknown): SamplesSettings {
    const wrapper = z.strictObject({ samples: samplesSettingsSchema });
    return validate(wrapper, { samples: settings }).samples;
}

/** Checks the samples settings against the stack's clusters; throws a ConfigError, declares nothing. */
export function planSamples(settings: unknown, clusterNames: string[], istioImageHub: string = DEFAULT_IMAGE_HUB, defaultIngressServiceType: IngressServiceType = "LoadBalancer"): SamplesPlan {
    return resolveSamplesPlan(parseSamplesSettings(settings), clusterNames, istioImageHub, defaultIngressServiceType);
}

/** How the stack installs Istio: the samples' ingress gateway is installed the same way. */
export interface IstioInstall {
    istioVersion: string;
    istioChartSource: string;
    istioImageHub: string;
}

/**
 * Declares the samples and their verification from a plan made (and checked) by `planSamples` before any
 * resource of the stack was declared.
 *
 * `istio` pins the ingress gateway chart and says where it and its images come from. `ingressServiceAnnotations`
 * are the platform's annotations for a public LoadBalancer in each cluster (on AWS: the Load Balancer
 * Controller's NLB, dual-stack in an IPv6 cluster); Bookinfo's own setting is laid over the front cluster's.
 */
export function deploySamples(
    plan: SamplesPlan,
    mesh: Mesh,
    clusters: MeshClusterArgs[],
    istio: IstioInstall,
    ingressServiceAnnotations: Record<string, Record<string, string>> = {},
    revisions?: MeshRevisions,
): SampleOutputs {
    const clusterNames = clusters.map((c) => c.clusterName);
    if (!plan.enabled || (!plan.helloworld && !plan.bookinfo)) return {};

    const bookinfo = plan.bookinfo && {
        ...plan.bookinfo,
        ingressServiceAnnotations:
            plan.bookinfo.ingressServiceType === "LoadBalancer"
                ? { ...ingressServiceAnnotations[plan.bookinfo.frontCluster], ...plan.bookinfo.ingressServiceAnnotations }
                : plan.bookinfo.ingressServiceAnnotations,
    };
    // With revisions, the samples select the workload tag, and the ingress gateway chart is that of the revision it
    // points at in the front cluster.
    const frontRevision = revisions && plan.bookinfo ? workloadRevision(clusterRevisions(revisions, plan.bookinfo.frontCluster)) : undefined;
    const apps = new SampleApps("samples", {
        clusters: clusters.map((c) => ({
            clusterName: c.clusterName,
            provider: c.provider,
            istiod: mesh.istiodReleases[c.clusterName],
            workloadInjection: mesh.workloadInjection[c.clusterName],
            loadBalancerDependencies: c.loadBalancerDependencies,
        })),
        istioVersion: frontRevision?.version ?? istio.istioVersion,
        chartSource: frontRevision?.chartSource ?? istio.istioChartSource,
        istioImageHub: istio.istioImageHub,
        imageHub: plan.imageHub,
        clientImage: plan.clientImage,
        helloworld: plan.helloworld,
        clusterLocalRouting: { clusters: plan.clusterLocalRouting },
        bookinfo,
        ...(revisions ? { revisionTag: revisions.workloadRevisionTag ?? DEFAULT_TAG } : {}),
    });

    const outputs: SampleOutputs = {
        placement: apps.placement,
        helloworldVersions: pulumi.output(plan.helloworld?.versions ?? {}),
        clusterLocalRouting: pulumi.output(plan.clusterLocalRouting),
        bookinfo: pulumi.output(plan.bookinfo ? { frontCluster: plan.bookinfo.frontCluster, reviewsClusters: plan.bookinfo.reviewsClusters } : {}),
        productpageUrl: apps.productpageUrl,
    };

    if (plan.verification) {
        const providers = new Map(clusters.map((c) => [c.clusterName, c.provider]));
        const verification = new MeshVerification("mesh-verification", {
            checks: plan.verification.checks.map((c) => ({ ...c, provider: providers.get(c.clusterName)! })),
            timing: plan.verification.timing,
            image: plan.clientImage,
            runId: plan.verification.runId,
            // A new istiod (chart version or Helm revision) runs the checks again.
            triggers: clusterNames.map((c) =>
                mesh.istiodReleases[c].status.apply((s) => `${c}:${s?.version ?? ""}/${s?.revision ?? ""}`),
            ),
            dependencies: [mesh.urn, apps.urn],
        });
        outputs.verification = verification.results;
    }
    return outputs;
}
