/**
 * The component library: `import { Mesh, Cluster, ... } from "istio-multicluster"`.
 * Cloud components live in their own entry points, so that importing the core never loads a cloud SDK:
 * `istio-multicluster/azure` (AzureNetwork, AksCluster) and `istio-multicluster/aws` (AwsNetwork, EksCluster,
 * AwsLoadBalancerController).
 */
export { Cluster, ClusterArgs, MeshClusterArgs, MeshClusterFields, meshClusterFields, kubeconfigServer } from "./cluster";
export { waitFor, dependencyValues, DependencyValues } from "./dependencies";
export { MeshCA, MeshCAArgs, MeshCAOptions, CACerts, ProvidedCA, ProvidedIntermediate, checkProvidedCA } from "./meshCA";
export { IstioPrimary, IstioPrimaryArgs, istiodValues, baseValues } from "./istioPrimary";
export { EastWestGateway, EastWestGatewayArgs, eastWestGatewayValues, crossNetworkGateway, gatewayExposureAnnotations } from "./eastWestGateway";
export { RemoteSecret, RemoteSecretArgs, remoteKubeconfig } from "./remoteSecret";
export { Mesh, MeshArgs } from "./mesh";
export { DEFAULT_ISTIO_VERSION, DEFAULT_ISTIO_IMAGE_HUB, ISTIO_HELM_REPO, ISTIO_OCI_CHARTS, istioChart } from "./istioVersion";
export { SampleApps, SampleAppsArgs } from "./sampleApps";
export { MeshVerification, MeshVerificationArgs } from "./meshVerification";
