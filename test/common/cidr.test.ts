import { cidrContains, cidrSize, cidrSubnet, cidrsOverlap, formatAddress, parseAddress, parseCidr } from "../../components/common/cidr";

describe("parseAddress", () => {
    test.each([
        ["10.0.0.10", 4, 0x0a00000an],
        ["0.0.0.0", 4, 0n],
        ["255.255.255.255", 4, 0xffffffffn],
        ["::", 6, 0n],
        ["::1", 6, 1n],
        ["2001:db8::1", 6, 0x20010db8000000000000000000000001n],
        ["2001:DB8:0:0:0:0:0:1", 6, 0x20010db8000000000000000000000001n],
        ["::ffff:10.0.0.1", 6, 0xffff0a000001n],
        ["64:ff9b::192.0.2.33", 6, 0x0064ff9b0000000000000000c0000221n],
        ["1:2:3:4:5:6:1.2.3.4", 6, 0x00010002000300040005000601020304n],
    ])("%s", (text, family, value) => {
        expect(parseAddress(text)).toEqual({ family, value });
    });

    test.each(["10.0.0", "10.0.0.256", "10.0.0.01", "10.0.0.-1", "a.b.c.d", "", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::8", "::ffff:10.0.0", ":1::"])(
        "rejects %j",
        (text) => {
            expect(() => parseAddress(text)).toThrow(/not a valid IPv[46] address/);
        },
    );
});

describe("formatAddress", () => {
    test.each([
        [4, 0x0a01010an, "10.1.1.10"],
        [6, 0n, "::"],
        [6, 1n, "::1"],
        [6, 0x20010db8000000000000000000000001n, "2001:db8::1"],
        // RFC 5952: the longest run of zeros is compressed, a single zero group is not.
        [6, 0x20010db8000000010000000000000001n, "2001:db8:0:1::1"],
        [6, 0x20010db8000100010001000100010001n, "2001:db8:1:1:1:1:1:1"],
        [6, 0x20010000000000010000000000000000n, "2001:0:0:1::"],
    ] as const)("IPv%s %s", (family, value, text) => {
        expect(formatAddress(family, value)).toBe(text);
    });
});

describe("parseCidr", () => {
    test("IPv4", () => {
        expect(parseCidr("10.1.0.0/16")).toEqual({ family: 4, network: 0x0a010000n, prefix: 16, text: "10.1.0.0/16" });
        expect(parseCidr(" 0.0.0.0/0 ").text).toBe("0.0.0.0/0");
        expect(parseCidr("10.0.0.10/32").text).toBe("10.0.0.10/32");
    });
    test("IPv6, canonicalised", () => {
        expect(parseCidr("2001:DB8:0:0::/56")).toEqual({ family: 6, network: 0x20010db8000000000000000000000000n, prefix: 56, text: "2001:db8::/56" });
        expect(parseCidr("fd00::/8").text).toBe("fd00::/8");
    });
    test("host bits set: suggests the block", () => {
        expect(() => parseCidr("10.1.1.5/24")).toThrow('"10.1.1.5/24" has host bits set; did you mean 10.1.1.0/24?');
        expect(() => parseCidr("2001:db8::1/64")).toThrow("did you mean 2001:db8::/64?");
    });
    test("prefix out of range", () => {
        expect(() => parseCidr("10.0.0.0/33")).toThrow("IPv4 allows /0 to /32");
        expect(() => parseCidr("::/129")).toThrow("IPv6 allows /0 to /128");
    });
    test.each(["10.0.0.0", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/-1", "10.0.0.0/1/2", "/16"])("not CIDR notation: %j", (text) => {
        expect(() => parseCidr(text)).toThrow();
    });
    test("bad address inside", () => {
        expect(() => parseCidr("10.0.300.0/24")).toThrow("not a valid IPv4 address");
    });
    test("not a string", () => {
        expect(() => parseCidr(42 as unknown as string)).toThrow("must be a CIDR block");
    });
    test("size", () => {
        expect(cidrSize(parseCidr("10.1.1.0/24"))).toBe(256n);
        expect(cidrSize(parseCidr("2001:db8::/64"))).toBe(1n << 64n);
    });
});

describe("containment and overlap", () => {
    const c = parseCidr;
    test("contains", () => {
        expect(cidrContains(c("10.1.0.0/16"), c("10.1.1.0/24"))).toBe(true);
        expect(cidrContains(c("10.1.0.0/16"), c("10.1.0.0/16"))).toBe(true);
        expect(cidrContains(c("10.1.0.0/16"), c("10.2.1.0/24"))).toBe(false);
        expect(cidrContains(c("10.1.1.0/24"), c("10.1.0.0/16"))).toBe(false);
        expect(cidrContains(c("0.0.0.0/0"), c("192.168.0.0/16"))).toBe(true);
        expect(cidrContains(c("2001:db8::/32"), c("2001:db8:1::/48"))).toBe(true);
        expect(cidrContains(c("2001:db8::/32"), c("2001:db9::/48"))).toBe(false);
    });
    test("contains an address", () => {
        expect(cidrContains(c("10.100.0.0/16"), parseAddress("10.100.0.10"))).toBe(true);
        expect(cidrContains(c("10.100.0.0/16"), parseAddress("10.101.0.10"))).toBe(false);
    });
    test("families never mix", () => {
        expect(cidrContains(c("::/0"), c("10.0.0.0/8"))).toBe(false);
        expect(cidrsOverlap(c("::/0"), c("0.0.0.0/0"))).toBe(false);
        expect(cidrContains(c("0.0.0.0/0"), parseAddress("::ffff:10.0.0.1"))).toBe(false);
    });
    test("overlaps", () => {
        expect(cidrsOverlap(c("10.1.1.0/24"), c("10.1.2.0/24"))).toBe(false);
        expect(cidrsOverlap(c("10.1.1.0/24"), c("10.1.1.128/25"))).toBe(true);
        expect(cidrsOverlap(c("10.1.1.128/25"), c("10.1.0.0/16"))).toBe(true);
        expect(cidrsOverlap(c("10.244.0.0/16"), c("10.245.0.0/16"))).toBe(false);
        expect(cidrsOverlap(c("10.244.0.0/15"), c("10.245.0.0/16"))).toBe(true);
        expect(cidrsOverlap(c("fd00::/8"), c("fd12:3456::/32"))).toBe(true);
    });
});

test("cidrSubnet numbers blocks inside a parent, in either family", () => {
    expect(cidrSubnet(parseCidr("10.0.0.0/16"), 2, 3).text).toBe("10.0.192.0/18");
    expect(cidrSubnet(parseCidr("2600:1f14:abc:de00::/56"), 8, 5).text).toBe("2600:1f14:abc:de05::/64");
    expect(() => cidrSubnet(parseCidr("10.0.0.0/30"), 3, 0)).toThrow(/cannot split 10\.0\.0\.0\/30 into \/33 blocks/);
    expect(() => cidrSubnet(parseCidr("10.0.0.0/16"), 1, 2)).toThrow(/block index 2 does not fit in 1 bits/);
});
