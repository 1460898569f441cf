import * as pulumi from "@pulumi/pulumi";

/**
 * Components take what they must wait for as *values* (outputs of those resources, usually their `urn`s),
 * not as resource objects: an output carries the resources it came from, across languages too, while the
 * component host passes resource objects only for @pulumi packages' own resources. So these arguments are
 * typed `pulumi.Input<pulumi.Input<string>[]>`, and `waitFor` turns them back into a `dependsOn`.
 */
export type DependencyValues = pulumi.Input<pulumi.Input<string>[]> | undefined;

/** A `dependsOn` that waits for these resources and for every resource the given values came from. */
export function waitFor(...dependencies: (DependencyValues | pulumi.Resource)[]): pulumi.Output<pulumi.Resource[]> {
    return dependencyValues(...dependencies.map((d) => (pulumi.Resource.isInstance(d) ? [d.urn] : d))).apply(() => []);
}

/** The values to wait for as one output list, for components that pass their dependencies on. */
export function dependencyValues(...values: DependencyValues[]): pulumi.Output<string[]> {
    return pulumi.output(values.map((v) => v ?? [])).apply((lists) => lists.flat());
}
