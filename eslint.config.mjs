import nx from '@nx/eslint-plugin';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * Module boundaries. Tags: type:* says what a project is, scope:* which side of the system it serves.
 * Apps import libs; libs never import apps; contracts import nothing of ours; the write side never
 * reaches into the read side's cache protocol and the other way round. type:portable (libs/watch,
 * the one watch client and SSE parser) runs anywhere JavaScript does, a browser included: it imports
 * only contracts and no Node API (the `node:*` rule below), and the SDK, apps, tests and tools
 * (tools/consistency, type:e2e) may import it.
 */
const constraints = (inTests) => {
  // Test files of any project may also use the shared harness (type:testing, scope:test).
  const harness = inTests ? ['type:testing'] : [];
  const testScope = inTests ? ['scope:test'] : [];
  return [
    { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib', 'type:contracts', 'type:portable', ...harness] },
    { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib', 'type:contracts', ...harness] },
    { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: ['type:contracts'] },
    { sourceTag: 'type:portable', onlyDependOnLibsWithTags: ['type:contracts', 'type:portable', ...harness] },
    // The SDK users install (libs/client) bundles contracts and the watch (type:portable), nothing else of ours.
    { sourceTag: 'type:client', onlyDependOnLibsWithTags: ['type:contracts', 'type:portable', ...harness] },
    // The CLI users install (libs/cli) imports the SDK by its package name (a dependency, not
    // bundled) and may bundle contracts; nothing imports the CLI (no constraint allows type:cli).
    { sourceTag: 'type:cli', onlyDependOnLibsWithTags: ['type:client', 'type:contracts', ...harness] },
    // The console (apps/console) runs in a browser: contracts, the watch and the SDK's error codes (its browser-safe errors module), nothing else of ours.
    { sourceTag: 'type:browser', onlyDependOnLibsWithTags: ['type:contracts', 'type:portable', 'type:client'] },
    { sourceTag: 'type:migrations', onlyDependOnLibsWithTags: ['type:lib', 'type:contracts'] },
    { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:lib', 'type:contracts', 'type:portable', 'type:migrations'] },
    { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:testing', 'type:lib', 'type:contracts', 'type:portable', 'type:client'] },
    { sourceTag: 'scope:write', onlyDependOnLibsWithTags: ['scope:write', 'scope:shared', ...testScope] },
    { sourceTag: 'scope:read', onlyDependOnLibsWithTags: ['scope:read', 'scope:shared', ...testScope] },
    { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared', ...testScope] },
    { sourceTag: 'scope:client', onlyDependOnLibsWithTags: ['scope:shared', 'scope:client', ...testScope] },
    { sourceTag: 'scope:console', onlyDependOnLibsWithTags: ['scope:shared', 'scope:client'] },
    { sourceTag: 'scope:test', onlyDependOnLibsWithTags: ['scope:shared', 'scope:read', 'scope:write', 'scope:test', 'scope:client'] },
  ];
};
const boundaries = (inTests) => [
  'error',
  {
    // Apps bundle their libs (webpack); no lib is built on its own, so this check has nothing to guard.
    enforceBuildableLibDependency: false,
    allow: ['^.*/eslint(\\.base)?\\.config\\.[cm]?[jt]s$'],
    depConstraints: constraints(inTests),
  },
];

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  ...nx.configs['flat/javascript'],
  { ignores: ['**/dist', '**/out-tsc', '**/node_modules', '.nx/**', 'tools/bench/results/**'] },
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@nx/enforce-module-boundaries': boundaries(false),
      // Async Kafka and Redis handlers are where dropped promises lose data.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The watch lib (type:portable) runs in a browser too: no Node module in its source (its tests may use them).
    files: ['libs/watch/src/**/*.ts'],
    ignores: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts', '**/*.test-support.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^node:', message: 'libs/watch runs in browsers too: no Node API.' },
            {
              regex: '^(assert|buffer|child_process|crypto|dns|events|fs|http|https|http2|net|os|path|process|stream|timers|tls|url|util|worker_threads|zlib)(/.*)?$',
              message: 'libs/watch runs in browsers too: no Node API.',
            },
          ],
        },
      ],
    },
  },
  {
    // No import circles: a module that reaches itself through its imports fails the lint (and so the
    // build). Paths (@tm/*) resolve as TypeScript resolves them; node_modules are not followed.
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js', '.cjs', '.mjs'],
      'import-x/external-module-folders': ['node_modules', 'node_modules/@types'],
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: `${import.meta.dirname}/tsconfig.base.json` })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    // Tests (and their support files) of any project may use the shared harness.
    files: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts', '**/*.test-support.ts'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries(true),
    },
  },
  {
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
      // The TypeScript files' convention: a leading underscore marks what is left unused on purpose.
      '@typescript-eslint/no-unused-vars': ['warn', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
];
