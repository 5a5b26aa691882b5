const x: number = 1;
function f(a: string,
  b?: number): void {}
return x;
