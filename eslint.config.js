// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.flow-cache/**', 'out/**', 'models/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    // The `flow serve` page runs in the browser.
    files: ['web/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        ['window', 'document', 'fetch', 'EventSource', 'FormData', 'Image', 'requestAnimationFrame'].map(
          (g) => [g, 'readonly'],
        ),
      ),
    },
  },
);
