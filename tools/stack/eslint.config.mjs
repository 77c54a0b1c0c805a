import baseConfig from '../../eslint.config.mjs';

export default [
  ...baseConfig,
  {
    // Every file here is type-checked (tools/stack/tsconfig.json): none may opt out.
    files: ['**/*.mjs'],
    rules: { '@typescript-eslint/ban-ts-comment': ['error', { 'ts-nocheck': true }] },
  },
];
