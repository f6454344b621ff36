import type { z } from 'zod';

type Def = { type: string; [k: string]: any };
const defOf = (s: any): Def | undefined => s?._zod?.def ?? s?.def;

/** Unwrap optional/default/pipe layers down to the schema that holds the shape. */
function unwrap(s: any): any[] {
  const def = defOf(s);
  if (!def) return [];
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'readonly':
      return unwrap(def.innerType);
    case 'pipe':
      return [...unwrap(def.in), ...unwrap(def.out)];
    case 'union':
      return (def.options ?? []).flatMap(unwrap);
    default:
      return [s];
  }
}

/**
 * The object keys the schema allows at `path` (following the config value for union branches),
 * for "did you mean" hints on unknown keys.
 */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[], input: unknown): string[] {
  let nodes: any[] = unwrap(schema);
  let value: unknown = input;
  for (const seg of path) {
    const next: any[] = [];
    for (const n of nodes) {
      const def = defOf(n)!;
      if (def.type === 'object' && typeof seg === 'string' && def.shape?.[seg]) next.push(...unwrap(def.shape[seg]));
      else if (def.type === 'array' && typeof seg === 'number') next.push(...unwrap(def.element));
      else if (def.type === 'record') next.push(...unwrap(def.valueType));
    }
    value = value && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[seg as string] : undefined;
    nodes = next;
  }
  // Where a discriminated union has a branch for this value's `type`, only its keys count.
  const type = value && typeof value === 'object' ? (value as { type?: unknown }).type : undefined;
  const objects = nodes.filter((n) => defOf(n)?.type === 'object');
  const matching = objects.filter((n) => {
    const t = defOf(n)!.shape?.type;
    const lit = defOf(t)?.values as unknown[] | undefined;
    return lit ? lit.includes(type) : true;
  });
  const chosen = matching.length ? matching : objects;
  return [...new Set(chosen.flatMap((n) => Object.keys(defOf(n)!.shape ?? {})))];
}
