/**
 * Replaces `{{name}}` (spaces allowed inside the braces) with `vars[name]`; unknown names stay as
 * written. Returns null when the text names a variable whose value is null (no stable revision yet),
 * so the caller can say so instead of querying for an empty label.
 */
export function renderTemplate(template: string, vars: Record<string, string | null>): string | null {
  let missing = false;
  const out = template.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, name: string) => {
    if (!(name in vars)) return whole;
    const v = vars[name];
    if (v === null) {
      missing = true;
      return '';
    }
    return v;
  });
  return missing ? null : out;
}
