import * as pulumi from "@pulumi/pulumi";
import { Cluster } from "../components/cluster";
import { CASettings } from "./config";

/** What a platform (existing clusters, Azure, AWS) hands to the mesh: validated settings and clusters. */
export interface PlatformClusters {
    /** The settings shared by every platform, validated. */
    settings: { meshId: string; istioVersion: string; samples: unknown; ca: CASettings; strictMtls: boolean };
    clusters: Cluster[];
    /** Platform-specific stack outputs (resource group, VPC id, …). */
    platformOutputs: Record<string, pulumi.Output<unknown>>;
}
