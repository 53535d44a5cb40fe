/** Jest runs TypeScript through swc as CommonJS; ESM-only dependencies are transformed too. */
const esmOnly = ['@middy', 'pkijs', 'asn1js', 'bytestreamjs', '@noble/hashes', '@peculiar/utils'];
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j|mj)s$': [
      '@swc/jest',
      { jsc: { target: 'es2023', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } },
    ],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  moduleNameMapper: {
    '^@middy/([a-z-]+)$': '<rootDir>/node_modules/@middy/$1/index.js',
  },
  setupFiles: ['<rootDir>/test/support/quiet-console.ts'],
  testTimeout: 30000,
};
