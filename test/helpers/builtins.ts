// A fingerprint of JavaScript's built-in prototypes and constructors, to prove that no input
// reached them: prototype pollution shows up as an added, removed or replaced property.
const BUILTINS: Record<string, object> = {
  "Object.prototype": Object.prototype,
  Object,
  "Array.prototype": Array.prototype,
  Array,
  "Function.prototype": Function.prototype,
  "String.prototype": String.prototype,
  "Number.prototype": Number.prototype,
  "Map.prototype": Map.prototype,
};

/** Every own property of every built-in above, with the identity of its value or accessors. */
export type BuiltinsSnapshot = Map<string, unknown[]>;

export function builtinsSnapshot(): BuiltinsSnapshot {
  const out: BuiltinsSnapshot = new Map();
  for (const [name, obj] of Object.entries(BUILTINS)) {
    for (const key of Reflect.ownKeys(obj)) {
      const d = Object.getOwnPropertyDescriptor(obj, key);
      out.set(`${name}.${String(key)}`, [d?.value, d?.get, d?.set, d?.writable, d?.enumerable]);
    }
    out.set(`${name} (prototype)`, [Object.getPrototypeOf(obj), Object.isExtensible(obj)]);
  }
  return out;
}

/** The properties that differ between two snapshots: added, removed or replaced. */
export function changedBuiltins(before: BuiltinsSnapshot, after: BuiltinsSnapshot): string[] {
  const changed: string[] = [];
  for (const [key, was] of before) {
    const now = after.get(key);
    if (!now) changed.push(`${key} (removed)`);
    else if (was.some((v, i) => !Object.is(v, now[i]))) changed.push(`${key} (replaced)`);
  }
  for (const key of after.keys()) if (!before.has(key)) changed.push(`${key} (added)`);
  return changed;
}
