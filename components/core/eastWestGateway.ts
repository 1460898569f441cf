import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { ISTIO_NAMESPACE } from "./istioPrimary";
import { DEFAULT_ISTIO_CHART_SOURCE, DEFAULT_ISTIO_IMAGE_HUB, imageValues, istioChart } from "../common/istioVersion";
import { waitFor } from "../common/dependencies";
import { checkIstioValues, withOverlay } from "./istioValues";
import { DEFAULT_GATEWAY_NODE_PORT } from "./cluster";
import { withFieldManager } from "../common/fieldManager";
import { requireDeployed } from "../common/helmReleaseStatus";

export const EAST_WEST_GATEWAY_NAME = "istio-eastwestgateway";
/** Marks a gateway Service that is meant to be public, so policy can tell intent from oversight. */
export const PUBLIC_EXPOSURE_ANNOTATION = "istio-multicluster/exposure";

/**
 * Load-balancer annotations for a gateway: the platform's internal annotations, or the public mark.
 */
export function gatewayExposureAnnotations(exposure: "internal" | "public", internalAnnotations: Record<string, string>): Record<string, string> {
    return exposure === "internal" ? { ...internalAnnotations } : { [PUBLIC_EXPOSURE_ANNOTATION]: "public" };
}

/**
 * The gateway other networks reach this cluster's workloads (and nothing else) through: Istio's `gateway`
 * chart in network-gateway mode, plus the Gateway exposing every `*.local` service on 15443 with
 * AUTO_PASSTHROUGH, so mTLS stays end to end.
 */
export interface EastWestGatewayArgs {
    network: string;
    /** The cluster's name, as errors name it (default: this component's name). */
    clusterName?: string;
    istioVersion: string;
    /** Where the `gateway` chart comes from (see IstioPrimaryArgs.chartSource). */
    chartSource?: string;
    /** Registry and repository of Istio's images (`global.hub`). Default docker.io/istio. */
    imageHub?: string;
    provider: k8s.Provider;
    /** Load-balancer annotations of the gateway Service (internal or public, per cloud). */
    serviceAnnotations?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** The istiod release: the gateway's pods get their proxy image from istiod's injection webhook. */
    istiod: k8s.helm.v3.Release;
    /**
     * What else the gateway's pods need to be injected, as outputs (`urn`s): with revisions, the webhook of
     * `revisionTag` (Mesh.workloadInjection). The release waits for it, so no pod is created before it exists.
     */
    workloadInjection?: pulumi.Input<pulumi.Input<string>[]>;
    /**
     * What the gateway's LoadBalancer Service needs (a load-balancer controller, subnet permissions), as
     * outputs of those resources (`urn`s).
     */
    loadBalancerDependencies?: pulumi.Input<pulumi.Input<string>[]>;
    /** The revision tag the gateway's pods select (`istio.io/rev`), so they follow the tag; unset: the default injector. */
    revisionTag?: string;
    /**
     * "LoadBalancer" (default): the chart's Service, whose load-balancer address Istio discovers. "NodePort", for
     * clusters without load balancers: the chart makes no Service, and a NodePort Service puts 15443 on `nodePort` of
     * every node; the other clusters' istiod learn `address`:`nodePort` from meshNetworks (Mesh sets it).
     */
    serviceType?: string;
    /** With "NodePort": the address (IP or DNS name) the other networks reach this cluster's nodes at. */
    address?: string;
    /** With "NodePort": the node port of 15443. Default 31443. */
    nodePort?: number;
    /**
     * Helm values of the `gateway` chart laid under the gateway's own (resources, autoscaling, podDisruptionBudget,
     * nodeSelector, tolerations…). Keys the mesh owns (network, ports, Service type and annotations) are refused.
     */
    values?: { [key: string]: any };
}

export function eastWestGatewayValues(
    network: string,
    serviceAnnotations: Record<string, string>,
    images: { imageHub: string; istioVersion: string },
    revisionTag?: string,
    serviceType: string = "LoadBalancer",
): Record<string, unknown> {
    return {
        // The chart labels its pods `istio.io/rev: <revision>`: the tag's webhook injects them.
        ...(revisionTag ? { revision: revisionTag } : {}),
        // The chart's pods say `image: auto` and get the proxy image from istiod's injection (istiod's own
        // global.hub/tag); `global` is allowed by the chart's schema and set too, so the chart agrees with istiod.
        ...imageValues(images.imageHub, images.istioVersion),
        // Explicit, or the release name would decide the `istio:` selector label.
        name: EAST_WEST_GATEWAY_NAME,
        // Adds the network label, ISTIO_META_REQUESTED_NETWORK_VIEW and ports 15021/15443/15012/15017.
        networkGateway: network,
        // The chart's type None renders no Service: a NodePort gateway's Service is declared beside it (nodePortService).
        service: serviceType === "NodePort" ? { type: "None" } : { annotations: serviceAnnotations },
    };
}

/** The Service of a NodePort east-west gateway: 15443 on a fixed node port, selecting the chart's gateway pods. */
export function nodePortService<A>(network: string, nodePort: number, serviceAnnotations: A) {
    const selector = { app: EAST_WEST_GATEWAY_NAME, istio: "eastwestgateway" };
    return {
        metadata: { name: EAST_WEST_GATEWAY_NAME, namespace: ISTIO_NAMESPACE, labels: { ...selector, "topology.istio.io/network": network }, annotations: serviceAnnotations },
        spec: { type: "NodePort", selector, ports: [{ name: "tls", port: 15443, targetPort: 15443, nodePort, protocol: "TCP" }] },
    };
}

/** The cross-network Gateway, as Istio's multicluster docs define it. */
export function crossNetworkGateway() {
    return {
        apiVersion: "networking.istio.io/v1",
        kind: "Gateway",
        metadata: { name: "cross-network-gateway", namespace: ISTIO_NAMESPACE },
        spec: {
            selector: { istio: "eastwestgateway" },
            servers: [
                {
                    port: { number: 15443, name: "tls", protocol: "TLS" },
                    tls: { mode: "AUTO_PASSTHROUGH" },
                    hosts: ["*.local"],
                },
            ],
        },
    };
}

export class EastWestGateway extends pulumi.ComponentResource {
    public readonly release: k8s.helm.v3.Release;
    /** IP or host name of the gateway's load balancer. */
    public readonly address: pulumi.Output<string>;

    constructor(name: string, args: EastWestGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
        super("istio-multicluster:index:EastWestGateway", name, {}, opts);
        const provider = args.provider;
        checkIstioValues({ gateway: args.values }, `EastWestGateway ${name}: values`, false);

        this.release = new k8s.helm.v3.Release(
            `${name}-release`,
            {
                name: EAST_WEST_GATEWAY_NAME,
                ...istioChart("gateway", args.istioVersion, args.chartSource ?? DEFAULT_ISTIO_CHART_SOURCE),
                namespace: ISTIO_NAMESPACE,
                values: pulumi
                    .output(args.serviceAnnotations ?? {})
                    .apply((annotations) =>
                        withOverlay(
                            args.values,
                            eastWestGatewayValues(args.network, annotations, { imageHub: args.imageHub ?? DEFAULT_ISTIO_IMAGE_HUB, istioVersion: args.istioVersion }, args.revisionTag, args.serviceType),
                        ),
                    ),
            },
            { parent: this, provider, dependsOn: waitFor(args.istiod, args.workloadInjection, args.loadBalancerDependencies) },
        );

        requireDeployed(this.release, args.clusterName ?? name);

        // Needs the Gateway CRD (base) and, with validation failing closed, a running istiod.
        // Not kept as a property: the component host cannot express a CustomResource output.
        new k8s.apiextensions.CustomResource(`${name}-cross-network`, withFieldManager(crossNetworkGateway()), {
            parent: this,
            provider,
            dependsOn: [args.istiod],
        });

        if (args.serviceType === "NodePort") {
            const nodePort = args.nodePort ?? DEFAULT_GATEWAY_NODE_PORT;
            new k8s.core.v1.Service(
                `${name}-service`,
                withFieldManager(nodePortService(args.network, nodePort, args.serviceAnnotations ?? {})),
                { parent: this, provider, dependsOn: [this.release] },
            );
            this.address = pulumi.output(args.address ?? "");
        } else {
            // Read the Service the chart made; the id is unknown until the release exists, so previews skip the read.
            const service = k8s.core.v1.Service.get(
                `${name}-service`,
                this.release.status.apply(() => `${ISTIO_NAMESPACE}/${EAST_WEST_GATEWAY_NAME}`),
                { parent: this, provider },
            );
            this.address = service.status.apply((s) => {
                const ingress = s?.loadBalancer?.ingress?.[0];
                return ingress?.ip ?? ingress?.hostname ?? "";
            });
        }

        this.registerOutputs({ address: this.address });
    }
}
