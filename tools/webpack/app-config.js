const { NxAppWebpackPlugin } = require('@nx/webpack/app-plugin');
const { join, relative } = require('path');

const root = join(__dirname, '..', '..');

/**
 * The webpack configuration of a deployable (an app or the migrations runner): `nx build <name>`
 * gives dist/<project root>/main.js and a generated package.json with the production
 * dependencies it uses, which is what an image installs and runs.
 */
module.exports = function appWebpackConfig(projectDir, { additionalEntryPoints = [], assets = [] } = {}) {
  return {
    output: {
      path: join(root, 'dist', relative(root, projectDir)),
      clean: true,
      ...(process.env.NODE_ENV !== 'production' && { devtoolModuleFilenameTemplate: '[absolute-resource-path]' }),
    },
    plugins: [
      new NxAppWebpackPlugin({
        target: 'node',
        compiler: 'tsc',
        main: './src/main.ts',
        // More commands in the same folder and image (e.g. the worker's dlq.js), sharing its dependencies.
        additionalEntryPoints,
        // Files copied into the output folder as they are (e.g. the command API's console bundle).
        assets,
        tsConfig: './tsconfig.app.json',
        optimization: false,
        outputHashing: 'none',
        generatePackageJson: true,
        sourceMap: true,
      }),
    ],
  };
};
