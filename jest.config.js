/**
 * Jest runs TypeScript through swc (type-checking is `tsc --noEmit`, run first by `npm test`).
 * kubernetes-models and @kubernetes-models/* ship ESM only: the mapper points jest at their files and the
 * transform turns them into CommonJS.
 */
/** @type {import('jest').Config} */
module.exports = {
    testEnvironment: "node",
    roots: ["<rootDir>/test"],
    testMatch: ["**/*.test.ts"],
    transform: { "^.+\\.(t|j)sx?$": ["@swc/jest"] },
    transformIgnorePatterns: ["/node_modules/(?!(kubernetes-models|@kubernetes-models|is-cidr|cidr-regex|ip-regex)/)"],
    moduleNameMapper: {
        "^@kubernetes-models/(base|validate)$": "<rootDir>/node_modules/@kubernetes-models/$1/dist/index.js",
        "^@kubernetes-models/validate/runtime/(.*)$": "<rootDir>/node_modules/@kubernetes-models/validate/dist/runtime/$1.js",
        "^@kubernetes-models/(istio|apimachinery)/(.*)$": "<rootDir>/node_modules/@kubernetes-models/$1/$2.js",
        "^kubernetes-models/(.*)$": "<rootDir>/node_modules/kubernetes-models/$1.js",
    },
    testTimeout: 120000,
    // Jest's default is one worker per core less one: on a 2-core machine, one. The files are independent.
    maxWorkers: "100%",
};
