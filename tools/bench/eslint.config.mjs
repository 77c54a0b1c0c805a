import baseConfig from '../../eslint.config.mjs';

export default [
  ...baseConfig,
  {
    // Every file of the bench is type-checked (tools/bench/tsconfig.json): none may opt out.
    files: ['**/*.mjs', '**/*.cjs'],
    rules: { '@typescript-eslint/ban-ts-comment': ['error', { 'ts-nocheck': true }] },
  },
];
