import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { MeshClusterFields } from "../components/core/cluster";
import { CASettings } from "./config";
import { ReaderTokensSettings } from "./rotation";
import { IstioValues } from "../components/core/istioValues";

/** The settings every platform validates (its own come on top). */
export interface PlatformSettings {
    meshId: string;
    istioVersion: string;
    istioChartSource: string;
    istioImageHub: string;
    samples: unknown;
    ca: CASettings;
    strictMtls: boolean;
    readerTokens?: ReaderTokensSettings;
    clusters: { name: string; revisionTags?: Record<string, string>; istioValues?: IstioValues }[];
    revisions?: { name: string; version: string; chartSource?: string }[];
    defaultRevision?: string;
    revisionTags?: Record<string, string>;
    workloadRevisionTag?: string;
    istioValues?: IstioValues;
}

/** What a platform declares: the clusters the mesh goes on, and its own stack outputs. */
export interface PlatformClusters {
    /** `Cluster`s, or components that end in one (AksCluster, EksCluster). */
    clusters: MeshClusterFields[];
    /** Platform-specific stack outputs (resource group, VPC id, …). */
    platformOutputs: Record<string, pulumi.Output<unknown>>;
    /** Annotations a public LoadBalancer Service needs in each cluster (by cluster name), e.g. the AWS NLB's. */
    ingressServiceAnnotations?: Record<string, Record<string, string>>;
}

/**
 * A source of clusters (existing kubeconfigs, Azure, AWS). Validation and declaration are separate so that
 * every setting, the platform's and everyone else's, is checked before the first resource is declared.
 */
export interface Platform<S extends PlatformSettings> {
    /** Its settings' schema: which keys it allows. */
    schema: z.ZodType;
    /** Checks every setting; throws a ConfigError naming each problem. Declares nothing. */
    validate(raw: Record<string, unknown>): S;
    /** Declares the clusters. */
    build(settings: S): PlatformClusters;
    /** Clusters the program did not make: check each for an Istio the stack does not own first (Mesh `preflight`). */
    preflight?: boolean;
    /** Type of the samples' ingress gateway Service unless `samples.bookinfo.ingressServiceType` says. Default LoadBalancer. */
    samplesIngressServiceType?: "LoadBalancer" | "NodePort" | "ClusterIP";
}
