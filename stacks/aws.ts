/** AWS: EKS clusters in one dual-stack VPC (issue: AWS stack). */
import { ConfigError, formatPath } from "./config";
import { PlatformClusters } from "./platform";

export function awsPlatform(_raw: Record<string, unknown>): PlatformClusters {
    throw new ConfigError([`${formatPath(["platform"])}: "aws" is not implemented yet`]);
}
