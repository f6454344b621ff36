/**
 * Near misses by meaning, for "did you mean" on unknown keys: words other tools use for what zdd
 * calls by another name. Whole keys first, then word by word inside camelCase (`afterDeploy` →
 * `postDeploy`). A suggestion is only made when the result is a key that exists at that place.
 */
const KEY_SYNONYMS: Record<string, string[]> = {
  instances: ['replicas'],
  count: ['replicas'],
  desiredcount: ['replicas'],
  scale: ['replicas'],
  name: ['service'],
  app: ['service'],
  percent: ['weight', 'stepPercent'],
  percentage: ['weight', 'stepPercent'],
  traffic: ['weight'],
  setweight: ['weight'],
  wait: ['pause', 'interval'],
  delay: ['pause', 'interval'],
  duration: ['pause', 'bake'],
  bake: ['pause'],
  soak: ['bake', 'pause'],
  checks: ['gates'],
  healthcheck: ['health'],
  healthchecks: ['health'],
  analysis: ['gates'],
  notifications: ['notify'],
  webhooks: ['notify'],
  slack: ['notify'],
  url: ['urlEnv'],
  webhookurl: ['urlEnv'],
  events: ['on'],
  when: ['on'],
  command: ['run'],
  cmd: ['run'],
  script: ['run'],
  retain: ['keepPrevious'],
  keep: ['keepPrevious'],
  keepold: ['keepPrevious'],
  draintimeout: ['drain'],
  deregistrationdelay: ['drain'],
  onfailure: ['onRollback'],
  onerror: ['onRollback'],
  onfail: ['onRollback'],
  ignoreerrors: ['continueOnError'],
  allowfailure: ['continueOnError'],
  env: ['environments'],
  stages: ['environments'],
};

/** Word swaps inside a camelCase key. */
const WORD_SYNONYMS: Record<string, string> = {
  after: 'post',
  before: 'pre',
  on: 'post',
  failure: 'rollback',
  fail: 'rollback',
  error: 'rollback',
  release: 'deploy',
  rollout: 'deploy',
  start: 'provision',
  launch: 'provision',
  switch: 'shift',
  cutover: 'shift',
  traffic: 'shift',
};

/** The known key that means what `key` says, if any. */
export function synonymFor(key: string, known: readonly string[]): string | undefined {
  const exact = KEY_SYNONYMS[key.toLowerCase()] ?? KEY_SYNONYMS[key];
  const hit = exact?.find((k) => known.includes(k) && k !== key);
  if (hit) return hit;
  const words = key.split(/(?=[A-Z])|[-_]/).filter(Boolean).map((w) => w.toLowerCase());
  if (words.length < 2) return undefined;
  const swapped = words.map((w) => WORD_SYNONYMS[w] ?? w);
  const candidate = swapped.map((w, i) => (i === 0 ? w : w[0].toUpperCase() + w.slice(1))).join('');
  return candidate !== key ? known.find((k) => k.toLowerCase() === candidate.toLowerCase()) : undefined;
}
