/** A zod issue path as people read it: root.a[0].b, with keys that are not identifiers as ["node-a"]. */
export function formatFieldPath(path: readonly PropertyKey[], root = ''): string {
  return path.reduce<string>((text, key) => {
    if (typeof key === 'number') return `${text}[${key}]`;
    const name = String(key);
    if (!/^[A-Za-z_$][\w$]*$/.test(name)) return `${text}[${JSON.stringify(name)}]`;
    return text ? `${text}.${name}` : name;
  }, root);
}
