/**
 * What each provider answers in a *first* preview (a stack never deployed: every resource is a create), so
 * that the harness can run the program the way `pulumi preview` in the PR workflow does.
 *
 * In a preview the engine asks each provider to preview the create and hands the program what comes back.
 * The Node SDK then treats an output that is, or contains, the unknown value as unknown and skips every
 * `apply` on it; an output missing from the reply is unknown too (`resolveProperties` in
 * @pulumi/pulumi runtime/rpc.js, called from `resolveOutputs` in runtime/resource.ts: in a dry run missing
 * outputs resolve as not known, and inputs are not copied in). What the providers send (read 2026-11):
 *
 * - azure-native (pulumi/pulumi-azure-native provider/pkg/convert/previewOutputs.go, `PreviewOutputs`): every
 *   output property of the resource, the input's value where there is one, recursing into input objects;
 *   every property not in the inputs, at the top or nested in an input object, is unknown. So
 *   `identity: {type: SystemAssigned}` comes back as `{type, principalId: unknown, tenantId: unknown}`.
 * - aws and tls, bridged Terraform providers (pulumi/pulumi-terraform-bridge pkg/tfbridge/provider.go,
 *   Create/Update with `preview`): the planned state, marshalled with KeepUnknowns: inputs as given, every
 *   computed attribute (arn, id, keys and certificates, nested computed blocks) unknown. Same shape as above.
 * - kubernetes (pulumi/pulumi-kubernetes provider/pkg/provider/provider.go `Create`): in a preview with
 *   unknown inputs or an unreachable cluster it returns the inputs as they are; no `status`, and the id is
 *   empty. `helm.v3.Release` (provider/pkg/provider/helm_release.go `checkpointRelease`): the release built
 *   from the inputs, with `status` and `resourceNames` unknown. A `.get` whose id is unknown reads nothing.
 * - eks (pulumi/pulumi-eks, `eks:index:Cluster`, a component the eks provider constructs): its outputs come
 *   from its children, the aws.eks.Cluster's endpoint and certificate authority among them (nodejs/eks/cluster.ts
 *   builds the kubeconfig from them), all unknown before the cluster exists. Modelled as every output unknown,
 *   as for any component.
 * - providers (`pulumi:providers:*`): the engine configures them from their inputs; modelled as inputs echoed.
 *
 * Invokes run in previews too; with an unknown argument the SDK skips them and their result is unknown
 * (runtime/invoke.js). That needs no model.
 */

/** The engine's unknown value, as it travels through the SDK's mock monitor. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export interface PreviewCall {
    type: string;
    /** Inputs as the program sent them (secret wrappers and all). */
    inputs: Record<string, any>;
    /** What the provider returns once the resource exists (the normal mocks' answer, inputs included). */
    created: Record<string, any>;
    custom: boolean;
    /** The id of a `.get`, or undefined for a create. */
    id?: string;
}

const isObject = (v: unknown): v is Record<string, any> => typeof v === "object" && v !== null && !Array.isArray(v);
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** Inputs as given; what only the provider would fill in (top-level or nested in an input object) unknown. */
export function inputsWithComputedUnknown(inputs: Record<string, any>, created: Record<string, any>): Record<string, any> {
    const out: Record<string, any> = {};
    for (const key of new Set([...Object.keys(created), ...Object.keys(inputs)])) {
        if (!(key in inputs)) out[key] = UNKNOWN;
        else if (isObject(inputs[key]) && !(SECRET_SIG in inputs[key]) && isObject(created[key])) out[key] = inputsWithComputedUnknown(inputs[key], created[key]);
        else out[key] = inputs[key];
    }
    return out;
}

/** The id and state a provider returns for this resource in a first preview. */
export function firstPreviewReply(call: PreviewCall): { id: string | undefined; state: Record<string, any> } {
    const { type, inputs, created } = call;
    if (call.id !== undefined && call.id !== "") {
        // A read: with a known id the provider reads for real, even in a preview; with an unknown one, nothing.
        return call.id === UNKNOWN ? { id: undefined, state: {} } : { id: call.id, state: created };
    }
    if (!call.custom) return { id: undefined, state: {} };
    if (type.startsWith("pulumi:providers:")) return { id: `${type.split(":").pop()}-preview-id`, state: { ...inputs } };
    if (type === "kubernetes:helm.sh/v3:Release") return { id: undefined, state: { ...inputs, status: UNKNOWN, resourceNames: UNKNOWN } };
    if (type.startsWith("kubernetes:")) return { id: undefined, state: { ...inputs } };
    // azure-native, and the bridged aws and tls providers.
    return { id: undefined, state: inputsWithComputedUnknown(inputs, created) };
}
