/**
 * Safe defaults and their opt-outs: a protected root, a CA you bring, mesh-wide STRICT mTLS, no secret
 * material in the clear, and the same graph from the same config.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFileSync } from "child_process";
import { RunResult, dependsOn, isSecret, ofType, plain, providerUrn, runProgram, runProgramExpectingError } from "../support/harness";
import { existingStack, FIELD_MANAGED, TWO_CLUSTERS_ONE_NETWORK, THREE_CLUSTERS_TWO_NETWORKS } from "../support/fixtures";
import { validateObject } from "../support/schemas";

const PA = "kubernetes:security.istio.io/v1:PeerAuthentication";

describe("the root CA", () => {
    test("its key and certificate are protected by default; intermediates are not", async () => {
        const run = await runProgram(existingStack(TWO_CLUSTERS_ONE_NETWORK));
        const tlsResources = run.resources.filter((r) => r.type.startsWith("tls:"));
        const protectedNames = tlsResources.filter((r) => r.protect).map((r) => `${r.type.split(":")[2]}:${r.name}`);
        expect(protectedNames.sort()).toEqual(["PrivateKey:mesh-ca-root", "SelfSignedCert:mesh-ca-root"]);
    });

    test("ca.allowRootRotation lifts the protection", async () => {
        const run = await runProgram(existingStack(TWO_CLUSTERS_ONE_NETWORK, { ca: { allowRootRotation: true } }));
        expect(run.resources.filter((r) => r.protect)).toEqual([]);
    });

    test("CA validity comes from config", async () => {
        const run = await runProgram(existingStack(TWO_CLUSTERS_ONE_NETWORK, { ca: { validityHours: 8760 } }));
        for (const cert of run.resources.filter((r) => /Cert$/.test(r.type))) expect(cert.inputs.validityPeriodHours).toBe(8760);
    });
});

describe("a CA you bring", () => {
    let dir: string;
    const pems: Record<string, string> = {};
    const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });

    beforeAll(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "byoca-"));
        fs.writeFileSync(path.join(dir, "ca.ext"), "basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,digitalSignature\n");
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "root.key", "-out", "root.pem", "-days", "30", "-subj", "/O=Corp/CN=Corp Root", "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign");
        for (const c of ["cluster1", "cluster2", "rogue"]) {
            openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", `${c}.key`, "-out", `${c}.csr`, "-subj", `/O=Corp/CN=Mesh CA ${c}`);
            const signer = c === "rogue" ? ["-signkey", `${c}.key`] : ["-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial"];
            openssl("x509", "-req", "-in", `${c}.csr`, ...signer, "-days", "30", "-out", `${c}.pem`, "-extfile", "ca.ext");
        }
        for (const f of fs.readdirSync(dir)) pems[f] = fs.readFileSync(path.join(dir, f), "utf8");
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    const provided = (clusters: Record<string, string>) => ({
        provided: {
            rootCertPem: pems["root.pem"],
            clusters: Object.fromEntries(Object.entries(clusters).map(([name, file]) => [name, { certPem: pems[`${file}.pem`], keyPem: pems[`${file}.key`] }])),
        },
    });

    test("nothing is generated and cacerts holds exactly the PEMs given", async () => {
        const run = await runProgram(existingStack(TWO_CLUSTERS_ONE_NETWORK, { ca: provided({ cluster1: "cluster1", cluster2: "cluster2" }) }));
        expect(run.resources.filter((r) => r.type.startsWith("tls:"))).toEqual([]);
        for (const c of ["cluster1", "cluster2"]) {
            const secret = run.resources.find((r) => r.name === `mesh-${c}-cacerts`)!;
            expect(isSecret(secret.inputs.stringData)).toBe(true);
            expect(plain(secret.inputs.stringData)).toEqual({
                "ca-cert.pem": pems[`${c}.pem`],
                "ca-key.pem": pems[`${c}.key`],
                "root-cert.pem": pems["root.pem"],
                "cert-chain.pem": pems[`${c}.pem`] + pems["root.pem"],
            });
        }
    });

    test("an intermediate not signed by the root, a key that does not match, a missing cluster: all named before anything is declared", async () => {
        const config = existingStack(TWO_CLUSTERS_ONE_NETWORK, { ca: provided({ cluster1: "rogue", extra: "cluster2" }) });
        (config.ca as any).provided.clusters.cluster1.keyPem = pems["cluster2.key"];
        const { error, resources } = await runProgramExpectingError(config);
        expect(resources.filter((r) => r.custom)).toEqual([]);
        expect(error.message).toMatch(/istio-multicluster:ca\.provided\.clusters\.cluster2: missing: every cluster needs an intermediate CA/);
        expect(error.message).toMatch(/istio-multicluster:ca\.provided\.clusters\.extra: no cluster is named "extra"/);
        expect(error.message).toMatch(/istio-multicluster:ca\.provided\.clusters\.cluster1: keyPem does not match certPem/);
        expect(error.message).toMatch(/istio-multicluster:ca\.provided\.clusters\.cluster1: the certificate chain does not lead from certPem to rootCertPem/);
    });

    test("a root that is not a certificate", async () => {
        const config = existingStack(TWO_CLUSTERS_ONE_NETWORK, { ca: { provided: { rootCertPem: "hello", clusters: {} } } });
        const { error } = await runProgramExpectingError(config);
        expect(error.message).toMatch(/istio-multicluster:ca\.provided\.rootCertPem: rootCertPem is not a PEM certificate/);
    });
});

describe("mesh-wide mTLS", () => {
    test("STRICT in every cluster by default, after istiod, schema-valid", async () => {
        const run = await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS));
        const policies = ofType(run.resources, PA);
        expect(policies).toHaveLength(3);
        const providers = new Set(policies.map(providerUrn));
        expect(providers.size).toBe(3);
        for (const pa of policies) {
            expect(plain(pa.inputs)).toEqual({
                apiVersion: "security.istio.io/v1",
                kind: "PeerAuthentication",
                metadata: { name: "default", namespace: "istio-system", annotations: FIELD_MANAGED },
                spec: { mtls: { mode: "STRICT" } },
            });
            const istiod = run.resources.find((r) => r.inputs.chart === "istiod" && providerUrn(r) === providerUrn(pa))!;
            expect(dependsOn(run.resources, pa, istiod)).toBe(true);
            validateObject(pa);
        }
    });

    test("strictMtls: false leaves mTLS permissive (Istio's default)", async () => {
        const run = await runProgram(existingStack(TWO_CLUSTERS_ONE_NETWORK, { strictMtls: "false" }));
        expect(ofType(run.resources, PA)).toEqual([]);
    });

    test("strictMtls must be a boolean", async () => {
        const { error } = await runProgramExpectingError(existingStack(TWO_CLUSTERS_ONE_NETWORK, { strictMtls: "sometimes" }));
        expect(error.message).toMatch(/istio-multicluster:strictMtls: must be true or false/);
    });
});

describe("no key, token or kubeconfig in the clear", () => {
    let run: RunResult;
    beforeAll(async () => {
        run = await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS), { realTls: true });
    });

    /** Every string in a value that is not under a secret wrapper. */
    const clearStrings = (value: unknown, at = ""): [string, string][] => {
        if (isSecret(value)) return [];
        if (typeof value === "string") return [[at, value]];
        if (Array.isArray(value)) return value.flatMap((v, i) => clearStrings(v, `${at}[${i}]`));
        if (typeof value === "object" && value !== null) return Object.entries(value).flatMap(([k, v]) => clearStrings(v, `${at}.${k}`));
        return [];
    };
    const SENSITIVE = [/PRIVATE KEY-----/, /token-of-/, /admin-token-of-/, /^apiVersion: v1\s+kind: Config/m, /"?token"?:/];

    test("in the inputs of every declared resource", () => {
        const leaks = run.resources.flatMap((r) =>
            clearStrings(r.inputs).filter(([, s]) => SENSITIVE.some((re) => re.test(s))).map(([at]) => `${r.type} ${r.name}${at}`),
        );
        expect(leaks).toEqual([]);
        // The check would see a leak: real keys do reach the declared resources (as secrets).
        const secretStrings = run.resources.flatMap((r) => clearStrings(plain(r.inputs))).filter(([, s]) => /PRIVATE KEY-----/.test(s));
        expect(secretStrings.length).toBeGreaterThan(0);
    });

    test("in the stack outputs", () => {
        const leaks = clearStrings(run.outputs).filter(([, s]) => SENSITIVE.some((re) => re.test(s)));
        expect(leaks).toEqual([]);
    });
});

test("the same config yields the same graph, run after run", async () => {
    const shape = (r: RunResult) =>
        r.resources
            .map((x) => JSON.stringify({ urn: x.urn, provider: providerUrn(x), deps: [...x.dependencies].sort(), inputs: plain(x.inputs), protect: x.protect }))
            .sort();
    const first = shape(await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS)));
    const second = shape(await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS)));
    expect(second).toEqual(first);
    expect(first.length).toBeGreaterThan(40);
});
