/**
 * Validates declared Kubernetes and Istio objects against the published schemas (kubernetes-models,
 * @kubernetes-models/istio), by resource type. A type without a schema here fails the check, so a new kind
 * of object cannot slip through unvalidated.
 */
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Job } from "kubernetes-models/batch/v1/Job";
import { MutatingWebhookConfiguration } from "kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration";
import { Gateway } from "@kubernetes-models/istio/networking.istio.io/v1/Gateway";
import { DestinationRule } from "@kubernetes-models/istio/networking.istio.io/v1/DestinationRule";
import { VirtualService } from "@kubernetes-models/istio/networking.istio.io/v1/VirtualService";
import { PeerAuthentication } from "@kubernetes-models/istio/security.istio.io/v1/PeerAuthentication";
import { Declared, kubernetesObject } from "./harness";

// The packages are ESM with types tsc resolves only in part under CommonJS; validate() is on every model.
type Model = new (data: any) => any;

export const SCHEMAS: Record<string, Model> = {
    "kubernetes:core/v1:Namespace": Namespace,
    "kubernetes:core/v1:Secret": Secret,
    "kubernetes:core/v1:Service": Service,
    "kubernetes:core/v1:ServiceAccount": ServiceAccount,
    "kubernetes:core/v1:ConfigMap": ConfigMap,
    "kubernetes:apps/v1:Deployment": Deployment,
    "kubernetes:batch/v1:Job": Job,
    "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration": MutatingWebhookConfiguration,
    "kubernetes:networking.istio.io/v1:Gateway": Gateway,
    "kubernetes:networking.istio.io/v1:DestinationRule": DestinationRule,
    "kubernetes:networking.istio.io/v1:VirtualService": VirtualService,
    "kubernetes:security.istio.io/v1:PeerAuthentication": PeerAuthentication,
};

/** Kubernetes objects declared directly (not Helm releases, providers or reads). */
export const directKubernetesObjects = (resources: Declared[]) =>
    resources.filter((r) => r.type.startsWith("kubernetes:") && !r.type.startsWith("kubernetes:helm.sh/") && !r.read);

/** Validates one declared object; throws with the resource's name on a schema violation or a missing schema. */
export function validateObject(r: Declared): void {
    const Model = SCHEMAS[r.type];
    if (!Model) throw new Error(`no schema registered for ${r.type} (${r.name}): add it to test/support/schemas.ts`);
    try {
        new Model(kubernetesObject(r)).validate();
    } catch (e) {
        throw new Error(`${r.type} ${r.name} does not match its schema: ${(e as Error).message}`);
    }
}
