type A<T> = T extends string ? `s-${T}` : T extends (infer U)[] ? U : never;
const a: A<"x"> = "s-x";
return a;