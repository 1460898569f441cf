import * as pulumi from "@pulumi/pulumi";
import { deploy, stackOutputs } from "./stacks/deploy";

// Read and validate the topology, build the clusters and the mesh on them. The stack outputs (cluster names, API
// servers, kubeconfigs as a secret, gateway addresses, the root, CA validity, rotation state, platform and
// sample results) are listed in stacks/deploy.ts.
export = stackOutputs(deploy(pulumi.runtime.allConfig()));
