/**
 * What Istio's charts read, written down from the chart sources of istio/istio 1.29.x, 1.30.x (tag 1.30.3 and
 * the release-1.30 branch as of 2026-08-21, after 1.30.4) and 1.31.x (branch release-1.31 as of 2026-08-20, the
 * 1.31.0 release; the snapshot read has no 1.30.5 or 1.31.1 tag, and their patch releases change no chart values)
 * (manifests/charts/{base,istio-control/istio-discovery,gateway}). Helm accepts any value and silently ignores
 * what no template reads (the istiod chart has no values schema), so a misspelt key such as
 * `global.multicluster.clusterName` would deploy and leave istiod's CLUSTER_ID at "Kubernetes". These lists
 * are the check against that.
 *
 * A path ending in `.*` is a map: any key below it is read (env variables, annotations).
 * `since` gives the first release whose templates read the path.
 */
export interface ChartPath {
    path: string;
    since?: string;
}

export const CHART_PATHS: Record<"base" | "istiod" | "gateway", ChartPath[]> = {
    base: [
        { path: "base.validationFailurePolicy", since: "1.29.2" },
        { path: "base.enableCRDTemplates" },
        { path: "base.excludedCRDs" },
        { path: "defaultRevision" },
        { path: "global.istioNamespace" },
    ],
    istiod: [
        // deployment.yaml: CLUSTER_ID from global.multiCluster.clusterName (default "Kubernetes").
        { path: "global.multiCluster.clusterName" },
        // configmap.yaml: meshId in the mesh config.
        { path: "global.meshID" },
        // deployment.yaml / injection template: ISTIO_META_NETWORK and the network of the control plane.
        { path: "global.network" },
        // deployment.yaml: `range $key, $val := .Values.env` (flattened from pilot.env since 1.24).
        { path: "env.*" },
        // deployment.yaml: `image: "{{ .Values.hub | default .Values.global.hub }}/…:{{ .Values.tag | default
        // .Values.global.tag }}"`; the injection webhook builds every proxy image from them too
        // (pkg/kube/inject/inject.go proxyImageURL). Published charts default hub to registry.istio.io/release
        // (1.30) and tag to their version; the sources say registry.istio.io/testing and latest.
        { path: "global.hub" },
        { path: "global.tag" },
        { path: "base.validationFailurePolicy", since: "1.29.2" },
        { path: "meshConfig.*" },
        { path: "global.istioNamespace" },
        // Every template: names (istiod-<revision>, istio-sidecar-injector-<revision>, …) and the istio.io/rev labels.
        { path: "revision" },
        // revision-tags-mwc.yaml and revision-tags-svc.yaml: `range $tagName := .Values.revisionTags`.
        { path: "revisionTags" },
    ],
    gateway: [
        // _helpers.tpl: gateway.name, which also makes the `istio:` selector label.
        { path: "name" },
        // deployment.yaml/service.yaml: network label, REQUESTED_NETWORK_VIEW env, the 15443/15012/15017 ports.
        { path: "networkGateway" },
        // service.yaml: merged with top-level `annotations` onto the Service.
        { path: "service.annotations.*" },
        { path: "service.type" },
        { path: "service.ports" },
        { path: "labels.*" },
        { path: "replicaCount" },
        { path: "autoscaling.*" },
        // Not read by the templates for images (the Deployment says `image: auto` and istiod's injection fills
        // in its own hub and tag), but allowed by values.schema.json (`global: {type: object}`, 1.30 and 1.31)
        // and merged by templates/zzz_profile.yaml: we set them so the chart states the same images as istiod.
        { path: "global.hub" },
        { path: "global.tag" },
        // _helpers.tpl gateway.podLabels: `istio.io/rev: <revision>` on the pods (a revision or a tag), in the schema.
        { path: "revision" },
    ],
};

/**
 * Top-level properties of the gateway chart's values.schema.json (`$defs.values`, which has
 * `additionalProperties: false`: anything else fails the install), 1.30.x (same in 1.30.3 and release-1.30).
 * Every one of them is still there in 1.31 (see GATEWAY_SCHEMA_TOP_LEVEL_1_31), so these are what both accept.
 */
export const GATEWAY_SCHEMA_TOP_LEVEL = [
    "_internal_defaults_do_not_set", "additionalContainers", "affinity", "annotations", "autoscaling", "compatibilityVersion",
    "containerSecurityContext", "defaultRevision", "enabled", "env", "envVarFrom", "global", "imagePullPolicy", "imagePullSecrets",
    "initContainers", "kind", "labels", "lifecycle", "minReadySeconds", "name", "networkGateway", "networkGatewayPorts", "nodeSelector",
    "pilot", "platform", "podAnnotations", "podDisruptionBudget", "priorityClassName", "profile", "rbac", "readinessProbe",
    "replicaCount", "resources", "revision", "runAsRoot", "securityContext", "service", "serviceAccount", "strategy",
    "terminationGracePeriodSeconds", "tolerations", "topologySpreadConstraints", "unprivilegedPort", "volumeMounts", "volumes",
];

/** 1.31 adds `dnsConfig` and `dnsPolicy` (and `service.healthCheckNodePort`). */
export const GATEWAY_SCHEMA_TOP_LEVEL_1_31 = [...GATEWAY_SCHEMA_TOP_LEVEL, "dnsConfig", "dnsPolicy"].sort();

/** The gateway chart's allowed top-level keys for an Istio version. */
export function gatewaySchemaTopLevel(version: string): string[] {
    return versionAtLeast(version, "1.31.0") >= 0 ? GATEWAY_SCHEMA_TOP_LEVEL_1_31 : GATEWAY_SCHEMA_TOP_LEVEL;
}

/** Leaf paths of a values object ("global.multiCluster.clusterName"). */
export function leafPaths(values: unknown, prefix = ""): string[] {
    if (typeof values !== "object" || values === null || Array.isArray(values)) return [prefix];
    const entries = Object.entries(values as Record<string, unknown>);
    if (entries.length === 0) return prefix ? [prefix] : [];
    return entries.flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
}

function versionAtLeast(version: string, since: string): number {
    const [a, b] = [version, since].map((v) => v.split(".").map(Number));
    return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** Paths in `values` that the chart at `version` does not read. `chart` may be a path or an oci:// reference. */
export function unreadPaths(chartRef: string, values: unknown, version: string): string[] {
    const chart = chartRef.replace(/\/+$/, "").split("/").pop() as keyof typeof CHART_PATHS;
    if (!CHART_PATHS[chart]) throw new Error(`no chart facts for ${chartRef}`);
    const known = CHART_PATHS[chart].filter((p) => !p.since || versionAtLeast(version, p.since) >= 0);
    return leafPaths(values).filter(
        (leaf) =>
            !known.some((k) => (k.path.endsWith(".*") ? leaf.startsWith(k.path.slice(0, -1)) || leaf === k.path.slice(0, -2) : leaf === k.path)),
    );
}
