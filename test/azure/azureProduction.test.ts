/**
 * The azure stack with what a platform team brings: a VNet that already exists (`azure.vnetId`, with an existing
 * `clusters[].subnetId` or a `subnetCidr` made in it) and Entra ID groups as cluster admins (`azure.adminGroupObjectIds`).
 */
import { parse, stringify } from "yaml";
import { RunResult, one, ofType, plain, runProgram, runProgramExpectingError } from "../support/harness";
import { loadStackConfig } from "../support/stackConfig";
import { CREDENTIALS_TOKEN, LOCATION, SUBSCRIPTION, T, azureMocks, newRecord } from "../support/cloudMocks";
import { withAzureCliLogin } from "../../components/azure/aksCluster";

const VNET = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-shared`;
const SUBNET1 = `${VNET}/subnets/snet-aks-1`;
const GROUPS = ["6a1f0b2c-3d4e-4f50-8a9b-0c1d2e3f4a5b", "7b2a1c3d-4e5f-4a61-9b0c-1d2e3f4a5b6c"];

function stack(azure: Record<string, unknown>, change: (c: Record<string, any>, i: number) => Record<string, any> = (c) => c) {
    const config = loadStackConfig("azure", { "azure-native:location": LOCATION });
    const seedAzure = JSON.parse(String(config["istio-multicluster:azure"])) as Record<string, unknown>;
    const clusters = (JSON.parse(String(config["istio-multicluster:clusters"])) as Record<string, any>[]).map((c, i) => change({ ...c }, i));
    return { ...config, "istio-multicluster:azure": JSON.stringify({ ...seedAzure, ...azure }), "istio-multicluster:clusters": JSON.stringify(clusters) };
}
const withoutVnetCidr = ({ vnetCidr: _drop, ...rest }: Record<string, unknown>) => rest;
const byName = (run: RunResult, type: string, name: string) => one(run.resources, (r) => r.type === type && r.name === name, `${type} ${name}`);

describe("azure.vnetId: the VNet is yours", () => {
    let run: RunResult;
    beforeAll(async () => {
        const config = stack({ vnetId: VNET }, (c, i) => (i === 0 ? { ...withoutVnetCidrCluster(c), subnetId: SUBNET1 } : c));
        const seed = JSON.parse(String(config["istio-multicluster:azure"]));
        run = await runProgram({ ...config, "istio-multicluster:azure": JSON.stringify(withoutVnetCidr(seed)) }, azureMocks(newRecord()));
    });
    function withoutVnetCidrCluster({ subnetCidr: _drop, ...rest }: Record<string, any>) {
        return rest;
    }

    test("no VNet is made; cluster2's subnetCidr becomes a subnet of the existing VNet, cluster1's subnetId is used as it is", () => {
        expect(ofType(run.resources, T.vnet)).toEqual([]);
        const subnets = ofType(run.resources, T.subnet);
        expect(subnets.map((s) => s.name)).toEqual(["snet-cluster2"]);
        expect(plain(subnets[0].inputs)).toMatchObject({ resourceGroupName: "rg-network", virtualNetworkName: "vnet-shared", addressPrefix: "10.1.2.0/24" });
    });

    test("each AKS node pool goes on its subnet, and the cluster identity may make internal load balancers there", () => {
        const pool = (cluster: string) => plain(byName(run, T.aks, `aks-${cluster}`).inputs).agentPoolProfiles[0].vnetSubnetID;
        expect(pool("cluster1")).toBe(SUBNET1);
        expect(pool("cluster2")).toBe("snet-cluster2-id");
        expect(plain(byName(run, T.roleAssignment, "aks-cluster1-subnet-network-contributor").inputs).scope).toBe(SUBNET1);
        expect(plain(byName(run, T.roleAssignment, "aks-cluster2-subnet-network-contributor").inputs).scope).toBe("snet-cluster2-id");
    });

    test("the platform output names the existing VNet", () => {
        expect((run.outputs.platform as Record<string, unknown>).virtualNetworkName).toBe("vnet-shared");
    });

    test("each cluster needs exactly one of subnetId and subnetCidr, in that VNet; vnetCidr does not apply; all reported at once", async () => {
        const config = stack({ vnetId: VNET }, (c, i) =>
            i === 0 ? { ...c, subnetId: SUBNET1 } : { ...withoutVnetCidrCluster(c), subnetId: `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-other/providers/Microsoft.Network/virtualNetworks/other/subnets/s` },
        );
        const { error, resources } = await runProgramExpectingError(config, azureMocks(newRecord()));
        expect(resources.filter((r) => r.custom)).toEqual([]);
        expect(error.message).toContain("istio-multicluster:clusters[0]: set exactly one of subnetId (an existing subnet of azure.vnetId) and subnetCidr (a subnet made in it)");
        expect(error.message).toContain(`istio-multicluster:clusters[1].subnetId: is not a subnet of azure.vnetId ${VNET}`);
        expect(error.message).toContain("istio-multicluster:azure.vnetCidr: not used with azure.vnetId");
        const noVnet = await runProgramExpectingError(stack({}, (c, i) => (i === 0 ? { ...withoutVnetCidrCluster(c), subnetId: SUBNET1 } : c)), azureMocks(newRecord()));
        expect(noVnet.error.message).toContain("istio-multicluster:clusters[0].subnetId: an existing subnet needs its VNet: set azure.vnetId too");
        const bad = await runProgramExpectingError(stack({ vnetId: "vnet-shared", adminGroupObjectIds: ["admins"] }), azureMocks(newRecord()));
        expect(bad.error.message).toContain("istio-multicluster:azure.vnetId: must be a VNet's resource ID");
        expect(bad.error.message).toContain("istio-multicluster:azure.adminGroupObjectIds[0]: must be a group's object ID, a GUID");
    });
});

describe("azure.adminGroupObjectIds: Entra ID groups are the cluster admins", () => {
    /** AKS answers Entra clusters' `format: exec` request with a kubelogin kubeconfig (device code by default). */
    function entraMocks(calls: Record<string, unknown>[]) {
        const base = azureMocks(newRecord());
        return {
            ...base,
            calls: {
                ...base.calls,
                [CREDENTIALS_TOKEN]: (inputs: Record<string, unknown>) => {
                    calls.push(inputs);
                    const answer = base.calls![CREDENTIALS_TOKEN](inputs) as { kubeconfigs: { name: string; value: string }[] };
                    if (inputs.format !== "exec") return answer;
                    const kc = parse(Buffer.from(answer.kubeconfigs[0].value, "base64").toString());
                    kc.users = [{ name: "clusterUser", user: { exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "kubelogin", args: ["get-token", "--login", "devicecode", "--server-id", "6dae42f8-4368-4678-94ff-3960e28e3630"] } } }];
                    return { kubeconfigs: [{ name: "clusterUser", value: Buffer.from(stringify(kc)).toString("base64") }] };
                },
            },
        };
    }

    test("managed Entra integration with the groups, local accounts disabled, kubelogin with the Azure CLI's identity", async () => {
        const calls: Record<string, unknown>[] = [];
        const run = await runProgram(stack({ adminGroupObjectIds: GROUPS }), entraMocks(calls));
        for (const cluster of ["cluster1", "cluster2"]) {
            const aks = plain(byName(run, T.aks, `aks-${cluster}`).inputs);
            expect({ disableLocalAccounts: aks.disableLocalAccounts, aadProfile: aks.aadProfile }).toEqual({
                disableLocalAccounts: true,
                aadProfile: { managed: true, enableAzureRBAC: false, adminGroupObjectIDs: GROUPS },
            });
            const kubeconfig = parse(plain(byName(run, T.k8sProvider, `${cluster}-k8s`).inputs.kubeconfig));
            expect(kubeconfig.users[0].user.exec.args).toEqual(["get-token", "--server-id", "6dae42f8-4368-4678-94ff-3960e28e3630", "--login", "azurecli"]);
        }
        expect(calls.every((c) => c.format === "exec")).toBe(true);
    });

    test("unset: local accounts and a certificate kubeconfig, as before", async () => {
        const calls: Record<string, unknown>[] = [];
        const run = await runProgram(stack({}), entraMocks(calls));
        const aks = plain(byName(run, T.aks, "aks-cluster1").inputs);
        expect({ disableLocalAccounts: aks.disableLocalAccounts, aadProfile: aks.aadProfile }).toEqual({ disableLocalAccounts: false, aadProfile: undefined });
        expect(calls.every((c) => c.format === undefined)).toBe(true);
    });

    test("withAzureCliLogin leaves kubeconfigs without kubelogin alone", () => {
        const plainKubeconfig = { users: [{ name: "u", user: { token: "t" } }] };
        expect(parse(withAzureCliLogin(stringify(plainKubeconfig)))).toEqual(plainKubeconfig);
    });
});
