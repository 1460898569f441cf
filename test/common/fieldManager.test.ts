/**
 * One server-side-apply field manager per stack (components/common/fieldManager.ts): every Kubernetes object the
 * program applies itself names it, so an object a killed `pulumi up` created and the next `up` applied again has one
 * manager, not two, and a later change of it does not fail with a field conflict (found by test/e2e/faults.e2e.ts:
 * after a killed run, the next reader-token rotation failed with "Apply failed with 1 conflict: conflict with
 * "pulumi-kubernetes-<id>": .data.cluster1" on the remote secrets the killed run had written).
 */
import { Declared, runProgram } from "../support/harness";
import { existingStack, FIELD_MANAGED, THREE_CLUSTERS_TWO_NETWORKS } from "../support/fixtures";
import { istiodTemplateStandIn } from "../support/helmTemplate";
import { FIELD_MANAGER_ANNOTATION, withFieldManager } from "../../components/common/fieldManager";

/** What the kubernetes provider applies object by object: not providers, Helm releases (Helm's own manager), charts or reads. */
const appliedObjects = (resources: Declared[]) =>
    resources.filter((r) => r.custom && !r.read && r.type.startsWith("kubernetes:") && !r.type.startsWith("kubernetes:helm.sh/"));

describe("the stack's field manager", () => {
    test("every object of the default program (three clusters, samples and verification on) names it, cacerts aside", async () => {
        const run = await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS));
        const objects = appliedObjects(run.resources);
        // Namespaces, cacerts, tokens, remote secrets, Gateways, PeerAuthentications, samples, verification Jobs.
        expect(new Set(objects.map((r) => r.type)).size).toBeGreaterThanOrEqual(8);
        const stackManager = FIELD_MANAGED[FIELD_MANAGER_ANNOTATION];
        for (const r of objects.filter((x) => x.inputs.metadata?.name !== "cacerts")) expect([r.name, r.inputs.metadata?.annotations?.[FIELD_MANAGER_ANNOTATION]]).toEqual([r.name, stackManager]);
        // cacerts keeps the provider's own manager (random, kept in the state for the Secret's life): one named after
        // the root it holds changed at every root-rotation stage, and the apply under the new name conflicted with
        // the old name (found by rotation.e2e.ts); a new stack that lost its state still conflicts on it.
        const cacerts = objects.filter((x) => x.inputs.metadata?.name === "cacerts");
        expect(cacerts).toHaveLength(3);
        for (const r of cacerts) expect([r.name, r.inputs.metadata.annotations?.[FIELD_MANAGER_ANNOTATION]]).toEqual([r.name, undefined]);
    });

    test("the revision tags' objects, rendered from the istiod chart, name it too", async () => {
        const run = await runProgram(
            existingStack(THREE_CLUSTERS_TWO_NETWORKS, {
                eastWestLoadBalancer: "public",
                workloadRevisionTag: "prod-stable",
                revisions: [{ name: "1-31-1", version: "1.31.1" }],
                revisionTags: { "prod-stable": "1-31-1" },
            }),
            { calls: { "kubernetes:helm:template": istiodTemplateStandIn } },
        );
        const tags = appliedObjects(run.resources).filter((r) => r.type === "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration");
        expect(tags.length).toBeGreaterThan(0);
        for (const r of tags) expect([r.name, r.inputs.metadata.annotations[FIELD_MANAGER_ANNOTATION]]).toEqual([r.name, FIELD_MANAGED[FIELD_MANAGER_ANNOTATION]]);
    });

    test("the east-west gateway's own NodePort Service names it too", async () => {
        const stack = existingStack(THREE_CLUSTERS_TWO_NETWORKS);
        const list = stack.clusters as Record<string, unknown>[];
        for (const c of list.filter((x) => x.network === "network2")) Object.assign(c, { eastWestServiceType: "NodePort", eastWestGatewayAddress: "172.18.0.2" });
        const run = await runProgram(stack);
        const services = appliedObjects(run.resources).filter((r) => r.type === "kubernetes:core/v1:Service" && r.inputs.metadata?.name === "istio-eastwestgateway");
        expect(services).toHaveLength(1);
        expect(services[0].inputs.metadata.annotations[FIELD_MANAGER_ANNOTATION]).toBe(FIELD_MANAGED[FIELD_MANAGER_ANNOTATION]);
    });

    test("it is added beside the object's own annotations, never instead of them", () => {
        const args = withFieldManager({ metadata: { name: "x", annotations: { keep: "me" } }, type: "Opaque" });
        expect(args).toEqual({ metadata: { name: "x", annotations: { keep: "me", [FIELD_MANAGER_ANNOTATION]: expect.any(String) } }, type: "Opaque" });
    });
});
