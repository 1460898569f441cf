import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { ISTIO_NAMESPACE } from "../core/istioPrimary";
import { DEFAULT_ISTIO_CHART_SOURCE, DEFAULT_ISTIO_IMAGE_HUB, istioChart } from "../common/istioVersion";
import { waitFor } from "../common/dependencies";
import { withFieldManager } from "../common/fieldManager";
import { requireDeployed } from "../common/helmReleaseStatus";
import {
    BOOKINFO_FRONT_SERVICES,
    BOOKINFO_NAMESPACE,
    DEFAULT_CLIENT_IMAGE,
    DEFAULT_IMAGE_HUB,
    INGRESS_GATEWAY_NAME,
    REVIEWS_VERSIONS,
    SAMPLE_NAMESPACE,
    bookinfoDeployment,
    bookinfoGateway,
    bookinfoService,
    bookinfoServiceAccount,
    bookinfoVirtualService,
    clusterLocalDestinationRule,
    clusterLocalVirtualService,
    curlDeployment,
    curlService,
    curlServiceAccount,
    helloworldDeployment,
    helloworldService,
    ingressGatewayValues,
    injectedNamespace,
    productpageUrl,
} from "./sampleManifests";

/**
 * Istio's sample apps spread over the mesh, to show (and check) that traffic crosses clusters:
 * helloworld with one version per cluster and a curl client everywhere, optional cluster-local routing for
 * helloworld, and Bookinfo with its front end in one cluster and reviews in others.
 *
 * Every object is declared in its cluster with that cluster's provider and after that cluster's istiod, so
 * pods start with sidecars and Istio objects pass istiod's validation webhook.
 */
export interface SampleAppsCluster {
    clusterName: string;
    provider: k8s.Provider;
    /** The cluster's istiod release: injection and validation webhooks are ready once it is. */
    istiod: k8s.helm.v3.Release;
    /**
     * What else the samples' pods need to be injected, as outputs (`urn`s): with revisions, the webhook of the tag
     * the sample namespaces and the ingress gateway select (Mesh.workloadInjection).
     */
    workloadInjection?: pulumi.Input<pulumi.Input<string>[]>;
    /** What a LoadBalancer Service (the ingress gateway's) needs in this cluster, as outputs (`urn`s). */
    loadBalancerDependencies?: pulumi.Input<pulumi.Input<string>[]>;
}

export interface HelloworldArgs {
    /** Versions (Deployments `helloworld-<version>`) by cluster name; clusters not listed run none. */
    versions: Record<string, string[]>;
}

export interface ClusterLocalRoutingArgs {
    /** Clusters that get the DestinationRule and VirtualService keeping their calls local. */
    clusters: string[];
}

export interface BookinfoArgs {
    /** Cluster of productpage, details, ratings and the ingress gateway. */
    frontCluster: string;
    /** Clusters running reviews v1, v2 and v3. */
    reviewsClusters: string[];
    /** Type of the ingress gateway Service (LoadBalancer, NodePort or ClusterIP). */
    ingressServiceType: string;
    ingressServiceAnnotations: Record<string, string>;
}

export interface SampleAppsArgs {
    clusters: SampleAppsCluster[];
    /** Exact Istio version: the ingress gateway chart is pinned to it. */
    istioVersion: string;
    /** Where the ingress gateway's `gateway` chart comes from (see IstioPrimaryArgs.chartSource). */
    chartSource?: string;
    /** Registry and repository of Istio's images, for the ingress gateway chart (`global.hub`). Default docker.io/istio. */
    istioImageHub?: string;
    /** Registry and repository of Istio's sample images; default `istioImageHub`, else docker.io/istio. */
    imageHub?: string;
    /** The client image (curl); default Istio's curl sample image. */
    clientImage?: string;
    helloworld?: HelloworldArgs;
    clusterLocalRouting?: ClusterLocalRoutingArgs;
    bookinfo?: BookinfoArgs;
    /** A revision tag: sample namespaces say `istio.io/rev=<tag>` and the ingress gateway follows it; unset: `istio-injection=enabled`. */
    revisionTag?: string;
}

/** Tells Pulumi not to wait for endpoints: a DNS-only Service whose pods run in another cluster. */
export const SKIP_AWAIT = { "pulumi.com/skipAwait": "true" };

type Obj = Record<string, any>;

/** Every object of a cluster, in the order they are declared, with what each one is for. */
export interface PlannedObject {
    clusterName: string;
    manifest: Obj;
}

/** Refuses arguments that name clusters the component was not given. */
export function checkSampleAppsArgs(args: SampleAppsArgs): void {
    const known = new Set(args.clusters.map((c) => c.clusterName));
    const problems: string[] = [];
    const check = (what: string, name: string) => {
        if (!known.has(name)) problems.push(`${what} names cluster "${name}", which is not one of ${[...known].join(", ")}`);
    };
    Object.keys(args.helloworld?.versions ?? {}).forEach((c) => check("helloworld.versions", c));
    (args.clusterLocalRouting?.clusters ?? []).forEach((c) => check("clusterLocalRouting.clusters", c));
    if (args.bookinfo) {
        check("bookinfo.frontCluster", args.bookinfo.frontCluster);
        args.bookinfo.reviewsClusters.forEach((c) => check("bookinfo.reviewsClusters", c));
        if (args.bookinfo.reviewsClusters.length === 0) problems.push("bookinfo.reviewsClusters is empty");
    }
    if (args.clusterLocalRouting && args.clusterLocalRouting.clusters.length > 0 && !args.helloworld) {
        problems.push("clusterLocalRouting needs helloworld");
    }
    if (problems.length > 0) throw new Error(`SampleApps: ${problems.join("; ")}`);
}

/** Adds the skip-await annotation to a Service manifest. */
function dnsOnly(service: Obj): Obj {
    return { ...service, metadata: { ...service.metadata, annotations: { ...(service.metadata.annotations ?? {}), ...SKIP_AWAIT } } };
}

/**
 * What goes where: every object the samples declare, per cluster (a pure function of the arguments, so
 * placement can be tested and documented without Pulumi).
 */
export function planSampleObjects(args: SampleAppsArgs): PlannedObject[] {
    const hub = args.imageHub ?? args.istioImageHub ?? DEFAULT_IMAGE_HUB;
    const client = args.clientImage ?? DEFAULT_CLIENT_IMAGE;
    const out: PlannedObject[] = [];
    const add = (clusterName: string, manifest: Obj) => out.push({ clusterName, manifest });

    if (args.helloworld) {
        const versions = args.helloworld.versions;
        const hosting = args.clusters.map((c) => c.clusterName).filter((c) => (versions[c] ?? []).length > 0);
        for (const { clusterName } of args.clusters) {
            add(clusterName, injectedNamespace(SAMPLE_NAMESPACE, args.revisionTag));
            const mine = versions[clusterName] ?? [];
            // The Service exists everywhere so that the name resolves; where no version runs, nothing local backs it.
            add(clusterName, mine.length > 0 ? helloworldService() : dnsOnly(helloworldService()));
            for (const v of mine) add(clusterName, helloworldDeployment(v, hub));
            add(clusterName, curlServiceAccount());
            add(clusterName, curlService());
            add(clusterName, curlDeployment(client));
        }
        for (const clusterName of args.clusterLocalRouting?.clusters ?? []) {
            add(clusterName, clusterLocalDestinationRule(hosting));
            add(clusterName, clusterLocalVirtualService(hosting));
        }
    }

    if (args.bookinfo) {
        const { frontCluster, reviewsClusters } = args.bookinfo;
        const bookinfoClusters = args.clusters.map((c) => c.clusterName).filter((c) => c === frontCluster || reviewsClusters.includes(c));
        for (const clusterName of bookinfoClusters) {
            add(clusterName, injectedNamespace(BOOKINFO_NAMESPACE, args.revisionTag));
            const isFront = clusterName === frontCluster;
            const hasReviews = reviewsClusters.includes(clusterName);
            if (isFront) {
                for (const svc of BOOKINFO_FRONT_SERVICES) {
                    add(clusterName, bookinfoService(svc));
                    add(clusterName, bookinfoServiceAccount(svc));
                    add(clusterName, bookinfoDeployment(svc, "v1", clusterName, hub));
                }
            } else {
                // reviews v2 and v3 call ratings, which runs in the front cluster only: the name must resolve here too.
                add(clusterName, dnsOnly(bookinfoService("ratings")));
            }
            if (hasReviews) {
                add(clusterName, bookinfoService("reviews"));
                add(clusterName, bookinfoServiceAccount("reviews"));
                for (const v of REVIEWS_VERSIONS) add(clusterName, bookinfoDeployment("reviews", v, clusterName, hub));
            } else {
                // productpage calls reviews by name: the Service must exist where no reviews pod runs.
                add(clusterName, dnsOnly(bookinfoService("reviews")));
            }
            if (isFront) {
                add(clusterName, bookinfoGateway());
                add(clusterName, bookinfoVirtualService());
            }
        }
    }
    return out;
}

/** A short resource-name suffix for a manifest. */
function suffix(m: Obj): string {
    const ns = m.metadata.namespace ? `${m.metadata.namespace}-` : "";
    const kind = String(m.kind).toLowerCase();
    return `${ns}${kind}-${m.metadata.name}`;
}

export class SampleApps extends pulumi.ComponentResource {
    /** Istio's ingress gateway in the Bookinfo front cluster. */
    public readonly ingressGateway?: k8s.helm.v3.Release;
    /** `http://<ingress address>/productpage`, or "" without Bookinfo or a load balancer. */
    public readonly productpageUrl: pulumi.Output<string>;
    /** Which sample objects went to which cluster (`<namespace>/<Kind>/<name>`). */
    public readonly placement: pulumi.Output<Record<string, string[]>>;

    constructor(name: string, args: SampleAppsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("istio-multicluster:index:SampleApps", name, {}, opts);
        checkSampleAppsArgs(args);
        const byName = new Map(args.clusters.map((c) => [c.clusterName, c]));
        const plan = planSampleObjects(args);

        const namespaces = new Map<string, pulumi.Resource>();
        for (const { clusterName, manifest } of plan) {
            const cluster = byName.get(clusterName)!;
            const provider = cluster.provider;
            const resourceName = `${name}-${clusterName}-${suffix(manifest)}`;
            const nsKey = `${clusterName}/${manifest.metadata.namespace}`;
            // Namespaces first; everything after istiod (and the webhook of the tag the samples select), so pods get
            // sidecars and Istio objects pass validation.
            const dependsOn = waitFor(cluster.istiod, cluster.workloadInjection, namespaces.get(nsKey));
            const o: pulumi.CustomResourceOptions = { parent: this, provider, dependsOn };
            const { apiVersion, kind, ...rest } = withFieldManager(manifest as Obj & { metadata: Obj });
            // The objects are not kept as properties: the component host cannot express a map of resources.
            switch (kind) {
                case "Namespace":
                    namespaces.set(`${clusterName}/${manifest.metadata.name}`, new k8s.core.v1.Namespace(resourceName, rest, o));
                    break;
                case "Service":
                    new k8s.core.v1.Service(resourceName, rest, o);
                    break;
                case "ServiceAccount":
                    new k8s.core.v1.ServiceAccount(resourceName, rest, o);
                    break;
                case "Deployment":
                    new k8s.apps.v1.Deployment(resourceName, rest as k8s.apps.v1.DeploymentArgs, o);
                    break;
                default:
                    new k8s.apiextensions.CustomResource(resourceName, { apiVersion, kind, ...rest }, o);
            }
        }

        if (args.bookinfo) {
            const front = byName.get(args.bookinfo.frontCluster)!;
            this.ingressGateway = new k8s.helm.v3.Release(
                `${name}-${front.clusterName}-ingressgateway`,
                {
                    name: INGRESS_GATEWAY_NAME,
                    ...istioChart("gateway", args.istioVersion, args.chartSource ?? DEFAULT_ISTIO_CHART_SOURCE),
                    namespace: ISTIO_NAMESPACE,
                    values: ingressGatewayValues(args.bookinfo.ingressServiceType, args.bookinfo.ingressServiceAnnotations, {
                        imageHub: args.istioImageHub ?? DEFAULT_ISTIO_IMAGE_HUB,
                        istioVersion: args.istioVersion,
                    }, args.revisionTag),
                },
                // Its pods use `image: auto`, which istiod's injection webhook fills in.
                { parent: this, provider: front.provider, dependsOn: waitFor(front.istiod, front.workloadInjection, front.loadBalancerDependencies) },
            );
            requireDeployed(this.ingressGateway, front.clusterName);
            if (args.bookinfo.ingressServiceType === "LoadBalancer") {
                const service = k8s.core.v1.Service.get(
                    `${name}-${front.clusterName}-ingressgateway-service`,
                    this.ingressGateway.status.apply((s) => `${s.namespace}/${INGRESS_GATEWAY_NAME}`),
                    { parent: this, provider: front.provider },
                );
                this.productpageUrl = service.status.apply((s) => productpageUrl(s?.loadBalancer?.ingress?.[0]));
            } else {
                this.productpageUrl = pulumi.output("");
            }
        } else {
            this.productpageUrl = pulumi.output("");
        }

        const placement: Record<string, string[]> = {};
        for (const { clusterName, manifest } of plan) {
            (placement[clusterName] ??= []).push(`${manifest.metadata.namespace ?? ""}/${manifest.kind}/${manifest.metadata.name}`.replace(/^\//, ""));
        }
        if (args.bookinfo) placement[args.bookinfo.frontCluster].push(`${ISTIO_NAMESPACE}/HelmRelease/${INGRESS_GATEWAY_NAME}`);
        this.placement = pulumi.output(placement);

        this.registerOutputs({ productpageUrl: this.productpageUrl, placement: this.placement });
    }
}

