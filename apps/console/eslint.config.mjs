import reactHooks from 'eslint-plugin-react-hooks';
import baseConfig from '../../eslint.config.mjs';

export default [
  ...baseConfig,
  reactHooks.configs.flat['recommended-latest'],
  // The console does not run the React Compiler: a library it cannot memoise (TanStack Virtual) is fine.
  { rules: { 'react-hooks/incompatible-library': 'off' } },
];
