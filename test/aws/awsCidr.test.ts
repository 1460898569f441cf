import { checkPublicAccessCidr, checkVpcCidr, ipv6Subnet64, parseIpv4Block, planIpv4Subnets } from "../../components/aws/awsCidr";
import { cidrContains, cidrSubnet, cidrsOverlap, parseCidr } from "../../components/common/cidr";
import { pickZones } from "../../components/aws/awsNetwork";

describe("IPv4 blocks (parsed by components/common/cidr.ts)", () => {
    test("parses", () => {
        expect(parseIpv4Block("10.0.0.0/16")).toMatchObject({ family: 4, prefix: 16, text: "10.0.0.0/16" });
        expect(parseIpv4Block("0.0.0.0/0")).toMatchObject({ prefix: 0, text: "0.0.0.0/0" });
    });

    test.each([
        ["10.0.0.0", /"10\.0\.0\.0" is not a CIDR block; write address\/prefix-length/],
        ["10.0.0/16", /not a valid IPv4 address/],
        ["256.0.0.0/16", /four numbers 0-255/],
        ["10.01.0.0/16", /without leading zeros/],
        ["10.0.0.0/33", /IPv4 allows \/0 to \/32/],
        ["10.0.0.1/16", /has host bits set; did you mean 10\.0\.0\.0\/16\?/],
        ["2001:db8::/32", /is an IPv6 block; an IPv4 CIDR such as "10\.0\.0\.0\/16" is needed here/],
        ["", /not a CIDR block/],
    ])("rejects %j with a reason", (text, reason) => {
        const parsed = parseIpv4Block(text);
        expect(typeof parsed).toBe("string");
        expect(parsed).toMatch(reason);
    });

    test("cidrsubnet", () => {
        const vpc = parseCidr("10.0.0.0/16");
        expect(cidrSubnet(vpc, 2, 3).text).toBe("10.0.192.0/18");
        expect(cidrSubnet(vpc, 8, 255).text).toBe("10.0.255.0/24");
        expect(() => cidrSubnet(vpc, 2, 4)).toThrow(/does not fit/);
        expect(() => cidrSubnet(vpc, 17, 0)).toThrow(/cannot split/);
    });
});

describe("subnet plan", () => {
    test("two zones of a /16", () => {
        expect(planIpv4Subnets("10.0.0.0/16", 2)).toEqual({
            private: ["10.0.0.0/18", "10.0.64.0/18"],
            public: ["10.0.192.0/19", "10.0.224.0/19"],
        });
    });

    test("three zones of a /16 (the default)", () => {
        expect(planIpv4Subnets("10.0.0.0/16", 3)).toEqual({
            private: ["10.0.0.0/18", "10.0.64.0/18", "10.0.128.0/18"],
            public: ["10.0.192.0/20", "10.0.208.0/20", "10.0.224.0/20"],
        });
    });

    test.each([
        ["10.0.0.0/16", 6],
        ["172.16.0.0/20", 4],
        ["192.168.10.0/24", 2],
    ])("%s over %i zones: inside the VPC, no overlaps, no smaller than /28", (vpcCidr, zones) => {
        const plan = planIpv4Subnets(vpcCidr, zones);
        const vpc = parseCidr(vpcCidr);
        const blocks = [...plan.private, ...plan.public].map((c) => parseCidr(c));
        expect(blocks).toHaveLength(2 * zones);
        for (const b of blocks) {
            expect(b.prefix).toBeLessThanOrEqual(28);
            expect(cidrContains(vpc, b)).toBe(true);
        }
        for (const [i, a] of blocks.entries()) for (const b of blocks.slice(i + 1)) expect(cidrsOverlap(a, b)).toBe(false);
    });

    test("VPC blocks outside /16–/24 or too small for the zones are refused with the reason", () => {
        expect(checkVpcCidr("10.0.0.0/16", 3)).toBeUndefined();
        expect(checkVpcCidr("10.0.0.0/8", 3)).toMatch(/is a \/8; a VPC block must be \/16 to \/24/);
        expect(checkVpcCidr("10.0.0.0/26", 2)).toMatch(/is a \/26; a VPC block must be \/16 to \/24/);
        expect(checkVpcCidr("10.0.0.0/24", 6)).toMatch(/too small for 6 availability zones: the public subnets would be \/30/);
        expect(checkVpcCidr("10.0.0.1/16", 2)).toMatch(/host bits/);
        expect(() => planIpv4Subnets("10.0.0.0/24", 6)).toThrow(/too small/);
    });

    test("public access CIDRs must be IPv4 blocks", () => {
        expect(checkPublicAccessCidr("203.0.113.0/24")).toBeUndefined();
        expect(checkPublicAccessCidr("0.0.0.0/0")).toBeUndefined();
        expect(checkPublicAccessCidr("203.0.113.7")).toMatch(/not a CIDR block/);
        expect(checkPublicAccessCidr("2001:db8::/48")).toMatch(/IPv6 block/);
    });
});

describe("IPv6", () => {
    test("Amazon's IPv6 blocks parse and print canonically (components/common/cidr.ts)", () => {
        expect(parseCidr("2600:1F14:0abc:de00:0000::/56").text).toBe("2600:1f14:abc:de00::/56");
        expect(parseCidr("::/0").text).toBe("::/0");
        // RFC 5952: the longest run of zero groups becomes "::"; on a tie, the first.
        expect(parseCidr("2001:db8:0:0:1:0:0:0/128").text).toBe("2001:db8:0:0:1::/128");
        expect(parseCidr("2001:db8:0:0:1:0:0:1/128").text).toBe("2001:db8::1:0:0:1/128");
        expect(parseCidr("1:2:3:4:5:6:7:8/128").text).toBe("1:2:3:4:5:6:7:8/128");
    });

    test.each([
        ["2600:1f14::/129", /IPv6 allows \/0 to \/128/],
        ["2600::1f14::/56", /not a valid IPv6 address/],
        ["2600:1f14:abc:de00::1/56", /host bits set/],
        ["1:2:3/48", /not a valid IPv6 address/],
        ["2600:1f14g::/56", /not a valid IPv6 address/],
        ["12345::/16", /not a valid IPv6 address/],
    ])("rejects %j", (text, reason) => {
        expect(() => parseCidr(text)).toThrow(reason);
    });

    test("/64 subnets of an Amazon-provided /56", () => {
        expect(ipv6Subnet64("2600:1f14:abc:de00::/56", 0)).toBe("2600:1f14:abc:de00::/64");
        expect(ipv6Subnet64("2600:1f14:abc:de00::/56", 5)).toBe("2600:1f14:abc:de05::/64");
        expect(ipv6Subnet64("2600:1f14:abc:de00::/56", 255)).toBe("2600:1f14:abc:deff::/64");
        expect(() => ipv6Subnet64("2600:1f14:abc:de00::/56", 256)).toThrow(/outside the 256 \/64s/);
        expect(() => ipv6Subnet64("2600:1f14:abc:de00::/72", 0)).toThrow(/smaller than a \/64/);
        expect(() => ipv6Subnet64("nonsense", 0)).toThrow(/VPC IPv6 block/);
    });
});

test("zones: the first N of the region, or an error naming the setting", () => {
    expect(pickZones(["a", "b", "c", "d"], 3)).toEqual(["a", "b", "c"]);
    expect(() => pickZones(["eu-x-1a", "eu-x-1b"], 3)).toThrow(
        "istio-multicluster:aws.availabilityZoneCount is 3, but this region has only 2 available zones (eu-x-1a, eu-x-1b); lower it or pick another region",
    );
});
