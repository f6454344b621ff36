import { z } from 'zod';
import { configSchema } from './schema.js';

/**
 * The config's JSON Schema, from the one zod schema: editors complete and check
 * `deploy.config.json` / `.yaml` with it. Functions (hooks, plugins) cannot be written in JSON or
 * YAML and are left open; `$schema` is allowed at the top so a file can point at the schema.
 */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any', target: 'draft-07' }) as Record<string, any>;
  schema.title = 'zdd deploy config';
  schema.properties = { $schema: { type: 'string', description: 'The JSON Schema this file follows (for editors); ignored by zdd' }, ...schema.properties };
  return schema;
}
