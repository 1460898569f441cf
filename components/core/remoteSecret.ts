import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { stringify } from "yaml";
import { ISTIO_NAMESPACE } from "./istioPrimary";
import { waitFor } from "../common/dependencies";
import { withFieldManager } from "../common/fieldManager";
import { readerTokenName } from "./caRotation";

export const READER_SERVICE_ACCOUNT = "istio-reader-service-account";

/**
 * Lets the target cluster's istiod discover endpoints in the source cluster, as `istioctl
 * create-remote-secret` does: a token for the source's read-only `istio-reader-service-account`, wrapped in
 * a bearer-token kubeconfig, stored in the target as `istio-remote-secret-<source>`.
 */
export interface RemoteSecretArgs {
    /** Istio cluster ID of the cluster being read. */
    sourceClusterName: string;
    sourceProvider: k8s.Provider;
    /** The source's API server URL, reachable from the target's istiod. */
    sourceApiServerUrl: pulumi.Input<string>;
    /** Istio cluster ID of the cluster whose istiod reads. */
    targetClusterName: string;
    targetProvider: k8s.Provider;
    /** In the source: whatever creates the reader service account and its role (Istio's `base` and `istiod` charts), as outputs (`urn`s). */
    sourceDependsOn?: pulumi.Input<pulumi.Input<string>[]>;
    /** In the target: whatever creates `istio-system`, as outputs (`urn`s). */
    targetDependsOn?: pulumi.Input<pulumi.Input<string>[]>;
    /**
     * Generation of the reader token (default 1). A new one renames the token Secret, which the kubernetes provider
     * replaces create-before-delete: the new token exists, the remote secret is updated with it, and the engine
     * deletes the old token only after every create and update of the run (see docs/rotation.md).
     */
    tokenGeneration?: number;
}

export interface RemoteKubeconfigArgs {
    clusterName: string;
    server: string;
    /** base64 of the source cluster's CA bundle, as Kubernetes stores `ca.crt` in token Secrets. */
    certificateAuthorityData: string;
    token: string;
}

/** The kubeconfig istiod accepts: a bearer token, no exec plugin, no client certificate. */
export function remoteKubeconfig(args: RemoteKubeconfigArgs): string {
    return stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: args.clusterName, cluster: { "certificate-authority-data": args.certificateAuthorityData, server: args.server } }],
        contexts: [{ name: args.clusterName, context: { cluster: args.clusterName, user: args.clusterName } }],
        "current-context": args.clusterName,
        preferences: {},
        users: [{ name: args.clusterName, user: { token: args.token } }],
    });
}

/**
 * The token and CA bundle Kubernetes put in a reader-token Secret, or an error that says what to do. Kubernetes' token
 * controller gives up on a token Secret after a few quick retries (an API server outage as it was created), and the
 * Secret then stays without data for good; the refresh before every run reads it back like that. Without this check
 * the run failed in `Buffer.from(undefined)`, naming nothing.
 */
export function readerTokenData(data: Record<string, string> | undefined, where: { sourceClusterName: string; secretName: string }): { token: string; caData: string } {
    const missing = ["token", "ca.crt"].filter((k) => !data?.[k]);
    if (missing.length > 0) {
        throw new Error(
            `reader token Secret ${ISTIO_NAMESPACE}/${where.secretName} in cluster ${where.sourceClusterName} has no ${missing.join(" and no ")}: ` +
                `Kubernetes' token controller never filled it in. Delete it in that cluster ` +
                `(kubectl -n ${ISTIO_NAMESPACE} delete secret ${where.secretName}) and run pulumi up again: it is created anew.`,
        );
    }
    return { token: Buffer.from(data!.token, "base64").toString("utf8"), caData: data!["ca.crt"] };
}

export const remoteSecretName = (sourceClusterName: string) => `istio-remote-secret-${sourceClusterName}`;
export const readerTokenSecretName = (targetClusterName: string, generation = 1) => readerTokenName(targetClusterName, generation);

/** Metadata istiod's secret controller selects on (the label) and names the cluster by (the annotation). */
export function remoteSecretMetadata(sourceClusterName: string) {
    return {
        name: remoteSecretName(sourceClusterName),
        namespace: ISTIO_NAMESPACE,
        annotations: { "networking.istio.io/cluster": sourceClusterName },
        labels: { "istio/multiCluster": "true" },
    };
}

export class RemoteSecret extends pulumi.ComponentResource {
    /** The service-account token Secret in the source cluster. */
    public readonly readerToken: k8s.core.v1.Secret;
    /** `istio-remote-secret-<source>` in the target cluster. */
    public readonly secret: k8s.core.v1.Secret;

    constructor(name: string, args: RemoteSecretArgs, opts?: pulumi.ComponentResourceOptions) {
        super("istio-multicluster:index:RemoteSecret", name, {}, opts);

        const tokenSecretName = readerTokenSecretName(args.targetClusterName, args.tokenGeneration);
        // One token per reading cluster, so access can be revoked pair by pair.
        this.readerToken = new k8s.core.v1.Secret(
            `${name}-reader-token`,
            withFieldManager({
                metadata: {
                    name: tokenSecretName,
                    namespace: ISTIO_NAMESPACE,
                    annotations: { "kubernetes.io/service-account.name": READER_SERVICE_ACCOUNT },
                },
                type: "kubernetes.io/service-account-token",
            }),
            // The provider waits until Kubernetes has filled in `data.token` and `data["ca.crt"]`.
            { parent: this, provider: args.sourceProvider, dependsOn: waitFor(args.sourceDependsOn), additionalSecretOutputs: ["data"] },
        );

        const kubeconfig = pulumi.all([this.readerToken.data, args.sourceApiServerUrl]).apply(([data, server]) => {
            const { token, caData } = readerTokenData(data, { sourceClusterName: args.sourceClusterName, secretName: tokenSecretName });
            return remoteKubeconfig({ clusterName: args.sourceClusterName, server, certificateAuthorityData: caData, token });
        });

        this.secret = new k8s.core.v1.Secret(
            `${name}-remote-secret`,
            withFieldManager({
                metadata: remoteSecretMetadata(args.sourceClusterName),
                type: "Opaque",
                stringData: { [args.sourceClusterName]: pulumi.secret(kubeconfig) },
            }),
            { parent: this, provider: args.targetProvider, dependsOn: waitFor(args.targetDependsOn) },
        );

        this.registerOutputs({});
    }
}
