import type { CodegenConfig } from '@graphql-codegen/cli';

// Types for every operation in src/ from the server's checked-in schema, and
// the trusted-documents manifest (src/gql/persisted-documents.json) that
// `CASEBOOK_TRUSTED_DOCUMENTS` takes: the server then runs these and nothing else.
const config: CodegenConfig = {
  schema: '../../schema.graphql',
  documents: ['src/**/*.ts', '!src/gql/**'],
  ignoreNoDocuments: false,
  // Imports with .js, as Node's ES modules (and tsc's NodeNext) need.
  emitLegacyCommonJSImports: false,
  generates: {
    'src/gql/': {
      preset: 'client',
      presetConfig: {
        persistedDocuments: { hashAlgorithm: 'sha256' },
        fragmentMasking: false,
      },
      config: {
        enumsAsTypes: true,
        useTypeImports: true,
        scalars: { DateTime: 'string' },
      },
    },
  },
};

export default config;
