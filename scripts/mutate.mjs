#!/usr/bin/env node
// Mutation testing of the promise-keeping modules, one Stryker run per module (stryker/modules.mjs).
//   npm run mutate                                  every module, one after the other
//   npm run mutate -- lock-session step-runner      those modules
//   npm run mutate -- --mutate src/core/secret-mask.ts   the module(s) mutating that file
// Each run: reports/mutation/<module>.html and .json; at the end a table of score and time per
// module, also written to reports/mutation/summary.md. A module's run is stopped after
// ZDD_MUTATE_MAX_MINUTES (default 20) so a hung mutant cannot hold a shared machine.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MUTATION_MODULES } from '../stryker/modules.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const maxMinutes = Number(process.env.ZDD_MUTATE_MAX_MINUTES ?? 20);

function selectModules() {
  if (!args.length) return MUTATION_MODULES;
  const picked = new Set();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--mutate') {
      const file = args[++i];
      const found = MUTATION_MODULES.filter((m) => m.mutate.some((f) => f.split(':')[0] === file));
      if (!found.length) fail(`--mutate ${file}: no module of stryker/modules.mjs mutates it`);
      found.forEach((m) => picked.add(m));
    } else {
      const found = MUTATION_MODULES.find((m) => m.name === arg);
      if (!found) fail(`unknown module "${arg}"; modules: ${MUTATION_MODULES.map((m) => m.name).join(', ')}`);
      picked.add(found);
    }
  }
  return [...picked];
}

function fail(message) {
  console.error(`npm run mutate: ${message}`);
  process.exit(2);
}

/** Stryker's mutation score: detected (killed or timed out) over detected plus undetected (survived, no coverage). */
function score(reportFile) {
  const report = JSON.parse(readFileSync(reportFile, 'utf8'));
  const counts = {};
  for (const file of Object.values(report.files)) for (const m of file.mutants) counts[m.status] = (counts[m.status] ?? 0) + 1;
  const detected = (counts.Killed ?? 0) + (counts.Timeout ?? 0);
  const undetected = (counts.Survived ?? 0) + (counts.NoCoverage ?? 0);
  const ignored = counts.Ignored ?? 0;
  return { detected, undetected, ignored, score: detected + undetected ? (100 * detected) / (detected + undetected) : 100 };
}

function runModule(module) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [join(root, 'node_modules/@stryker-mutator/core/bin/stryker.js'), 'run', 'stryker.config.mjs'], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, ZDD_MUTATE_MODULE: module.name },
      detached: true,
    });
    const timer = setTimeout(() => {
      console.error(`npm run mutate: ${module.name} passed ${maxMinutes} minutes; stopping it`);
      process.kill(-child.pid, 'SIGTERM');
    }, maxMinutes * 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, seconds: Math.round((Date.now() - started) / 1000) });
    });
  });
}

const modules = selectModules();
const rows = [];
for (const module of modules) {
  console.log(`\n=== mutate ${module.name}: ${module.mutate.join(', ')} (tests: ${module.tests.join(', ')})`);
  const { code, seconds } = await runModule(module);
  const report = join(root, 'reports/mutation', `${module.name}.json`);
  const result = code === 0 && existsSync(report) ? score(report) : null;
  rows.push({ module: module.name, seconds, result, code });
}

const lines = ['| module | killed / total | score | time |', '| --- | --- | --- | --- |'];
for (const r of rows) {
  const time = `${Math.floor(r.seconds / 60)}m${String(r.seconds % 60).padStart(2, '0')}s`;
  if (!r.result) lines.push(`| ${r.module} | run failed (exit ${r.code}) | | ${time} |`);
  else lines.push(`| ${r.module} | ${r.result.detected} / ${r.result.detected + r.result.undetected} | ${r.result.score.toFixed(1)}% | ${time} |`);
}
const table = lines.join('\n');
console.log(`\n${table}`);
mkdirSync(join(root, 'reports/mutation'), { recursive: true });
writeFileSync(join(root, 'reports/mutation/summary.md'), `${table}\n`);
process.exit(rows.every((r) => r.result) ? 0 : 1);
