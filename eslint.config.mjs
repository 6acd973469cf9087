import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

// Workflow code is replayed; it must stay free of I/O. Node built-ins and SDK clients that
// talk to the outside world are banned in workflows/ (the bundle test catches the rest).
const banned = [
  ...builtinModules,
  ...builtinModules.map((m) => `node:${m}`),
  '@aws-sdk/*',
  '@slack/*',
  'fastify',
  'pg',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/activity',
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.baton/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'inline-type-imports' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: banned.filter((m) => !m.includes('*')).map((name) => ({ name, message: 'workflows must stay deterministic: no Node built-ins or I/O clients' })),
        patterns: [
          { group: banned.filter((m) => m.includes('*')), message: 'workflows must stay deterministic: no SDK clients' },
          { group: ['**/providers/*', '**/config', '**/api/*'], message: 'workflows import only src/domain and activity types' },
        ],
      }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    ignores: [],
    rules: {
      'no-restricted-globals': ['error', { name: 'setTimeout', message: 'use sleep() from @temporalio/workflow' }, { name: 'fetch', message: 'no I/O in workflows' }, { name: 'process', message: 'no process access in workflows' }],
    },
  },
);
