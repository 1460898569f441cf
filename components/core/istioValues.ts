/**
 * Helm values a user lays over what the mesh passes to Istio's charts (`istioctl install -f overlay.yaml`, as Helm
 * values): access logs and other `meshConfig`, istiod's resources, autoscaling, PodDisruptionBudgets, node
 * selectors, tolerations, the east-west gateways' resources. Keys the mesh owns are refused, naming the setting that
 * owns them, so that no overlay silently undoes the topology.
 */

/** Values for each of Istio's charts. Each is a Helm values object. */
export interface IstioValues {
    /** Over the `base` chart's values. */
    base?: { [key: string]: any };
    /** Over the `istiod` chart's values (every revision's istiod, with revisions). */
    istiod?: { [key: string]: any };
    /** Over the east-west gateways' `gateway` chart values. */
    gateway?: { [key: string]: any };
}

export const ISTIO_VALUES_CHARTS = ["base", "istiod", "gateway"] as const;
export type IstioValuesChart = (typeof ISTIO_VALUES_CHARTS)[number];

/** A key the mesh sets: its path in the chart's values and the setting that owns it. */
export interface OwnedValue {
    path: string[];
    owner: string;
    /** What to say instead of "set by <owner>". */
    message?: string;
}

const PROGRAM_NAMESPACE = "the program: Istio goes into istio-system";
const VALIDATION_POLICY = "the program: Fail, as istiod makes it once running (docs/architecture.md)";

/** Keys the mesh owns in each chart. Laying a value on any of them, or on an object holding one, is refused. */
export const OWNED_VALUES: Record<IstioValuesChart, OwnedValue[]> = {
    base: [
        { path: ["defaultRevision"], owner: "defaultRevision" },
        { path: ["base", "validationFailurePolicy"], owner: VALIDATION_POLICY },
        { path: ["global", "istioNamespace"], owner: PROGRAM_NAMESPACE },
    ],
    istiod: [
        { path: ["global", "meshID"], owner: "meshId" },
        { path: ["global", "multiCluster", "clusterName"], owner: "clusters[].name" },
        { path: ["global", "network"], owner: "clusters[].network" },
        { path: ["global", "hub"], owner: "istioImageHub" },
        { path: ["global", "tag"], owner: "istioVersion (or revisions[].version)" },
        { path: ["global", "meshNetworks"], owner: "clusters[].eastWestServiceType and clusters[].eastWestGatewayAddress" },
        { path: ["global", "istioNamespace"], owner: PROGRAM_NAMESPACE },
        { path: ["revision"], owner: "revisions" },
        { path: ["revisionTags"], owner: "revisionTags" },
        { path: ["base", "validationFailurePolicy"], owner: VALIDATION_POLICY },
        { path: ["env", "ISTIO_ENABLE_IPV4_OUTBOUND_LISTENER_FOR_IPV6_CLUSTERS"], owner: "clusters[].ipFamily" },
        { path: ["env", "ISTIO_MULTIROOT_MESH"], owner: "ca.rootRotation" },
    ],
    gateway: [
        { path: ["name"], owner: "the program: istio-eastwestgateway, which the cross-network Gateway selects" },
        { path: ["networkGateway"], owner: "clusters[].network" },
        { path: ["labels", "topology.istio.io/network"], owner: "clusters[].network" },
        { path: ["env", "ISTIO_META_REQUESTED_NETWORK_VIEW"], owner: "clusters[].network" },
        { path: ["networkGatewayPorts"], owner: "the program: the east-west ports 15021, 15443, 15012 and 15017" },
        { path: ["service", "ports"], owner: "the program: the east-west ports 15021, 15443, 15012 and 15017" },
        { path: ["service", "type"], owner: "clusters[].eastWestServiceType" },
        { path: ["service", "annotations"], owner: "eastWestLoadBalancer (and clusters[].eastWestServiceAnnotations on existing clusters)" },
        { path: ["annotations"], owner: "eastWestLoadBalancer (and clusters[].eastWestServiceAnnotations on existing clusters)" },
        { path: ["revision"], owner: "workloadRevisionTag" },
        { path: ["global", "hub"], owner: "istioImageHub" },
        { path: ["global", "tag"], owner: "istioVersion (or revisions[].version)" },
    ],
};

/**
 * The istiod chart copies everything under `pilot` to the top level (templates/zzy_descope_legacy.yaml, 1.30 and
 * 1.31), so `pilot.global.meshID` would set `global.meshID`: owned keys are owned there too.
 */
const CHART_ALIASES: Partial<Record<IstioValuesChart, string[]>> = { istiod: ["pilot"] };

/** Keys that must be identical in every cluster: allowed mesh-wide, refused per cluster. */
export const MESH_WIDE_ONLY: Partial<Record<IstioValuesChart, OwnedValue[]>> = {
    istiod: [
        {
            path: ["meshConfig", "trustDomain"],
            owner: "istioValues.istiod.meshConfig.trustDomain",
            message: "mesh-wide only: every cluster must share the trust domain, so set it in istioValues.istiod.meshConfig.trustDomain",
        },
    ],
};

/** A problem in an overlay: where below the overlay (chart first) and what. */
export interface IstioValuesProblem {
    path: (string | number)[];
    message: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Where in `values` a value would replace `owned` (the owned key itself, or a non-object on its way); else undefined. */
function overlaps(values: Record<string, unknown>, owned: string[]): string[] | undefined {
    let current: unknown = values;
    for (let i = 0; i < owned.length; i++) {
        if (!isObject(current) || !(owned[i] in current)) return undefined;
        current = current[owned[i]];
        if (i < owned.length - 1 && !isObject(current)) return owned.slice(0, i + 1);
    }
    return owned;
}

/**
 * Every problem in an overlay: not an object per chart, an unknown chart, a key the mesh owns, and per cluster
 * (`perCluster`) a key that must be the same everywhere. Paths start at the chart (`["istiod", "global", "meshID"]`).
 */
export function istioValuesProblems(values: unknown, perCluster: boolean): IstioValuesProblem[] {
    if (values === undefined) return [];
    if (!isObject(values)) return [{ path: [], message: `must be an object with Helm values per chart: ${ISTIO_VALUES_CHARTS.join(", ")}` }];
    const problems: IstioValuesProblem[] = [];
    for (const [chart, chartValues] of Object.entries(values)) {
        if (chartValues === undefined) continue;
        if (!(ISTIO_VALUES_CHARTS as readonly string[]).includes(chart)) {
            problems.push({ path: [chart], message: `not one of Istio's charts here; use ${ISTIO_VALUES_CHARTS.join(", ")}` });
            continue;
        }
        if (!isObject(chartValues)) {
            problems.push({ path: [chart], message: `must be an object of Helm values for the ${chart} chart` });
            continue;
        }
        const owned = [...OWNED_VALUES[chart as IstioValuesChart], ...(perCluster ? MESH_WIDE_ONLY[chart as IstioValuesChart] ?? [] : [])];
        const prefixes = [[], ...(CHART_ALIASES[chart as IstioValuesChart] ?? []).map((alias) => [alias])];
        for (const o of owned) {
            for (const prefix of prefixes) {
                const at = overlaps(chartValues, [...prefix, ...o.path]);
                const where = [chart, ...(at ?? [])];
                if (at && !problems.some((p) => p.path.join("\0") === where.join("\0"))) {
                    problems.push({ path: where, message: o.message ?? `set by ${o.owner}; the mesh owns ${[chart, ...o.path].join(".")}` });
                }
            }
        }
    }
    return problems;
}

/** Throws one error listing every problem (for the library; the stack reports them as ConfigError). */
export function checkIstioValues(values: IstioValues | undefined, where: string, perCluster: boolean): void {
    const problems = istioValuesProblems(values, perCluster);
    if (problems.length > 0) throw new Error(`${where}: ${problems.map((p) => `${p.path.join(".")}: ${p.message}`).join("; ")}`);
}

/**
 * `over` laid over `under`, as Helm merges values files: objects key by key, anything else (lists too) replaced.
 * Neither argument is changed.
 */
export function mergeValues(under: Record<string, unknown> | undefined, over: Record<string, unknown> | undefined): Record<string, unknown> {
    const out: Record<string, unknown> = { ...(under ?? {}) };
    for (const [key, value] of Object.entries(over ?? {})) {
        out[key] = isObject(value) && isObject(out[key]) ? mergeValues(out[key] as Record<string, unknown>, value) : value;
    }
    return out;
}

/** A cluster's overlay: the mesh-wide values with the cluster's own over them. */
export function clusterIstioValues(mesh: IstioValues | undefined, cluster: IstioValues | undefined): IstioValues {
    const out: IstioValues = {};
    for (const chart of ISTIO_VALUES_CHARTS) {
        if (mesh?.[chart] || cluster?.[chart]) out[chart] = mergeValues(mesh?.[chart], cluster?.[chart]);
    }
    return out;
}

/** What a chart gets: the user's overlay with the mesh's own values over it (which the checks keep disjoint). */
export function withOverlay(overlay: Record<string, unknown> | undefined, meshValues: Record<string, unknown>): Record<string, unknown> {
    return overlay ? mergeValues(overlay, meshValues) : meshValues;
}
