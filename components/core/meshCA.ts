import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import {
    ROOT_ROTATION_STAGES,
    RootRotationStage,
    expiryWarnings,
    generationSerial,
    remainingDays,
    rootBundle,
    rootValidityNotes,
    rootPlan,
    rootResourceName,
    rotationIstiodEnv,
} from "./caRotation";

/**
 * The mesh's plug-in CA: one root, and one intermediate per cluster signed by it, following Istio's
 * tools/certs Makefile.selfsigned.mk profile as far as @pulumi/tls can express it (see `caProfile`).
 */
export interface MeshCAArgs extends MeshCAOptions {
    /** Istio cluster names; one intermediate CA each. */
    clusterNames: string[];
}

/** How the mesh's CA is made: everything but the clusters (which `Mesh` knows). */
export interface MeshCAOptions {
    /** Validity of root and intermediates, in hours. Default 3650 days, as Istio's Makefile. */
    validityHours?: number;
    /**
     * Let Pulumi delete or replace the generated root. Default false: the root key and certificate are
     * protected, because a new root breaks trust between clusters until every cluster has it.
     */
    allowRootRotation?: boolean;
    /** Bring your own CA (a production CA): nothing is generated, these PEMs are installed as they are. */
    provided?: ProvidedCA;
    /** Generation of the generated root in use (default 1); a finished root rotation moves it on by one. */
    rootGeneration?: number;
    /**
     * Stage of a root rotation in progress: "trust-both", "reissue" or "drop-old" (see caRotation.ts); unset when
     * none is. A string, not a union, so that other languages can pass it through the component host.
     */
    rootRotation?: string;
    /** Per cluster, the generation of its intermediate (default 1): a higher one re-issues it (on demand). */
    intermediateGenerations?: Record<string, number>;
    /** Re-issue an intermediate this many hours before it expires (the tls provider's earlyRenewalHours). */
    earlyRenewalHours?: number;
}

/** Remaining validity in days of every certificate of the CA, for the stack output. */
export interface CAValidityDays {
    roots: Record<string, number>;
    intermediates: Record<string, number>;
}

/** PEMs of an existing CA: the root, and per cluster an intermediate with its key. */
export interface ProvidedCA {
    rootCertPem: pulumi.Input<string>;
    clusters: Record<string, ProvidedIntermediate>;
    /** Root rotation, stage trust-both: the next root (intermediates still chain to rootCertPem, the current one). */
    nextRootCertPem?: pulumi.Input<string>;
    /** Root rotation, stage reissue: the previous root (intermediates already chain to rootCertPem, the new one). */
    previousRootCertPem?: pulumi.Input<string>;
}

export interface ProvidedIntermediate {
    certPem: pulumi.Input<string>;
    keyPem: pulumi.Input<string>;
    /** From the intermediate up to the root; default intermediate + root. */
    certChainPem?: pulumi.Input<string>;
}

/** The four files of Istio's `cacerts` Secret, for one cluster. */
export interface CACerts {
    /** The cluster's intermediate CA certificate. */
    "ca-cert.pem": string;
    /** Its private key. */
    "ca-key.pem": string;
    /** The mesh root, shared by every cluster. */
    "root-cert.pem": string;
    /** Intermediate followed by root. */
    "cert-chain.pem": string;
}

export const CACERTS_KEYS = ["ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"] as const;

export const DEFAULT_CA_VALIDITY_HOURS = 3650 * 24;
export const CA_KEY = { algorithm: "RSA", rsaBits: 4096 } as const;

/**
 * Certificate profile of the root and of a cluster's intermediate, as @pulumi/tls inputs.
 * - keyUsage (critical): digitalSignature, nonRepudiation ("content_commitment"), keyEncipherment, keyCertSign.
 * - basicConstraints CA:true. Istio's Makefile adds pathlen:0 to intermediates; the tls provider cannot encode
 *   it (maxPathLength 0 means "no constraint", 1 allows sub-CAs), so it is left unset: istiod does not need it.
 * - no extendedKeyUsage.
 */
export const CA_ALLOWED_USES = ["digital_signature", "content_commitment", "key_encipherment", "cert_signing"];

export function rootSubject() {
    return { organization: "Istio", commonName: "Root CA" };
}

export function intermediateSubject(clusterName: string) {
    return { organization: "Istio", commonName: "Intermediate CA", locality: clusterName };
}

/** istiod serves its own webhooks and XDS under this name, signed by the intermediate. */
export const INTERMEDIATE_DNS_NAMES = ["istiod.istio-system.svc"];

/** PEM files end with a newline; joining them must not glue BEGIN onto END. */
export function certChain(intermediatePem: string, rootPem: string): string {
    const withNewline = (pem: string) => (pem.endsWith("\n") ? pem : `${pem}\n`);
    return withNewline(intermediatePem) + withNewline(rootPem);
}

export class MeshCA extends pulumi.ComponentResource {
    /** The root certificate every cluster trusts (during a root rotation, the bundle of the roots of the stage). */
    public readonly rootCertPem: pulumi.Output<string>;
    /** Per cluster, the contents of its `cacerts` Secret (secret: it holds the intermediate's key). */
    public readonly clusterCerts: Record<string, pulumi.Output<CACerts>>;
    /** istiod env the CA needs (ISTIO_MULTIROOT_MESH during a root rotation); empty otherwise. */
    public readonly istiodEnv: Record<string, string>;
    /** Days each certificate has left; warns (preview included) when one is within 30 days of expiry. */
    public readonly validityDays: pulumi.Output<CAValidityDays>;

    constructor(name: string, args: MeshCAArgs, opts?: pulumi.ComponentResourceOptions) {
        super("istio-multicluster:index:MeshCA", name, {}, opts);
        if (args.clusterNames.length === 0) throw new Error("MeshCA needs at least one cluster name");
        this.clusterCerts = {};
        const stage = rotationStage(args.rootRotation);
        this.istiodEnv = rotationIstiodEnv(stage);

        if (args.provided) {
            const provided = args.provided;
            const missing = args.clusterNames.filter((c) => !provided.clusters[c]);
            if (missing.length) throw new Error(`MeshCA: provided CA has no intermediate for ${missing.join(", ")}`);
            const trusted = providedTrustedRoots(provided, stage);
            // One root: exactly the PEM given, as before rotations existed.
            this.rootCertPem = trusted.length === 1 ? pulumi.output(trusted[0].pem) : pulumi.all(trusted.map((t) => t.pem)).apply(rootBundle);
            for (const clusterName of args.clusterNames) {
                const p = provided.clusters[clusterName];
                this.clusterCerts[clusterName] = pulumi.secret(
                    pulumi.all([p.certPem, p.keyPem, provided.rootCertPem, p.certChainPem, this.rootCertPem]).apply(([caCert, caKey, rootCert, chain, bundle]) => ({
                        "ca-cert.pem": caCert,
                        "ca-key.pem": caKey,
                        "root-cert.pem": bundle,
                        "cert-chain.pem": chain ?? certChain(caCert, rootCert),
                    })),
                );
            }
            this.validityDays = validityOutput(
                Object.fromEntries(trusted.map((t) => [t.label, t.pem])),
                Object.fromEntries(args.clusterNames.map((c) => [c, provided.clusters[c].certPem])),
            );
            this.registerOutputs({ rootCertPem: this.rootCertPem });
            return;
        }

        const validityPeriodHours = args.validityHours ?? DEFAULT_CA_VALIDITY_HOURS;
        // Every root of the stage; a trusted root stays protected (rootPlan), the one being dropped is not.
        const roots = rootPlan(args.rootGeneration ?? 1, stage, args.allowRootRotation).map((entry) => {
            const rootName = rootResourceName(name, entry.generation);
            const opts = { parent: this, protect: entry.protect };
            const key = new tls.PrivateKey(rootName, CA_KEY, opts);
            const cert = new tls.SelfSignedCert(
                rootName,
                {
                    privateKeyPem: key.privateKeyPem,
                    subject: { ...rootSubject(), ...generationSerial(entry.generation) },
                    isCaCertificate: true,
                    allowedUses: CA_ALLOWED_USES,
                    validityPeriodHours,
                },
                // A changed validity would replace the root: a trust break (or a protected-replace failure). A live root
                // keeps the validity it was issued with; a new generation (a staged rotation) takes the new one.
                { ...opts, ignoreChanges: ["validityPeriodHours"] },
            );
            return { ...entry, key, cert };
        });
        const signer = roots.find((r) => r.signs)!;
        const trusted = roots.filter((r) => r.trusted);
        // One trusted root: its PEM as it is (what stacks have always had); more: the bundle.
        this.rootCertPem = trusted.length === 1 ? trusted[0].cert.certPem : pulumi.all(trusted.map((r) => r.cert.certPem)).apply(rootBundle);

        const intermediates: Record<string, pulumi.Output<string>> = {};
        for (const clusterName of args.clusterNames) {
            const generation = args.intermediateGenerations?.[clusterName] ?? 1;
            // Each generation has its own key (a new name: created before the old one is deleted), so re-issuing also
            // replaces a leaked key.
            const key = new tls.PrivateKey(intermediateKeyName(name, clusterName, generation), CA_KEY, { parent: this });
            const csr = new tls.CertRequest(
                `${name}-${clusterName}`,
                { privateKeyPem: key.privateKeyPem, subject: { ...intermediateSubject(clusterName), ...generationSerial(generation) }, dnsNames: INTERMEDIATE_DNS_NAMES },
                { parent: this },
            );
            const cert = new tls.LocallySignedCert(
                `${name}-${clusterName}`,
                {
                    certRequestPem: csr.certRequestPem,
                    caPrivateKeyPem: signer.key.privateKeyPem,
                    caCertPem: signer.cert.certPem,
                    isCaCertificate: true,
                    allowedUses: CA_ALLOWED_USES,
                    validityPeriodHours,
                    ...(args.earlyRenewalHours !== undefined ? { earlyRenewalHours: args.earlyRenewalHours } : {}),
                },
                { parent: this },
            );
            intermediates[clusterName] = cert.certPem;
            this.clusterCerts[clusterName] = pulumi.secret(
                pulumi.all([cert.certPem, key.privateKeyPem, signer.cert.certPem, this.rootCertPem]).apply(([caCert, caKey, signerCert, bundle]) => ({
                    "ca-cert.pem": caCert,
                    "ca-key.pem": caKey,
                    "root-cert.pem": bundle,
                    "cert-chain.pem": certChain(caCert, signerCert),
                })),
            );
        }
        this.validityDays = validityOutput(Object.fromEntries(roots.map((r) => [`g${r.generation}`, r.cert.certPem])), intermediates, validityPeriodHours);
        this.registerOutputs({ rootCertPem: this.rootCertPem });
    }
}

/** Resource name of a cluster's intermediate key: generation 1 keeps the name stacks have always had. */
export function intermediateKeyName(caName: string, clusterName: string, generation: number): string {
    return generation <= 1 ? `${caName}-${clusterName}` : `${caName}-${clusterName}-g${generation}`;
}

/** A stage name from any language, checked. */
function rotationStage(stage: string | undefined): RootRotationStage | undefined {
    if (stage === undefined) return undefined;
    if (!(ROOT_ROTATION_STAGES as readonly string[]).includes(stage)) {
        throw new Error(`MeshCA: rootRotation "${stage}" is not a stage; use ${ROOT_ROTATION_STAGES.join(", ")} (in this order, one pulumi up each)`);
    }
    return stage as RootRotationStage;
}

/** The roots every cluster trusts in a stage, for a provided CA (nextRootCertPem / previousRootCertPem). */
function providedTrustedRoots(provided: ProvidedCA, stage: RootRotationStage | undefined): { label: string; pem: pulumi.Input<string> }[] {
    const current = { label: "provided", pem: provided.rootCertPem };
    if (stage === "trust-both" && provided.nextRootCertPem) return [current, { label: "next", pem: provided.nextRootCertPem }];
    if (stage === "reissue" && provided.previousRootCertPem) return [{ label: "previous", pem: provided.previousRootCertPem }, current];
    return [current];
}

/**
 * Remaining days of every certificate; a warning for each within 30 days, in preview too wherever the PEM is known.
 * With `validityHours` (generated roots), a note for each live root issued with another validity: it keeps it.
 */
function validityOutput(roots: Record<string, pulumi.Input<string>>, intermediates: Record<string, pulumi.Input<string>>, validityHours?: number): pulumi.Output<CAValidityDays> {
    const days = (pems: Record<string, string>): Record<string, number> =>
        Object.fromEntries(Object.entries(pems).flatMap(([k, pem]) => {
            const d = remainingDays(pem, new Date());
            return d === undefined ? [] : [[k, d]];
        }));
    // Days left are not secret even when the PEMs came from secret config.
    return pulumi.unsecret(
        pulumi.all([pulumi.all(roots), pulumi.all(intermediates)]).apply(([r, i]) => {
            const result = { roots: days(r), intermediates: days(i) };
            for (const w of [...expiryWarnings(result.roots, "mesh root"), ...expiryWarnings(result.intermediates, "intermediate CA of")]) pulumi.log.warn(w);
            if (validityHours !== undefined) for (const note of rootValidityNotes(r, validityHours)) pulumi.log.info(note);
            return result;
        }),
    );
}

/**
 * Checks a provided CA the way istiod checks `cacerts` at start-up, before anything is deployed: every
 * certificate parses, intermediates are CAs signed (through their chain) by the root, and keys match.
 * Returns problems as [cluster or "root", message] pairs; empty when all is well.
 */
export function checkProvidedCA(rootCertPem: string, clusters: Record<string, { certPem: string; keyPem: string; certChainPem?: string }>): [string, string][] {
    const problems: [string, string][] = [];
    let root: crypto.X509Certificate;
    try {
        root = new crypto.X509Certificate(rootCertPem);
    } catch (e) {
        return [["root", `rootCertPem is not a PEM certificate (${(e as Error).message})`]];
    }
    if (!root.ca) problems.push(["root", "rootCertPem is not a CA certificate (basicConstraints CA:TRUE)"]);
    if (!root.verify(root.publicKey)) problems.push(["root", "rootCertPem is not self-signed"]);
    for (const [cluster, p] of Object.entries(clusters)) {
        let cert: crypto.X509Certificate;
        try {
            cert = new crypto.X509Certificate(p.certPem);
        } catch (e) {
            problems.push([cluster, `certPem is not a PEM certificate (${(e as Error).message})`]);
            continue;
        }
        if (!cert.ca) problems.push([cluster, "certPem is not a CA certificate: istiod signs workload certificates with it"]);
        try {
            if (!cert.checkPrivateKey(crypto.createPrivateKey(p.keyPem))) problems.push([cluster, "keyPem does not match certPem"]);
        } catch (e) {
            problems.push([cluster, `keyPem is not a PEM private key (${(e as Error).message})`]);
        }
        const chain = splitPem(p.certChainPem ?? certChain(p.certPem, rootCertPem)).map((pem) => new crypto.X509Certificate(pem));
        const chainOk =
            chain.length >= 2 &&
            chain[0].fingerprint256 === cert.fingerprint256 &&
            chain.every((c, i) => i === chain.length - 1 || (c.checkIssued(chain[i + 1]) && c.verify(chain[i + 1].publicKey))) &&
            chain[chain.length - 1].fingerprint256 === root.fingerprint256;
        if (!chainOk) problems.push([cluster, "the certificate chain does not lead from certPem to rootCertPem"]);
    }
    return problems;
}

function splitPem(pem: string): string[] {
    return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}
