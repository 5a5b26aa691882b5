type M = { [key: string]: number; readonly [i: number]: number };
const m: M = {};
let u: unique symbol;
return m!;