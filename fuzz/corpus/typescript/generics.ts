function sum<T extends { x: number }>(ps: T[]): number { return ps.reduce((s, p) => s + p.x!, 0) }
return sum<{ x: number }>([{ x: 1 }]);
