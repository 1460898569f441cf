/**
 * Trust rotation (docs/rotation.md) under Pulumi's mocks: the graph of every stage (names, protect flags,
 * create-before-delete, istiod env), real certificate chains across the stages checked as istiod checks them
 * (chain to a root of `root-cert.pem`), the validity output and its warnings, and every bad setting refused
 * before anything is declared. What only the engine decides (when a replaced resource is deleted, whether a
 * protected resource may go) is asserted as graph shape here and cited in docs/rotation.md.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFileSync } from "child_process";
import { Declared, RunResult, ofType, plain, runFirstPreview, runProgram, runProgramExpectingError } from "../support/harness";
import { MockOptions } from "../support/mocks";
import { RealTls } from "../support/realTls";
import { existingStack, TWO_CLUSTERS_ONE_NETWORK } from "../support/fixtures";
import { unreadPaths } from "../support/chartValues";
import {
    expiryWarnings,
    generationSerial,
    readerTokenGeneration,
    readerTokenName,
    rootBundle,
    rootPlan,
    rootResourceName,
    rotationIstiodEnv,
} from "../../components/core/caRotation";
import { tokenRotationRefused } from "../../stacks/rotation";

const SECRET = "kubernetes:core/v1:Secret";
const RELEASE = "kubernetes:helm.sh/v3:Release";
const KEY = "tls:index/privateKey:PrivateKey";
const ROOT = "tls:index/selfSignedCert:SelfSignedCert";
const CSR = "tls:index/certRequest:CertRequest";
const SIGNED = "tls:index/locallySignedCert:LocallySignedCert";
const CLUSTERS = TWO_CLUSTERS_ONE_NETWORK.map((c) => c.name);
const stack = (extra: Record<string, unknown> = {}) => existingStack(TWO_CLUSTERS_ONE_NETWORK, { istioVersion: "1.30.5", ...extra });

// ---- pure rules -----------------------------------------------------------------------------------------

describe("rotation rules", () => {
    test("root plan per stage: what is trusted, what signs, what stays protected", () => {
        const view = (stage?: any, allow = false) => rootPlan(3, stage, allow).map((r) => `${r.generation}:${r.trusted ? "T" : "-"}${r.signs ? "S" : "-"}${r.protect ? "P" : "-"}`);
        expect(view()).toEqual(["3:TSP"]);
        expect(view("trust-both")).toEqual(["3:TSP", "4:T-P"]);
        expect(view("reissue")).toEqual(["3:T-P", "4:TSP"]);
        // The old root leaves the bundle and loses its protection in the same stage; it is deleted only in the next up.
        expect(view("drop-old")).toEqual(["3:---", "4:TSP"]);
        expect(view(undefined, true)).toEqual(["3:TS-"]);
        // Invariant: every trusted root is protected unless the user lifted protection.
        for (const stage of [undefined, "trust-both", "reissue", "drop-old"] as const) {
            for (const r of rootPlan(1, stage)) if (r.trusted) expect(r.protect).toBe(true);
            expect(rootPlan(1, stage).filter((r) => r.signs)).toHaveLength(1);
        }
    });

    test("generation 1 keeps today's names and subjects; later ones are new names", () => {
        expect(rootResourceName("mesh-ca", 1)).toBe("mesh-ca-root");
        expect(rootResourceName("mesh-ca", 2)).toBe("mesh-ca-root-g2");
        expect(readerTokenName("cluster2")).toBe("istio-reader-token-cluster2");
        expect(readerTokenName("cluster2", 1)).toBe("istio-reader-token-cluster2");
        expect(readerTokenName("cluster2", 4)).toBe("istio-reader-token-cluster2-g4");
        expect(generationSerial(1)).toEqual({});
        expect(generationSerial(2)).toEqual({ serialNumber: "2" });
        expect(rotationIstiodEnv(undefined)).toEqual({});
        expect(rotationIstiodEnv("drop-old")).toEqual({ ISTIO_MULTIROOT_MESH: "true" });
    });

    test("token schedule: one generation more per maxAgeDays since scheduleStart, from the clock", () => {
        const s = { generation: 2, maxAgeDays: 30, scheduleStart: "2026-01-01" };
        expect(readerTokenGeneration({}, new Date("2026-11-23T00:00:00Z"))).toBe(1);
        expect(readerTokenGeneration({ generation: 3 }, new Date("2026-11-23T00:00:00Z"))).toBe(3);
        expect(readerTokenGeneration(s, new Date("2026-01-30T23:59:59Z"))).toBe(2);
        expect(readerTokenGeneration(s, new Date("2026-01-31T00:00:00Z"))).toBe(3);
        expect(readerTokenGeneration(s, new Date("2026-11-23T12:00:00Z"))).toBe(2 + 10); // 326 days
        expect(readerTokenGeneration(s, new Date("2025-12-01T00:00:00Z"))).toBe(2);
    });

    test("Istio versions that ignore an updated remote secret are refused for token rotation", () => {
        expect(["1.30.0", "1.30.1", "1.30.2"].map(tokenRotationRefused)).toEqual([true, true, true]);
        expect(["1.30.3", "1.30.5", "1.31.0", "1.31.1"].map(tokenRotationRefused)).toEqual([false, false, false, false]);
    });

    test("expiry warnings: within 30 days or expired", () => {
        expect(expiryWarnings({ g1: 3000, cluster1: 29, cluster2: -2 }, "x")).toEqual([
            expect.stringMatching(/^x cluster1 expires in 29 day\(s\)/),
            "x cluster2 expired 2 day(s) ago",
        ]);
    });
});

// ---- graph: reader tokens -----------------------------------------------------------------------------

const tokenSecrets = (run: RunResult) => ofType(run.resources, SECRET).filter((s) => s.inputs.type === "kubernetes.io/service-account-token");
const remoteSecrets = (run: RunResult) => ofType(run.resources, SECRET).filter((s) => s.inputs.metadata?.labels?.["istio/multiCluster"] === "true");

describe("reader-token rotation: the graph", () => {
    let before: RunResult;
    let after: RunResult;
    beforeAll(async () => {
        before = await runProgram(stack());
        after = await runProgram(stack({ readerTokens: { generation: 2 } }));
    });

    test("a new generation renames every token Secret; URNs stay, so the provider replaces each (create-before-delete)", () => {
        const names = (run: RunResult) => Object.fromEntries(tokenSecrets(run).map((s) => [s.urn, plain(s.inputs.metadata.name)]));
        expect(Object.keys(names(after)).sort()).toEqual(Object.keys(names(before)).sort());
        expect(Object.values(names(before)).sort()).toEqual(["istio-reader-token-cluster1", "istio-reader-token-cluster2"]);
        expect(Object.values(names(after)).sort()).toEqual(["istio-reader-token-cluster1-g2", "istio-reader-token-cluster2-g2"]);
        // Create-before-delete is the engine's default; delete-before-replace would leave istiod a revoked token.
        for (const s of tokenSecrets(after)) {
            expect(s.deleteBeforeReplace).toBe(false);
            expect(s.replaceOnChanges).toEqual([]);
        }
    });

    test("each remote secret is built from its token (so it updates after the new token exists); nothing else changes", () => {
        const tokens = tokenSecrets(after);
        for (const rs of remoteSecrets(after)) {
            const token = tokens.find((t) => rs.name.replace(/-remote-secret$/, "") === t.name.replace(/-reader-token$/, ""))!;
            expect(rs.dependencies).toContain(token.urn);
        }
        // Everything but the token Secrets and the remote secrets (which carry the new token) has the same inputs.
        const key = (r: Declared) => JSON.stringify([r.urn, r.inputs]);
        const changed = after.resources.filter((r) => !before.resources.some((b) => key(b) === key(r))).map((r) => r.name);
        expect(changed.sort()).toEqual([...tokens, ...remoteSecrets(after)].map((t) => t.name).sort());
    });
});

// ---- graph: root rotation stages -----------------------------------------------------------------------

/** A root rotation, one `pulumi up` per entry: before, the three stages, and the finish (generation 2). */
const STAGES: [string, Record<string, unknown>][] = [
    ["none", {}],
    ["trust-both", { rootRotation: "trust-both" }],
    ["reissue", { rootRotation: "reissue" }],
    ["drop-old", { rootRotation: "drop-old" }],
    ["done", { rootGeneration: 2 }],
];

describe("root rotation: the graph of each stage", () => {
    const runs: Record<string, RunResult> = {};
    beforeAll(async () => {
        for (const [name, ca] of STAGES) runs[name] = await runProgram(stack({ ca }));
    });

    const roots = (run: RunResult) =>
        Object.fromEntries(ofType(run.resources, ROOT).map((r) => [r.name, { protect: r.protect, key: run.resources.find((k) => k.type === KEY && k.name === r.name)!.protect }]));

    test("roots declared and protected per stage: never a trusted root unprotected, the dropped one unprotected before it goes", () => {
        expect(roots(runs.none)).toEqual({ "mesh-ca-root": { protect: true, key: true } });
        expect(roots(runs["trust-both"])).toEqual({ "mesh-ca-root": { protect: true, key: true }, "mesh-ca-root-g2": { protect: true, key: true } });
        expect(roots(runs.reissue)).toEqual({ "mesh-ca-root": { protect: true, key: true }, "mesh-ca-root-g2": { protect: true, key: true } });
        expect(roots(runs["drop-old"])).toEqual({ "mesh-ca-root": { protect: false, key: false }, "mesh-ca-root-g2": { protect: true, key: true } });
        // The next up no longer declares the old root: the engine deletes it (allowed: its state says unprotected).
        expect(roots(runs.done)).toEqual({ "mesh-ca-root-g2": { protect: true, key: true } });
    });

    test("the new root differs by subject serialNumber; the first root's inputs are unchanged in every stage", () => {
        const inputsOf = (run: RunResult, name: string) => plain(run.resources.find((r) => r.type === ROOT && r.name === name)!.inputs);
        for (const stage of ["trust-both", "reissue", "drop-old"]) expect(inputsOf(runs[stage], "mesh-ca-root")).toEqual(inputsOf(runs.none, "mesh-ca-root"));
        expect(inputsOf(runs["trust-both"], "mesh-ca-root-g2").subject).toEqual({ organization: "Istio", commonName: "Root CA", serialNumber: "2" });
        expect(inputsOf(runs.done, "mesh-ca-root-g2")).toEqual(inputsOf(runs["drop-old"], "mesh-ca-root-g2"));
    });

    test("intermediates are signed by the old root until reissue, by the new one from then on", () => {
        const signer = (run: RunResult, cluster: string) => {
            const cert = run.resources.find((r) => r.type === SIGNED && r.name === `mesh-ca-${cluster}`)!;
            return ofType(run.resources, ROOT).filter((r) => cert.dependencies.includes(r.urn)).map((r) => r.name);
        };
        for (const cluster of CLUSTERS) {
            expect(signer(runs.none, cluster)).toEqual(["mesh-ca-root"]);
            expect(signer(runs["trust-both"], cluster)).toEqual(["mesh-ca-root"]);
            expect(signer(runs.reissue, cluster)).toEqual(["mesh-ca-root-g2"]);
            expect(signer(runs["drop-old"], cluster)).toEqual(["mesh-ca-root-g2"]);
            expect(signer(runs.done, cluster)).toEqual(["mesh-ca-root-g2"]);
        }
    });

    test("istiod gets ISTIO_MULTIROOT_MESH=true in every stage (a value the chart reads), and not outside a rotation", () => {
        for (const [name] of STAGES) {
            for (const r of ofType(runs[name].resources, RELEASE).filter((r) => r.inputs.name === "istiod")) {
                const values = plain(r.inputs.values);
                expect(values.env?.ISTIO_MULTIROOT_MESH).toBe(["none", "done"].includes(name) ? undefined : "true");
                expect(unreadPaths(plain(r.inputs.chart), values, "1.30.5")).toEqual([]);
            }
        }
    });
});

// ---- real certificates through the stages --------------------------------------------------------------

/** Real tls outputs kept while a resource's inputs do not change, as the engine keeps state between ups. */
let sharedTls: MockOptions | undefined;
function persistentTls(): MockOptions {
    return (sharedTls ??= newPersistentTls());
}
function newPersistentTls(): MockOptions {
    // Keys by resource name, kept between runs (test/support/realTls.ts): a new root or intermediate generation is a new name.
    const tls = new RealTls({ keyCache: true });
    const cache = new Map<string, Promise<Record<string, unknown>>>();
    const kept =
        (type: string, make: (inputs: any, name: string) => Promise<Record<string, unknown>>) =>
        (raw: any, name: string): any => {
            const inputs = plain(raw);
            const key = `${type}|${name}|${JSON.stringify(inputs)}`;
            if (!cache.has(key)) cache.set(key, make(inputs, name));
            return cache.get(key);
        };
    return {
        outputs: {
            [KEY]: kept(KEY, (i, n) => tls.privateKey(n, i)),
            [ROOT]: kept(ROOT, async (i) => ({ certPem: await tls.selfSigned(i) })),
            [CSR]: kept(CSR, async (i) => ({ certRequestPem: await tls.certRequest(i) })),
            [SIGNED]: kept(SIGNED, async (i) => ({ certPem: await tls.locallySigned(i) })),
        },
    };
}

describe("root rotation with real certificates: at every stage a workload certificate from either intermediate verifies where it must", () => {
    let dir: string;
    const cacerts: Record<string, Record<string, Record<string, string>>> = {};
    const outputs: Record<string, RunResult["outputs"]> = {};
    beforeAll(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "rotation-"));
        const options = persistentTls();
        for (const [name, ca] of STAGES) {
            const run = await runProgram(stack({ ca }), options);
            outputs[name] = run.outputs;
            cacerts[name] = Object.fromEntries(
                CLUSTERS.map((c) => [c, plain(run.resources.find((s) => s.type === SECRET && s.name === `mesh-${c}-cacerts`)!.inputs.stringData) as Record<string, string>]),
            );
        }
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    const file = (name: string, content: string) => {
        const f = path.join(dir, name);
        fs.writeFileSync(f, content);
        return f;
    };
    const fingerprints = (bundle: string) => (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new crypto.X509Certificate(p).fingerprint256);

    /** A workload certificate as istiod issues one (SPIFFE URI SAN), signed by that cacerts' intermediate. */
    const leaves = new Map<string, { cert: string; chain: string }>();
    function leaf(stage: string, cluster: string): { cert: string; chain: string } {
        const issued = leaves.get(`${stage}/${cluster}`);
        if (issued) return issued;
        const files = cacerts[stage][cluster];
        const base = `${stage}-${cluster}`;
        const key = path.join(dir, `${base}-leaf.key`);
        const csr = path.join(dir, `${base}-leaf.csr`);
        const cert = path.join(dir, `${base}-leaf.pem`);
        const ext = file(`${base}.ext`, "subjectAltName=URI:spiffe://cluster.local/ns/sample/sa/curl\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n");
        execFileSync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr, "-subj", "/O=cluster.local"], { stdio: "pipe" });
        execFileSync("openssl", ["x509", "-req", "-in", csr, "-CA", file(`${base}-ca.pem`, files["ca-cert.pem"]), "-CAkey", file(`${base}-ca.key`, files["ca-key.pem"]), "-CAcreateserial", "-days", "1", "-out", cert, "-extfile", ext], { stdio: "pipe" });
        const result = { cert, chain: file(`${base}-chain.pem`, files["cert-chain.pem"]) };
        leaves.set(`${stage}/${cluster}`, result);
        return result;
    }
    /** What a peer does with it: chain through the presented cert-chain to a root of its own root-cert.pem. */
    const verifies = (l: { cert: string; chain: string }, trustStage: string, trustCluster: string) => {
        try {
            execFileSync("openssl", ["verify", "-CAfile", file(`trust-${trustStage}-${trustCluster}.pem`, cacerts[trustStage][trustCluster]["root-cert.pem"]), "-untrusted", l.chain, l.cert], { stdio: "pipe" });
            return true;
        } catch {
            return false;
        }
    };

    test("root-cert.pem holds the roots of the stage, the same in every cluster", () => {
        const [g1] = fingerprints(cacerts.none.cluster1["root-cert.pem"]);
        const [, g2] = fingerprints(cacerts["trust-both"].cluster1["root-cert.pem"]);
        expect(g2).toBeDefined();
        const expected: Record<string, string[]> = { none: [g1], "trust-both": [g1, g2], reissue: [g1, g2], "drop-old": [g2], done: [g2] };
        for (const [stage] of STAGES) for (const c of CLUSTERS) expect({ stage, c, roots: fingerprints(cacerts[stage][c]["root-cert.pem"]) }).toEqual({ stage, c, roots: expected[stage] });
        // The rootCertPem stack output is the same bundle.
        expect(fingerprints(outputs["trust-both"].rootCertPem as string)).toEqual([g1, g2]);
    });

    test("every stage's cacerts passes istiod's checks: ca-cert is a CA, matches ca-key, and cert-chain leads to a root of root-cert.pem", () => {
        for (const [stage] of STAGES) {
            for (const c of CLUSTERS) {
                const f = cacerts[stage][c];
                const ca = new crypto.X509Certificate(f["ca-cert.pem"]);
                expect(ca.ca).toBe(true);
                expect(ca.checkPrivateKey(crypto.createPrivateKey(f["ca-key.pem"]))).toBe(true);
                const out = execFileSync("openssl", ["verify", "-CAfile", file(`root-${stage}-${c}.pem`, f["root-cert.pem"]), "-untrusted", file(`chain-${stage}-${c}.pem`, f["cert-chain.pem"]), file(`ca-${stage}-${c}.pem`, f["ca-cert.pem"])], { stdio: "pipe" }).toString();
                expect(out).toMatch(/: OK\n$/);
            }
        }
    });

    test("while both roots are trusted, workload certificates from the old and the new intermediates verify in every cluster", () => {
        for (const trustStage of ["trust-both", "reissue"]) {
            for (const issuedIn of ["none", "trust-both", "reissue"]) {
                for (const from of CLUSTERS) {
                    const l = leaf(issuedIn, from);
                    for (const to of CLUSTERS) expect({ trustStage, issuedIn, from, to, ok: verifies(l, trustStage, to) }).toEqual({ trustStage, issuedIn, from, to, ok: true });
                }
            }
        }
    });

    test("once the old root is dropped, only the new intermediates' certificates verify (and old ones are refused)", () => {
        for (const trustStage of ["drop-old", "done"]) {
            for (const from of CLUSTERS) {
                for (const to of CLUSTERS) {
                    expect(verifies(leaf("reissue", from), trustStage, to)).toBe(true);
                    expect(verifies(leaf("none", from), trustStage, to)).toBe(false);
                }
            }
        }
        // Why reissue must come before drop-old: old-root certificates still in use would be refused.
        expect(fingerprints(cacerts.reissue.cluster1["cert-chain.pem"])[1]).toBe(fingerprints(cacerts["drop-old"].cluster1["root-cert.pem"])[0]);
    });

    test("trustRotation tells where the stack stands", () => {
        expect(outputs.none.trustRotation).toEqual({ rootGeneration: 1, rootRotation: "none", readerTokenGeneration: 1 });
        expect(outputs.reissue.trustRotation).toEqual({ rootGeneration: 1, rootRotation: "reissue", readerTokenGeneration: 1 });
        expect(outputs.done.trustRotation).toEqual({ rootGeneration: 2, rootRotation: "none", readerTokenGeneration: 1 });
    });

    test("caValidityDays: every root and intermediate, in days", () => {
        expect(outputs["trust-both"].caValidityDays).toEqual({ roots: { g1: 3649, g2: 3649 }, intermediates: { cluster1: 3649, cluster2: 3649 } });
        expect(outputs.done.caValidityDays).toEqual({ roots: { g2: 3649 }, intermediates: { cluster1: 3649, cluster2: 3649 } });
    });
});

// ---- intermediate renewal -------------------------------------------------------------------------------

describe("intermediate renewal", () => {
    test("on demand: a cluster's generation changes its CSR subject (serialNumber) and key, visible in preview; early renewal reaches the tls provider", async () => {
        const base = await runProgram(stack());
        const run = await runProgram(stack({ ca: { intermediateGenerations: { cluster2: 2 }, earlyRenewalHours: 720 } }));
        const csr = (r: RunResult, c: string) => plain(r.resources.find((x) => x.type === CSR && x.name === `mesh-ca-${c}`)!.inputs);
        expect(csr(run, "cluster1")).toEqual(csr(base, "cluster1"));
        expect(csr(run, "cluster2").subject).toEqual({ organization: "Istio", commonName: "Intermediate CA", locality: "cluster2", serialNumber: "2" });
        for (const c of ofType(run.resources, SIGNED)) expect(plain(c.inputs).earlyRenewalHours).toBe(720);
        for (const c of ofType(base.resources, SIGNED)) expect(plain(c.inputs).earlyRenewalHours).toBeUndefined();
    });

    test("a validity within 30 days warns in the first preview, where no certificate exists yet; known certificates warn with their days", async () => {
        const warn = jest.spyOn(console, "warn").mockImplementation(() => undefined);
        try {
            await runFirstPreview(stack({ ca: { validityHours: 24 * 20 } }));
            expect(warn.mock.calls.flat().join("\n")).toMatch(/istio-multicluster:ca\.validityHours: 480 hours is within 30 days/);
            warn.mockClear();
            const run = await runProgram(stack({ ca: { validityHours: 24 * 20 } }), persistentTls());
            expect(run.outputs.caValidityDays).toEqual({ roots: { g1: 19 }, intermediates: { cluster1: 19, cluster2: 19 } });
            const text = warn.mock.calls.flat().join("\n");
            expect(text).toMatch(/mesh root g1 expires in 19 day\(s\)/);
            expect(text).toMatch(/intermediate CA of cluster2 expires in 19 day\(s\)/);
        } finally {
            warn.mockRestore();
        }
    });
});

describe("changing ca.validityHours on a live stack", () => {
    test("a root's validity never reaches the engine as a change (no replace, protected or not); intermediates take the new validity", async () => {
        for (const ca of [{ validityHours: 17520 }, { validityHours: 17520, allowRootRotation: true }, { validityHours: 17520, rootRotation: "trust-both" }]) {
            const run = await runProgram(stack({ ca }));
            const roots = ofType(run.resources, ROOT);
            expect(roots.length).toBeGreaterThan(0);
            // The engine keeps the live root's own value for an ignored input: nothing to replace, also with allowRootRotation.
            for (const r of roots) expect({ root: r.name, ignoreChanges: r.ignoreChanges }).toEqual({ root: r.name, ignoreChanges: ["validityPeriodHours"] });
            // A new root (here generation 2 of a staged rotation) is created with the setting.
            for (const r of roots) expect(plain(r.inputs).validityPeriodHours).toBe(17520);
            for (const c of ofType(run.resources, SIGNED)) {
                expect(c.ignoreChanges).toEqual([]);
                expect(plain(c.inputs).validityPeriodHours).toBe(17520);
            }
        }
    });

    test("the preview says so: a live root issued with another validity keeps it, and the note names what takes the setting", async () => {
        // The live root, as the engine hands it back with ignoreChanges: issued for the default ten years.
        const live = persistentTls().outputs!;
        const tenYearRoot: MockOptions = {
            outputs: { ...live, [ROOT]: (inputs: any, name: string) => live[ROOT]({ ...inputs, validityPeriodHours: 87600 }, name) },
        };
        const info = jest.spyOn(console, "log").mockImplementation(() => undefined);
        try {
            await runProgram(stack({ ca: { validityHours: 17520 } }), tenYearRoot);
            expect(info.mock.calls.flat().join("\n")).toMatch(
                /mesh root g1 was issued for 87600 hours and keeps that validity: replacing a live root would break trust between the clusters\. ca\.validityHours \(17520\) applies to the intermediates, re-issued with it, and to the next root/,
            );
            info.mockClear();
            // Unchanged validity: nothing to say.
            await runProgram(stack(), persistentTls());
            expect(info.mock.calls.flat().join("\n")).not.toMatch(/keeps that validity/);
        } finally {
            info.mockRestore();
        }
    });
});

describe("re-issuing an intermediate with a new key (a leaked intermediate key)", () => {
    test("each generation has its own key: the CSR and certificate follow it, other clusters keep theirs", async () => {
        const base = await runProgram(stack());
        const run = await runProgram(stack({ ca: { intermediateGenerations: { cluster2: 2 } } }));
        const keys = (r: RunResult) => ofType(r.resources, KEY).map((k) => k.name).sort();
        expect(keys(base)).toEqual(["mesh-ca-cluster1", "mesh-ca-cluster2", "mesh-ca-root"]);
        // A new name: the engine creates the new key before it deletes the old one, after the cacerts update.
        expect(keys(run)).toEqual(["mesh-ca-cluster1", "mesh-ca-cluster2-g2", "mesh-ca-root"]);
        const csr = run.resources.find((r) => r.type === CSR && r.name === "mesh-ca-cluster2")!;
        const newKey = run.resources.find((r) => r.type === KEY && r.name === "mesh-ca-cluster2-g2")!;
        expect(csr.dependencies).toContain(newKey.urn);
        expect(newKey.deleteBeforeReplace).toBe(false);
    });

    test("with real certificates: the re-issued intermediate and its cacerts carry the new key, and still chain to the same root", async () => {
        const options = persistentTls();
        const cacertsOf = (r: RunResult, c: string) => plain(r.resources.find((s) => s.type === SECRET && s.name === `mesh-${c}-cacerts`)!.inputs.stringData) as Record<string, string>;
        const before = cacertsOf(await runProgram(stack(), options), "cluster2");
        const after = cacertsOf(await runProgram(stack({ ca: { intermediateGenerations: { cluster2: 2 } } }), options), "cluster2");
        const publicKey = (pem: string) => crypto.createPublicKey(pem).export({ type: "spki", format: "pem" });
        expect(publicKey(after["ca-key.pem"])).not.toEqual(publicKey(before["ca-key.pem"]));
        expect(new crypto.X509Certificate(after["ca-cert.pem"]).checkPrivateKey(crypto.createPrivateKey(after["ca-key.pem"]))).toBe(true);
        expect(after["root-cert.pem"]).toBe(before["root-cert.pem"]);
        expect(new crypto.X509Certificate(after["ca-cert.pem"]).verify(new crypto.X509Certificate(after["root-cert.pem"]).publicKey)).toBe(true);
    });
});

// ---- bring your own CA ------------------------------------------------------------------------------------

describe("bring-your-own CA through the same stages", () => {
    let dir: string;
    const pems: Record<string, string> = {};
    beforeAll(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "rotation-byo-"));
        const sh = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
        fs.writeFileSync(path.join(dir, "ca.ext"), "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,digitalSignature\n");
        for (const root of ["old", "new"]) {
            sh(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${root}.key`, "-out", `${root}.pem`, "-days", "30", "-subj", `/O=Istio/CN=Root CA ${root}`, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
            for (const c of CLUSTERS) {
                sh(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", `${root}-${c}.key`, "-out", `${root}-${c}.csr`, "-subj", `/O=Istio/CN=Intermediate CA/L=${c}`]);
                sh(["x509", "-req", "-in", `${root}-${c}.csr`, "-CA", `${root}.pem`, "-CAkey", `${root}.key`, "-CAcreateserial", "-days", "20", "-out", `${root}-${c}.pem`, "-extfile", "ca.ext"]);
            }
        }
        for (const f of fs.readdirSync(dir)) if (/\.(pem|key)$/.test(f)) pems[f] = fs.readFileSync(path.join(dir, f), "utf8");
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    const provided = (root: "old" | "new", extra: Record<string, string> = {}) => ({
        rootCertPem: pems[`${root}.pem`],
        clusters: Object.fromEntries(CLUSTERS.map((c) => [c, { certPem: pems[`${root}-${c}.pem`], keyPem: pems[`${root}-${c}.key`] }])),
        ...extra,
    });
    const cacertsOf = (run: RunResult, c: string) => plain(run.resources.find((s) => s.type === SECRET && s.name === `mesh-${c}-cacerts`)!.inputs.stringData) as Record<string, string>;
    const fp = (pem: string) => (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new crypto.X509Certificate(p).fingerprint256);

    test("trust-both, reissue, drop-old with the user's PEMs: the bundle, the chain, ISTIO_MULTIROOT_MESH, the 30-day warning", async () => {
        const [oldFp] = fp(pems["old.pem"]);
        const [newFp] = fp(pems["new.pem"]);
        const warn = jest.spyOn(console, "warn").mockImplementation(() => undefined);
        try {
            const stages: [string, any, string[], string][] = [
                ["trust-both", provided("old", { nextRootCertPem: pems["new.pem"] }), [oldFp, newFp], oldFp],
                ["reissue", provided("new", { previousRootCertPem: pems["old.pem"] }), [oldFp, newFp], newFp],
                ["drop-old", provided("new"), [newFp], newFp],
            ];
            for (const [stage, ca, roots, signer] of stages) {
                const run = await runProgram(stack({ ca: { rootRotation: stage, provided: ca } }));
                for (const c of CLUSTERS) {
                    const f = cacertsOf(run, c);
                    expect({ stage, roots: fp(f["root-cert.pem"]) }).toEqual({ stage, roots });
                    expect(fp(f["cert-chain.pem"])[1]).toBe(signer);
                }
                for (const r of ofType(run.resources, RELEASE).filter((r) => r.inputs.name === "istiod")) expect(plain(r.inputs.values).env.ISTIO_MULTIROOT_MESH).toBe("true");
                expect(Object.keys((run.outputs.caValidityDays as any).roots)).toEqual(stage === "trust-both" ? ["provided", "next"] : stage === "reissue" ? ["previous", "provided"] : ["provided"]);
            }
            expect(warn.mock.calls.flat().join("\n")).toMatch(/intermediate CA of cluster1 expires in 19 day\(s\)/);
        } finally {
            warn.mockRestore();
        }
    });
});

// ---- bad settings -----------------------------------------------------------------------------------------

describe("rotation settings are checked before anything is declared", () => {
    const refused = async (extra: Record<string, unknown>, ...messages: RegExp[]) => {
        const { error, resources } = await runProgramExpectingError(stack(extra));
        for (const m of messages) expect(error.message).toMatch(m);
        expect(resources).toEqual([]);
    };

    test("token rotation on Istio before 1.30.3 (istio#60612)", async () => {
        await refused(
            { istioVersion: "1.30.2", readerTokens: { generation: 2 } },
            /istio-multicluster:readerTokens: reader-token rotation needs Istio 1\.30\.3 or later.*istio#60612.*istio-multicluster:istioVersion is 1\.30\.2/,
        );
        await refused({ istioVersion: "1.30.0", readerTokens: { maxAgeDays: 30, scheduleStart: "2026-01-01" } }, /needs Istio 1\.30\.3/);
    });

    test("a stage that does not exist, a schedule without its start or starting in the future, bad generations", async () => {
        await refused({ ca: { rootRotation: "reissue-all" } }, /istio-multicluster:ca\.rootRotation: must be one of trust-both, reissue, drop-old \(the stages, in this order/);
        await refused({ readerTokens: { maxAgeDays: 30 } }, /istio-multicluster:readerTokens\.scheduleStart: required with istio-multicluster:readerTokens\.maxAgeDays/);
        await refused({ readerTokens: { maxAgeDays: 30, scheduleStart: "2999-01-01" } }, /readerTokens\.scheduleStart: 2999-01-01 is in the future/);
        await refused({ readerTokens: { generation: 0 } }, /istio-multicluster:readerTokens\.generation: must be at least 1/);
        await refused({ ca: { rootGeneration: 1.5 } }, /istio-multicluster:ca\.rootGeneration: must be a whole number/);
        await refused({ ca: { intermediateGenerations: { cluster9: 2 } } }, /istio-multicluster:ca\.intermediateGenerations\.cluster9: no cluster is named "cluster9"/);
        await refused({ ca: { validityHours: 100, earlyRenewalHours: 100 } }, /istio-multicluster:ca\.earlyRenewalHours: 100 is not below istio-multicluster:ca\.validityHours/);
    });

    test("bring-your-own CA: each stage's extra root required where it is used and refused where it is not", async () => {
        const root = execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "/dev/null", "-days", "2", "-subj", "/CN=r", "-addext", "basicConstraints=critical,CA:TRUE"], { stdio: "pipe" }).toString();
        const p = { rootCertPem: root, clusters: Object.fromEntries(CLUSTERS.map((c) => [c, { certPem: root, keyPem: "k" }])) };
        await refused({ ca: { rootRotation: "trust-both", provided: p } }, /istio-multicluster:ca\.provided\.nextRootCertPem: required in stage trust-both/);
        await refused({ ca: { rootRotation: "reissue", provided: p } }, /istio-multicluster:ca\.provided\.previousRootCertPem: required in stage reissue/);
        await refused({ ca: { rootRotation: "drop-old", provided: { ...p, previousRootCertPem: root } } }, /previousRootCertPem: only used in stage reissue; stage drop-old stops trusting the old root: remove it/);
        await refused({ ca: { rootRotation: "trust-both", provided: { ...p, nextRootCertPem: root } } }, /nextRootCertPem: is the same certificate as rootCertPem/);
        await refused({ ca: { rootGeneration: 2, provided: p } }, /istio-multicluster:ca\.rootGeneration: applies to the generated CA only/);
    });

    test("whole numbers given as digits (what `pulumi config set --path` may store) are accepted", async () => {
        const run = await runProgram(stack({ readerTokens: { generation: "2" }, ca: { intermediateGenerations: { cluster1: "3" } } }));
        expect(tokenSecrets(run).map((s) => plain(s.inputs.metadata.name)).sort()).toEqual(["istio-reader-token-cluster1-g2", "istio-reader-token-cluster2-g2"]);
        expect(plain(run.resources.find((r) => r.type === CSR && r.name === "mesh-ca-cluster1")!.inputs).subject.serialNumber).toBe("3");
        await refused({ istioVersion: "1.30.1", readerTokens: { generation: "2" } }, /needs Istio 1\.30\.3/);
    });

    test("rootBundle keeps each root once, in order", () => {
        const a = execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "/dev/null", "-days", "2", "-subj", "/CN=a"], { stdio: "pipe" }).toString();
        const b = execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "/dev/null", "-days", "2", "-subj", "/CN=b"], { stdio: "pipe" }).toString();
        expect(rootBundle([a, b, a.trimEnd()])).toBe(a + b);
    });
});
