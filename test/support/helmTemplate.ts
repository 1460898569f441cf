/**
 * A stand-in for the provider's `kubernetes:helm:template` invoke (helm.v3.Chart) with Istio's istiod chart, for unit
 * tests, which have no Helm: it answers with what the chart renders that matters here, in the chart's shapes
 * (templates/revision-tags-mwc.yaml and revision-tags-svc.yaml of 1.30/1.31: one webhook configuration and one Service
 * per entry of `revisionTags`, pointing at `istiod-<revision>`), plus objects of the revision itself (its Deployment,
 * its own injector webhook, its values ConfigMap, its reader ClusterRole) that the program must drop. The end-to-end
 * bed renders the real chart with real Helm instead (test/e2e/canary.e2e.ts).
 */
export interface TemplateCall {
    chart?: string;
    path?: string;
    version?: string;
    namespace?: string;
    values: Record<string, any>;
    release_name: string;
    fetch_opts?: { repo?: string };
}

/** Every call the stand-in answered, in order, with its options parsed. */
export const templateCalls: TemplateCall[] = [];

const webhook = (prefix: string, revision: string, namespaceSelector: any, objectSelector: any) => ({
    name: `${prefix}sidecar-injector.istio.io`,
    clientConfig: { service: { name: `istiod-${revision}`, namespace: "istio-system", path: "/inject", port: 443 } },
    sideEffects: "None",
    rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] }],
    failurePolicy: "Fail",
    reinvocationPolicy: "Never",
    admissionReviewVersions: ["v1"],
    namespaceSelector,
    objectSelector,
});

export function istiodTemplateStandIn(inputs: { jsonOpts: string }): { result: Record<string, any>[] } {
    const opts = JSON.parse(inputs.jsonOpts) as TemplateCall;
    templateCalls.push(opts);
    const revision: string = opts.values?.revision ?? "";
    const tags: string[] = opts.values?.revisionTags ?? [];
    const rev = revision || "default";
    const out: Record<string, any>[] = [
        { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: `istiod-${revision}`, namespace: "istio-system" }, spec: {} },
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: `values-${revision}`, namespace: "istio-system" }, data: {} },
        { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: `istio-reader-clusterrole-${revision}-istio-system` }, rules: [] },
        {
            apiVersion: "admissionregistration.k8s.io/v1",
            kind: "MutatingWebhookConfiguration",
            metadata: { name: `istio-sidecar-injector-${revision}`, labels: { "istio.io/rev": rev } },
            webhooks: [webhook("rev.namespace.", revision, { matchExpressions: [{ key: "istio.io/rev", operator: "In", values: [rev] }] }, {})],
        },
    ];
    for (const tag of tags) {
        const webhooks = [
            webhook(
                "rev.namespace.",
                revision,
                { matchExpressions: [{ key: "istio.io/rev", operator: "In", values: [tag] }, { key: "istio-injection", operator: "DoesNotExist" }] },
                { matchExpressions: [{ key: "sidecar.istio.io/inject", operator: "NotIn", values: ["false"] }] },
            ),
            webhook(
                "rev.object.",
                revision,
                { matchExpressions: [{ key: "istio.io/rev", operator: "DoesNotExist" }, { key: "istio-injection", operator: "DoesNotExist" }] },
                { matchExpressions: [{ key: "sidecar.istio.io/inject", operator: "NotIn", values: ["false"] }, { key: "istio.io/rev", operator: "In", values: [tag] }] },
            ),
        ];
        if (tag === "default") {
            webhooks.push(
                webhook("namespace.", revision, { matchExpressions: [{ key: "istio-injection", operator: "In", values: ["enabled"] }] }, {
                    matchExpressions: [{ key: "sidecar.istio.io/inject", operator: "NotIn", values: ["false"] }],
                }),
            );
        }
        out.push({
            apiVersion: "admissionregistration.k8s.io/v1",
            kind: "MutatingWebhookConfiguration",
            metadata: { name: `istio-revision-tag-${tag}`, labels: { "istio.io/tag": tag, "istio.io/rev": rev } },
            webhooks,
        });
        out.push({
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: `istiod-revision-tag-${tag}`, namespace: opts.namespace ?? "default", labels: { "istio.io/rev": rev, "istio.io/tag": tag } },
            spec: {
                ports: [
                    { port: 15010, name: "grpc-xds", protocol: "TCP" },
                    { port: 15012, name: "https-dns", protocol: "TCP" },
                    { port: 443, name: "https-webhook", targetPort: 15017, protocol: "TCP" },
                    { port: 15014, name: "http-monitoring", protocol: "TCP" },
                ],
                selector: { app: "istiod", "istio.io/rev": revision },
            },
        });
    }
    return { result: out };
}
