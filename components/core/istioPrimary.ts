import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { CACerts } from "./meshCA";
import { DEFAULT_ISTIO_CHART_SOURCE, DEFAULT_ISTIO_IMAGE_HUB, imageValues, istioChart } from "../common/istioVersion";
import { dependencyValues, waitFor } from "../common/dependencies";
import { withFieldManager } from "../common/fieldManager";
import { requireDeployed } from "../common/helmReleaseStatus";
import { ClusterRevisions, declareRevisionedIstio, workloadRevision } from "./revisions";
import { checkIstioValues, IstioValues, withOverlay } from "./istioValues";

export const ISTIO_NAMESPACE = "istio-system";
export const NETWORK_LABEL = "topology.istio.io/network";
/** Marks the `istio-system` this stack made, so that its preflight (istioPreflight.ts) tells it from another mesh's. */
export const STACK_MARK_ANNOTATION = "istio-multicluster/stack";

/** This stack's mark: `<project>/<stack>`. */
export const stackMark = () => `${pulumi.getProject()}/${pulumi.getStack()}`;

/** One primary cluster's control plane: namespace, plug-in CA, then Istio's `base` and `istiod` charts. */
export interface IstioPrimaryArgs {
    /** Istio cluster ID. */
    clusterName: string;
    network: string;
    meshId: string;
    /** Exact Istio version: the charts are pinned to it. */
    istioVersion: string;
    /**
     * Where the charts come from: an https:// Helm repository, an oci:// registry, or an absolute directory
     * holding base/, istiod/ and gateway/. Default Istio's repository, https://blob.istio.io/istio-release/charts.
     */
    chartSource?: string;
    /** Registry and repository of Istio's images (`global.hub`). Default docker.io/istio. */
    imageHub?: string;
    /** The four files of the `cacerts` Secret. */
    caCerts: pulumi.Input<CACerts>;
    /** Provider of the cluster Istio goes into. */
    provider: k8s.Provider;
    /** Extra environment for istiod (`env` in the istiod chart). */
    istiodEnv?: Record<string, string>;
    /** What the cluster is not usable before (node pools and the like), as outputs of those resources (`urn`s). */
    readyDependencies?: pulumi.Input<pulumi.Input<string>[]>;
    /** Require mTLS for every workload in the cluster (a STRICT PeerAuthentication in istio-system). Default true. */
    strictMtls?: boolean;
    /**
     * Control-plane revisions and tags in this cluster (components/core/revisions.ts). Unset: one unrevisioned
     * istiod of `istioVersion`, as before revisions existed. Set: `istioVersion` is not used.
     */
    revisions?: ClusterRevisions;
    /**
     * Helm values laid under the mesh's own in the `base` and `istiod` charts (every revision's istiod): meshConfig,
     * resources, autoscaling and the like. Keys the mesh owns are refused (components/core/istioValues.ts).
     */
    istioValues?: IstioValues;
    /**
     * Istio's meshNetworks (`global.meshNetworks`): gateways istiod cannot discover from a load balancer, such as
     * NodePort east-west gateways (Mesh computes it with `meshNetworksFor`).
     */
    meshNetworks?: { [network: string]: any };
}

/** The mesh-wide PeerAuthentication: in the root namespace, it applies to every workload. */
export function meshWideMtls(mode: "STRICT" | "PERMISSIVE") {
    return {
        apiVersion: "security.istio.io/v1",
        kind: "PeerAuthentication",
        metadata: { name: "default", namespace: ISTIO_NAMESPACE },
        spec: { mtls: { mode } },
    };
}

export interface IstiodValuesArgs {
    clusterName: string;
    network: string;
    meshId: string;
    istioVersion: string;
    imageHub?: string;
    istiodEnv?: Record<string, string>;
    meshNetworks?: Record<string, unknown>;
}

/**
 * Values for the `base` chart: none of the mesh's own. In particular no `base.validationFailurePolicy`: on install
 * the charts render Istio's validating webhooks fail-open, and istiod itself switches them to `Fail` once a dry run
 * of an invalid Gateway through the API server is denied (pkg/webhooks/validation/controller). Forcing `Fail` from
 * the start made the first Istio object of a first `up` race istiod's webhook listener ("connection refused"); on
 * upgrades the charts leave the field out (`.Release.IsUpgrade`), so Helm keeps what istiod set.
 */
export function baseValues(_istioVersion: string): Record<string, unknown> {
    return {};
}

/** Values for the `istiod` chart: the multi-primary identity of this cluster. */
export function istiodValues(args: IstiodValuesArgs): Record<string, unknown> {
    const values: Record<string, unknown> = {
        global: {
            // istiod's image, and through its injection webhook every sidecar's and gateway's.
            ...imageValues(args.imageHub ?? DEFAULT_ISTIO_IMAGE_HUB, args.istioVersion).global,
            meshID: args.meshId,
            multiCluster: { clusterName: args.clusterName },
            network: args.network,
            ...(args.meshNetworks ? { meshNetworks: args.meshNetworks } : {}),
        },
    };
    if (args.istiodEnv && Object.keys(args.istiodEnv).length > 0) values.env = { ...args.istiodEnv };
    return values;
}

export class IstioPrimary extends pulumi.ComponentResource {
    public readonly namespace: k8s.core.v1.Namespace;
    public readonly caCertsSecret: k8s.core.v1.Secret;
    /** CRDs, the istio-reader service account and the default validating webhook. */
    public readonly base: k8s.helm.v3.Release;
    /** istiod; once this release is ready, sidecar injection and config validation work. With revisions: the workload tag's revision. */
    public readonly istiod: k8s.helm.v3.Release;
    /** Every istiod release by revision name (without revisions: the one release, under ""). */
    public readonly istiodRevisions: Record<string, k8s.helm.v3.Release>;
    /**
     * What the cluster's own workloads (gateways, samples) must wait for so that their pods come up injected, as
     * values (`urn`s): istiod and, with revisions, the webhook of the tag they select (`workloadTag`). Without the
     * tag's webhook a pod labelled `istio.io/rev=<tag>` is created as it is, with `image: auto` (seen on the real
     * engine: the east-west gateway rolled out before its tag's webhook existed, or moved, and kept uninjected pods).
     */
    public readonly workloadInjection: pulumi.Output<string[]>;

    constructor(name: string, args: IstioPrimaryArgs, opts?: pulumi.ComponentResourceOptions) {
        super("istio-multicluster:index:IstioPrimary", name, {}, opts);
        const provider = args.provider;
        checkIstioValues(args.istioValues, `IstioPrimary ${args.clusterName}: istioValues`, false);
        // The user's overlay under the mesh's values, for every release of this cluster.
        const baseChartValues = (istioVersion: string) => withOverlay(args.istioValues?.base, baseValues(istioVersion));
        const istiodChartValues = (istioVersion: string) => withOverlay(args.istioValues?.istiod, istiodValues({ ...args, istioVersion }));

        this.namespace = new k8s.core.v1.Namespace(
            `${name}-istio-system`,
            withFieldManager({ metadata: { name: ISTIO_NAMESPACE, labels: { [NETWORK_LABEL]: args.network }, annotations: { [STACK_MARK_ANNOTATION]: stackMark() } } }),
            { parent: this, provider, dependsOn: waitFor(args.readyDependencies) },
        );

        // istiod reads `cacerts` once at start-up; without it, it silently mints its own root and
        // cross-cluster mTLS fails. So istiod depends on it.
        this.caCertsSecret = new k8s.core.v1.Secret(
            `${name}-cacerts`,
            // Not the stack's named field manager: the provider's own, a random one kept in the state for the
            // Secret's life. It stays the same through every rotation stage (a manager named after the root changed
            // with it, and the apply under the new name conflicted with the old one: the provider drops the old name
            // only after a successful apply), and a new stack that lost its state gets another one, so its new root
            // meets a field conflict on the live cacerts instead of replacing the mesh's trust.
            {
                metadata: { name: "cacerts", namespace: this.namespace.metadata.name },
                type: "Opaque",
                stringData: pulumi.secret(pulumi.output(args.caCerts).apply((certs): Record<string, string> => ({ ...certs }))),
            },
            { parent: this, provider },
        );

        // With revisions: base, one istiod per revision and the tags (revisions.ts); else the two releases below.
        const revisioned =
            args.revisions &&
            declareRevisionedIstio({
                name,
                parent: this,
                provider,
                namespace: this.namespace.metadata.name,
                cluster: args.revisions,
                chartSource: args.chartSource,
                baseValues: baseChartValues,
                istiodValues: istiodChartValues,
                istiodDependsOn: [this.caCertsSecret],
            });

        this.base = revisioned ? revisioned.base : new k8s.helm.v3.Release(
            `${name}-base`,
            {
                name: "istio-base",
                ...istioChart("base", args.istioVersion, args.chartSource ?? DEFAULT_ISTIO_CHART_SOURCE),
                namespace: this.namespace.metadata.name,
                values: baseChartValues(args.istioVersion),
            },
            { parent: this, provider },
        );

        this.istiod = revisioned ? revisioned.istiods[workloadRevision(args.revisions!).name] : new k8s.helm.v3.Release(
            `${name}-istiod`,
            {
                name: "istiod",
                ...istioChart("istiod", args.istioVersion, args.chartSource ?? DEFAULT_ISTIO_CHART_SOURCE),
                namespace: this.namespace.metadata.name,
                values: istiodChartValues(args.istioVersion),
            },
            { parent: this, provider, dependsOn: [this.base, this.caCertsSecret] },
        );
        this.istiodRevisions = revisioned ? revisioned.istiods : { "": this.istiod };
        for (const release of [this.base, ...Object.values(this.istiodRevisions)]) requireDeployed(release, args.clusterName);
        this.workloadInjection = dependencyValues(
            [this.istiod.urn],
            revisioned ? revisioned.tags[args.revisions!.workloadTag].ready.apply((objects) => pulumi.all(objects.map((o) => o.urn))) : undefined,
        );

        if (args.strictMtls ?? true) {
            // Needs the CRD (base) and, with validation failing closed, a running istiod.
            // Not kept as a property: the component host cannot express a CustomResource output.
            new k8s.apiextensions.CustomResource(`${name}-mtls`, withFieldManager(meshWideMtls("STRICT")), {
                parent: this,
                provider,
                dependsOn: Object.values(this.istiodRevisions),
            });
        }

        this.registerOutputs({ namespace: this.namespace.metadata.name });
    }
}
