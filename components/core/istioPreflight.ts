import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { ISTIO_NAMESPACE, STACK_MARK_ANNOTATION, stackMark } from "./istioPrimary";

/**
 * Finds an Istio this stack does not own in a cluster before anything is changed there: an `istio-system` that
 * already runs istiod or holds Helm releases, or Istio's CRDs owned by another Helm release (or by none: istioctl and
 * the operator install them so). Installing over either would take over the other mesh's namespace, replace its
 * `cacerts` (istiod reloads it: the running mesh's trust breaks) and then fail half-way in Helm.
 *
 * How: a tiny chart rendered by the kubernetes provider's `helm.v4.Chart`, which renders with Helm's server-side dry
 * run, so the chart's `lookup` calls read the cluster (pulumi-kubernetes provider/pkg/provider/helm/v4/chart.go). The
 * chart renders no object; when it finds a foreign Istio it calls Helm's `fail`, so the Chart cannot be registered and
 * the preview (or update) fails naming the cluster and what was found. Everything the mesh declares in any cluster
 * waits for every cluster's preflight (Mesh), so one cluster's finding stops all of them. No dynamic provider (which
 * needs the Node.js language host) and no object read with `.get` (which fails when the object is missing).
 *
 * `istio-system` is this stack's when it carries `istio-multicluster/stack: <project>/<stack>` (IstioPrimary sets it),
 * or, for stacks made before that mark, when it has no mark and a `pulumi-kubernetes-*` field manager.
 */
export interface IstioPreflightArgs {
    /** Istio cluster ID, named in the failure. */
    clusterName: string;
    /** Provider of the cluster to look at. */
    provider: k8s.Provider;
}

/**
 * The chart's files. `observed` replaces the lookups with given objects, so tests run the same template with real Helm
 * on made-up clusters (`helm template` has no cluster: its lookups find nothing).
 */
export const PREFLIGHT_CHART_FILES: Record<string, string> = {
    "Chart.yaml": `apiVersion: v2
name: istio-preflight
description: Fails the render when a cluster already runs an Istio this stack does not own (istio-multicluster).
type: application
version: 1.0.0
`,
    "values.yaml": `# cluster: the Istio cluster ID to name in the failure
cluster: ""
# namespace: where the stack installs Istio
namespace: ${ISTIO_NAMESPACE}
# stack: this stack's mark (the ${STACK_MARK_ANNOTATION} annotation on the namespace)
stack: ""
# observed: tests only; objects to use instead of what lookup finds ({namespace, deployments, secrets, crds})
observed: {}
`,
    "templates/preflight.yaml": `{{- $ns := .Values.namespace -}}
{{- $namespace := dict -}}
{{- $deployments := list -}}
{{- $secrets := list -}}
{{- $crds := list -}}
{{- if .Values.observed -}}
{{- $namespace = .Values.observed.namespace | default dict -}}
{{- $deployments = .Values.observed.deployments | default list -}}
{{- $secrets = .Values.observed.secrets | default list -}}
{{- $crds = .Values.observed.crds | default list -}}
{{- else -}}
{{- $namespace = lookup "v1" "Namespace" "" $ns -}}
{{- if $namespace -}}
{{- $deployments = (lookup "apps/v1" "Deployment" $ns "").items | default list -}}
{{- $secrets = (lookup "v1" "Secret" $ns "").items | default list -}}
{{- end -}}
{{- $crds = (lookup "apiextensions.k8s.io/v1" "CustomResourceDefinition" "" "").items | default list -}}
{{- end -}}
{{- $meta := $namespace.metadata | default dict -}}
{{- $mark := index ($meta.annotations | default dict) "${STACK_MARK_ANNOTATION}" | default "" -}}
{{- $madeByPulumi := false -}}
{{- range ($meta.managedFields | default list) -}}
{{- if hasPrefix "pulumi-kubernetes" (.manager | default "") -}}{{- $madeByPulumi = true -}}{{- end -}}
{{- end -}}
{{- $ours := or (eq $mark .Values.stack) (and (eq $mark "") $madeByPulumi) -}}
{{- $found := list -}}
{{- if and $namespace (not $ours) -}}
{{- $whose := ternary (printf "marked as stack %s" $mark) "not made by this stack" (ne $mark "") -}}
{{- range $deployments -}}
{{- if eq (index (.metadata.labels | default dict) "app" | default "") "istiod" -}}
{{- $found = append $found (printf "istiod (Deployment %s/%s), in a namespace %s" $ns .metadata.name $whose) -}}
{{- end -}}
{{- end -}}
{{- $releases := list -}}
{{- range $secrets -}}
{{- if eq (.type | default "") "helm.sh/release.v1" -}}
{{- $releases = append $releases (index (.metadata.labels | default dict) "name" | default .metadata.name) -}}
{{- end -}}
{{- end -}}
{{- if $releases -}}
{{- $found = append $found (printf "Helm releases %s in %s, %s" (join ", " (uniq $releases | sortAlpha)) $ns $whose) -}}
{{- end -}}
{{- end -}}
{{- $owners := list -}}
{{- range $crds -}}
{{- if hasSuffix ".istio.io" .metadata.name -}}
{{- $a := .metadata.annotations | default dict -}}
{{- $release := index $a "meta.helm.sh/release-name" | default "" -}}
{{- $releaseNs := index $a "meta.helm.sh/release-namespace" | default "" -}}
{{- if not (and (eq $release "istio-base") (eq $releaseNs $ns)) -}}
{{- $owners = append $owners (ternary (printf "Helm release %s in namespace %s" $release $releaseNs) "no Helm release (istioctl and the Istio operator install them so)" (ne $release "")) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range (uniq $owners | sortAlpha) -}}
{{- $found = append $found (printf "Istio's CRDs owned by %s" .) -}}
{{- end -}}
{{- if $found -}}
{{- fail (printf "cluster %s already runs an Istio this stack does not own: %s. Nothing was changed; see docs/existing-clusters.md, \\"Adopting a mesh you already have\\"" .Values.cluster (join "; " $found)) -}}
{{- end -}}
`,
};

/**
 * The chart as a directory (Helm reads charts from disk): written once per content, named by its hash, so the path is
 * the same on every run of one machine and the package needs no files besides its JavaScript.
 */
export function preflightChartDir(): string {
    const hash = crypto.createHash("sha256");
    for (const [file, text] of Object.entries(PREFLIGHT_CHART_FILES).sort()) hash.update(file).update("\0").update(text).update("\0");
    const dir = path.join(os.tmpdir(), `istio-multicluster-preflight-${hash.digest("hex").slice(0, 16)}`);
    if (!fs.existsSync(path.join(dir, "templates", "preflight.yaml"))) {
        const staging = fs.mkdtempSync(`${dir}.tmp-`);
        for (const [file, text] of Object.entries(PREFLIGHT_CHART_FILES)) {
            fs.mkdirSync(path.dirname(path.join(staging, file)), { recursive: true });
            fs.writeFileSync(path.join(staging, file), text);
        }
        try {
            fs.renameSync(staging, dir);
        } catch {
            // Another run wrote it first: same content.
            fs.rmSync(staging, { recursive: true, force: true });
        }
    }
    return dir;
}

/** The preflight chart's values for a cluster. */
export function preflightValues(clusterName: string, observed?: Record<string, unknown>): Record<string, unknown> {
    return { cluster: clusterName, namespace: ISTIO_NAMESPACE, stack: stackMark(), ...(observed ? { observed } : {}) };
}

export class IstioPreflight extends pulumi.ComponentResource {
    /** The check: registered once the chart rendered (nothing) with no foreign Istio found. */
    public readonly chart: k8s.helm.v4.Chart;
    /** Resolves once the check passed; what the cluster's resources wait for. */
    public readonly passed: pulumi.Output<string>;

    constructor(name: string, args: IstioPreflightArgs, opts?: pulumi.ComponentResourceOptions) {
        super("istio-multicluster:index:IstioPreflight", name, {}, opts);
        this.chart = new k8s.helm.v4.Chart(
            `${name}-chart`,
            { chart: preflightChartDir(), values: preflightValues(args.clusterName), skipCrds: true },
            { parent: this, provider: args.provider },
        );
        this.passed = this.chart.urn;
        this.registerOutputs({ passed: this.passed });
    }
}
