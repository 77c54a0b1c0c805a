import baseConfig from '../../eslint.config.mjs';

/**
 * The docs check holds docs/configuration.md to the apps' configuration classes, so it imports those
 * classes, and only those: the module boundaries stay as the root config sets them, with that one
 * import allowed (apps are otherwise never imported).
 */
const RULE = '@nx/enforce-module-boundaries';
const APP_CONFIG = '^(\\.\\./)+apps/[a-z-]+/src/config$';

export default [
  ...baseConfig,
  ...baseConfig
    .filter((block) => block.rules?.[RULE])
    .map((block) => {
      const [level, options] = block.rules[RULE];
      return { ...block, rules: { [RULE]: [level, { ...options, allow: [...(options.allow ?? []), APP_CONFIG] }] } };
    }),
];
