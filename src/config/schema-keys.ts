import type { z } from 'zod';

/** Every object key the schema knows, for "did you mean" hints on unknown keys. */
export function collectKeys(schema: z.ZodType): string[] {
  const keys = new Set<string>();
  const seen = new Set<unknown>();
  const walk = (s: any): void => {
    if (!s || seen.has(s)) return;
    seen.add(s);
    const def = s._zod?.def ?? s.def;
    if (!def) return;
    switch (def.type) {
      case 'object':
        for (const [k, v] of Object.entries(def.shape ?? {})) {
          keys.add(k);
          walk(v);
        }
        break;
      case 'union':
        for (const o of def.options ?? []) walk(o);
        break;
      case 'optional':
      case 'nullable':
      case 'default':
      case 'readonly':
        walk(def.innerType);
        break;
      case 'array':
        walk(def.element);
        break;
      case 'record':
        walk(def.valueType);
        break;
      case 'pipe':
        walk(def.in);
        walk(def.out);
        break;
    }
  };
  walk(schema);
  return [...keys];
}
