/**
 * The component library: `import { Mesh, Cluster, ... } from "istio-multicluster"`.
 * Platform-specific components are exported too; they pull in their cloud SDK only when imported.
 */
export { Cluster, ClusterArgs, kubeconfigServer } from "./cluster";
export { MeshCA, MeshCAArgs, CACerts, ProvidedCA, ProvidedIntermediate, checkProvidedCA } from "./meshCA";
export { IstioPrimary, IstioPrimaryArgs, istiodValues, baseValues } from "./istioPrimary";
export { EastWestGateway, EastWestGatewayArgs, eastWestGatewayValues, crossNetworkGateway, gatewayExposureAnnotations } from "./eastWestGateway";
export { RemoteSecret, RemoteSecretArgs, remoteKubeconfig } from "./remoteSecret";
export { Mesh, MeshArgs } from "./mesh";
export { DEFAULT_ISTIO_VERSION, ISTIO_HELM_REPO } from "./istioVersion";
