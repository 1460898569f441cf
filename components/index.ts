/**
 * The component library: `import { Mesh, Cluster, ... } from "istio-multicluster"`.
 * Cloud components live in their own entry points, so that importing the core never loads a cloud SDK:
 * `istio-multicluster/azure` (AzureNetwork, AksCluster) and `istio-multicluster/aws` (AwsNetwork, EksCluster,
 * AwsLoadBalancerController).
 */
export { Cluster, ClusterArgs, MeshClusterArgs, MeshClusterFields, meshClusterFields, kubeconfigServer, kubeconfigForContext } from "./core/cluster";
export { waitFor, dependencyValues, DependencyValues } from "./common/dependencies";
export { MeshCA, MeshCAArgs, MeshCAOptions, CACerts, ProvidedCA, ProvidedIntermediate, checkProvidedCA } from "./core/meshCA";
export { IstioPrimary, IstioPrimaryArgs, istiodValues, baseValues } from "./core/istioPrimary";
export { EastWestGateway, EastWestGatewayArgs, eastWestGatewayValues, crossNetworkGateway, gatewayExposureAnnotations } from "./core/eastWestGateway";
export { RemoteSecret, RemoteSecretArgs, remoteKubeconfig } from "./core/remoteSecret";
export { Mesh, MeshArgs } from "./core/mesh";
export { IstioPreflight, IstioPreflightArgs } from "./core/istioPreflight";
export { IstioValues, mergeValues } from "./core/istioValues";
export { DEFAULT_ISTIO_VERSION, DEFAULT_ISTIO_IMAGE_HUB, ISTIO_HELM_REPO, ISTIO_OCI_CHARTS, istioChart } from "./common/istioVersion";
export { SampleApps, SampleAppsArgs } from "./samples/sampleApps";
export { MeshVerification, MeshVerificationArgs } from "./samples/meshVerification";
