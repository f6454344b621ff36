import { z } from 'zod';
import { configSchema } from './schema.js';

/**
 * Rules `zdd validate` applies that JSON Schema cannot state: each spans fields, or depends on
 * arithmetic over a duration's text. The schema's description names them; the schema-vs-validate
 * test keeps one bad config per rule as a known exception.
 */
export const RULES_BEYOND_JSON_SCHEMA = [
  'strategies.default must name a built-in strategy (hybrid only with a flags section)',
  'strategies.<name>.analysis must name gates defined under gates',
  'strategies.hybrid needs a flags section',
  'strategies.rolling: maxSurge and maxUnavailable cannot both be 0, nor maxSurge 0 with 1 replica',
  'provider (aws): the two slots need different services and different target groups',
  'provider.stickiness (aws): between 1s and 7d once parsed',
  'gates.<name>.checks[] (cloudwatch): window and settle must be whole minutes',
  'environments.<name>: each override is checked once merged over the top level',
] as const;

/**
 * The config's JSON Schema, from the one zod schema: editors complete and check
 * `deploy.config.json` / `.yaml` with it. Every bound, enum and pattern of the zod schema is in it.
 * Functions (hooks, plugins, custom providers) cannot be written in JSON or YAML, so the schema
 * accepts no value where only a function fits; `$schema` is allowed at the top so a file can point
 * at the schema.
 */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, {
    io: 'input',
    unrepresentable: 'any',
    target: 'draft-07',
    override: (ctx) => {
      // z.custom is only used for functions (and objects of functions): nothing a JSON file can hold.
      if ((ctx.zodSchema as { _zod: { def: { type: string } } })._zod.def.type === 'custom') ctx.jsonSchema.not = {};
    },
  }) as Record<string, any>;
  schema.title = 'zdd deploy config';
  schema.description =
    'A zdd deploy config (deploy.config.json / .yaml). `zdd validate` also checks rules a JSON Schema cannot state: ' + RULES_BEYOND_JSON_SCHEMA.join('; ') + '.';
  // A plugin's options section needs its plugin, a function: in JSON every section is a built-in's.
  const strategies = schema.properties?.strategies;
  if (strategies?.type === 'object') strategies.additionalProperties = false;
  schema.properties = { $schema: { type: 'string', description: 'The JSON Schema this file follows (for editors); ignored by zdd' }, ...schema.properties };
  return schema;
}
