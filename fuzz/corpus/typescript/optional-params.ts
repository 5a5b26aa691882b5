class A { m?(): void; x!: number; static s?: string }
function f(this: A, a?: number) {}
return new A();