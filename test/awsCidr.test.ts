import {
    checkPublicAccessCidr,
    checkVpcCidr,
    formatIpv4,
    formatIpv6,
    ipv4Subnet,
    ipv6Subnet64,
    parseIpv4Cidr,
    parseIpv6Cidr,
    planIpv4Subnets,
} from "../components/awsCidr";
import { pickZones } from "../components/awsNetwork";

describe("IPv4 CIDRs", () => {
    test("parses and formats", () => {
        expect(parseIpv4Cidr("10.0.0.0/16")).toEqual({ address: 10 * 2 ** 24, prefix: 16 });
        expect(formatIpv4(parseIpv4Cidr("192.168.128.0/17") as any)).toBe("192.168.128.0/17");
        expect(parseIpv4Cidr("0.0.0.0/0")).toEqual({ address: 0, prefix: 0 });
        expect(parseIpv4Cidr("255.255.255.255/32")).toEqual({ address: 2 ** 32 - 1, prefix: 32 });
    });

    test.each([
        ["10.0.0.0", /not an IPv4 CIDR; write it as a\.b\.c\.d\/n/],
        ["10.0.0/16", /not an IPv4 CIDR/],
        ["256.0.0.0/16", /each of the four numbers must be 0–255/],
        ["10.01.0.0/16", /without leading zeros/],
        ["10.0.0.0/33", /prefix length must be 0–32/],
        ["10.0.0.1/16", /has host bits set; the network address is 10\.0\.0\.0\/16/],
        ["2001:db8::/32", /is an IPv6 block; an IPv4 CIDR such as "10\.0\.0\.0\/16" is needed here/],
        ["", /not an IPv4 CIDR/],
    ])("rejects %j with a reason", (text, reason) => {
        const parsed = parseIpv4Cidr(text);
        expect(typeof parsed).toBe("string");
        expect(parsed).toMatch(reason);
    });

    test("cidrsubnet", () => {
        const vpc = parseIpv4Cidr("10.0.0.0/16") as any;
        expect(formatIpv4(ipv4Subnet(vpc, 2, 3))).toBe("10.0.192.0/18");
        expect(formatIpv4(ipv4Subnet(vpc, 8, 255))).toBe("10.0.255.0/24");
        expect(() => ipv4Subnet(vpc, 2, 4)).toThrow(/does not fit/);
        expect(() => ipv4Subnet(vpc, 17, 0)).toThrow(/cannot split/);
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
        const vpc = parseIpv4Cidr(vpcCidr) as any;
        const blocks = [...plan.private, ...plan.public].map((c) => parseIpv4Cidr(c) as any);
        expect(blocks).toHaveLength(2 * zones);
        for (const b of blocks) {
            expect(b.prefix).toBeLessThanOrEqual(28);
            expect(b.address).toBeGreaterThanOrEqual(vpc.address);
            expect(b.address + 2 ** (32 - b.prefix)).toBeLessThanOrEqual(vpc.address + 2 ** (32 - vpc.prefix));
        }
        const sorted = [...blocks].sort((a, b) => a.address - b.address);
        for (let i = 1; i < sorted.length; i++) expect(sorted[i].address).toBeGreaterThanOrEqual(sorted[i - 1].address + 2 ** (32 - sorted[i - 1].prefix));
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
        expect(checkPublicAccessCidr("203.0.113.7")).toMatch(/not an IPv4 CIDR/);
        expect(checkPublicAccessCidr("2001:db8::/48")).toMatch(/IPv6 block/);
    });
});

describe("IPv6", () => {
    test("parses and formats canonically", () => {
        expect(formatIpv6(parseIpv6Cidr("2600:1F14:0abc:de00:0000::/56") as any)).toBe("2600:1f14:abc:de00::/56");
        expect(formatIpv6(parseIpv6Cidr("::/0") as any)).toBe("::/0");
        // RFC 5952: the longest run of zero groups becomes "::"; on a tie, the first.
        expect(formatIpv6(parseIpv6Cidr("2001:db8:0:0:1:0:0:0/128") as any)).toBe("2001:db8:0:0:1::/128");
        expect(formatIpv6(parseIpv6Cidr("2001:db8:0:0:1:0:0:1/128") as any)).toBe("2001:db8::1:0:0:1/128");
        expect(formatIpv6(parseIpv6Cidr("2001:db8:0:1:1:1:1:1/128") as any)).toBe("2001:db8:0:1:1:1:1:1/128");
        expect(formatIpv6(parseIpv6Cidr("1:2:3:4:5:6:7:8/128") as any)).toBe("1:2:3:4:5:6:7:8/128");
    });

    test.each([
        ["2600:1f14::/129", /prefix length must be 0–128/],
        ["2600::1f14::/56", /"::" more than once/],
        ["2600:1f14:abc:de00::1/56", /host bits set/],
        ["1:2:3/48", /8 groups/],
        ["10.0.0.0/16", /not an IPv6 CIDR/],
        ["2600:1f14g::/56", /not an IPv6 CIDR/],
        ["12345::/16", /1–4 hex digits/],
    ])("rejects %j", (text, reason) => {
        expect(parseIpv6Cidr(text)).toMatch(reason);
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
