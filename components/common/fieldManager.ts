import * as pulumi from "@pulumi/pulumi";

/** The kubernetes provider's annotation naming an object's server-side-apply field manager. */
export const FIELD_MANAGER_ANNOTATION = "pulumi.com/patchFieldManager";

/**
 * One server-side-apply field manager per stack for the Kubernetes objects the components apply, instead of the
 * kubernetes provider's default: a random name picked at each create. A `pulumi up` killed while it creates objects
 * leaves them pending; `pulumi refresh --clear-pending-creates` and the next `up` apply them again. With random names
 * such an object then keeps the dead run's manager beside the new one, and the next change of a field both own (a
 * reader-token rotation rewriting a remote secret) fails with "Apply failed with 1 conflict: conflict with
 * "pulumi-kubernetes-<id>"" (measured on the end-to-end bed: test/e2e/faults.e2e.ts). Named after the project and the
 * stack, so two stacks writing one object still conflict. (`cacerts` keeps the provider's own: see IstioPrimary.)
 */
export function fieldManager(): string {
    return `${pulumi.getProject()}-${pulumi.getStack()}`.slice(0, 128);
}

/**
 * A Kubernetes object's arguments with the stack's field manager (FIELD_MANAGER_ANNOTATION) among its annotations.
 * The annotations may be a plain map or a Pulumi input of one (a user's `eastWestServiceAnnotations`).
 */
export function withFieldManager<T extends { metadata: object }>(args: T): T {
    const metadata = args.metadata as { annotations?: pulumi.Input<Record<string, pulumi.Input<string>>> };
    const add = (a: Record<string, pulumi.Input<string>> | undefined) => ({ ...(a ?? {}), [FIELD_MANAGER_ANNOTATION]: fieldManager() });
    const annotations = metadata.annotations;
    const isPlain = annotations === undefined || (!pulumi.Output.isInstance(annotations) && !(annotations instanceof Promise));
    return { ...args, metadata: { ...metadata, annotations: isPlain ? add(annotations as Record<string, string> | undefined) : pulumi.output(annotations).apply(add) } };
}
