import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configReference } from '../../src/config/config-reference.js';

describe('README config reference', () => {
  it('is the one generated from the schema (run `npm run docs` after changing the schema)', () => {
    const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
    const start = readme.indexOf('<!-- config-reference:start');
    const end = readme.indexOf('<!-- config-reference:end -->');
    const body = readme.slice(readme.indexOf('-->', start) + 3, end).trim();
    expect(body).toBe(configReference().trim());
    expect(body).toContain('`strategies.canary.steps[].weight`');
  });
});
