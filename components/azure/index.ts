/** `istio-multicluster/azure`: the AKS platform's components (needs @pulumi/azure-native). */
export { AzureNetwork, AzureNetworkArgs, AzureNetworkSubnetArgs } from "./azureNetwork";
export { AksCluster, AksClusterArgs } from "./aksCluster";
