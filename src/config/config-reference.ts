import { z } from 'zod';
import { DURATION_PATTERN } from './schema-helpers.js';
import { configSchema } from './schema.js';

type Json = { [k: string]: any };

interface Row {
  path: string;
  type: string;
  description: string;
}

interface Section {
  title: string;
  rows: Row[];
}

/**
 * The README's config reference, generated from the schema (the one source of truth): a table per
 * section, and one per variant of each `type`-discriminated union (providers, state, checks).
 */
export function configReference(): string {
  const json = z.toJSONSchema(configSchema, { unrepresentable: 'any', io: 'input' }) as Json;
  const sections: Section[] = [];
  const top: Section = { title: 'Top level', rows: [] };
  sections.push(top);
  walkObject(json, '', top, sections);
  return sections
    .filter((s) => s.rows.length)
    .map((s) => [`#### ${s.title}`, '', '| key | type | meaning |', '| --- | --- | --- |', ...s.rows.map((r) => `| \`${r.path}\` | ${r.type} | ${escape(r.description)} |`), ''].join('\n'))
    .join('\n');
}

function walkObject(schema: Json, prefix: string, section: Section, sections: Section[]): void {
  const required: string[] = schema.required ?? [];
  for (const [key, prop] of Object.entries<Json>(schema.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    const variants = discriminated(prop);
    if (variants) {
      section.rows.push({ path, type: 'object', description: `${prop.description ?? ''} One of: ${variants.map((v) => `\`type: "${v.name}"\``).join(', ')} (tables below).`.trim() });
      for (const v of variants) {
        const s: Section = { title: `\`${path}\` with \`type: "${v.name}"\``, rows: [] };
        sections.push(s);
        walkObject(v.schema, path, s, sections);
      }
      continue;
    }
    const arrayOfVariants = prop.type === 'array' && prop.items ? discriminated(prop.items) : undefined;
    if (arrayOfVariants) {
      section.rows.push({ path, type: 'array', description: `${prop.description ?? ''} Each item has a \`type\`: ${arrayOfVariants.map((v) => `\`"${v.name}"\``).join(', ')} (tables below).`.trim() });
      for (const v of arrayOfVariants) {
        const s: Section = { title: `\`${path}[]\` with \`type: "${v.name}"\``, rows: [] };
        sections.push(s);
        walkObject(v.schema, `${path}[]`, s, sections);
      }
      continue;
    }
    const desc = `${prop.description ?? ''}${required.includes(key) && key !== 'type' ? ' **Required.**' : ''}`.trim();
    section.rows.push({ path, type: typeName(prop), description: desc });
    if (prop.type === 'object' && prop.properties) walkObject(prop, path, section, sections);
    if (prop.type === 'object' && prop.additionalProperties && typeof prop.additionalProperties === 'object' && prop.additionalProperties.properties) {
      walkObject(prop.additionalProperties, `${path}.<name>`, section, sections);
    }
    if (prop.type === 'array' && prop.items?.type === 'object' && prop.items.properties) walkObject(prop.items, `${path}[]`, section, sections);
  }
}

function discriminated(schema: Json): { name: string; schema: Json }[] | undefined {
  const options: Json[] | undefined = schema.oneOf ?? schema.anyOf;
  if (!options || options.length < 2) return undefined;
  const named = options.map((o) => ({ name: o.properties?.type?.const as string | undefined, schema: o }));
  return named.every((n) => typeof n.name === 'string') ? (named as { name: string; schema: Json }[]) : undefined;
}

function typeName(s: Json): string {
  if (typeof s.$ref === 'string') return s.$ref.split('/').pop()!;
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.enum) return s.enum.map((e: unknown) => `\`${JSON.stringify(e)}\``).join(' \\| ');
  const options: Json[] | undefined = s.anyOf ?? s.oneOf;
  if (options?.some((o) => o.pattern === DURATION_PATTERN.source)) return 'duration';
  if (options) return [...new Set(options.map(typeName))].join(' \\| ');
  if (s.type === 'array') return `${s.items ? typeName(s.items) : 'any'}[]`;
  if (s.type === 'object' && s.additionalProperties && !s.properties) return 'map';
  if (s.type === 'integer') return 'integer';
  if (typeof s.type === 'string') return s.type;
  return 'any';
}

function escape(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
