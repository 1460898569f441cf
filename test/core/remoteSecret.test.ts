import { readerTokenData } from "../../components/core/remoteSecret";

/** What the remote secret takes from the reader-token Secret Kubernetes filled in (or did not). */
describe("readerTokenData", () => {
    const where = { sourceClusterName: "cluster2", secretName: "istio-reader-token-cluster1-g3" };
    const b64 = (s: string) => Buffer.from(s).toString("base64");

    test("decodes the token and keeps the CA bundle base64, as a kubeconfig takes it", () => {
        expect(readerTokenData({ token: b64("eyJhbGciOi.token"), "ca.crt": b64("CA PEM"), namespace: b64("istio-system") }, where)).toEqual({
            token: "eyJhbGciOi.token",
            caData: b64("CA PEM"),
        });
    });

    // A token Secret the token controller gave up on (an API server outage as it was made) reads back without data:
    // the run used to die in Buffer.from(undefined) without naming the Secret (found on the bed, faults suite).
    test.each([
        ["no data at all", undefined, "has no token and no ca.crt"],
        ["empty data", {}, "has no token and no ca.crt"],
        ["a CA bundle but no token", { "ca.crt": b64("CA PEM") }, "has no token:"],
        ["an empty token", { token: "", "ca.crt": b64("CA PEM") }, "has no token:"],
    ])("%s: names the Secret, its cluster and what to do", (_case, data, what) => {
        expect(() => readerTokenData(data as Record<string, string> | undefined, where)).toThrow(what);
        expect(() => readerTokenData(data as Record<string, string> | undefined, where)).toThrow(
            "reader token Secret istio-system/istio-reader-token-cluster1-g3 in cluster cluster2",
        );
        expect(() => readerTokenData(data as Record<string, string> | undefined, where)).toThrow(
            "kubectl -n istio-system delete secret istio-reader-token-cluster1-g3) and run pulumi up again",
        );
    });
});
