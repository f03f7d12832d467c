/**
 * Unit tests, as segmentio/action-destinations runs them: ts-jest, nock, no network.
 * The snapshot tests need that repository's test-data generator: scripts/check-in-monorepo.sh runs them there.
 */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/src'],
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  testPathIgnorePatterns: ['/node_modules/', '/snapshot\\.test\\.ts$'],
  setupFilesAfterEnv: ['<rootDir>/test/setup-after-env.ts']
}
