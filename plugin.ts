/**
 * The entry of the multi-language component package (`pulumi package add <this repository>`). Pulumi's
 * Node.js plugin host loads package.json `main` (this file) through ts-node and serves every component it
 * exports, as `istio-multicluster:index:<Class>`. TypeScript and JavaScript projects import the built
 * library instead, through package.json `exports`.
 */
export * from "./components/index";
export * from "./components/azure";
export * from "./components/aws";
