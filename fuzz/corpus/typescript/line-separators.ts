const a: number = 1;
const b: string = "x";return [a, b];
