/**
 * Components written the ways the component host cannot serve, so the checks in componentHost.test.ts are
 * seen to fail. Never exported by the package.
 */
import * as pulumi from "@pulumi/pulumi";
import { Cluster } from "../../components/core/cluster";

export interface TakesResourcesArgs {
    /** The analyzer accepts this, but as an object type named `Resource` with a `urn`, not a resource. */
    dependsOn?: pulumi.Input<pulumi.Resource>[];
}

export class TakesResources extends pulumi.ComponentResource {
    constructor(name: string, args: TakesResourcesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("istio-multicluster:index:TakesResources", name, {}, opts);
        void args;
    }
}

export interface TakesOwnComponentsArgs {
    /** A resource of this package: the host passes only @pulumi packages' resources between languages. */
    clusters: Cluster[];
}

export class TakesOwnComponents extends pulumi.ComponentResource {
    constructor(name: string, args: TakesOwnComponentsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("istio-multicluster:index:TakesOwnComponents", name, {}, opts);
        void args;
    }
}
