// zod's JSON Schema is not yet a Kubernetes structural schema; this pass makes it one, and a checker proves it.
export type Schema = { [key: string]: unknown };

const JS_SAFE_INT = 9007199254740991;

/** Rewrites zod's OpenAPI 3.0 output (in place, recursively) into a structural schema. */
export function toStructural(node: Schema, at = '$'): Schema {
  delete node.$schema;
  if (node.additionalProperties === false) delete node.additionalProperties;
  if (node.maximum === JS_SAFE_INT) delete node.maximum;
  if (node.minimum === -JS_SAFE_INT) delete node.minimum;
  if (node.format === 'date-time') delete node.pattern; // the apiserver checks the format itself
  if ('const' in node) {
    node.enum = [node.const];
    delete node.const;
  }
  if (node['x-kubernetes-int-or-string'] === true) {
    // The only anyOf a structural schema allows; value checks live in the CEL rule instead.
    node.anyOf = [{ type: 'integer' }, { type: 'string' }];
    delete node.type;
    return node;
  }
  for (const combinator of ['anyOf', 'oneOf', 'allOf', 'not', '$ref']) {
    if (combinator in node) throw new Error(`${at}: ${combinator} has no structural form; model it differently in zod`);
  }
  const properties = node.properties as Record<string, Schema> | undefined;
  for (const [name, child] of Object.entries(properties ?? {})) toStructural(child, `${at}.${name}`);
  if (node.items) toStructural(node.items as Schema, `${at}[]`);
  if (typeof node.additionalProperties === 'object') toStructural(node.additionalProperties as Schema, `${at}.*`);
  return node;
}

/** Every reason the apiserver would call this schema non-structural (empty when it is structural). */
export function structuralViolations(node: Schema, at = '$', insideCombinator = false): string[] {
  const found: string[] = [];
  const intOrString = node['x-kubernetes-int-or-string'] === true;
  const preserve = node['x-kubernetes-preserve-unknown-fields'] === true;
  if ('$ref' in node) found.push(`${at}: $ref`);
  if (node.additionalProperties === false) found.push(`${at}: additionalProperties: false`);
  if (node.additionalProperties !== undefined && node.properties !== undefined) found.push(`${at}: both properties and additionalProperties`);
  if (!insideCombinator && !intOrString && !preserve && typeof node.type !== 'string') found.push(`${at}: no type`);
  if (insideCombinator) {
    for (const key of ['type', 'default', 'description', 'nullable', 'additionalProperties']) {
      if (key in node && !(key === 'type' && at.includes('int-or-string'))) found.push(`${at}: ${key} inside a combinator`);
    }
  }
  for (const combinator of ['anyOf', 'oneOf', 'allOf']) {
    const branches = node[combinator] as Schema[] | undefined;
    if (!branches) continue;
    const allowedIntOrString =
      intOrString && combinator === 'anyOf' && branches.length === 2 && branches.every((b, i) => Object.keys(b).length === 1 && b.type === (i === 0 ? 'integer' : 'string'));
    if (!allowedIntOrString) branches.forEach((b, i) => found.push(...structuralViolations(b, `${at}.${combinator}[${i}]`, true)));
  }
  for (const [name, child] of Object.entries((node.properties as Record<string, Schema>) ?? {})) found.push(...structuralViolations(child, `${at}.${name}`));
  if (node.items) found.push(...structuralViolations(node.items as Schema, `${at}[]`));
  if (typeof node.additionalProperties === 'object') found.push(...structuralViolations(node.additionalProperties as Schema, `${at}.*`));
  return found;
}
