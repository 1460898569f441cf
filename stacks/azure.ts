/** Azure: AKS clusters in one VNet (issue: Azure stack). */
import { ConfigError, formatPath } from "./config";
import { PlatformClusters } from "./platform";

export function azurePlatform(_raw: Record<string, unknown>): PlatformClusters {
    throw new ConfigError([`${formatPath(["platform"])}: "azure" is not implemented yet`]);
}
