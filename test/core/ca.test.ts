/**
 * The mesh CA: the @pulumi/tls inputs follow Istio's plug-in CA profile, and certificates really issued from
 * those inputs pass the checks istiod makes on `cacerts` (and openssl's chain verification).
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFileSync } from "child_process";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { RunResult, isSecret, ofType, plain, runProgram } from "../support/harness";
import { existingStack, THREE_CLUSTERS_TWO_NETWORKS } from "../support/fixtures";

const CLUSTERS = THREE_CLUSTERS_TWO_NETWORKS.map((c) => c.name);
const USES = ["digital_signature", "content_commitment", "key_encipherment", "cert_signing"];

describe("MeshCA declares Istio's CA profile", () => {
    let run: RunResult;
    beforeAll(async () => {
        run = await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS));
    });

    test("RSA 4096 keys: one root and one per cluster", () => {
        const keys = ofType(run.resources, "tls:index/privateKey:PrivateKey");
        expect(keys.map((k) => k.name).sort()).toEqual(["mesh-ca-cluster1", "mesh-ca-cluster2", "mesh-ca-cluster3", "mesh-ca-root"]);
        for (const k of keys) expect(plain(k.inputs)).toEqual({ algorithm: "RSA", rsaBits: 4096 });
    });

    test("root: self-signed CA, O=Istio CN=Root CA, CA key usages, no extended key usage, 10 years", () => {
        const [root] = ofType(run.resources, "tls:index/selfSignedCert:SelfSignedCert");
        const inputs = plain(root.inputs);
        expect(inputs.subject).toEqual({ organization: "Istio", commonName: "Root CA" });
        expect(inputs.isCaCertificate).toBe(true);
        expect([...inputs.allowedUses].sort()).toEqual([...USES].sort());
        expect(inputs.validityPeriodHours).toBe(3650 * 24);
        expect(inputs.dnsNames ?? []).toEqual([]);
    });

    test("intermediates: O=Istio CN=Intermediate CA L=<cluster>, SAN istiod.istio-system.svc, signed by the root", () => {
        const csrs = ofType(run.resources, "tls:index/certRequest:CertRequest");
        const certs = ofType(run.resources, "tls:index/locallySignedCert:LocallySignedCert");
        const [rootKey] = ofType(run.resources, "tls:index/privateKey:PrivateKey").filter((k) => k.name === "mesh-ca-root");
        const [root] = ofType(run.resources, "tls:index/selfSignedCert:SelfSignedCert");
        for (const cluster of CLUSTERS) {
            const csr = plain(csrs.find((c) => c.name === `mesh-ca-${cluster}`)!.inputs);
            expect(csr.subject).toEqual({ organization: "Istio", commonName: "Intermediate CA", locality: cluster });
            expect(csr.dnsNames).toEqual(["istiod.istio-system.svc"]);
            const cert = certs.find((c) => c.name === `mesh-ca-${cluster}`)!;
            const inputs = plain(cert.inputs);
            expect(inputs.isCaCertificate).toBe(true);
            expect([...inputs.allowedUses].sort()).toEqual([...USES].sort());
            // Signed with the root's key and certificate.
            expect(cert.dependencies).toEqual(expect.arrayContaining([rootKey.urn, root.urn]));
            expect(isSecret(cert.inputs.caPrivateKeyPem)).toBe(true);
        }
    });
});

describe("certificates issued from those inputs pass istiod's checks", () => {
    let run: RunResult;
    let dir: string;
    beforeAll(async () => {
        run = await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS), { realTls: true });
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshca-"));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    const cacertsOf = (cluster: string) => {
        const secret = ofType(run.resources, "kubernetes:core/v1:Secret").find(
            (s) => s.inputs.metadata?.name === "cacerts" && s.name === `mesh-${cluster}-cacerts`,
        )!;
        return plain(secret.inputs.stringData) as Record<string, string>;
    };
    const pemBlocks = (pem: string): string[] => [...(pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [])];

    test("cert-chain.pem is the intermediate followed by the root, and every cluster shares the root", () => {
        const roots = new Set<string>();
        for (const cluster of CLUSTERS) {
            const files = cacertsOf(cluster);
            expect(Object.keys(files).sort()).toEqual(["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]);
            const chain = pemBlocks(files["cert-chain.pem"]);
            expect(chain).toHaveLength(2);
            expect(new crypto.X509Certificate(chain[0]).fingerprint256).toBe(new crypto.X509Certificate(files["ca-cert.pem"]).fingerprint256);
            expect(new crypto.X509Certificate(chain[1]).fingerprint256).toBe(new crypto.X509Certificate(files["root-cert.pem"]).fingerprint256);
            roots.add(files["root-cert.pem"]);
        }
        expect(roots.size).toBe(1);
    });

    test("the intermediate verifies to the root, is a CA, matches its key, and has the profile's extensions", async () => {
        for (const cluster of CLUSTERS) {
            const files = cacertsOf(cluster);
            const root = new crypto.X509Certificate(files["root-cert.pem"]);
            const ca = new crypto.X509Certificate(files["ca-cert.pem"]);
            expect(ca.checkIssued(root)).toBe(true);
            expect(ca.verify(root.publicKey)).toBe(true);
            expect(ca.ca).toBe(true);
            expect(ca.checkPrivateKey(crypto.createPrivateKey(files["ca-key.pem"]))).toBe(true);
            expect((crypto.createPrivateKey(files["ca-key.pem"]).asymmetricKeyDetails ?? {}).modulusLength).toBe(4096);
            expect(ca.subject.split("\n").sort()).toEqual(["CN=Intermediate CA", `L=${cluster}`, "O=Istio"]);
            expect(ca.subjectAltName).toBe("DNS:istiod.istio-system.svc");

            const parsed = new x509.X509Certificate(files["ca-cert.pem"]);
            const bc = parsed.getExtension(x509.BasicConstraintsExtension)!;
            expect({ ca: bc.ca, critical: bc.critical, pathLength: bc.pathLength }).toEqual({ ca: true, critical: true, pathLength: undefined });
            const ku = parsed.getExtension(x509.KeyUsagesExtension)!;
            expect(ku.critical).toBe(true);
            const F = x509.KeyUsageFlags;
            expect(ku.usages).toBe(F.digitalSignature | F.nonRepudiation | F.keyEncipherment | F.keyCertSign);
            expect(parsed.getExtension(x509.ExtendedKeyUsageExtension)).toBeNull();
        }
    });

    test("openssl verifies a workload certificate signed by each intermediate, through cert-chain.pem to the root", () => {
        for (const cluster of CLUSTERS) {
            const files = cacertsOf(cluster);
            const write = (name: string, content: string) => {
                const file = path.join(dir, `${cluster}-${name}`);
                fs.writeFileSync(file, content);
                return file;
            };
            const rootFile = write("root-cert.pem", files["root-cert.pem"]);
            const chainFile = write("cert-chain.pem", files["cert-chain.pem"]);
            const caCertFile = write("ca-cert.pem", files["ca-cert.pem"]);
            const caKeyFile = write("ca-key.pem", files["ca-key.pem"]);
            // What istiod does for every workload: a short-lived leaf with a SPIFFE ID, signed by the intermediate.
            const leafKey = path.join(dir, `${cluster}-leaf.key`);
            const leafCsr = path.join(dir, `${cluster}-leaf.csr`);
            const leafCert = path.join(dir, `${cluster}-leaf.pem`);
            const ext = write("leaf.ext", "subjectAltName=URI:spiffe://cluster.local/ns/sample/sa/curl\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n");
            execFileSync("openssl", ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", leafKey, "-out", leafCsr, "-subj", "/O=cluster.local"], { stdio: "pipe" });
            execFileSync("openssl", ["x509", "-req", "-in", leafCsr, "-CA", caCertFile, "-CAkey", caKeyFile, "-CAcreateserial", "-days", "1", "-out", leafCert, "-extfile", ext], { stdio: "pipe" });
            const out = execFileSync("openssl", ["verify", "-CAfile", rootFile, "-untrusted", chainFile, leafCert], { stdio: "pipe" }).toString();
            expect(out.trim()).toBe(`${leafCert}: OK`);
            // The chain itself is valid, and a foreign root does not accept it.
            expect(execFileSync("openssl", ["verify", "-CAfile", rootFile, caCertFile]).toString().trim()).toBe(`${caCertFile}: OK`);
            const otherRoot = write("other-root.pem", files["ca-cert.pem"]);
            expect(() => execFileSync("openssl", ["verify", "-CAfile", otherRoot, "-partial_chain", "-no-CApath", rootFile], { stdio: "pipe" })).toThrow();
        }
    });

    test("a leaf signed by one cluster's intermediate verifies against another cluster's root-cert.pem (shared trust)", () => {
        const a = cacertsOf("cluster1");
        const b = cacertsOf("cluster3");
        const leaf = path.join(dir, "cluster1-leaf.pem");
        const chain = path.join(dir, "cross-chain.pem");
        fs.writeFileSync(chain, a["cert-chain.pem"]);
        const rootB = path.join(dir, "cluster3-root-only.pem");
        fs.writeFileSync(rootB, b["root-cert.pem"]);
        expect(execFileSync("openssl", ["verify", "-CAfile", rootB, "-untrusted", chain, leaf]).toString().trim()).toBe(`${leaf}: OK`);
    });
});
