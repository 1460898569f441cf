/**
 * Pure builders for every Kubernetes and Istio object the samples declare (Istio's helloworld, curl and
 * Bookinfo samples, adapted for a multi-primary mesh). They return plain objects with apiVersion and kind,
 * so tests can validate each one against the Kubernetes and Istio schemas without Pulumi.
 *
 * Images are pinned to exact tags (Istio's own sample manifests, istio/istio `samples/`, 2026).
 */
import { PUBLIC_EXPOSURE_ANNOTATION } from "../core/eastWestGateway";
import { DEFAULT_ISTIO_IMAGE_HUB, imageValues } from "../common/istioVersion";

export const SAMPLE_NAMESPACE = "sample";
export const BOOKINFO_NAMESPACE = "bookinfo";
export const INJECTION_LABEL = "istio-injection";
/** Selects a control plane by revision or revision tag (the tag's webhook injects the namespace's pods). */
export const REVISION_LABEL = "istio.io/rev";
/** istiod puts this label, with its cluster ID as value, on every endpoint and every proxy. */
export const CLUSTER_LABEL = "topology.istio.io/cluster";

export const HELLOWORLD_PORT = 5000;
export const BOOKINFO_PORT = 9080;

/** Where Istio's sample images live: with every Istio image, on docker.io/istio (the `istioImageHub` default). */
export const DEFAULT_IMAGE_HUB = DEFAULT_ISTIO_IMAGE_HUB;
export const HELLOWORLD_TAG = "1.0";
export const BOOKINFO_TAG = "1.20.3";
/** Istio's `samples/curl/curl.yaml` (the successor of `sleep`). */
export const DEFAULT_CLIENT_IMAGE = "docker.io/curlimages/curl:8.16.0";

/** Istio's ingress gateway from the `gateway` chart; `name` also decides the `istio: ingressgateway` selector. */
export const INGRESS_GATEWAY_NAME = "istio-ingressgateway";
export const INGRESS_GATEWAY_SELECTOR = { istio: "ingressgateway" } as const;

type Obj = Record<string, any>;

/** An image reference with an explicit tag or digest, and not `latest`. */
export function isPinnedImage(image: string): boolean {
    if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
    const lastSegment = image.slice(image.lastIndexOf("/") + 1);
    const colon = lastSegment.lastIndexOf(":");
    if (colon < 0) return false;
    const tag = lastSegment.slice(colon + 1);
    return /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag) && tag !== "latest";
}

/**
 * The helloworld image for a version. Istio publishes v1 and v2; any other version runs the v1 image with
 * `SERVICE_VERSION` set (the image reads it), as Istio's `gen-helloworld.sh` does.
 */
export function helloworldImage(version: string, hub = DEFAULT_IMAGE_HUB): string {
    const variant = version === "v2" ? "v2" : "v1";
    return `${hub}/examples-helloworld-${variant}:${HELLOWORLD_TAG}`;
}

export function bookinfoImage(service: "productpage" | "details" | "ratings" | "reviews", version: string, hub = DEFAULT_IMAGE_HUB): string {
    return `${hub}/examples-bookinfo-${service}-${version}:${BOOKINFO_TAG}`;
}

/**
 * A namespace whose pods get Istio sidecars: from the default injector, or, given a revision tag, from the revision
 * the tag points at (so moving the tag moves the pods at their next restart).
 */
export function injectedNamespace(name: string, revisionTag?: string): Obj {
    const labels = revisionTag ? { [REVISION_LABEL]: revisionTag } : { [INJECTION_LABEL]: "enabled" };
    return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } };
}

// ---- helloworld and the curl client ------------------------------------------------------------

/** The helloworld Service; it must exist in every cluster that calls helloworld, pods or not. */
export function helloworldService(namespace = SAMPLE_NAMESPACE): Obj {
    return {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "helloworld", namespace, labels: { app: "helloworld", service: "helloworld" } },
        spec: { ports: [{ port: HELLOWORLD_PORT, name: "http" }], selector: { app: "helloworld" } },
    };
}

/** A one-replica Deployment whose pods carry `labels` (the selector) and run `podSpec`. */
function deployment(name: string, namespace: string, labels: Record<string, string>, podSpec: Obj): Obj {
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name, namespace, labels },
        spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: podSpec } },
    };
}

export function helloworldDeployment(version: string, hub = DEFAULT_IMAGE_HUB, namespace = SAMPLE_NAMESPACE): Obj {
    return deployment(`helloworld-${version}`, namespace, { app: "helloworld", version }, {
        containers: [
            {
                name: "helloworld",
                image: helloworldImage(version, hub),
                env: [{ name: "SERVICE_VERSION", value: version }],
                resources: { requests: { cpu: "100m" } },
                imagePullPolicy: "IfNotPresent",
                ports: [{ containerPort: HELLOWORLD_PORT }],
            },
        ],
    });
}

export function curlServiceAccount(namespace = SAMPLE_NAMESPACE): Obj {
    return { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "curl", namespace } };
}

export function curlService(namespace = SAMPLE_NAMESPACE): Obj {
    return {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "curl", namespace, labels: { app: "curl", service: "curl" } },
        spec: { ports: [{ port: 80, name: "http" }], selector: { app: "curl" } },
    };
}

/** The in-mesh client you `kubectl exec` into (Istio's `samples/curl`). */
export function curlDeployment(image = DEFAULT_CLIENT_IMAGE, namespace = SAMPLE_NAMESPACE): Obj {
    return deployment("curl", namespace, { app: "curl" }, {
        terminationGracePeriodSeconds: 0,
        serviceAccountName: "curl",
        containers: [{ name: "curl", image, command: ["/bin/sleep", "infinity"], imagePullPolicy: "IfNotPresent" }],
    });
}

// ---- cluster-local routing (as in the AKS walkthrough) -------------------------------------------

export const HELLOWORLD_HOST = `helloworld.${SAMPLE_NAMESPACE}.svc.cluster.local`;

/** One subset per cluster, selecting the endpoints istiod labelled with that cluster's ID. */
export function clusterLocalDestinationRule(clusterNames: string[], namespace = SAMPLE_NAMESPACE): Obj {
    return {
        apiVersion: "networking.istio.io/v1",
        kind: "DestinationRule",
        metadata: { name: "helloworld-per-cluster-dr", namespace },
        spec: {
            host: HELLOWORLD_HOST,
            subsets: clusterNames.map((c) => ({ name: c, labels: { [CLUSTER_LABEL]: c } })),
        },
    };
}

/** Calls from cluster c go to subset c: traffic stays in the caller's cluster. */
export function clusterLocalVirtualService(clusterNames: string[], namespace = SAMPLE_NAMESPACE): Obj {
    return {
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: "helloworld-cluster-local-vs", namespace },
        spec: {
            hosts: [HELLOWORLD_HOST],
            http: clusterNames.map((c) => ({
                name: `${c}-local`,
                match: [{ sourceLabels: { [CLUSTER_LABEL]: c } }],
                route: [{ destination: { host: HELLOWORLD_HOST, subset: c } }],
            })),
        },
    };
}

// ---- Bookinfo (split across clusters, as in the AKS walkthrough) -------------------------------

export type BookinfoService = "productpage" | "details" | "ratings" | "reviews";
export const BOOKINFO_FRONT_SERVICES: BookinfoService[] = ["productpage", "details", "ratings"];
export const REVIEWS_VERSIONS = ["v1", "v2", "v3"];

export function bookinfoService(service: BookinfoService, namespace = BOOKINFO_NAMESPACE): Obj {
    return {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: service, namespace, labels: { app: service, service } },
        spec: { ports: [{ port: BOOKINFO_PORT, name: "http" }], selector: { app: service } },
    };
}

export function bookinfoServiceAccount(service: BookinfoService, namespace = BOOKINFO_NAMESPACE): Obj {
    return { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: `bookinfo-${service}`, namespace, labels: { account: service } } };
}

/**
 * A Bookinfo Deployment as in Istio's `bookinfo.yaml`. Reviews also get `CLUSTER_NAME`: the reviews app
 * returns it and productpage renders "Reviews served by: <pod> on cluster <name>", which the verification
 * reads.
 */
export function bookinfoDeployment(service: BookinfoService, version: string, clusterName: string, hub = DEFAULT_IMAGE_HUB, namespace = BOOKINFO_NAMESPACE): Obj {
    const labels = { app: service, version };
    const container: Obj = {
        name: service,
        image: bookinfoImage(service, version, hub),
        imagePullPolicy: "IfNotPresent",
        ports: [{ containerPort: BOOKINFO_PORT }],
    };
    const volumes: Obj[] = [];
    if (service === "reviews") {
        container.env = [
            { name: "LOG_DIR", value: "/tmp/logs" },
            { name: "CLUSTER_NAME", value: clusterName },
        ];
        container.volumeMounts = [
            { name: "tmp", mountPath: "/tmp" },
            { name: "wlp-output", mountPath: "/opt/ibm/wlp/output" },
        ];
        volumes.push({ name: "wlp-output", emptyDir: {} }, { name: "tmp", emptyDir: {} });
    } else if (service === "productpage") {
        container.volumeMounts = [{ name: "tmp", mountPath: "/tmp" }];
        volumes.push({ name: "tmp", emptyDir: {} });
    }
    return deployment(`${service}-${version}`, namespace, labels, {
        serviceAccountName: `bookinfo-${service}`,
        containers: [container],
        ...(volumes.length > 0 ? { volumes } : {}),
    });
}

/** The Gateway on Istio's ingress gateway (chart `gateway`, which listens on 8080 behind Service port 80). */
export function bookinfoGateway(namespace = BOOKINFO_NAMESPACE): Obj {
    return {
        apiVersion: "networking.istio.io/v1",
        kind: "Gateway",
        metadata: { name: "bookinfo-gateway", namespace },
        spec: {
            selector: { ...INGRESS_GATEWAY_SELECTOR },
            servers: [{ port: { number: 8080, name: "http", protocol: "HTTP" }, hosts: ["*"] }],
        },
    };
}

export function bookinfoVirtualService(namespace = BOOKINFO_NAMESPACE): Obj {
    return {
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: "bookinfo", namespace },
        spec: {
            hosts: ["*"],
            gateways: ["bookinfo-gateway"],
            http: [
                {
                    match: [
                        { uri: { exact: "/productpage" } },
                        { uri: { prefix: "/static" } },
                        { uri: { exact: "/login" } },
                        { uri: { exact: "/logout" } },
                        { uri: { prefix: "/api/v1/products" } },
                    ],
                    route: [{ destination: { host: "productpage", port: { number: BOOKINFO_PORT } } }],
                },
            ],
        },
    };
}

/**
 * Values for Istio's `gateway` chart as the ingress gateway (top-level keys only from its values schema).
 * Bookinfo's ingress is meant to be opened in a browser, so a LoadBalancer carries the project's public
 * mark (what the policy pack asks of public gateways) unless the annotations already say otherwise.
 */
export function ingressGatewayValues(
    serviceType: string,
    serviceAnnotations: Record<string, string>,
    images: { imageHub: string; istioVersion: string },
    revisionTag?: string,
): Record<string, unknown> {
    const annotations =
        serviceType === "LoadBalancer" && !(PUBLIC_EXPOSURE_ANNOTATION in serviceAnnotations)
            ? { [PUBLIC_EXPOSURE_ANNOTATION]: "public", ...serviceAnnotations }
            : { ...serviceAnnotations };
    return {
        // As for the east-west gateway: the proxy image comes from istiod's injection; `global` agrees with it.
        ...imageValues(images.imageHub, images.istioVersion),
        name: INGRESS_GATEWAY_NAME,
        service: { type: serviceType, annotations },
        // Pods labelled `istio.io/rev: <tag>`: the tag's revision injects them.
        ...(revisionTag ? { revision: revisionTag } : {}),
    };
}

/** The productpage address from the ingress gateway Service's load-balancer status. */
export function productpageUrl(ingress: { ip?: string; hostname?: string } | undefined): string {
    const host = ingress?.ip ?? ingress?.hostname;
    if (!host) return "";
    return `http://${host.includes(":") ? `[${host}]` : host}/productpage`;
}

/** In-cluster URL of productpage through the ingress gateway (what the verification calls). */
export const INGRESS_PRODUCTPAGE_URL = `http://${INGRESS_GATEWAY_NAME}.istio-system.svc.cluster.local/productpage`; // the gateway chart installs into istio-system here
