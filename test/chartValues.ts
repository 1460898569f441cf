/**
 * What Istio's charts read, written down from the chart sources of istio/istio 1.29.x and 1.30.x
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
        { path: "base.validationFailurePolicy", since: "1.29.2" },
        { path: "meshConfig.*" },
        { path: "global.istioNamespace" },
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
    ],
};

/**
 * Top-level properties of the gateway chart's values.schema.json (1.30.x), which has
 * `additionalProperties: false`: anything else fails the install.
 */
export const GATEWAY_SCHEMA_TOP_LEVEL = [
    "_internal_defaults_do_not_set", "additionalContainers", "affinity", "annotations", "autoscaling", "compatibilityVersion",
    "containerSecurityContext", "defaultRevision", "enabled", "env", "envVarFrom", "global", "imagePullPolicy", "imagePullSecrets",
    "initContainers", "kind", "labels", "lifecycle", "minReadySeconds", "name", "networkGateway", "networkGatewayPorts", "nodeSelector",
    "pilot", "platform", "podAnnotations", "podDisruptionBudget", "priorityClassName", "profile", "rbac", "readinessProbe",
    "replicaCount", "resources", "revision", "runAsRoot", "securityContext", "service", "serviceAccount", "strategy",
    "terminationGracePeriodSeconds", "tolerations", "topologySpreadConstraints", "unprivilegedPort", "volumeMounts", "volumes",
];

/** Leaf paths of a values object ("global.multiCluster.clusterName"). */
export function leafPaths(values: unknown, prefix = ""): string[] {
    if (typeof values !== "object" || values === null || Array.isArray(values)) return [prefix];
    const entries = Object.entries(values as Record<string, unknown>);
    if (entries.length === 0) return prefix ? [prefix] : [];
    return entries.flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
}

const versionAtLeast = (version: string, since: string) => {
    const [a, b] = [version, since].map((v) => v.split(".").map(Number));
    return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
};

/** Paths in `values` that the chart at `version` does not read. */
export function unreadPaths(chart: keyof typeof CHART_PATHS, values: unknown, version: string): string[] {
    const known = CHART_PATHS[chart].filter((p) => !p.since || versionAtLeast(version, p.since) >= 0);
    return leafPaths(values).filter(
        (leaf) =>
            !known.some((k) => (k.path.endsWith(".*") ? leaf.startsWith(k.path.slice(0, -1)) || leaf === k.path.slice(0, -2) : leaf === k.path)),
    );
}
