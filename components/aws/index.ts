/** `istio-multicluster/aws`: the EKS platform's components (needs @pulumi/aws and @pulumi/eks). */
export { AwsNetwork, AwsNetworkArgs } from "./awsNetwork";
export { EksCluster, EksClusterArgs } from "./eksCluster";
export { AwsLoadBalancerController, AwsLoadBalancerControllerArgs } from "./awsLoadBalancerController";
