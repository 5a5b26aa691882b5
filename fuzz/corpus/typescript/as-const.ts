const xs = [1, 2, 3] as const;
const o = { a: 1 } satisfies Record<string, number>;
type K = keyof typeof o;
return xs.length;