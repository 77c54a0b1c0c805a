const { getJestProjectsAsync } = require('@nx/jest');

/** `npx jest` at the root runs every project's tests; `npm test` runs them through Nx instead. */
module.exports = async () => ({ projects: await getJestProjectsAsync() });
