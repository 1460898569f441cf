import * as pulumi from "@pulumi/pulumi";
import { deploy } from "./stacks/deploy";

// Read and validate the topology, build the clusters and the mesh on them.
const { clusters, mesh, platformOutputs, sampleOutputs, trustRotation: rotation } = deploy(pulumi.runtime.allConfig());

export const clusterNames = clusters.map((c) => c.clusterName);
export const apiServerUrls = Object.fromEntries(clusters.map((c) => [c.clusterName, c.apiServerUrl]));
/** Secret: `pulumi stack output kubeconfigs --show-secrets`. */
export const kubeconfigs = pulumi.secret(Object.fromEntries(clusters.map((c) => [c.clusterName, c.kubeconfig])));
export const eastWestGatewayAddresses = mesh.eastWestGatewayAddresses;
export const rootCertPem = mesh.rootCertPem;
/** Days left on the mesh root(s) and each cluster's intermediate CA. */
export const caValidityDays = mesh.caValidityDays;
/** The root generation and stage, and the reader-token generation, this stack last applied. */
export const trustRotation = rotation;
export const platform = platformOutputs;
export const samples = sampleOutputs;
