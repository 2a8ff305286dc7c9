import type { CodegenConfig } from '@graphql-codegen/cli';

// Types for every operation, read from the schema files (no server needed).
const config: CodegenConfig = {
  schema: '../schema/*.graphqls',
  documents: ['src/**/*.{ts,tsx}', '!src/gql/**/*'],
  ignoreNoDocuments: false,
  generates: {
    'src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { Time: 'string', JSONObject: 'Record<string, unknown>' },
      },
    },
  },
};
export default config;
